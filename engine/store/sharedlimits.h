#pragma once

#include <QString>

#include <optional>

namespace bd::store {

// Slots of a shared rate schedule handed to one worker: `count` evenly spaced slots, the
// first at firstMs. With count 0 nothing was free within the horizon: ask again at retryAtMs.
struct SlotGrant
{
    int count = 0;
    double firstMs = 0.0;
    double retryAtMs = 0.0;
};

// A provider endpoint's breaker as every worker sees it (dispatch/circuitbreaker.h).
struct SharedBreakerState
{
    qint64 openUntilMs = 0; // open until then; 0: closed
    qint64 openMs = 0;      // the cool-down that opened it last (doubles on a failed probe)
    QString probeOwner;     // the worker whose half-open probe is out; empty: none
    qint64 probeUntilMs = 0; // that probe's claim runs out then
    qint64 timesOpened = 0;
};

// What all workers on a database share about a provider endpoint (a key, the engine's
// "provider|base URL|model"), so that limits hold across processes and machines instead of
// per process: the shared-limits role of a Database (database.h). Each call is one
// statement (an upsert at first use of a key), so concurrent workers never see a half-made
// change. Times are the caller's clock in milliseconds; workers on different machines
// should keep their clocks in step (NTP), a skew of S ms shifts a slot by S ms at most.
class SharedLimits
{
public:
    virtual ~SharedLimits() = default;

    // --- rate: one schedule of evenly spaced slots per key (a virtual-time token bucket,
    // GCRA). Reserves `count` slots `intervalMs` apart from the schedule's next free slot
    // (never earlier than nowMs) if that slot starts within horizonMs of nowMs; otherwise
    // none, with the time the next reservation may succeed. Unused slots are lost, so a
    // worker reserves only a little ahead: the aggregate of all workers never runs faster
    // than one slot per interval. nullopt on a database error.
    virtual std::optional<SlotGrant> reserveSlots(const QString &key, double intervalMs, int count,
                                                  double nowMs, double horizonMs) = 0;
    // No slot of the key starts before untilMs (the provider said to wait: everybody waits).
    virtual bool postponeSlots(const QString &key, double untilMs) = 0;

    // --- breaker: one row per key.
    // The shared state (a closed breaker when the key has never opened).
    virtual std::optional<SharedBreakerState> breaker(const QString &key) = 0;
    // Opens the breaker for everybody until untilMs (kept if it is open longer already);
    // openMs is the cool-down that led to it. Clears the probe.
    virtual bool openBreaker(const QString &key, qint64 untilMs, qint64 openMs, qint64 nowMs) = 0;
    // The half-open probe: true for the one worker that gets to send it (the breaker is open
    // and its cool-down is over, and no other worker's probe claim is still running); the
    // claim runs until probeUntilMs.
    virtual bool takeProbe(const QString &key, const QString &workerId, qint64 nowMs,
                           qint64 probeUntilMs) = 0;
    // Closes the breaker for everybody (a request succeeded).
    virtual bool closeBreaker(const QString &key) = 0;

    // --- each worker's share of something under a key: its claim on a job's
    // concurrency ceiling, the budget its requests in flight have reserved (micro-USD), so
    // that a ceiling or a cap holds across workers. Records the worker's amount (0 removes
    // its row, and rows not updated for an hour).
    virtual bool setShare(const QString &key, const QString &workerId, qint64 amount,
                          qint64 nowMs) = 0;
    // The sum of the other workers' amounts recorded at or after sinceMs, and how many such
    // workers there are. nullopt on a database error.
    struct Others
    {
        qint64 amount = 0;
        int workers = 0;
    };
    virtual std::optional<Others> sharesElsewhere(const QString &key, const QString &workerId,
                                                  qint64 sinceMs) = 0;

    virtual QString errorString() const = 0;
};

} // namespace bd::store
