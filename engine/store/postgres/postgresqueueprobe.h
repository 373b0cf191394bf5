#pragma once

#include "metrics/queueprobe.h"
#include "postgresconnection.h"

#include <memory>

namespace bd::store {

// The queue probe of the PostgreSQL backend: one seek per priority on the claim index
// (tasks_claim: job_id, priority, id WHERE state = 0).
class PostgresQueueProbe final : public metrics::QueueProbe
{
public:
    explicit PostgresQueueProbe(std::shared_ptr<PostgresConnection> connection);

    QMap<int, qint64> oldestPendingSince(qint64 jobId,
                                         const QList<int> &priorities = {1, 2, 3}) override;
    QString errorString() const override { return m_error; }

    // The statement, for tests that check its query plan.
    static const char *statement();

private:
    std::shared_ptr<PostgresConnection> m_connection;
    QString m_error;
};

} // namespace bd::store
