#include "dispatch/refusal.h"

namespace bd::dispatch {

bool statesRateLimits(const providers::RateLimitInfo &info)
{
    return info.remainingRequests >= 0 || info.remainingTokens >= 0;
}

Refusal classifyRefusal(const providers::RateLimitInfo &refusal, qint64 requestTokens,
                        bool serverStatesLimits, bool rateKnown)
{
    if (!statesRateLimits(refusal))
        return !serverStatesLimits && rateKnown ? Refusal::Rate : Refusal::Concurrency;
    const bool requestsOut = refusal.remainingRequests == 0;
    const bool tokensOut = refusal.remainingTokens >= 0
                           && refusal.remainingTokens < qMax<qint64>(1, requestTokens);
    return requestsOut || tokensOut ? Refusal::Rate : Refusal::Concurrency;
}

} // namespace bd::dispatch
