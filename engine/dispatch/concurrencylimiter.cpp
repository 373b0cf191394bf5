#include "dispatch/concurrencylimiter.h"

#include <algorithm>
#include <cmath>

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

void ConcurrencyLimiter::recordAnswer(qint64 latencyMs, int inFlight, qint64 nowMs)
{
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
        cut(m_options.latencyBackoff, nowMs);
        return;
    }
    m_roundsSincePushback += 1.0 / m_limit;
    if (m_pushbackLimit > 0 && m_roundsSincePushback > m_options.forgetRounds)
        m_pushbackLimit = 0;
    // Grow only a limit in use: an idle one says nothing about what the provider takes.
    if (inFlight + 1 < int(m_limit))
        return;
    const bool nearPushback = m_pushbackLimit > 0 && m_limit + 1.0 >= m_pushbackLimit;
    const double step = nearPushback ? 1.0 / (m_limit * m_options.probeRounds) : 1.0 / m_limit;
    m_limit = std::min<double>(m_ceiling, m_limit + step);
}

void ConcurrencyLimiter::recordOverload(qint64 nowMs)
{
    const double before = m_limit;
    cut(m_options.overloadBackoff, nowMs);
    if (m_limit < before) {
        m_pushbackLimit = before;
        m_roundsSincePushback = 0;
    }
}

void ConcurrencyLimiter::cut(double factor, qint64 nowMs)
{
    // Requests in flight when the provider first pushed back answer within about a round
    // trip: their refusals are the same signal, not new ones.
    const qint64 roundTripMs = std::max<qint64>(m_options.minRoundTripMs, qint64(m_recentLatencyMs));
    if (m_lastCutMs >= 0 && nowMs - m_lastCutMs < roundTripMs)
        return;
    m_lastCutMs = nowMs;
    m_limit = std::max(1.0, std::floor(m_limit * factor));
}

} // namespace bd::dispatch
