#include "postgresdatabase.h"

#include "postgresstore.h"
#include "store/sql/sqlmetricsstore.h"
#include "store/sql/sqltaskreader.h"

namespace bd::store {

using namespace Qt::StringLiterals;

PostgresDatabase::PostgresDatabase(const QString &location, Access access)
    : m_connection(std::make_shared<PostgresConnection>(location, access))
{
    if (!m_connection->isOpen()) {
        setError(m_connection->errorString());
        return;
    }
    // The store prepares its statements now, so a schema it cannot work with fails here
    // and not at the first claim.
    auto store = std::make_unique<PostgresStore>(m_connection);
    if (!store->isOpen()) {
        setError(store->errorString());
        return;
    }
    openRoles(
        std::move(store),
        std::make_unique<SqlTaskReader>(m_connection->db(), SqlDialect::Postgres, m_connection),
        m_connection->db(), SqlDialect::Postgres, m_connection,
        SessionHooks{[connection = m_connection.get()] { return connection->generation(); },
                     [connection = m_connection.get()](QSqlQuery &&query) {
                         connection->retire(std::move(query));
                     }});
}

PostgresDatabase::~PostgresDatabase() = default;

QString PostgresDatabase::location() const
{
    return m_connection->databasePath();
}

Database::Access PostgresDatabase::access() const
{
    return m_connection->access();
}

QString PostgresDatabase::migrationBackupPath() const
{
    return m_connection->migrationBackupPath();
}

QString PostgresDatabase::damage() const
{
    // The server answers a damaged page with an error of its own (SQLSTATE XX001/XX002) on
    // the query that met it, and those errors reach the caller as they are.
    return {};
}

bool PostgresDatabase::takeDiskFull()
{
    // A full disk on a server is its administrator's to solve; the job fails with the
    // server's own error (SQLSTATE 53100) rather than waiting for room it cannot see.
    return false;
}

std::unique_ptr<metrics::MetricsStore>
PostgresDatabase::metricsStore(const Clock *clock, const metrics::MetricsRecorder::Options &options)
{
    return std::make_unique<SqlMetricsStore>(m_connection->db(), SqlDialect::Postgres, m_connection,
                                             clock, options);
}

bool PostgresDatabase::listenForWork(std::function<void()> wake)
{
    return m_connection->listen(u"bd_work"_s, std::move(wake));
}

bool PostgresDatabase::connectionLost() const
{
    return m_connection->connectionLost();
}

bool PostgresDatabase::reconnect(QString *error)
{
    if (m_connection->reconnect())
        return true;
    if (error)
        *error = m_connection->errorString();
    return false;
}

} // namespace bd::store
