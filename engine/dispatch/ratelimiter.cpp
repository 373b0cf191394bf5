#include "ratelimiter.h"

#include "store/sharedlimits.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <QtDebug>

namespace bd::dispatch {

RateLimiter::RateLimiter()
    : RateLimiter(Options{})
{
}

RateLimiter::RateLimiter(const Options &options)
    : m_options(options)
{
}

bool RateLimiter::sharesSchedule() const
{
    // Only a configured limit (--rpm/--tpm) needs the database to be one limit for all
    // workers; a limit learnt from the provider's headers is already the account's, and
    // each worker paces by what the provider says remains (a shared schedule at the learnt
    // rate cost a lone worker 45 % of its throughput: bench_dispatch --part e).
    return m_shared && !m_sharedPaused &&
           (m_options.configuredRpm > 0 || m_options.configuredTpm > 0);
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

qint64 RateLimiter::requestsWithin(qint64 horizonMs, qint64 tokens) const
{
    const double spacing = requestSpacingMs();
    const double tokenMs = tokenMsFor(std::max<qint64>(1, tokens));
    if (spacing <= 0 && tokenMs <= 0)
        return -1;
    const double interval = std::max(spacing, tokenMs); // the tighter limit sets the pace
    return std::max<qint64>(1, qint64(std::ceil(double(horizonMs) / interval)));
}

void RateLimiter::share(store::SharedLimits *limits, const QString &key)
{
    m_shared = limits;
    m_requestSlots = Slots{.key = key};
    m_tokenSlots = Slots{.key = key + QStringLiteral("|tokens")};
}

// sharedReadyAt's answer when the database failed (a slot caught up may start before 0 on
// a clock that starts there, so no negative time can stand for it).
constexpr double kSharedFailed = std::numeric_limits<double>::quiet_NaN();

double RateLimiter::sharedReadyAt(Slots &run, double intervalMs, qint64 units, qint64 maxBatch,
                                  double nowMs)
{
    // Slots that went by unused are lost (a timer's lateness is caught up, within bounds).
    if (run.left > 0) {
        const double late =
            nowMs - std::max(intervalMs * double(units), m_options.catchUpMs) - run.firstMs;
        if (late > 0) {
            const qint64 gone = std::min(run.left, qint64(std::ceil(late / intervalMs)));
            run.firstMs += double(gone) * intervalMs;
            run.left -= gone;
            if (run.left == 0) // more reserved than used: ask for fewer next time
                run.batch = std::max<qint64>(1, run.usedOfBatch);
        }
    }
    if (run.left >= units)
        return run.firstMs;
    if (nowMs < run.retryAtMs)
        return run.retryAtMs;
    // Too few left for this request: the rest stay this worker's and more are reserved
    // behind them. (Giving the rest up lost a quarter to a half of a token limit: a run of
    // 128 tokens served one 74-token request, bench_dispatch --server tokens.)
    const qint64 want = std::max(units, std::min(run.batch, maxBatch)) - run.left;
    // Slots of the schedule that went by unused within catchUpMs may still be taken, as the
    // unshared pace catches up a late wake: the schedule starts no slot before the time it
    // is given, so a worker whose event loop woke late lost every reservation's lateness
    // (configured 6,000 rpm, wakes every 30 ms: 96 %; tokens 67 %; bench_dispatch --rpm rows
    // at 92-98 % on a loaded machine). The aggregate stays one slot per interval.
    const double from = nowMs - m_options.catchUpMs;
    const auto grant =
        m_shared->reserveSlots(run.key, intervalMs, int(std::min<qint64>(want, INT_MAX)), from,
                               m_options.sharedHorizonMs + m_options.catchUpMs);
    if (!grant)
        return kSharedFailed;
    m_sharedFallback.succeeded();
    if (grant->count == 0) {
        // Named in the shifted frame: back to this worker's now (never a past time, which
        // would read as a slot free now).
        run.retryAtMs = std::max(grant->retryAtMs + m_options.catchUpMs, nowMs + 1.0);
        return run.retryAtMs;
    }
    if (run.usedOfBatch >= run.batch)
        run.batch = std::min(maxBatch, run.batch * 2);
    // The kept units count as the grant's first ones (never earlier than they were had).
    run.firstMs = std::max(grant->firstMs - double(run.left) * intervalMs,
                           run.left > 0 ? run.firstMs : grant->firstMs);
    run.left += grant->count;
    run.usedOfBatch = 0;
    run.retryAtMs = 0;
    return run.firstMs;
}

void RateLimiter::takeSlots(Slots &run, double intervalMs, qint64 units)
{
    const qint64 taken = std::min(run.left, units);
    run.firstMs += double(taken) * intervalMs;
    run.left -= taken;
    run.usedOfBatch += taken;
}

bool RateLimiter::sharesRequests() const
{
    return sharesSchedule() && m_options.configuredRpm > 0 && effectiveRpm() > 0;
}

bool RateLimiter::sharesTokens() const
{
    return sharesSchedule() && m_options.configuredTpm > 0 && effectiveTpm() > 0;
}

qint64 RateLimiter::delayMs(qint64 tokens, qint64 nowMs)
{
    const double now = double(nowMs);
    m_sharedPaused = !m_sharedFallback.usable(nowMs);

    // A limit learnt from the headers is paced here even when the other one is shared: a
    // shared schedule at the learnt rate reserved slots far ahead of use and left the
    // configured limit's lane waiting for them (bench_dispatch --server tokens: 57 %).
    double readyAt = double(m_pausedUntilMs);
    if (!sharesRequests())
        readyAt = std::max(readyAt, m_nextRequestAtMs);
    if (!sharesTokens() && effectiveTpm() > 0) {
        // A request may run one request's worth ahead of the token pace: one large request
        // is never blocked for good, and no burst fills a short window at the start.
        readyAt = std::max(readyAt, m_tokensFreeAtMs - tokenMsFor(tokens));
    }
    if ((sharesTokens() || sharesRequests()) && readyAt <= now) {
        // Tokens first, then a request slot: neither is reserved while the other waits long.
        double at = now;
        if (sharesTokens()) {
            const double perToken = tokenMsFor(1);
            const qint64 horizonTokens =
                std::max<qint64>(1, qint64(m_options.sharedHorizonMs / perToken));
            at = sharedReadyAt(m_tokenSlots, perToken, std::max<qint64>(1, tokens),
                               std::max(tokens, horizonTokens), now);
        }
        if (!std::isnan(at) && at <= now + m_options.sharedHorizonMs && sharesRequests()) {
            const double spacing = requestSpacingMs();
            const qint64 horizonSlots =
                std::max<qint64>(1, qint64(m_options.sharedHorizonMs / spacing));
            const double slot = sharedReadyAt(m_requestSlots, spacing, 1, horizonSlots, now);
            at = std::isnan(slot) ? slot : std::max(at, slot);
        }
        if (!std::isnan(at))
            return std::max<qint64>(0, qint64(std::ceil(at - now)));
        sharedScheduleFailed(nowMs);
        return delayMs(tokens, nowMs);
    }
    return std::max<qint64>(0, qint64(std::ceil(readyAt - now)));
}

void RateLimiter::sharedScheduleFailed(qint64 nowMs)
{
    // Slots held here are forgotten: the schedule is read afresh when it is back.
    m_requestSlots.left = 0;
    m_tokenSlots.left = 0;
    m_sharedPaused = true;
    if (m_sharedFallback.failed(nowMs))
        qWarning("rate limit %s: shared schedule unavailable (%s); pacing this process only "
                 "until it can be read again",
                 qPrintable(m_requestSlots.key), qPrintable(m_shared->errorString()));
}

void RateLimiter::consume(qint64 tokens, qint64 nowMs)
{
    m_lastTokens = tokens;
    if (sharesTokens())
        takeSlots(m_tokenSlots, tokenMsFor(1), std::max<qint64>(1, tokens));
    if (sharesRequests())
        takeSlots(m_requestSlots, requestSpacingMs(), 1);
    const double now = double(nowMs);
    const double spacing = requestSpacingMs();
    // A timer that fired late may catch up what it missed within catchUpMs (at least one
    // request), never more: the lane does not lose rate to a busy machine's late event loop
    // (one request's catch-up used 93 % of the limit at load 10, bench_dispatch headers-only).
    const double catchUp = std::max(spacing, m_options.catchUpMs);
    if (spacing > 0 && !sharesRequests())
        m_nextRequestAtMs = std::max(m_nextRequestAtMs, now - catchUp) + spacing;
    if (effectiveTpm() > 0 && !sharesTokens()) {
        const double tokenMs = tokenMsFor(tokens);
        m_tokensFreeAtMs =
            std::max(m_tokensFreeAtMs, now - std::max(tokenMs, m_options.catchUpMs)) + tokenMs;
    }
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

    // Nearly nothing remains: two requests' worth, or the last few per cent of the window
    // (requests already on their way when this reply was written fill it further; a start
    // sent before the limit was known leaves the window as one burst).
    const auto tight = [this](qint64 remaining, qint64 perRequest, qint64 capacity) {
        return remaining >= 0 &&
               remaining <=
                   std::max(2 * perRequest, qint64(m_options.tightShare * double(capacity)));
    };
    const bool requestsTight = tight(info.remainingRequests, 1, m_requestCapacity);
    const bool tokensTight =
        tight(info.remainingTokens, std::max<qint64>(1, m_lastTokens), m_tokenCapacity);
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
    if (m_shared && !m_sharedPaused && retryAfterMs >= 0) {
        // The provider said when: no worker sends before then, and slots held here are gone.
        if (!m_shared->postponeSlots(m_requestSlots.key, double(nowMs + wait)))
            sharedScheduleFailed(nowMs);
        m_requestSlots.left = 0;
        m_tokenSlots.left = 0;
    }
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
