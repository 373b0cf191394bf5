#include "offpeakgate.h"

#include "api/jobsettings.h"
#include "core/clock.h"

namespace bd::dispatch {

OffPeakGate::OffPeakGate(Host *host, const Clock *clock)
    : m_host(host)
    , m_clock(clock)
{
    m_timer.setSingleShot(true);
    m_timer.callOnTimeout([this] { m_host->offPeakWake(); });
}

void OffPeakGate::configure(int priority, const QJsonObject &settings)
{
    m_window.reset();
    m_error.clear();
    if (priority == 3)
        m_window =
            OffPeakWindow::fromJson(settings.value(settingkeys::offpeak).toObject(), &m_error);
}

bool OffPeakGate::holds(qint64 nowMs, bool workLeft, bool holdsClaimed)
{
    const qint64 untilOpen = m_window && !m_runNow ? m_window->msUntilOpen(nowMs) : 0;
    if (untilOpen <= 0 || !workLeft) { // nothing left: let it finish
        m_timer.stop();
        setWaiting(false);
        return false;
    }
    if (holdsClaimed)
        m_host->offPeakHandBack();
    setWaiting(true);
    // One timer for the opening, not a poll. Re-armed at least hourly so that a machine
    // that slept through the opening notices soon after it wakes.
    m_timer.start(int(qBound(qint64(1), untilOpen, qint64(3'600'000))));
    return true;
}

void OffPeakGate::setWaiting(bool waiting)
{
    if (waiting == m_waiting)
        return;
    m_waiting = waiting;
    m_host->offPeakWaitingChanged(waitingFor(m_clock->nowMs()));
}

QString OffPeakGate::waitingFor(qint64 nowMs) const
{
    return m_waiting && m_window ? m_window->waitingReason(nowMs) : QString();
}

} // namespace bd::dispatch
