#include "snapshotbuilder.h"

namespace bd {

void SnapshotBuilder::update(const JobInfo &job, bool runningHere)
{
    JobSnapshot &snapshot = m_jobs[job.id];
    snapshot.jobId = job.id;
    snapshot.priority = job.spec.priority;
    snapshot.runningHere = runningHere;
    snapshot.runner = job.runner;
    if (job.queueMaxPending > 0)
        m_standingQueues.insert(job.id);
    if (!runningHere) {
        snapshot.state = job.state;
        snapshot.stateReason = job.stateReason;
        snapshot.counts = job.counts;
        snapshot.usage = job.usage;
        snapshot.costUsd = job.costUsd;
    }
}

void SnapshotBuilder::refresh(qint64 jobId, const std::optional<JobInfo> &job, bool runningHere)
{
    if (job) {
        update(*job, runningHere);
    } else {
        m_jobs.remove(jobId);
        m_oldestPendingSince.remove(jobId);
        m_standingQueues.remove(jobId);
    }
}

void SnapshotBuilder::progressed(qint64 jobId, const TaskCounts &counts, const Usage &usage,
                                 double costUsd, bool runningHere)
{
    JobSnapshot &snapshot = m_jobs[jobId];
    snapshot.jobId = jobId;
    snapshot.counts = counts;
    snapshot.usage = usage;
    snapshot.costUsd = costUsd;
    snapshot.runningHere = runningHere;
    if (runningHere) {
        snapshot.state = JobState::Running;
        snapshot.stateReason.clear();
    }
}

void SnapshotBuilder::retain(const QSet<qint64> &present)
{
    for (auto it = m_jobs.begin(); it != m_jobs.end();) {
        if (!present.contains(it.key())) {
            m_oldestPendingSince.remove(it.key());
            m_standingQueues.remove(it.key());
            it = m_jobs.erase(it);
        } else {
            ++it;
        }
    }
}

QList<qint64> SnapshotBuilder::changingElsewhere() const
{
    QList<qint64> jobs;
    for (auto it = m_jobs.cbegin(); it != m_jobs.cend(); ++it) {
        if (!it->runningHere && (it->state == JobState::Running || it->counts.leased > 0 ||
                                 m_standingQueues.contains(it.key())))
            jobs.append(it.key());
    }
    return jobs;
}

QMap<int, qint64> SnapshotBuilder::oldestPendingSince(const JobSnapshot &job, bool probe,
                                           const std::function<QMap<int, qint64>(qint64 jobId)> &read)
{
    if (job.counts.pending == 0)
        m_oldestPendingSince.remove(job.jobId);
    else if (probe && read)
        m_oldestPendingSince.insert(job.jobId, read(job.jobId));
    return m_oldestPendingSince.value(job.jobId);
}

EngineSnapshot SnapshotBuilder::build(qint64 atMs,
                                      const std::function<void(JobSnapshot &job)> &complete) const
{
    EngineSnapshot snapshot;
    snapshot.atMs = atMs;
    snapshot.jobs.reserve(m_jobs.size());
    for (JobSnapshot job : m_jobs) {
        if (complete)
            complete(job);
        snapshot.jobs.append(job);
    }
    return snapshot;
}

} // namespace bd
