#pragma once

#include "sqldialect.h"
#include "store/database.h"

#include <memory>
#include <QSqlDatabase>
#include <QString>

namespace bd::store {

// What both backends' databases share: the roles made over their one QtSql connection and
// the accessors to them. A backend opens its connection and builds its own store and task
// reader (their SQL differs), then hands them to openRoles(), which adds the roles whose SQL
// both read alike (store/sql/).
class SqlDatabase : public Database
{
public:
    ~SqlDatabase() override;
    Q_DISABLE_COPY_MOVE(SqlDatabase)

    bool isOpen() const { return m_open; }
    QString errorString() const { return m_error; }

    Store &queue() override;
    TaskReader &tasks() override;
    TaskActions &taskActions() override;
    metrics::QueueProbe &queueProbe() override;
    Intake &intake() override;
    WorkerRegistry &workers() override;
    SharedLimits &sharedLimits() override;

protected:
    SqlDatabase();

    // session: counts the connection's sessions, for roles that keep prepared statements
    // (none for a file, which never reconnects).
    void openRoles(std::unique_ptr<Store> store, std::unique_ptr<TaskReader> tasks, QSqlDatabase db,
                   SqlDialect dialect, std::shared_ptr<void> connection, SessionHooks session = {});
    void setError(const QString &error) { m_error = error; }

private:
    // Declared first, so destroyed last: the connection outlives every role over it.
    std::shared_ptr<void> m_connection;
    std::unique_ptr<Store> m_store;
    std::unique_ptr<TaskReader> m_tasks;
    std::unique_ptr<TaskActions> m_actions;
    std::unique_ptr<metrics::QueueProbe> m_probe;
    std::unique_ptr<Intake> m_intake;
    std::unique_ptr<WorkerRegistry> m_workers;
    std::unique_ptr<SharedLimits> m_sharedLimits;
    QString m_error;
    bool m_open = false;
};

} // namespace bd::store
