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

double RateLimiter::requestSpacingMs() const
{
    const double rpm = effectiveRpm() * m_options.headroom;
    return rpm > 0 ? 60'000.0 / rpm : 0.0;
}

double RateLimiter::tokenMsFor(qint64 tokens) const
{
    const double tpm = effectiveTpm() * m_options.headroom;
    return tpm > 0 ? double(tokens) * 60'000.0 / tpm : 0.0;
}

qint64 RateLimiter::delayMs(qint64 tokens, qint64 nowMs) const
{
    double readyAt = double(m_pausedUntilMs);
    readyAt = std::max(readyAt, m_nextRequestAtMs);
    if (effectiveTpm() > 0) {
        // A request may run one request's worth ahead of the token pace: one large request
        // is never blocked for good, and no burst fills a short window at the start.
        readyAt = std::max(readyAt, m_tokensFreeAtMs - tokenMsFor(tokens));
    }
    return std::max<qint64>(0, qint64(std::ceil(readyAt - double(nowMs))));
}

void RateLimiter::consume(qint64 tokens, qint64 nowMs)
{
    const double now = double(nowMs);
    const double spacing = requestSpacingMs();
    // A timer that fired late may catch up by one request, never more: even pacing holds,
    // and the lane does not lose rate to the event loop's lateness.
    if (spacing > 0)
        m_nextRequestAtMs = std::max(m_nextRequestAtMs, now - spacing) + spacing;
    if (effectiveTpm() > 0)
        m_tokensFreeAtMs = std::max(m_tokensFreeAtMs, now) + tokenMsFor(tokens);
    m_lastTokens = tokens;
}

void RateLimiter::observe(const providers::RateLimitInfo &info, qint64 nowMs)
{
    if (info.limitRequests > 0)
        m_headerRpm = info.limitRequests;
    if (info.limitTokens > 0)
        m_headerTpm = info.limitTokens;
    // `remaining` right after a request of ours is one short of the capacity.
    if (info.remainingRequests > 0)
        m_requestCapacity = std::max(m_requestCapacity, info.remainingRequests + 1);
    if (info.remainingTokens > 0)
        m_tokenCapacity = std::max(m_tokenCapacity, info.remainingTokens + m_lastTokens);

    // One slot's share of a reset: exact for a bucket that is full at the reset, an
    // underestimate for a window (then the 429's retry-after says the rest).
    const auto slotWait = [](qint64 resetMs, double share) {
        return std::min(resetMs, qint64(std::ceil(double(resetMs) * std::min(1.0, share))));
    };
    const bool requestsOut = info.remainingRequests == 0 && info.resetRequestsMs >= 0;
    const bool tokensOut = info.remainingTokens == 0 && info.resetTokensMs >= 0;
    if (requestsOut) {
        const qint64 capacity =
            m_requestCapacity > 0 ? m_requestCapacity : std::max<qint64>(1, info.limitRequests);
        m_pausedUntilMs = std::max(m_pausedUntilMs,
                                   nowMs + slotWait(info.resetRequestsMs, 1.0 / double(capacity)));
    }
    if (tokensOut) {
        const qint64 capacity =
            m_tokenCapacity > 0 ? m_tokenCapacity : std::max<qint64>(1, info.limitTokens);
        m_pausedUntilMs =
            std::max(m_pausedUntilMs, nowMs + slotWait(info.resetTokensMs,
                                                       double(std::max<qint64>(1, m_lastTokens)) /
                                                           double(capacity)));
    }

    const bool requestsTight = info.remainingRequests >= 0 && info.remainingRequests <= 2;
    const bool tokensTight =
        info.remainingTokens >= 0 && info.remainingTokens < 2 * std::max<qint64>(1, m_lastTokens);
    if (requestsTight || tokensTight) {
        if (m_tightSinceMs < 0)
            m_tightSinceMs = nowMs;
    } else if (info.remainingRequests > 0 || info.remainingTokens > 0) {
        m_tightSinceMs = -1;
    }
}

void RateLimiter::handleRateLimited(qint64 retryAfterMs, qint64 nowMs, qint64 sentAtMs)
{
    const qint64 wait = retryAfterMs >= 0 ? retryAfterMs : m_options.defaultRetryAfterMs;
    m_pausedUntilMs = std::max(m_pausedUntilMs, nowMs + wait);
    // The provider had said (almost) nothing remained when this request went: the refusal
    // was a probe for the next slot or a full window's brim, not a sign of a lower limit.
    if (m_tightSinceMs >= 0 && sentAtMs >= m_tightSinceMs)
        return;
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
