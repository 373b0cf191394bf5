#include "sqlitedatabase.h"

#include "sqlitestore.h"
#include "store/sql/sqlmetricsstore.h"
#include "store/sql/sqltaskreader.h"

namespace bd::store {

SqliteDatabase::SqliteDatabase(const QString &databasePath, Access access,
                               SqliteCheckpointer::Bounds walBounds)
    : m_connection(std::make_shared<SqliteConnection>(databasePath, access,
                                                      SqliteConnection::OpenCheck::Bounded,
                                                      walBounds))
{
    if (!m_connection->isOpen()) {
        setError(m_connection->errorString());
        return;
    }
    // The store prepares its statements now, so a schema it cannot work with fails here
    // and not at the first claim.
    auto store = std::make_unique<SqliteStore>(m_connection);
    if (!store->isOpen()) {
        setError(store->errorString());
        return;
    }
    openRoles(std::move(store),
              std::make_unique<SqlTaskReader>(m_connection->db(), SqlDialect::Sqlite, m_connection),
              m_connection->db(), SqlDialect::Sqlite, m_connection);
}

SqliteDatabase::~SqliteDatabase() = default;

QString SqliteDatabase::location() const
{
    return m_connection->databasePath();
}

Database::Access SqliteDatabase::access() const
{
    return m_connection->access();
}

QString SqliteDatabase::migrationBackupPath() const
{
    return m_connection->migrationBackupPath();
}

QString SqliteDatabase::damage() const
{
    return m_connection->damage();
}

bool SqliteDatabase::takeDiskFull()
{
    return m_connection->takeDiskFull();
}

std::unique_ptr<metrics::MetricsStore>
SqliteDatabase::metricsStore(const Clock *clock, const metrics::MetricsRecorder::Options &options)
{
    return std::make_unique<SqlMetricsStore>(m_connection->db(), SqlDialect::Sqlite, m_connection,
                                             clock, options);
}

bool SqliteDatabase::listenForWork(std::function<void()> wake)
{
    Q_UNUSED(wake);
    return false; // no notifications between processes: callers poll
}

} // namespace bd::store
