#pragma once

// A private PostgreSQL server for tests: initdb in a temporary folder (as the postgres user
// when we run as root, since the server refuses to run as root), listening on 127.0.0.1 only
// at a free port of its own, its socket in that folder, trust authentication; stopped and
// removed when the object goes. Never a system-wide service.
//
// When BD_TEST_POSTGRES_URL names a server already started for the whole suite
// (scripts/private-postgres.sh, which .ci/run starts around ctest), no initdb is run: each
// database this object hands out is made fresh on that server under a name of this process's
// own (tests run in parallel) and dropped when the object goes.

#include <memory>
#include <QString>
#include <QTemporaryDir>

namespace bd::storetest {

class PrivatePostgres
{
public:
    PrivatePostgres();
    ~PrivatePostgres();
    Q_DISABLE_COPY_MOVE(PrivatePostgres)

    // Where initdb and pg_ctl are (BD_PG_BINDIR, else Debian's /usr/lib/postgresql/<v>/bin);
    // empty when PostgreSQL's server is not installed.
    static QString binDir();
    // Whether start() can succeed here: a suite's server is given, or the binaries are there.
    static bool available();

    enum class Server
    {
        SuiteOrOwn, // the suite's (BD_TEST_POSTGRES_URL) when given
        Own,        // always its own, for tests that stop and start it
    };
    // Starts the server; false with errorString() (the server log's tail included).
    bool start(Server server = Server::SuiteOrOwn);
    // Its own server only: a fast shutdown (every session ended, as a restart does), and
    // the same server started again on the same port.
    bool stopServer();
    bool startServer();
    QString errorString() const { return m_error; }
    int port() const { return m_port; }
    // postgresql://postgres@127.0.0.1:<port>/<database> (on a suite's server, the database's
    // name carries this process's prefix; it is created by whoever opens it read-write).
    QString url(const QString &database) const;

private:
    bool run(const QString &program, const QStringList &arguments, int timeoutMs);
    bool startOn(int port);
    bool useSuiteServer(const QString &url);
    void dropDatabases();

    // The suite's server (BD_TEST_POSTGRES_URL), else empty.
    QString m_suiteHost;
    QString m_suiteUser;
    QString m_prefix; // database names' prefix on the suite's server
    mutable QStringList m_handedOut;

    QString m_bin;
    std::unique_ptr<QTemporaryDir> m_dir;
    int m_port = 0;
    bool m_started = false;
    QString m_error;
};

} // namespace bd::storetest
