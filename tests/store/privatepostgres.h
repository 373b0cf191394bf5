#pragma once

// A private PostgreSQL server for tests: initdb in a temporary folder (as the postgres user
// when we run as root, since the server refuses to run as root), listening on 127.0.0.1 only
// at a free port of its own, its socket in that folder, trust authentication; stopped and
// removed when the object goes. Never a system-wide service.

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

    // Starts the server; false with errorString() (the server log's tail included).
    bool start();
    QString errorString() const { return m_error; }
    int port() const { return m_port; }
    // postgresql://postgres@127.0.0.1:<port>/<database>
    QString url(const QString &database) const;

private:
    bool run(const QString &program, const QStringList &arguments, int timeoutMs);

    QString m_bin;
    std::unique_ptr<QTemporaryDir> m_dir;
    int m_port = 0;
    bool m_started = false;
    QString m_error;
};

} // namespace bd::storetest
