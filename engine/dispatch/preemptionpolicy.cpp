#include "preemptionpolicy.h"

#include "dispatch/lanecontrols.h"

#include <algorithm>

namespace bd::dispatch {

QList<PreemptionPolicy::Decision> PreemptionPolicy::decide(const QList<Runner> &runners,
                                                           const LaneControls &lanes,
                                                           qint64 nowMs,
                                                           const UrgentElsewhere &urgentElsewhere)
{
    // A paused realtime lane sends nothing, so it holds nobody back either. A realtime job
    // not yet running counts as waiting: lower lanes yield before its first claim.
    bool urgentWaiting = !lanes.isPaused(1) && std::any_of(runners.cbegin(), runners.cend(), [](const Runner &runner) {
        return runner.priority == 1 && (runner.dispatchableWork || !runner.running);
    });
    if (!urgentWaiting && urgentElsewhere) {
        const bool anyPreemptable = std::any_of(runners.cbegin(), runners.cend(), [](const Runner &runner) {
            return runner.priority != 1 && !runner.batchLane && runner.running;
        });
        if (anyPreemptable && urgentElsewhere())
            m_urgentElsewhereUntilMs = nowMs + kUrgentElsewhereGraceMs;
        urgentWaiting = nowMs < m_urgentElsewhereUntilMs;
    }

    QList<Decision> decisions;
    decisions.reserve(runners.size());
    for (const Runner &runner : runners) {
        // Preemption only ever decides for lanes that are not paused.
        const bool paused = lanes.isPaused(runner.priority);
        const bool preemptable = runner.priority != 1 && !runner.batchLane;
        if (!preemptable || !urgentWaiting) {
            m_heldSinceMs.remove(runner.jobId);
            decisions.append({runner.jobId, paused, 0});
            continue;
        }
        const qint64 since = m_heldSinceMs.value(runner.jobId, nowMs);
        m_heldSinceMs.insert(runner.jobId, since);
        const bool aged = nowMs - since >= m_agingMs;
        decisions.append({runner.jobId, true, !paused && aged ? 1 : 0});
    }
    return decisions;
}

} // namespace bd::dispatch
