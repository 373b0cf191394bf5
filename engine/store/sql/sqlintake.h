#pragma once

#include "sqldialect.h"
#include "store/intake.h"

#include <memory>
#include <QSqlDatabase>

namespace bd::store {

// The intake role over QtSql, for both backends (store/sql/ holds the SQL they share): its
// statements are plain SQL that SQLite (3.35+, RETURNING) and PostgreSQL read alike. Only the
// opening of a writing transaction differs (SQLite takes the write lock at BEGIN IMMEDIATE;
// PostgreSQL locks the queue's row). keepAlive holds the backend's connection object open while
// this lives.
class SqlIntake final : public Intake
{
public:
    SqlIntake(QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> keepAlive);
    ~SqlIntake() override;
    Q_DISABLE_COPY_MOVE(SqlIntake)

    QString errorString() const override { return m_error; }
    bool addQueue(const QueueRecord &queue, qint64 nowMs,
                  std::optional<QueueRecord> *existing) override;
    std::optional<QueueRecord> queue(const QString &name) override;
    QList<QueueRecord> queues() override;
    SubmitOutcome submit(const QueueRecord &queue, const QList<NewQueueTask> &tasks,
                         qint64 nowMs) override;
    QList<QueueTaskRecord> results(const QList<qint64> &taskIds) override;
    QList<QueueTaskRecord> undelivered(qint64 jobId, int limit) override;
    bool markDelivered(const QList<qint64> &taskIds) override;

private:
    bool begin();
    bool commit();
    void rollback();
    bool fail(const class QSqlQuery &query, const QString &what);
    QList<QueueRecord> readQueues(const QString &where, const QVariant &value);

    QSqlDatabase m_db;
    SqlDialect m_dialect;
    std::shared_ptr<void> m_keepAlive;
    QString m_error;
};

} // namespace bd::store
