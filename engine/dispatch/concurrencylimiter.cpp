#include "dispatch/concurrencylimiter.h"

#include "store/sharedlimits.h"

#include <algorithm>
#include <cmath>
#include <QtDebug>

namespace bd::dispatch {

namespace {
constexpr double kRecentWeight = 0.1;
constexpr double kLongRunWeight = 0.005;
}

ConcurrencyLimiter::ConcurrencyLimiter(int ceiling)
    : ConcurrencyLimiter(ceiling, Options())
{
}

ConcurrencyLimiter::ConcurrencyLimiter(int ceiling, const Options &options)
    : m_options(options)
    , m_ceiling(std::max(1, ceiling))
    , m_limit(m_ceiling)
{
}

void ConcurrencyLimiter::setCeiling(int ceiling)
{
    m_ceiling = std::max(1, ceiling);
    // A raised ceiling is reached by growth, as after a cut; a lowered one applies at once.
    m_limit = std::min<double>(m_limit, m_ceiling);
    if (m_samples == 0)
        m_limit = m_ceiling;
}

void ConcurrencyLimiter::share(store::SharedLimits *limits, const QString &key,
                               const QString &workerId, int ceiling, qint64 nowMs)
{
    m_shared = limits;
    m_sharedKey = key;
    m_workerId = workerId;
    m_sharedCeiling = std::max(1, ceiling);
    m_allowance = m_sharedCeiling;
    if (m_shared)
        syncShared(0, nowMs, true);
}

void ConcurrencyLimiter::syncShared(int inFlight, qint64 nowMs, bool force)
{
    if (!m_shared || !m_fallback.usable(nowMs) ||
        (!force && m_syncedAtMs >= 0 && nowMs - m_syncedAtMs < m_options.syncMs))
        return;
    m_syncedAtMs = nowMs;
    // Each worker's row is a claim: what it may have out until its next exchange, not what
    // it has out now. Counts of requests in flight, read between exchanges while the others
    // refilled up to their allowances, let every worker fill room the others were about to
    // take (three workers held 10-11 requests under a ceiling of 6). The room wanted is
    // written first and the others' claims read after, so of two workers exchanging at once
    // the second sees the first's; then the claim is cut to what is allowed. A worker with
    // nothing out claims nothing.
    const auto claimOf = [&](int allowance) {
        return inFlight > 0 ? std::max(inFlight, std::min(int(m_limit), allowance)) : 0;
    };
    const int wanted = claimOf(m_sharedCeiling);
    const bool recorded = m_shared->setShare(m_sharedKey, m_workerId, wanted, nowMs);
    const auto others =
        recorded ? m_shared->sharesElsewhere(m_sharedKey, m_workerId, nowMs - m_options.staleMs)
                 : std::nullopt;
    if (others) {
        const int fairShare = std::max(1, m_sharedCeiling / (others->workers + 1));
        m_allowance = int(std::max<qint64>(fairShare, m_sharedCeiling - others->amount));
    }
    if (!others || (claimOf(m_allowance) != wanted &&
                    !m_shared->setShare(m_sharedKey, m_workerId, claimOf(m_allowance), nowMs))) {
        if (m_fallback.failed(nowMs))
            qWarning("concurrency of %s: shared counts unavailable (%s); this worker alone "
                     "until they can be read again",
                     qPrintable(m_sharedKey), qPrintable(m_shared->errorString()));
        return;
    }
    m_fallback.succeeded();
}

void ConcurrencyLimiter::recordAnswer(qint64 latencyMs, int inFlight, qint64 nowMs)
{
    syncShared(inFlight, nowMs);
    const double latency = double(std::max<qint64>(0, latencyMs));
    if (m_samples == 0) {
        m_recentLatencyMs = latency;
        m_longRunLatencyMs = latency;
    } else {
        m_recentLatencyMs += kRecentWeight * (latency - m_recentLatencyMs);
        m_longRunLatencyMs += kLongRunWeight * (latency - m_longRunLatencyMs);
    }
    ++m_samples;

    const bool climbing = m_samples >= m_options.latencySamples
                          && m_recentLatencyMs > m_options.latencyTolerance * m_longRunLatencyMs
                          && m_recentLatencyMs - m_longRunLatencyMs > double(m_options.minRoundTripMs);
    if (climbing) {
        if (!withinBurst(nowMs))
            m_burstRefusals = 0; // not a burst of refusals
        cut(m_options.latencyBackoff, nowMs);
        return;
    }
    m_roundsSincePushback += 1.0 / m_limit;
    if (m_pushbackLimit > 0 && m_roundsSincePushback > m_options.forgetRounds) {
        m_pushbackLimit = 0;
        m_probeDoublings = 0;
    }
    // Grow only a limit in use: an idle one says nothing about what the provider takes.
    if (inFlight + 1 < int(m_limit))
        return;
    const bool nearPushback = m_pushbackLimit > 0 && m_limit + 1.0 >= m_pushbackLimit;
    const double probeRounds = double(m_options.probeRounds << m_probeDoublings);
    const double step = nearPushback ? 1.0 / (m_limit * probeRounds) : 1.0 / m_limit;
    m_limit = std::min<double>(m_ceiling, m_limit + step);
}

void ConcurrencyLimiter::recordOverload(qint64 nowMs)
{
    // The requests still out are not known here: the next answer or tick records them.
    if (withinBurst(nowMs))
        return;
    const double level = std::floor(m_limit);
    m_limitBeforeCut = level;
    m_burstRefusals = 1;
    m_roundsSincePushback = 0;
    if (m_pushbackLimit > 0 && level == m_pushbackLimit && level > 1) {
        // A probe refused where the last one was: the level below held.
        m_lastCutMs = nowMs;
        m_limit = level - 1;
        m_probeDoublings = std::min(m_probeDoublings + 1, m_options.maxProbeDoublings);
        return;
    }
    cut(m_options.overloadBackoff, nowMs);
    m_pushbackLimit = level;
    m_probeDoublings = 0;
}

void ConcurrencyLimiter::recordRefusal(qint64 nowMs)
{
    if (!withinBurst(nowMs) || m_burstRefusals == 0) {
        recordOverload(nowMs);
        return;
    }
    // Sent together, refused together: the server took the limit that sent them less
    // the refused ones, and refused the level just above.
    ++m_burstRefusals;
    m_limit = std::max(1.0, std::min(m_limit, m_limitBeforeCut - m_burstRefusals));
    m_pushbackLimit = std::min(m_pushbackLimit, std::floor(m_limit) + 1);
    // Several refusals at once locate the limit more surely than one: probed less eagerly.
    m_probeDoublings = std::max(m_probeDoublings, 1);
}

bool ConcurrencyLimiter::withinBurst(qint64 nowMs) const
{
    // Requests in flight when the provider first pushed back answer within about a round
    // trip: their refusals are the same signal, not new ones.
    const qint64 roundTripMs = std::max<qint64>(m_options.minRoundTripMs, qint64(m_recentLatencyMs));
    return m_lastCutMs >= 0 && nowMs - m_lastCutMs < roundTripMs;
}

void ConcurrencyLimiter::cut(double factor, qint64 nowMs)
{
    if (withinBurst(nowMs))
        return;
    m_lastCutMs = nowMs;
    m_limit = std::max(1.0, std::floor(m_limit * factor));
}

} // namespace bd::dispatch
