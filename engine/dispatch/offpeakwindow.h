#pragma once

#include <QJsonObject>
#include <QString>
#include <QTime>
#include <QTimeZone>

#include <optional>

namespace bd::dispatch {

// Daily hours in which priority-3 work may go out (job setting "offpeak": {"start": "22:00",
// "end": "06:00", "timezone": "Europe/Berlin"}). The window may cross midnight; an empty or
// absent time zone is the machine's local time; start == end means all day.
class OffPeakWindow
{
public:
    // nullopt with *error set when the object is malformed; nullopt without an error when
    // there is no window (an empty object).
    static std::optional<OffPeakWindow> fromJson(const QJsonObject &json, QString *error);
    // "HH:MM-HH:MM[@TZ]", as batchctl takes it.
    static std::optional<OffPeakWindow> parse(const QString &text, QString *error);
    QJsonObject toJson() const;

    bool contains(qint64 nowMs) const;
    // Milliseconds until the window next opens; 0 inside it.
    qint64 msUntilOpen(qint64 nowMs) const;
    // "22:00–06:00 Europe/Berlin" (or "... local time").
    QString describe() const;
    // "waiting for off-peak window 22:00–06:00 Europe/Berlin (opens in 3 h 12 min)"
    QString waitingReason(qint64 nowMs) const;

private:
    QTime m_start;
    QTime m_end;
    QString m_zoneName; // empty: local time
    QTimeZone m_zone;
};

} // namespace bd::dispatch
