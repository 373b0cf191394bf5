#pragma once

#include "providers/provider.h"

#include <QtGlobal>

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
        double decreaseFactor = 0.5;   // effective *= this on an unexpected 429
        double minimumFactor = 0.05;   // never below this share of the nominal rate
        double recoveryStep = 0.05;    // share of the nominal regained per recovery interval
        qint64 recoveryIntervalMs = 5'000;
        qint64 defaultRetryAfterMs = 2'000;
    };

    RateLimiter();
    explicit RateLimiter(const Options &options);

    // Milliseconds until a request of `tokens` may start (0: now).
    qint64 delayMs(qint64 tokens, qint64 nowMs) const;
    // Records a request that starts now.
    void consume(qint64 tokens, qint64 nowMs);
    // Learns from the rate-limit headers of any reply.
    void observe(const providers::RateLimitInfo &info, qint64 nowMs);
    // A 429 for a request sent at sentAtMs: wait what the provider said and slow down —
    // once per burst: refusals of requests sent before the last slowdown only extend the wait.
    void handleRateLimited(qint64 retryAfterMs, qint64 nowMs, qint64 sentAtMs);
    void handleSuccess(qint64 nowMs);

    double nominalRpm() const;
    double nominalTpm() const;
    double effectiveRpm() const { return nominalRpm() * m_factor; }
    double effectiveTpm() const { return nominalTpm() * m_factor; }
    double slowdownFactor() const { return m_factor; }
    qint64 pausedUntilMs() const { return m_pausedUntilMs; }

private:
    double requestSpacingMs() const;
    double tokenMsFor(qint64 tokens) const;

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
