#pragma once

#include "postgresconnection.h"
#include "store/database.h"

#include <memory>

namespace bd::store {

class PostgresQueueProbe;
class PostgresStore;
class PostgresTaskActions;
class PostgresTaskReader;

// The PostgreSQL backend's database: one connection (PostgresConnection) and the roles over it,
// made when it opens. Database::open() is the way in; the backend's own tests may build
// one directly to look at isOpen() / errorString().
class PostgresDatabase final : public Database
{
public:
    PostgresDatabase(const QString &location, Access access);
    ~PostgresDatabase() override;
    Q_DISABLE_COPY_MOVE(PostgresDatabase)

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
    std::shared_ptr<PostgresConnection> m_connection;
    std::unique_ptr<PostgresStore> m_store;
    std::unique_ptr<PostgresTaskReader> m_tasks;
    std::unique_ptr<PostgresTaskActions> m_actions;
    std::unique_ptr<PostgresQueueProbe> m_probe;
    std::unique_ptr<Intake> m_intake;
    std::unique_ptr<WorkerRegistry> m_workers;
    std::unique_ptr<SharedLimits> m_sharedLimits;
    QString m_error;
    bool m_open = false;
};

} // namespace bd::store
