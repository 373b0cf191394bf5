#include "dispatch/batchassembly.h"

#include <algorithm>

namespace bd::dispatch {

void BatchAssembly::open(int capacity, qint64 nowMs)
{
    if (!m_tasks.isEmpty())
        return;
    m_capacity = capacity;
    m_openedAtMs = nowMs;
}

qint64 BatchAssembly::msUntilClose(qint64 nowMs, qint64 maxWaitMs, bool othersMayJoin) const
{
    const qint64 waited = nowMs - m_openedAtMs;
    if (!othersMayJoin || isFull() || waited >= maxWaitMs)
        return 0;
    return maxWaitMs - waited;
}

bool BatchAssembly::holdsWorseThan(int priority) const
{
    return std::any_of(m_tasks.cbegin(), m_tasks.cend(),
                       [priority](const ClaimedTask &task) { return task.priority > priority; });
}

TaskLanes::Lane TaskLanes::laneOf(const ClaimedTask &task) const
{
    if (m_jobOnBatchApi)
        return task.priority < m_jobPriority ? Lane::Sync : Lane::BatchApi;
    // The batch API is priority 3's lane (laneForPriority()).
    if (m_loweredToBatchApi && task.priority >= 3 && m_jobPriority < 3)
        return Lane::BatchApi;
    return Lane::Sync;
}

} // namespace bd::dispatch
