#include "circuitbreaker.h"

#include <algorithm>

namespace bd::dispatch {

CircuitBreaker::CircuitBreaker() : CircuitBreaker(Options{}) {}

CircuitBreaker::CircuitBreaker(const Options &options)
    : m_options(options)
{
}

CircuitBreaker::State CircuitBreaker::state(qint64 nowMs)
{
    if (m_state == State::Open && nowMs >= m_openUntilMs) {
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
    Q_UNUSED(nowMs);
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
}

} // namespace bd::dispatch
