#include "retrypolicy.h"

namespace bd::dispatch {

bool isOutageError(ErrorClass error)
{
    switch (error) {
    case ErrorClass::Network:
    case ErrorClass::ServerError:
    case ErrorClass::Overloaded:
    case ErrorClass::Timeout:
        return true;
    default:
        return false;
    }
}

RetryPolicy::RetryPolicy(const Options &options, quint32 seed)
    : m_options(options)
    , m_random(seed ? seed : QRandomGenerator::global()->generate())
{
}

qint64 RetryPolicy::backoffCeilingMs(int failedAttempts) const
{
    const int exponent = qBound(0, failedAttempts - 1, 30);
    const qint64 ceiling = m_options.baseDelayMs << exponent;
    return qMin(ceiling, m_options.maxDelayMs);
}

TaskTransition RetryPolicy::decide(const TaskOutcome &outcome, int attemptsBefore, qint64 nowMs,
                                   qint64 retryAfterMs)
{
    TaskTransition transition;
    transition.outcome = outcome;
    transition.chargeAttempt = errorCountsAsAttempt(outcome.error);
    transition.notBeforeMs = nowMs;

    switch (outcome.error) {
    case ErrorClass::None:
        transition.action = OutcomeAction::Complete;
        transition.chargeAttempt = !outcome.cacheHit;
        return transition;
    case ErrorClass::InvalidRequest:
        transition.action = OutcomeAction::DeadLetter;
        return transition;
    case ErrorClass::RateLimited:
        transition.action = OutcomeAction::Release;
        transition.notBeforeMs = nowMs + (retryAfterMs >= 0 ? retryAfterMs
                                                             : m_options.rateLimitDefaultMs);
        return transition;
    case ErrorClass::QuotaExhausted:
    case ErrorClass::Auth:
    case ErrorClass::Cancelled:
        // Not the task's fault: it waits, unharmed, for the job to be resumed.
        transition.action = OutcomeAction::Release;
        return transition;
    default:
        break;
    }

    const int failed = attemptsBefore + 1;
    if (failed > m_options.maxRetries) {
        transition.action = OutcomeAction::DeadLetter;
        return transition;
    }
    transition.action = OutcomeAction::Retry;
    const qint64 ceiling = backoffCeilingMs(failed);
    qint64 wait = ceiling > 0 ? qint64(m_random.bounded(quint64(ceiling) + 1)) : 0;
    if (retryAfterMs > wait)
        wait = retryAfterMs;
    transition.notBeforeMs = nowMs + wait;
    return transition;
}

} // namespace bd::dispatch
