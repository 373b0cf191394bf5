#include "sqldatabase.h"

#include "metrics/queueprobe.h"
#include "sqlintake.h"
#include "sqlqueueprobe.h"
#include "sqlsharedlimits.h"
#include "sqltaskactions.h"
#include "sqlworkerregistry.h"
#include "store/store.h"
#include "store/taskreader.h"

namespace bd::store {

SqlDatabase::SqlDatabase() = default;

SqlDatabase::~SqlDatabase() = default;

void SqlDatabase::openRoles(std::unique_ptr<Store> store, std::unique_ptr<TaskReader> tasks,
                            QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> connection,
                            SessionHooks session)
{
    m_connection = connection;
    m_store = std::move(store);
    m_tasks = std::move(tasks);
    m_actions = std::make_unique<SqlTaskActions>(db, dialect, connection);
    m_probe = std::make_unique<SqlQueueProbe>(db, dialect, connection);
    m_intake = std::make_unique<SqlIntake>(db, dialect, connection);
    m_workers = std::make_unique<SqlWorkerRegistry>(db, connection);
    m_sharedLimits = std::make_unique<SqlSharedLimits>(db, connection, std::move(session));
    m_open = true;
}

Store &SqlDatabase::queue()
{
    return *m_store;
}

TaskReader &SqlDatabase::tasks()
{
    return *m_tasks;
}

TaskActions &SqlDatabase::taskActions()
{
    return *m_actions;
}

metrics::QueueProbe &SqlDatabase::queueProbe()
{
    return *m_probe;
}

Intake &SqlDatabase::intake()
{
    return *m_intake;
}

WorkerRegistry &SqlDatabase::workers()
{
    return *m_workers;
}

SharedLimits &SqlDatabase::sharedLimits()
{
    return *m_sharedLimits;
}

} // namespace bd::store
