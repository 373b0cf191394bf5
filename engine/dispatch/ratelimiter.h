#pragma once

#include "providers/provider.h"

#include <QtGlobal>

namespace bd::dispatch {

// Requests- and tokens-per-minute ceilings for one provider and model, paced evenly (no
// bursts: a provider's per-second sub-limits are not tripped by a minute's worth at once).
//
// The nominal rate is the configured one (--rpm/--tpm), else the limit the provider's
// headers announce. The effective rate drops by `decreaseFactor` on every 429 and climbs
// back towards the nominal in steps while requests succeed. Headers that say few requests
// remain before a reset stretch the spacing so the remainder lasts until the reset.
// Pure arithmetic over the caller's clock; 0 means "no ceiling".
class RateLimiter
{
public:
    struct Options
    {
        qint64 configuredRpm = 0;
        qint64 configuredTpm = 0;
        double decreaseFactor = 0.5;   // effective *= this on a 429
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
    // Spacing that makes the remaining requests of the window last until its reset.
    double m_windowSpacingMs = 0;
    qint64 m_windowResetAtMs = 0;
};

} // namespace bd::dispatch
