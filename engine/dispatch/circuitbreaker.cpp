#include "circuitbreaker.h"

#include "store/sharedlimits.h"

#include <algorithm>
#include <QtDebug>

namespace bd::dispatch {

CircuitBreaker::CircuitBreaker() : CircuitBreaker(Options{}) {}

CircuitBreaker::CircuitBreaker(const Options &options)
    : m_options(options)
{
}

void CircuitBreaker::share(store::SharedLimits *limits, const QString &key, const QString &workerId)
{
    m_shared = limits;
    m_key = key;
    m_workerId = workerId;
    m_syncedAtMs = -1;
}

void CircuitBreaker::sharedFailed(qint64 nowMs)
{
    if (m_fallback.failed(nowMs))
        qWarning("breaker %s: shared state unavailable (%s); this process decides alone until "
                 "it can be read again",
                 qPrintable(m_key), qPrintable(m_shared->errorString()));
}

bool CircuitBreaker::sharedUsable(qint64 nowMs) const
{
    return m_shared && m_fallback.usable(nowMs);
}

void CircuitBreaker::sync(qint64 nowMs, bool force)
{
    if (!sharedUsable(nowMs) ||
        (!force && m_syncedAtMs >= 0 && nowMs - m_syncedAtMs < m_options.syncMs))
        return;
    m_syncedAtMs = nowMs;
    const auto shared = m_shared->breaker(m_key);
    if (!shared) {
        sharedFailed(nowMs);
        return;
    }
    if (std::exchange(m_fallback, {}).alone() && m_state == State::Open &&
        shared->openUntilMs < m_openUntilMs) {
        // Opened here while the shared state was out of reach: the others hear of it now.
        if (m_shared->openBreaker(m_key, m_openUntilMs, m_currentOpenMs, nowMs))
            m_sharedOpen = true;
        else
            sharedFailed(nowMs);
        return;
    }
    m_sharedOpen = shared->openUntilMs != 0;
    if (!m_sharedOpen) {
        // Another worker's probe succeeded (or nobody opened it): closed for all.
        if (m_state != State::Closed) {
            m_state = State::Closed;
            m_consecutiveFailures = 0;
            m_currentOpenMs = 0;
        }
        return;
    }
    m_currentOpenMs = std::max(m_currentOpenMs, shared->openMs);
    if (m_state == State::Closed) {
        m_state = State::Open; // another worker saw the outage
        m_openedAtMs = nowMs;
        m_openUntilMs = shared->openUntilMs;
        m_probesLeft = 0;
    } else if (shared->openUntilMs > m_openUntilMs) {
        m_state = State::Open; // reopened elsewhere after a failed probe
        m_openUntilMs = shared->openUntilMs;
        m_probesLeft = 0;
    }
}

CircuitBreaker::State CircuitBreaker::state(qint64 nowMs)
{
    sync(nowMs, false);
    if (m_state == State::Open && nowMs >= m_openUntilMs) {
        if (sharedUsable(nowMs) && !m_shared->takeProbe(m_key, m_workerId, nowMs,
                                                        nowMs + m_options.probeClaimMs)) {
            if (!m_shared->errorString().isEmpty()) {
                sharedFailed(nowMs);
            } else {
                // Another worker probes: wait for its answer, then read the shared state.
                m_openUntilMs = nowMs + std::min<qint64>(m_options.syncMs, 1'000);
                m_syncedAtMs = -1;
                return m_state;
            }
        }
        m_state = State::HalfOpen;
        m_probesLeft = m_options.halfOpenProbes;
    }
    return m_state;
}

bool CircuitBreaker::allowRequest(qint64 nowMs)
{
    switch (state(nowMs)) {
    case State::Closed:
        return true;
    case State::Open:
        return false;
    case State::HalfOpen:
        if (m_probesLeft <= 0)
            return false;
        --m_probesLeft;
        return true;
    }
    return false;
}

qint64 CircuitBreaker::waitMs(qint64 nowMs)
{
    switch (state(nowMs)) {
    case State::Closed:
        return 0;
    case State::Open:
        return m_openUntilMs - nowMs;
    case State::HalfOpen:
        // Waiting for the probe's answer; poll again shortly.
        return m_probesLeft > 0 ? 0 : 1'000;
    }
    return 0;
}

void CircuitBreaker::recordSuccess(qint64 nowMs)
{
    if (sharedUsable(nowMs) && (m_state != State::Closed || m_sharedOpen)) {
        if (m_shared->closeBreaker(m_key))
            m_sharedOpen = false;
        else
            sharedFailed(nowMs);
    }
    m_consecutiveFailures = 0;
    m_state = State::Closed;
    m_currentOpenMs = 0;
}

bool CircuitBreaker::recordOutageFailure(qint64 nowMs)
{
    ++m_consecutiveFailures;
    const State current = state(nowMs);
    if (current == State::HalfOpen
        || (current == State::Closed && m_consecutiveFailures >= m_options.failureThreshold)) {
        open(nowMs);
        return true;
    }
    return false;
}

void CircuitBreaker::open(qint64 nowMs)
{
    m_currentOpenMs = m_currentOpenMs == 0
                          ? m_options.openMs
                          : std::min(m_currentOpenMs * 2, m_options.maxOpenMs);
    m_state = State::Open;
    m_openedAtMs = nowMs;
    m_openUntilMs = nowMs + m_currentOpenMs;
    m_probesLeft = 0;
    ++m_timesOpened;
    if (sharedUsable(nowMs)) {
        if (m_shared->openBreaker(m_key, m_openUntilMs, m_currentOpenMs, nowMs))
            m_sharedOpen = true;
        else
            sharedFailed(nowMs);
    }
}

} // namespace bd::dispatch
