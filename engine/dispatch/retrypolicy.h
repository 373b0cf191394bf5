#pragma once

#include "core/tasktypes.h"

#include <QRandomGenerator>

namespace bd::dispatch {

// Failures that say more about the provider than about the task (or, for a provider batch
// failed as a whole, than about its lines).
bool isOutageError(ErrorClass error);

// Decides what becomes of a task after one try: per task, never per batch.
// Backoff is exponential with full jitter (a random wait between 0 and the exponential
// ceiling) so that tasks that failed together do not come back together.
class RetryPolicy
{
public:
    struct Options
    {
        int maxRetries = 3;          // a task dies after 1 + maxRetries charged failures
        qint64 baseDelayMs = 1'000;  // ceiling of the first retry's wait
        qint64 maxDelayMs = 60'000;  // cap of every wait
        qint64 rateLimitDefaultMs = 5'000; // wait after a 429 that named none
    };

    explicit RetryPolicy(const Options &options, quint32 seed = 0);

    // attemptsBefore: charged failures the task already had before this try.
    TaskTransition decide(const TaskOutcome &outcome, int attemptsBefore, qint64 nowMs,
                          qint64 retryAfterMs = -1);

    // The ceiling of the wait before charged try number n+1 (n >= 1).
    qint64 backoffCeilingMs(int failedAttempts) const;
    const Options &options() const { return m_options; }

private:
    Options m_options;
    QRandomGenerator m_random;
};

} // namespace bd::dispatch
