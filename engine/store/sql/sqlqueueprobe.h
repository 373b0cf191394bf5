#pragma once

#include "metrics/queueprobe.h"
#include "sqldialect.h"

#include <memory>
#include <QSqlDatabase>

namespace bd::store {

// The queue probe over QtSql, for both backends: per priority one seek on the claim index
// (tasks_claim: job_id, priority, id … WHERE state = 0) and one on tasks_requeued (the pending
// tasks back from a retry, a hand-back or a replay). keepAlive holds the backend's
// connection object open while this lives.
class SqlQueueProbe final : public metrics::QueueProbe
{
public:
    SqlQueueProbe(QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> keepAlive);

    QMap<int, qint64> oldestPendingSince(qint64 jobId,
                                         const QList<int> &priorities = {1, 2, 3}) override;
    QString errorString() const override { return m_error; }

    // The statement in the dialect, for tests that check its query plan.
    static QString statement(SqlDialect dialect);

private:
    QSqlDatabase m_db;
    SqlDialect m_dialect;
    std::shared_ptr<void> m_keepAlive;
    QString m_error;
};

} // namespace bd::store
