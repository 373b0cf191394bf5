#pragma once

#include "core/tasktypes.h"

#include <QList>
#include <QtGlobal>

namespace bd::dispatch {

// One batch being assembled from claimed tasks — a group of sync calls or a provider batch.
// It closes when it is full, when it has waited its maximum since it opened, or when no
// other task could still join it. Pure state over the caller's clock; the caller claims.
class BatchAssembly
{
public:
    bool isEmpty() const { return m_tasks.isEmpty(); }
    int size() const { return int(m_tasks.size()); }
    int capacity() const { return m_capacity; }
    int room() const { return qMax(0, m_capacity - size()); }
    bool isFull() const { return !m_tasks.isEmpty() && size() >= m_capacity; }
    const QList<ClaimedTask> &tasks() const { return m_tasks; }

    // Starts a batch of at most `capacity` tasks at nowMs, unless one is being assembled.
    void open(int capacity, qint64 nowMs);
    void add(ClaimedTask task) { m_tasks.append(std::move(task)); }
    // 0: the batch goes now; else how long it may still wait to fill. othersMayJoin: more
    // tasks could still be claimed into it (pending ones, and a lane that waits at all).
    qint64 msUntilClose(qint64 nowMs, qint64 maxWaitMs, bool othersMayJoin) const;
    // Empties it (the batch closed, or its tasks go back).
    QList<ClaimedTask> take() { return std::exchange(m_tasks, {}); }
    // Holds a task of a lower priority (a larger number) than `priority`.
    bool holdsWorseThan(int priority) const;

private:
    QList<ClaimedTask> m_tasks;
    int m_capacity = 0;
    qint64 m_openedAtMs = 0;
};

// Which lane each claimed task of a job goes to. A job's tasks follow the job's lane,
// except tasks reprioritised one by one: raised above a batch-API job's priority they go
// as sync calls now, not 24 h away; lowered to priority 3 inside a job of sync calls they
// join the batch API, when the job may use it (loweredToBatchApi). Pure state.
class TaskLanes
{
public:
    enum class Lane
    {
        Sync,
        BatchApi,
    };
    void configure(int jobPriority, bool jobOnBatchApi, bool loweredToBatchApi)
    {
        m_jobPriority = jobPriority;
        m_jobOnBatchApi = jobOnBatchApi;
        m_loweredToBatchApi = loweredToBatchApi;
    }
    Lane laneOf(const ClaimedTask &task) const;

private:
    int m_jobPriority = 2;
    bool m_jobOnBatchApi = false;
    bool m_loweredToBatchApi = false;
};

} // namespace bd::dispatch
