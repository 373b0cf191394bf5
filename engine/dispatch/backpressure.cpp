#include "backpressure.h"

#include "dispatch/concurrencylimiter.h"
#include "dispatch/providerguard.h"

#include <algorithm>

namespace bd::dispatch {

BackPressure::BackPressure(ConcurrencyLimiter *limiter)
    : m_limiter(limiter)
{
}

void BackPressure::observe(const providers::RateLimitInfo &limits)
{
    m_serverStatesLimits = m_serverStatesLimits || statesRateLimits(limits);
}

Refusal BackPressure::refusalOf(const ProviderGuard &guard, const providers::ChatReply &reply,
                                qint64 requestTokens) const
{
    const bool rateKnown = guard.limiter.nominalRpm() > 0 || guard.limiter.nominalTpm() > 0;
    return classifyRefusal(reply.rateLimits, requestTokens, m_serverStatesLimits, rateKnown);
}

void BackPressure::answered(const providers::ChatReply &reply, qint64 sentAtMs, int inFlight,
                            Refusal refusal, qint64 nowMs)
{
    switch (reply.error) {
    case ErrorClass::RateLimited:
        if (refusal == Refusal::Concurrency)
            m_limiter->recordRefusal(nowMs);
        else
            m_limiter->recordOverload(nowMs);
        break;
    case ErrorClass::Overloaded:
    case ErrorClass::Timeout:
        m_limiter->recordOverload(nowMs);
        break;
    case ErrorClass::Cancelled: // ours: says nothing about the provider
        break;
    default:
        m_limiter->recordAnswer(nowMs - sentAtMs, inFlight, nowMs);
        break;
    }
}

void BackPressure::rateLimited(ProviderGuard &guard, const providers::ChatReply &reply,
                               qint64 requestTokens, qint64 sentAtMs, qint64 nowMs)
{
    if (refusalOf(guard, reply, requestTokens) == Refusal::Rate) {
        guard.limiter.handleRateLimited(reply.retryAfterMs, nowMs, sentAtMs); // the lane waits
        return;
    }
    const qint64 wait = qBound(
        qint64(1), reply.retryAfterMs >= 0 ? reply.retryAfterMs : qint64(1'000), qint64(10'000));
    m_coolingUntilMs.insert(
        std::upper_bound(m_coolingUntilMs.begin(), m_coolingUntilMs.end(), nowMs + wait),
        nowMs + wait);
}

int BackPressure::coolingSlots(qint64 nowMs)
{
    while (!m_coolingUntilMs.isEmpty() && m_coolingUntilMs.constFirst() <= nowMs)
        m_coolingUntilMs.removeFirst();
    return int(m_coolingUntilMs.size());
}

qint64 BackPressure::msUntilSlotFrees(qint64 nowMs) const
{
    return m_coolingUntilMs.isEmpty() ? 0 : qMax<qint64>(1, m_coolingUntilMs.constFirst() - nowMs);
}

} // namespace bd::dispatch
