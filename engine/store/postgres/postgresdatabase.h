#pragma once

#include "postgresconnection.h"
#include "store/sql/sqldatabase.h"

#include <memory>

namespace bd::store {

// The PostgreSQL backend's database: one connection (PostgresConnection) and the roles over it,
// made when it opens. Database::open() is the way in; the backend's own tests may build
// one directly to look at isOpen() / errorString().
class PostgresDatabase final : public SqlDatabase
{
public:
    PostgresDatabase(const QString &location, Access access);
    ~PostgresDatabase() override;
    Q_DISABLE_COPY_MOVE(PostgresDatabase)

    QString location() const override;
    Access access() const override;
    QString migrationBackupPath() const override;
    QString damage() const override;
    bool takeDiskFull() override;

    bool listenForWork(std::function<void()> wake) override;
    bool connectionLost() const override;
    bool reconnect(QString *error) override;
    std::unique_ptr<metrics::MetricsStore>
    metricsStore(const Clock *clock, const metrics::MetricsRecorder::Options &options) override;

private:
    std::shared_ptr<PostgresConnection> m_connection;
};

} // namespace bd::store
