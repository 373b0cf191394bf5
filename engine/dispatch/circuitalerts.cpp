#include "circuitalerts.h"

#include "dispatch/circuitbreaker.h"

namespace bd::dispatch {

using namespace Qt::StringLiterals;

CircuitAlerts::CircuitAlerts(qint64 jobId, QString providerName)
    : m_jobId(jobId)
    , m_providerName(std::move(providerName))
{
}

std::optional<metrics::AlertEvent> CircuitAlerts::outage(CircuitBreaker &breaker,
                                                         const QString &why, qint64 nowMs) const
{
    const bool wasClosed = breaker.state(nowMs) == CircuitBreaker::State::Closed;
    if (!breaker.recordOutageFailure(nowMs) || !wasClosed)
        return std::nullopt; // a failed half-open probe only reopens it: the alert still stands
    const int failures = breaker.consecutiveFailures();
    metrics::AlertEvent alert;
    alert.kind = kKind.toString();
    alert.jobId = m_jobId;
    alert.message = u"%1 looks down (%2 failures in a row, last: %3); holding all requests"_s
                        .arg(m_providerName)
                        .arg(failures)
                        .arg(why);
    alert.figures = QJsonObject{{u"value"_s, failures},
                                {u"threshold"_s, 0},
                                {u"failures"_s, failures},
                                {u"provider"_s, m_providerName}};
    alert.atMs = nowMs;
    return alert;
}

bool CircuitAlerts::recovery(CircuitBreaker &breaker, qint64 nowMs) const
{
    const bool wasOpen = breaker.state(nowMs) != CircuitBreaker::State::Closed;
    breaker.recordSuccess(nowMs);
    return wasOpen;
}

} // namespace bd::dispatch
