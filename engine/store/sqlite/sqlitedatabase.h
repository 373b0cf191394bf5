#pragma once

#include "sqliteconnection.h"
#include "store/database.h"

#include <memory>

namespace bd::store {

class SqliteQueueProbe;
class SqliteStore;
class SqliteTaskActions;
class SqliteTaskReader;

// The SQLite backend's database: one connection (SqliteConnection) and the roles over it,
// made when it opens. Database::open() is the way in; the backend's own tests may build
// one directly to look at isOpen() / errorString().
class SqliteDatabase final : public Database
{
public:
    SqliteDatabase(const QString &databasePath, Access access);
    ~SqliteDatabase() override;
    Q_DISABLE_COPY_MOVE(SqliteDatabase)

    bool isOpen() const { return m_open; }
    QString errorString() const { return m_error; }

    QString location() const override;
    Access access() const override;
    QString migrationBackupPath() const override;
    QString damage() const override;
    bool takeDiskFull() override;

    Store &queue() override;
    TaskReader &tasks() override;
    TaskActions &taskActions() override;
    metrics::QueueProbe &queueProbe() override;
    Intake &intake() override;
    WorkerRegistry &workers() override;
    SharedLimits &sharedLimits() override;
    bool listenForWork(std::function<void()> wake) override;
    std::unique_ptr<metrics::MetricsStore>
    metricsStore(const Clock *clock, const metrics::MetricsRecorder::Options &options) override;

private:
    std::shared_ptr<SqliteConnection> m_connection;
    std::unique_ptr<SqliteStore> m_store;
    std::unique_ptr<SqliteTaskReader> m_tasks;
    std::unique_ptr<SqliteTaskActions> m_actions;
    std::unique_ptr<SqliteQueueProbe> m_probe;
    std::unique_ptr<Intake> m_intake;
    std::unique_ptr<WorkerRegistry> m_workers;
    std::unique_ptr<SharedLimits> m_sharedLimits;
    QString m_error;
    bool m_open = false;
};

} // namespace bd::store
