#pragma once

#include "dispatch/offpeakwindow.h"

#include <optional>
#include <QJsonObject>
#include <QString>
#include <QTimer>

namespace bd {
class Clock;
}

namespace bd::dispatch {

// Whether a job's off-peak window (priority 3 only, job setting "offpeak") keeps its work
// back now, and the one timer that wakes the runner when the window opens. The user's "run
// now" (job setting offpeak_run_now) lets the work go outside the window. The runner hands
// its claimed-but-unsent tasks back and stores the waiting reason through the Host; answers
// already in flight still settle. Engine-thread only; time is the caller's clock.
class OffPeakGate
{
public:
    class Host
    {
    public:
        virtual ~Host() = default;
        // The window closed on claimed work: it goes back to pending, uncharged.
        virtual void offPeakHandBack() = 0;
        // Started or stopped waiting (reason empty: it goes): stored and said.
        virtual void offPeakWaitingChanged(const QString &reason) = 0;
        // The timer fired: the window may be open now.
        virtual void offPeakWake() = 0;
    };

    OffPeakGate(Host *host, const Clock *clock);

    // The window of a job of this priority and settings (only priority 3 has one); error()
    // says when the setting does not parse.
    void configure(int priority, const QJsonObject &settings);
    const QString &error() const { return m_error; }
    bool hasWindow() const { return m_window.has_value(); }

    void setRunNow(bool runNow) { m_runNow = runNow; }
    bool runsNow() const { return m_runNow; }

    // True while the window keeps work back (workLeft: the job has unfinished tasks; with
    // none it may finish). Holding, claimed work is handed back when there is some
    // (holdsClaimed) and the timer is set for the opening; going, the timer stops.
    bool holds(qint64 nowMs, bool workLeft, bool holdsClaimed);
    bool isWaiting() const { return m_waiting; }
    // Running again from the start: not waiting, whatever it was told before.
    void restart() { m_waiting = false; }
    void stop() { m_timer.stop(); }
    // When the timer wakes the runner (for tests): -1 when it is not set.
    int wakeInMs() const { return m_timer.isActive() ? m_timer.interval() : -1; }
    // "waiting for off-peak window 22:00–06:00 … (opens in …)"; empty while it goes.
    QString waitingFor(qint64 nowMs) const;

private:
    void setWaiting(bool waiting);

    Host *m_host;
    const Clock *m_clock;
    std::optional<OffPeakWindow> m_window;
    QString m_error; // a window in the settings that does not parse
    bool m_runNow = false;
    bool m_waiting = false;
    QTimer m_timer;
};

} // namespace bd::dispatch
