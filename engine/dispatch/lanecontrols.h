#pragma once

#include "api/engine.h"

#include <QHash>
#include <QList>
#include <QSet>

#include <optional>

namespace bd::dispatch {

class JobRunner;

// What the user set per lane (priority 1 realtime, 2 grouped, 3 batch): which lanes are
// paused and the limits that override each running job's own settings. A plain value on the
// engine thread; EngineWorker applies it to the runners and to preemption.
class LaneControls
{
public:
    struct Limits
    {
        int concurrency = 0;          // requests in flight per job; 0: the job's own
        int maxConcurrentBatches = 0; // provider batches open at once; 0: the job's own
    };
    // What a runner should change to honour its lane's limits (nothing: leave it).
    struct Adjustment
    {
        std::optional<int> concurrency;
        std::optional<int> maxConcurrentBatches;
        bool isEmpty() const { return !concurrency && !maxConcurrentBatches; }
    };

    // True when the lane's state changed (false too for a lane that is not 1..3).
    bool setPaused(Lane lane, bool paused);
    // Priorities outside 1..3 count as the nearest lane, as the runners clamp them.
    bool isPaused(int priority) const;
    QList<int> pausedLanes() const; // sorted

    // False for a lane that is not 1..3; negative limits count as 0 (unset).
    bool setLimits(Lane lane, int concurrency, int maxConcurrentBatches);
    Limits limits(int priority) const { return m_limits.value(priority); }
    Adjustment adjustment(int priority, int concurrency, int maxConcurrentBatches) const;
    void apply(JobRunner *runner) const;

private:
    static std::optional<int> priorityOf(Lane lane);

    QSet<int> m_paused;
    QHash<int, Limits> m_limits;
};

} // namespace bd::dispatch
