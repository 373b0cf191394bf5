// The store conformance suite (tests/store/storeconformance.h) on the PostgreSQL backend,
// against a private server this program starts (tests/store/privatepostgres.h): every
// test gets a new database, which opening read-write creates. Skipped (exit 77) when the
// PostgreSQL server is not installed.

#include "../store/privatepostgres.h"
#include "../store/storeconformance.h"

#include <QCoreApplication>

#include <cstdio>

using namespace Qt::StringLiterals;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    if (bd::storetest::PrivatePostgres::binDir().isEmpty()) {
        std::fprintf(stderr, "SKIP: PostgreSQL's server (initdb, pg_ctl) is not installed; "
                             "install Debian's postgresql package (scripts/setup-debian.sh)\n");
        return 77;
    }
    bd::storetest::PrivatePostgres server;
    if (!server.start()) {
        std::fprintf(stderr, "cannot start a private PostgreSQL: %s\n",
                     qPrintable(server.errorString()));
        return 1;
    }
    int databases = 0;
    bd::storetest::Backend backend;
    backend.name = u"postgresql"_s;
    backend.newLocation = [&] { return server.url(u"conformance_%1"_s.arg(++databases)); };
    return bd::storetest::runStoreConformance(backend, argc, argv);
}
