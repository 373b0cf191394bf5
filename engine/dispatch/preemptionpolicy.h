#pragma once

#include <QHash>
#include <QList>

#include <functional>

namespace bd::dispatch {

class LaneControls;

// Preemption across the jobs of one engine: while priority-1 work waits (here, or in another
// process on the same database), sync work of lower priorities is held; once held longer than
// agingMs it gets one request in flight so that it cannot starve. Lanes the user paused stay
// held whatever preemption decides. Provider batches use their own capacity and are never
// held by it. A plain object: EngineWorker feeds it the runners' state each tick and applies
// the decisions.
class PreemptionPolicy
{
public:
    // What the policy needs to know of one runner.
    struct Runner
    {
        qint64 jobId = 0;
        int priority = 2;
        bool batchLane = false;
        bool running = false;
        bool dispatchableWork = false; // work that would go out now if nothing held it back
    };
    // JobRunner::setHeld(held, trickle) for one job.
    struct Decision
    {
        qint64 jobId = 0;
        bool held = false;
        int trickle = 0; // requests allowed in flight while held
        bool operator==(const Decision &) const = default;
    };
    // Asked only when nothing urgent waits here and some sync work could yield: whether
    // another process has priority-1 work in flight (one query of the database).
    using UrgentElsewhere = std::function<bool()>;

    static constexpr qint64 kDefaultAgingMs = 10 * 60 * 1000;
    // Another process's urgent work is seen between its claims only now and then: it keeps
    // holding this long past the last sight so the gaps do not release us.
    static constexpr qint64 kUrgentElsewhereGraceMs = 1'000;

    explicit PreemptionPolicy(qint64 agingMs = kDefaultAgingMs) : m_agingMs(agingMs) {}

    qint64 agingMs() const { return m_agingMs; }
    void setAgingMs(qint64 ms) { m_agingMs = ms; }

    QList<Decision> decide(const QList<Runner> &runners, const LaneControls &lanes, qint64 nowMs,
                           const UrgentElsewhere &urgentElsewhere = {});
    // The job's runner is gone: a later runner of it starts its aging afresh.
    void forget(qint64 jobId) { m_heldSinceMs.remove(jobId); }
    bool isHeld(qint64 jobId) const { return m_heldSinceMs.contains(jobId); }

private:
    qint64 m_agingMs;
    QHash<qint64, qint64> m_heldSinceMs; // job -> when preemption began to hold it
    qint64 m_urgentElsewhereUntilMs = 0;
};

} // namespace bd::dispatch
