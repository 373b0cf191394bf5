#pragma once

#include "sharedfallback.h"

#include <QString>
#include <QtGlobal>

namespace bd::store {
class SharedLimits;
}

namespace bd::dispatch {

// Stops sending to a provider that is down instead of burning every task's retries on it.
// Closed: requests flow; a run of outage-class failures (connection refused, 5xx, 529,
// timeouts) opens it. Open: nothing is sent until the cool-down ends. Half-open: a few
// probe requests go out; one success closes the breaker, a failure opens it again with a
// longer cool-down. Pure state over the caller's clock.
//
// Shared (share()): one breaker per provider endpoint for every worker on the database
// (store/sharedlimits.h). A worker that opens it opens it for all (the others read the
// shared state at most `syncMs` later); when the cool-down ends, one worker gets the
// half-open probe and the others wait for its answer: its success closes the breaker for
// everybody, its failure reopens it with the doubled cool-down. Failures are counted per
// worker (each one's run of failures in a row).
class CircuitBreaker
{
public:
    enum class State
    {
        Closed,
        Open,
        HalfOpen
    };

    struct Options
    {
        int failureThreshold = 5;     // consecutive outage failures that open the breaker
        qint64 openMs = 10'000;       // first cool-down
        qint64 maxOpenMs = 300'000;   // cool-downs double up to this
        int halfOpenProbes = 1;       // requests allowed while half-open
        qint64 syncMs = 500;          // shared: how often the shared state is read
        qint64 probeClaimMs = 30'000; // shared: another worker may probe after this long
    };

    CircuitBreaker();
    explicit CircuitBreaker(const Options &options);

    // Shares this breaker under `key` with every worker on the database behind limits;
    // workerId names this worker's probe. nullptr: this process only. On a database error
    // the breaker goes on for this process alone.
    void share(store::SharedLimits *limits, const QString &key, const QString &workerId);

    State state(qint64 nowMs);
    // May a request go out now? In half-open, each true answer uses up one probe.
    bool allowRequest(qint64 nowMs);
    // Milliseconds until the breaker lets a request through (0 when it does now).
    qint64 waitMs(qint64 nowMs);

    void recordSuccess(qint64 nowMs);
    // Returns true when this failure opened the breaker.
    bool recordOutageFailure(qint64 nowMs);

    int consecutiveFailures() const { return m_consecutiveFailures; }
    qint64 openedAtMs() const { return m_openedAtMs; }
    int timesOpened() const { return m_timesOpened; }

private:
    void open(qint64 nowMs);
    // Shared: reads the shared state (at most every syncMs unless forced) and follows it.
    void sync(qint64 nowMs, bool force);
    void sharedFailed(qint64 nowMs);
    bool sharedUsable(qint64 nowMs) const;

    store::SharedLimits *m_shared = nullptr;
    SharedFallback m_fallback;
    QString m_key;
    QString m_workerId;
    qint64 m_syncedAtMs = -1;
    bool m_sharedOpen = false; // the shared state was open at the last read

    Options m_options;
    State m_state = State::Closed;
    int m_consecutiveFailures = 0;
    qint64 m_openedAtMs = 0;
    qint64 m_openUntilMs = 0;
    qint64 m_currentOpenMs = 0;
    int m_probesLeft = 0;
    int m_timesOpened = 0;
};

} // namespace bd::dispatch
