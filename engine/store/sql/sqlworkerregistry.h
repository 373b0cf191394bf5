#pragma once

#include "store/workerregistry.h"

#include <memory>
#include <QSqlDatabase>

namespace bd::store {

// The workers role over QtSql, for both backends (store/sql/ holds the SQL they share): an
// upsert (INSERT ... ON CONFLICT DO UPDATE) and plain reads that SQLite and PostgreSQL run
// alike. keepAlive holds the backend's connection object open while this lives.
class SqlWorkerRegistry final : public WorkerRegistry
{
public:
    SqlWorkerRegistry(QSqlDatabase db, std::shared_ptr<void> keepAlive);
    ~SqlWorkerRegistry() override;
    Q_DISABLE_COPY_MOVE(SqlWorkerRegistry)

    bool heartbeat(const WorkerRecord &worker) override;
    QList<WorkerRecord> workers(qint64 seenSinceMs) override;
    bool takeBatch(qint64 batchId, const QString &workerId, qint64 staleBeforeMs) override;
    QList<qint64> orphanedBatches(qint64 jobId, const QString &workerId,
                                  qint64 staleBeforeMs) override;
    int releaseBatches(const QString &workerId) override;
    QString errorString() const override { return m_error; }

private:
    bool fail(const class QSqlQuery &query, const QString &what);

    QSqlDatabase m_db;
    std::shared_ptr<void> m_keepAlive;
    QString m_error;
};

} // namespace bd::store
