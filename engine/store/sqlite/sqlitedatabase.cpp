#include "sqlitedatabase.h"

#include "store/sql/sqlintake.h"
#include "store/sql/sqlsharedlimits.h"
#include "store/sql/sqlworkerregistry.h"

#include "sqlitemetricsstore.h"
#include "sqlitequeueprobe.h"
#include "sqlitestore.h"
#include "sqlitetaskactions.h"
#include "sqlitetaskreader.h"

namespace bd::store {

SqliteDatabase::SqliteDatabase(const QString &databasePath, Access access)
    : m_connection(std::make_shared<SqliteConnection>(databasePath, access))
{
    if (!m_connection->isOpen()) {
        m_error = m_connection->errorString();
        return;
    }
    // The store prepares its statements now, so a schema it cannot work with fails here
    // and not at the first claim.
    m_store = std::make_unique<SqliteStore>(m_connection);
    if (!m_store->isOpen()) {
        m_error = m_store->errorString();
        return;
    }
    m_tasks = std::make_unique<SqliteTaskReader>(m_connection);
    m_actions = std::make_unique<SqliteTaskActions>(m_connection);
    m_probe = std::make_unique<SqliteQueueProbe>(m_connection);
    m_intake = std::make_unique<SqlIntake>(m_connection->db(), SqlIntake::Dialect::Sqlite, m_connection);
    m_workers = std::make_unique<SqlWorkerRegistry>(m_connection->db(), m_connection);
    m_sharedLimits = std::make_unique<SqlSharedLimits>(m_connection->db(), m_connection);
    m_open = true;
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

Store &SqliteDatabase::queue()
{
    return *m_store;
}

TaskReader &SqliteDatabase::tasks()
{
    return *m_tasks;
}

TaskActions &SqliteDatabase::taskActions()
{
    return *m_actions;
}

metrics::QueueProbe &SqliteDatabase::queueProbe()
{
    return *m_probe;
}

std::unique_ptr<metrics::MetricsStore>
SqliteDatabase::metricsStore(const Clock *clock, const metrics::MetricsRecorder::Options &options)
{
    return std::make_unique<SqliteMetricsStore>(m_connection, clock, options);
}

} // namespace bd::store

namespace bd::store {

Intake &SqliteDatabase::intake()
{
    return *m_intake;
}

} // namespace bd::store

namespace bd::store {

WorkerRegistry &SqliteDatabase::workers()
{
    return *m_workers;
}

SharedLimits &SqliteDatabase::sharedLimits()
{
    return *m_sharedLimits;
}

bool SqliteDatabase::listenForWork(std::function<void()> wake)
{
    Q_UNUSED(wake);
    return false; // no notifications between processes: callers poll
}

} // namespace bd::store
