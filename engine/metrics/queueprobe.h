#pragma once

#include "metrics/metricsrecorder.h"

#include <QList>
#include <QMap>
#include <QString>

namespace bd::metrics {

// Age of the longest-waiting pending task of a job, per priority, for the recorder's
// QueueLevel::oldestPendingSinceMs. A task waits from when it last became pending (created,
// or back from a retry, a hand-back or a replay), so a replayed task is not late at once.
// Handed out by a database (store::Database::queueProbe) and used on the thread that opened
// it. A backend answers with one index seek per priority, so this costs the same on ten
// tasks as on ten million.
class QueueProbe
{
public:
    virtual ~QueueProbe() = default;

    // priority -> since when (ms) the longest-waiting pending task waits; priorities without
    // pending tasks are absent.
    virtual QMap<int, qint64> oldestPendingSince(qint64 jobId,
                                                 const QList<int> &priorities = {1, 2, 3}) = 0;
    virtual QString errorString() const = 0;

    // A job's queue levels for the recorder: the job's counts under its own priority (and
    // lane, from its mode), and the age of every priority that has tasks waiting (tasks are
    // reprioritised one by one, so a job can wait at several; counts by priority would
    // need a scan, ages need one seek).
    static QList<QueueLevel> levels(int jobPriority, const QString &mode, qint64 pending,
                                    qint64 leased, const QMap<int, qint64> &oldestByPriority);
};

} // namespace bd::metrics
