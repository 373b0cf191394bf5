#pragma once

#include "dispatch/refusal.h"
#include "providers/provider.h"

#include <QList>

namespace bd::dispatch {

class ConcurrencyLimiter;
struct ProviderGuard;

// What the answers of sync calls say about the provider's load, and the runner's answer to
// it: the concurrency limiter adapts to latency, overloads and 429s; a 429 about the rate
// makes the endpoint's rate limiter wait (and slow down when it was not expected); one about
// concurrency keeps only the refused request's slot cooling for its retry-after — refilled
// at once, each refusal (answered in no time) would meet the next one, a storm until the
// limiter's next cut. Pure state over the caller's clock.
class BackPressure
{
public:
    explicit BackPressure(ConcurrencyLimiter *limiter);

    // A sync call's answer stated rate-limit figures, or not: a refusal without them means
    // something else from a server that states them (classifyRefusal()).
    void observe(const providers::RateLimitInfo &limits);
    Refusal refusalOf(const ProviderGuard &guard, const providers::ChatReply &reply,
                      qint64 requestTokens) const;
    // A sync call came back after sentAtMs with `inFlight` others still out.
    void answered(const providers::ChatReply &reply, qint64 sentAtMs, int inFlight, Refusal refusal,
                  qint64 nowMs);
    // A sync call (or a classification) was refused with a 429.
    void rateLimited(ProviderGuard &guard, const providers::ChatReply &reply, qint64 requestTokens,
                     qint64 sentAtMs, qint64 nowMs);
    // Request slots still cooling after a refusal for concurrency (the ones past are
    // dropped), and how long until the first of them frees (with one at least).
    int coolingSlots(qint64 nowMs);
    qint64 msUntilSlotFrees(qint64 nowMs) const;

private:
    ConcurrencyLimiter *m_limiter;
    bool m_serverStatesLimits = false; // some answer carried rate-limit figures
    QList<qint64> m_coolingUntilMs;    // ascending
};

} // namespace bd::dispatch
