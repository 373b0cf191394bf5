#include "lanecontrols.h"

#include "dispatch/jobrunner.h"

#include <algorithm>

namespace bd::dispatch {

std::optional<int> LaneControls::priorityOf(Lane lane)
{
    const int priority = int(lane);
    if (priority < 1 || priority > 3)
        return std::nullopt;
    return priority;
}

bool LaneControls::setPaused(Lane lane, bool paused)
{
    const auto priority = priorityOf(lane);
    if (!priority || m_paused.contains(*priority) == paused)
        return false;
    if (paused)
        m_paused.insert(*priority);
    else
        m_paused.remove(*priority);
    return true;
}

bool LaneControls::isPaused(int priority) const
{
    return m_paused.contains(qBound(1, priority, 3));
}

QList<int> LaneControls::pausedLanes() const
{
    QList<int> lanes = m_paused.values();
    std::sort(lanes.begin(), lanes.end());
    return lanes;
}

bool LaneControls::setLimits(Lane lane, int concurrency, int maxConcurrentBatches)
{
    const auto priority = priorityOf(lane);
    if (!priority)
        return false;
    m_limits.insert(*priority, Limits{qMax(0, concurrency), qMax(0, maxConcurrentBatches)});
    return true;
}

LaneControls::Adjustment LaneControls::adjustment(int priority, int concurrency,
                                                  int maxConcurrentBatches) const
{
    // Exact lane only: a job of an odd priority has no lane limits of its own.
    const Limits limits = m_limits.value(priority);
    Adjustment change;
    if (limits.concurrency > 0 && limits.concurrency != concurrency)
        change.concurrency = limits.concurrency;
    if (limits.maxConcurrentBatches > 0 && limits.maxConcurrentBatches != maxConcurrentBatches)
        change.maxConcurrentBatches = limits.maxConcurrentBatches;
    return change;
}

void LaneControls::apply(JobRunner *runner) const
{
    const Adjustment change =
        adjustment(runner->priority(), runner->concurrency(), runner->maxConcurrentBatches());
    if (change.concurrency)
        runner->setConcurrency(*change.concurrency);
    if (change.maxConcurrentBatches)
        runner->setMaxConcurrentBatches(*change.maxConcurrentBatches);
}

} // namespace bd::dispatch
