// The store conformance suite (tests/store/storeconformance.h) on the SQLite backend: every
// test gets a new database file in a temporary folder.

#include "../store/storeconformance.h"

#include <QCoreApplication>
#include <QTemporaryDir>

using namespace Qt::StringLiterals;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QTemporaryDir dir;
    if (!dir.isValid())
        return 1;
    int files = 0;
    bd::storetest::Backend backend;
    backend.name = u"sqlite"_s;
    backend.newLocation = [&] { return dir.filePath(u"conformance-%1.sqlite"_s.arg(++files)); };
    return bd::storetest::runStoreConformance(backend, argc, argv);
}
