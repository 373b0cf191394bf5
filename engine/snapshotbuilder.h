#pragma once

#include "api/snapshot.h"

#include <QHash>
#include <QList>
#include <QMap>
#include <QSet>

#include <functional>
#include <optional>

namespace bd {

// The per-job figures behind the engine's snapshots: what the store said of each job, what
// its runner reports while it runs here, and since when its oldest pending task waits. A
// plain value on the engine thread; EngineWorker feeds it and asks for one EngineSnapshot
// per tick.
class SnapshotBuilder
{
public:
    // Every fifth tick is a slow one: queues are probed.
    static constexpr int kSlowTickEvery = 5;
    // Jobs run elsewhere are re-read every second tick: their counts are never older than
    // two seconds, and a big job costs a count every other second at most.
    static constexpr int kElsewhereEvery = 2;

    // A read from the store. A job running here keeps its runner's figures, which are
    // fresher than a read from a moment ago.
    void update(const JobInfo &job, bool runningHere);
    // Like update(); nullopt (the job is gone from the store) drops it.
    void refresh(qint64 jobId, const std::optional<JobInfo> &job, bool runningHere);
    // A runner's figures.
    void progressed(qint64 jobId, const TaskCounts &counts, const Usage &usage, double costUsd,
                    bool runningHere);
    void setPriority(qint64 jobId, int priority) { m_jobs[jobId].priority = priority; }
    void setRunningHere(qint64 jobId, bool runningHere) { m_jobs[jobId].runningHere = runningHere; }
    // Drops the jobs not in `present` (deleted from the store).
    void retain(const QSet<qint64> &present);

    const QMap<qint64, JobSnapshot> &jobs() const { return m_jobs; }
    QList<qint64> jobIds() const { return m_jobs.keys(); }
    // Jobs whose figures another process changes: run by another worker (batchctl, a second
    // desktop), or a standing queue this process does not run (`batchctl serve` fills it
    // even while it is paused). Their figures come only from reading the store.
    QList<qint64> changingElsewhere() const;

    // Counts a tick; true on the slow ones.
    bool nextTick() { return ++m_ticks % kSlowTickEvery == 0; }
    bool isSlowTick() const { return m_ticks % kSlowTickEvery == 0; }
    bool isElsewhereTick() const { return m_ticks % kElsewhereEvery == 0; }

    // Per priority, since when the job's oldest pending task of that priority waits (empty:
    // unknown or nothing pending; tasks of a job can be reprioritised one by one). `read`
    // asks the store; it is called only when `probe` says so and the job has work pending.
    QMap<int, qint64> oldestPendingSince(const JobSnapshot &job, bool probe,
                              const std::function<QMap<int, qint64>(qint64 jobId)> &read);

    // Every job, each completed by `complete` (a runner's live figures) when given; the
    // engine-wide fields are the caller's to fill.
    EngineSnapshot build(qint64 atMs,
                         const std::function<void(JobSnapshot &job)> &complete = {}) const;

private:
    QMap<qint64, JobSnapshot> m_jobs;
    // job -> priority -> since when its oldest pending task of that priority waits
    QHash<qint64, QMap<int, qint64>> m_oldestPendingSince;
    QSet<qint64> m_standingQueues; // jobs that are intake queues
    int m_ticks = 0;
};

} // namespace bd
