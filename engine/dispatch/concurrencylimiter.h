#pragma once

#include "sharedfallback.h"

#include <QString>
#include <QtGlobal>

#include <algorithm>

namespace bd::store {
class SharedLimits;
}

namespace bd::dispatch {

// How many requests a job keeps in flight, adapted to what the provider shows (AIMD, as
// TCP does with its window): a 429, an overload (503/529) or a timeout cuts the limit by a
// factor, at most once per round trip, so a burst of refusals from one moment counts once;
// a sudden climb of latency well above its long-run level (a server that queues) cuts it
// gently; every round of answers while the limit is in use adds one, except near the level
// where the provider last pushed back, which is probed only now and then (a small limit
// would otherwise meet a refusal every few rounds). A probe refused at that same level
// again goes back to the level below it, which held, and the next probe waits twice as
// long (up to 8 times): a stable ceiling is used fully and rarely refused. A 429 about
// concurrency (recordRefusal()) says more than an overload: each further refusal of one
// burst shows one slot fewer than the limit that sent them, so a first burst lands on
// the server's limit at once instead of after several cuts (and, located that surely, it
// is probed at half the pace). The configured
// concurrency is the ceiling, never passed, so a user gives an upper bound instead of a
// guess. Pure state over the caller's clock.
//
// Shared (share()): a job's own --concurrency holds across every worker running it. Each
// worker records in the database (store/sharedlimits.h) what it may have in flight until its
// next exchange (its claim: its allowance, or what it has out if more; nothing while it has
// nothing out) and reads the others' claims, at most every `syncMs`; its limit is then at
// most the ceiling less the others' claims, but never less than its fair share (the ceiling
// over the workers running the job, at least one), so a worker that joins late is not
// starved. The sum may pass the ceiling by a late joiner's fair share for about `syncMs`
// plus a round trip, until the others have read its claim and let answers drain.
class ConcurrencyLimiter
{
public:
    struct Options
    {
        double overloadBackoff = 0.75; // limit × this on a 429 / overload / timeout
        double latencyBackoff = 0.9;   // limit × this when latency climbs
        double latencyTolerance = 3.0; // recent latency above this × the long-run level climbs
        int latencySamples = 20;       // answers seen before latency is trusted
        qint64 minRoundTripMs = 100;   // the shortest cool-down between two cuts
        int probeRounds = 20;          // rounds between two steps past the last pushback level
        int maxProbeDoublings = 3;     // the same level refused again: probeRounds x 2, x 4, x 8
        int forgetRounds = 200;        // rounds without pushback after which that level is forgotten
        qint64 syncMs = 500;           // shared: how often the workers' counts are exchanged
        qint64 staleMs = 30'000;       // shared: a count older than this is a gone worker's
    };

    explicit ConcurrencyLimiter(int ceiling);
    ConcurrencyLimiter(int ceiling, const Options &options);

    // What may be in flight now: the adaptive limit, within this worker's share when shared.
    int limit() const { return sharing() ? std::min(int(m_limit), m_allowance) : int(m_limit); }
    // The shared ceiling: `ceiling` requests in flight for every worker together under `key`,
    // this worker named by workerId; reads the others' counts at once. nullptr: none.
    void share(store::SharedLimits *limits, const QString &key, const QString &workerId,
               int ceiling, qint64 nowMs);
    bool isShared() const { return m_shared != nullptr; }
    // Shared and the shared counts readable at the last exchange (else this worker alone).
    bool sharing() const { return m_shared && !m_fallback.alone(); }
    // Records this worker's claim and reads the others' (at most every syncMs unless forced);
    // callers with no answers to report (an idle tick, a stop with 0) call it directly.
    void syncShared(int inFlight, qint64 nowMs, bool force = false);
    int ceiling() const { return m_ceiling; }
    // A new ceiling (the user's concurrency); the limit follows it down at once and may
    // grow up to it.
    void setCeiling(int ceiling);

    // An answer came back normally (success or a failure of the task's own making).
    // inFlight: requests still out when it came, to tell a limit in use from an idle one.
    void recordAnswer(qint64 latencyMs, int inFlight, qint64 nowMs);
    // The provider refused or could not take the request: 429, 503/529, a timeout.
    void recordOverload(qint64 nowMs);
    // The provider refused the request for concurrency (a 429 about requests in flight,
    // dispatch/refusal.h): an overload, and every further one of the same burst lowers
    // the limit by one.
    void recordRefusal(qint64 nowMs);

private:
    void cut(double factor, qint64 nowMs);
    bool withinBurst(qint64 nowMs) const;

    store::SharedLimits *m_shared = nullptr;
    SharedFallback m_fallback;
    QString m_sharedKey;
    QString m_workerId;
    int m_sharedCeiling = 0;
    int m_allowance = 0;
    qint64 m_syncedAtMs = -1;

    Options m_options;
    int m_ceiling;
    double m_limit;
    double m_recentLatencyMs = 0.0;  // fast average (about the last 10 answers)
    double m_longRunLatencyMs = 0.0; // slow average (about the last 200 answers)
    int m_samples = 0;
    qint64 m_lastCutMs = -1;
    double m_pushbackLimit = 0.0; // the level refused at the last overload (0: none known)
    double m_roundsSincePushback = 0.0;
    int m_probeDoublings = 0;      // times the same level was refused again in a row
    double m_limitBeforeCut = 0.0; // the limit that sent the burst being cut for
    int m_burstRefusals = 0;       // concurrency refusals of that burst
};

} // namespace bd::dispatch
