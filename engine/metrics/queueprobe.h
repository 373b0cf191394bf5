#pragma once

#include <QList>
#include <QMap>
#include <QString>

namespace bd::metrics {

// Age of the longest-waiting pending task of a job, per priority, for the recorder's
// QueueLevel::oldestPendingSinceMs. One seek per priority on the claim index
// (tasks_claim: job_id, priority, id WHERE state = 0): the lowest pending id is the one
// queued first, so this costs the same on ten tasks as on ten million. Uses an open Qt
// SQLite connection by name (reader or writer), on the thread that owns it.
class QueueProbe
{
public:
    explicit QueueProbe(const QString &connectionName);

    // priority -> created_at (ms) of the oldest pending task; priorities without pending
    // tasks are absent.
    QMap<int, qint64> oldestPendingSince(qint64 jobId, const QList<int> &priorities = {1, 2, 3});
    QString errorString() const { return m_error; }

    // The statement, for tests that check its query plan.
    static const char *statement();

private:
    QString m_connectionName;
    QString m_error;
};

} // namespace bd::metrics
