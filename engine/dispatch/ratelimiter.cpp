#include "ratelimiter.h"

#include <algorithm>
#include <cmath>

namespace bd::dispatch {

RateLimiter::RateLimiter() : RateLimiter(Options{}) {}

RateLimiter::RateLimiter(const Options &options)
    : m_options(options)
{
}

double RateLimiter::nominalRpm() const
{
    return double(m_options.configuredRpm > 0 ? m_options.configuredRpm : m_headerRpm);
}

double RateLimiter::nominalTpm() const
{
    return double(m_options.configuredTpm > 0 ? m_options.configuredTpm : m_headerTpm);
}

qint64 RateLimiter::delayMs(qint64 tokens, qint64 nowMs) const
{
    Q_UNUSED(tokens); // a request's own size is charged when it is consumed
    double readyAt = double(m_pausedUntilMs);
    readyAt = std::max(readyAt, m_nextRequestAtMs);
    if (effectiveTpm() > 0) {
        // One second of allowance, so one large request is never blocked for good.
        readyAt = std::max(readyAt, m_tokensFreeAtMs - 1000.0);
    }
    return std::max<qint64>(0, qint64(std::ceil(readyAt - double(nowMs))));
}

void RateLimiter::consume(qint64 tokens, qint64 nowMs)
{
    const double now = double(nowMs);
    double spacing = 0;
    if (effectiveRpm() > 0)
        spacing = 60'000.0 / effectiveRpm();
    if (m_windowResetAtMs > nowMs)
        spacing = std::max(spacing, m_windowSpacingMs);
    // A timer that fired late may catch up by one request, never more: even pacing holds,
    // and the lane does not lose rate to the event loop's lateness.
    if (spacing > 0)
        m_nextRequestAtMs = std::max(m_nextRequestAtMs, now - spacing) + spacing;
    if (effectiveTpm() > 0)
        m_tokensFreeAtMs = std::max(m_tokensFreeAtMs, now) + double(tokens) * 60'000.0 / effectiveTpm();
}

void RateLimiter::observe(const providers::RateLimitInfo &info, qint64 nowMs)
{
    if (info.limitRequests > 0)
        m_headerRpm = info.limitRequests;
    if (info.limitTokens > 0)
        m_headerTpm = info.limitTokens;
    if (info.remainingRequests >= 0 && info.resetRequestsMs >= 0) {
        if (info.remainingRequests == 0) {
            m_pausedUntilMs = std::max(m_pausedUntilMs, nowMs + info.resetRequestsMs);
        } else {
            m_windowSpacingMs = double(info.resetRequestsMs) / double(info.remainingRequests);
            m_windowResetAtMs = nowMs + info.resetRequestsMs;
        }
    }
    if (info.remainingTokens == 0 && info.resetTokensMs >= 0)
        m_pausedUntilMs = std::max(m_pausedUntilMs, nowMs + info.resetTokensMs);
}

void RateLimiter::handleRateLimited(qint64 retryAfterMs, qint64 nowMs, qint64 sentAtMs)
{
    const qint64 wait = retryAfterMs >= 0 ? retryAfterMs : m_options.defaultRetryAfterMs;
    m_pausedUntilMs = std::max(m_pausedUntilMs, nowMs + wait);
    // Refusals of requests sent before the last slowdown, or with no success since it (the
    // probes of one long storm), only extend the wait: halving again would leave the lane
    // crawling long after the storm.
    if (sentAtMs <= m_lastDecreaseMs || !m_succeededSinceDecrease)
        return;
    m_lastDecreaseMs = nowMs;
    m_succeededSinceDecrease = false;
    m_factor = std::max(m_options.minimumFactor, m_factor * m_options.decreaseFactor);
    m_lastRecoveryMs = nowMs + wait;
}

void RateLimiter::handleSuccess(qint64 nowMs)
{
    m_succeededSinceDecrease = true;
    if (m_factor >= 1.0 || nowMs - m_lastRecoveryMs < m_options.recoveryIntervalMs)
        return;
    m_factor = std::min(1.0, m_factor + m_options.recoveryStep);
    m_lastRecoveryMs = nowMs;
}

} // namespace bd::dispatch
