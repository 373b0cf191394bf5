#pragma once

#include "api/metrictypes.h"

#include <optional>
#include <QString>

namespace bd::dispatch {

class CircuitBreaker;

// The one path for circuit alerts of both lanes (sync calls and the batch API): an outage
// failure is recorded on the endpoint's breaker, and the circuit_open alert is raised when
// that failure opened it from closed (a failed half-open probe only reopens it: the alert
// still stands); a success closes it, and clears the alert when it was not closed. Pure
// state over the caller's clock; the runner says what it returns.
class CircuitAlerts
{
public:
    CircuitAlerts(qint64 jobId, QString providerName);

    // An outage-class failure (why: its error text): the alert to raise, if any.
    std::optional<metrics::AlertEvent> outage(CircuitBreaker &breaker, const QString &why,
                                              qint64 nowMs) const;
    // A success: true when the circuit_open alert is to be cleared.
    bool recovery(CircuitBreaker &breaker, qint64 nowMs) const;

    static constexpr QStringView kKind = u"circuit_open";

private:
    qint64 m_jobId;
    QString m_providerName;
};

} // namespace bd::dispatch
