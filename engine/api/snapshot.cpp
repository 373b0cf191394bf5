#include "snapshot.h"

namespace bd {

TaskCounts EngineSnapshot::totals() const
{
    TaskCounts sum;
    for (const JobSnapshot &job : jobs) {
        sum.pending += job.counts.pending;
        sum.leased += job.counts.leased;
        sum.completed += job.counts.completed;
        sum.dead += job.counts.dead;
        sum.cancelled += job.counts.cancelled;
    }
    return sum;
}

double EngineSnapshot::costUsd() const
{
    double sum = 0.0;
    for (const JobSnapshot &job : jobs)
        sum += job.costUsd;
    return sum;
}

qint64 EngineSnapshot::pendingAtPriority(int priority) const
{
    qint64 sum = 0;
    for (const JobSnapshot &job : jobs) {
        if (job.priority == priority)
            sum += job.counts.pending;
    }
    return sum;
}

qint64 EngineSnapshot::finishedTasks() const
{
    const TaskCounts sum = totals();
    return sum.completed + sum.dead + sum.cancelled;
}

} // namespace bd
