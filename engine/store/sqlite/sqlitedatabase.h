#pragma once

#include "sqliteconnection.h"
#include "store/sql/sqldatabase.h"

#include <memory>

namespace bd::store {

// The SQLite backend's database: one connection (SqliteConnection) and the roles over it,
// made when it opens. Database::open() is the way in; the backend's own tests may build
// one directly to look at isOpen() / errorString().
class SqliteDatabase final : public SqlDatabase
{
public:
    SqliteDatabase(const QString &databasePath, Access access,
                   SqliteCheckpointer::Bounds walBounds = {});
    ~SqliteDatabase() override;
    Q_DISABLE_COPY_MOVE(SqliteDatabase)

    QString location() const override;
    Access access() const override;
    QString migrationBackupPath() const override;
    QString damage() const override;
    bool takeDiskFull() override;

    bool listenForWork(std::function<void()> wake) override;
    std::unique_ptr<metrics::MetricsStore>
    metricsStore(const Clock *clock, const metrics::MetricsRecorder::Options &options) override;

private:
    std::shared_ptr<SqliteConnection> m_connection;
};

} // namespace bd::store
