#pragma once

#include "providers/provider.h"
#include "sharedfallback.h"

#include <QString>
#include <QtGlobal>

namespace bd::store {
class SharedLimits;
}

namespace bd::dispatch {

// Requests- and tokens-per-minute ceilings for one provider and model, paced evenly (no
// bursts: a provider's per-second sub-limits are not tripped by a minute's worth at once).
//
// The nominal rate is the configured one (--rpm/--tpm), else the limit the provider's
// headers announce; requests are spaced at `headroom` of it. The effective rate drops by
// `decreaseFactor` on a 429 the limiter did not expect and climbs back towards the nominal
// in steps while requests succeed.
//
// A reset header is read as "the next slot frees within it", never as "wait all of it":
// OpenAI's reset is the time until the limit is fully replenished and Anthropic's the
// moment its continuously refilling bucket is full, while other servers name the next
// free slot. With `remaining` 0 the limiter waits one slot's share of the reset (reset ÷
// the window's capacity, at most the reset); if the slot was not free yet, the 429's
// retry-after says exactly when it is, and such an expected refusal does not slow the lane.
// Pure arithmetic over the caller's clock; 0 means "no ceiling".
//
// Shared (share()): the ceiling holds for every worker on the database, not per process.
// Requests (and tokens) take slots of one schedule per key kept in the database
// (store/sharedlimits.h, a virtual-time token bucket): each worker reserves a few evenly
// spaced slots at a time, never more than `sharedHorizonMs` ahead, so all workers together
// never run faster than the limit and no worker waits for a share it does not use. A
// provider's "wait" (retry-after) postpones the schedule for everybody.
class RateLimiter
{
public:
    struct Options
    {
        qint64 configuredRpm = 0;
        qint64 configuredTpm = 0;
        // Arrivals at the server jitter (network, event loop); a window counting them must
        // never see more than its limit, so requests are spaced a little wider.
        double headroom = 0.985;
        double decreaseFactor = 0.5; // effective *= this on an unexpected 429
        double minimumFactor = 0.05; // never below this share of the nominal rate
        double recoveryStep = 0.05;  // share of the nominal regained per recovery interval
        qint64 recoveryIntervalMs = 5'000;
        qint64 defaultRetryAfterMs = 2'000;
        // A 429 for a request sent while at most this share of the window's capacity
        // remained is the window's brim, expected: it waits and does not slow the lane.
        double tightShare = 0.03;
        // Shared: how far ahead a worker may reserve slots (unused ones are lost).
        double sharedHorizonMs = 250.0;
        // A slot (a reserved one, shared) is still used this late (a busy machine wakes
        // late; a few requests then go closer together, the aggregate never faster).
        double catchUpMs = 100.0;
    };

    RateLimiter();
    explicit RateLimiter(const Options &options);

    // Takes slots of the schedules `key` (requests) and `key|tokens` in limits from now on;
    // nullptr: this process only. A database error falls back to this process's pacing.
    void share(store::SharedLimits *limits, const QString &key);
    bool isShared() const { return m_shared != nullptr; }
    // Whether requests are paced by the database's schedule (shared and a configured limit).
    bool sharesSchedule() const;

    // Milliseconds until a request of `tokens` may start (0: now). Shared, it may reserve
    // slots in the database for that request.
    qint64 delayMs(qint64 tokens, qint64 nowMs);
    // Records a request that starts now.
    void consume(qint64 tokens, qint64 nowMs);
    // Learns from the rate-limit headers of any reply.
    void observe(const providers::RateLimitInfo &info, qint64 nowMs);
    // A 429 for a request sent at sentAtMs: wait what the provider said and slow down —
    // once per burst: refusals of requests sent before the last slowdown only extend the wait.
    void handleRateLimited(qint64 retryAfterMs, qint64 nowMs, qint64 sentAtMs);
    void handleSuccess(qint64 nowMs);
    // Requests of `tokens` each that the pace lets start within horizonMs (at least 1;
    // -1: no ceiling is known). A runner leases no more ahead than this: a paced lane's
    // surplus would only wait, and a worker that dies holds it until its leases expire.
    qint64 requestsWithin(qint64 horizonMs, qint64 tokens) const;

    double nominalRpm() const;
    double nominalTpm() const;
    double effectiveRpm() const { return nominalRpm() * m_factor; }
    double effectiveTpm() const { return nominalTpm() * m_factor; }
    double slowdownFactor() const { return m_factor; }
    qint64 pausedUntilMs() const { return m_pausedUntilMs; }

private:
    // The slots of one shared schedule this worker holds: `left` units from firstMs on,
    // one unit per interval.
    struct Slots
    {
        QString key;
        double firstMs = 0.0;
        qint64 left = 0;
        double retryAtMs = 0.0; // nothing free before then (the horizon was full)
        qint64 batch = 1;       // units to reserve next time (grows while all are used)
        qint64 usedOfBatch = 0;
    };
    // Whether requests / tokens take slots of the database's schedule (a configured limit,
    // shared); a limit learnt from headers is paced by this process alone.
    bool sharesRequests() const;
    bool sharesTokens() const;
    double requestSpacingMs() const;
    double tokenMsFor(qint64 tokens) const;
    // When `units` of the schedule are this worker's (reserving them if needed), or NaN
    // when the database failed.
    double sharedReadyAt(Slots &run, double intervalMs, qint64 units, qint64 maxBatch,
                         double nowMs);
    static void takeSlots(Slots &run, double intervalMs, qint64 units);
    // The database did not answer: this process paces alone for a while (said once).
    void sharedScheduleFailed(qint64 nowMs);

    store::SharedLimits *m_shared = nullptr;
    Slots m_requestSlots;
    Slots m_tokenSlots;
    SharedFallback m_sharedFallback;
    bool m_sharedPaused = false; // alone until m_sharedFallback is usable again

    Options m_options;
    qint64 m_headerRpm = 0;
    qint64 m_headerTpm = 0;
    double m_factor = 1.0;
    qint64 m_lastRecoveryMs = 0;
    qint64 m_lastDecreaseMs = -1;
    bool m_succeededSinceDecrease = true; // a storm of refusals slows down only once
    qint64 m_pausedUntilMs = 0;
    double m_nextRequestAtMs = 0;
    double m_tokensFreeAtMs = 0;
    qint64 m_lastTokens = 0; // size of the last request, for a token slot's share
    // Largest `remaining` seen: the server's window or bucket capacity (the limit headers
    // may state it per minute for a shorter window).
    qint64 m_requestCapacity = 0;
    qint64 m_tokenCapacity = 0;
    // Since when the provider has said (almost) nothing remains (-1: it has not): a 429 for
    // a request sent after that is expected (a probe for the next slot, or a window filled
    // to the brim) and only waits; one sent while plenty remained means the limit is shared
    // or misconfigured, and slows the lane.
    qint64 m_tightSinceMs = -1;
};

} // namespace bd::dispatch
