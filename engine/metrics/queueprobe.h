#pragma once

#include "metrics/metricsrecorder.h"

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

    // A job's queue levels for the recorder: the job's counts under its own priority (and
    // lane, from its mode), and the age of every priority that has tasks waiting (tasks are
    // reprioritised one by one, so a job can wait at several; counts by priority would
    // need a scan, ages need one seek).
    static QList<QueueLevel> levels(int jobPriority, const QString &mode, qint64 pending,
                                    qint64 leased, const QMap<int, qint64> &oldestByPriority);

    // The statement, for tests that check its query plan.
    static const char *statement();

private:
    QString m_connectionName;
    QString m_error;
};

} // namespace bd::metrics
