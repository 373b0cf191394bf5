#include "offpeakwindow.h"

#include "api/durationtext.h"

#include <QDateTime>

namespace bd::dispatch {

using namespace Qt::StringLiterals;

namespace {

std::optional<QTime> parseClock(const QString &text)
{
    const QTime time = QTime::fromString(text.trimmed(), u"H:mm"_s);
    if (!time.isValid())
        return std::nullopt;
    return time;
}

} // namespace

std::optional<OffPeakWindow> OffPeakWindow::fromJson(const QJsonObject &json, QString *error)
{
    error->clear();
    if (json.isEmpty())
        return std::nullopt;
    OffPeakWindow window;
    const auto start = parseClock(json.value(u"start"_s).toString());
    const auto end = parseClock(json.value(u"end"_s).toString());
    if (!start || !end) {
        *error = u"offpeak: start and end must be times of day as HH:MM (got \"%1\" and \"%2\")"_s.arg(
            json.value(u"start"_s).toString(), json.value(u"end"_s).toString());
        return std::nullopt;
    }
    window.m_start = *start;
    window.m_end = *end;
    window.m_zoneName = json.value(u"timezone"_s).toString().trimmed();
    if (!window.m_zoneName.isEmpty()) {
        window.m_zone = QTimeZone(window.m_zoneName.toUtf8());
        if (!window.m_zone.isValid()) {
            *error = u"offpeak: unknown time zone \"%1\" (an IANA name such as Europe/Berlin)"_s.arg(
                window.m_zoneName);
            return std::nullopt;
        }
    }
    return window;
}

std::optional<OffPeakWindow> OffPeakWindow::parse(const QString &text, QString *error)
{
    const qsizetype at = text.indexOf(u'@');
    const QString hours = at < 0 ? text : text.left(at);
    const QStringList bounds = hours.split(u'-');
    if (bounds.size() != 2) {
        *error = u"off-peak window \"%1\" is not HH:MM-HH:MM[@TIMEZONE]"_s.arg(text);
        return std::nullopt;
    }
    QJsonObject json{{u"start"_s, bounds.at(0)}, {u"end"_s, bounds.at(1)}};
    if (at >= 0)
        json.insert(u"timezone"_s, text.mid(at + 1));
    return fromJson(json, error);
}

QJsonObject OffPeakWindow::toJson() const
{
    return {{u"start"_s, m_start.toString(u"HH:mm"_s)},
            {u"end"_s, m_end.toString(u"HH:mm"_s)},
            {u"timezone"_s, m_zoneName}};
}

bool OffPeakWindow::contains(qint64 nowMs) const
{
    if (m_start == m_end)
        return true;
    const QDateTime now = m_zoneName.isEmpty()
                              ? QDateTime::fromMSecsSinceEpoch(nowMs)
                              : QDateTime::fromMSecsSinceEpoch(nowMs, m_zone);
    const QTime time = now.time();
    if (m_start < m_end)
        return time >= m_start && time < m_end;
    return time >= m_start || time < m_end; // crosses midnight
}

qint64 OffPeakWindow::msUntilOpen(qint64 nowMs) const
{
    if (contains(nowMs))
        return 0;
    const QDateTime now = m_zoneName.isEmpty()
                              ? QDateTime::fromMSecsSinceEpoch(nowMs)
                              : QDateTime::fromMSecsSinceEpoch(nowMs, m_zone);
    // The next start of day: today's if it is still ahead, else tomorrow's. A start inside a
    // daylight-saving gap moves to the first valid moment after it.
    for (int days = 0; days <= 2; ++days) {
        const QDate date = now.date().addDays(days);
        const QDateTime opens = m_zoneName.isEmpty() ? QDateTime(date, m_start)
                                                     : QDateTime(date, m_start, m_zone);
        if (opens.toMSecsSinceEpoch() > nowMs)
            return opens.toMSecsSinceEpoch() - nowMs;
    }
    return 24LL * 3600 * 1000;
}

QString OffPeakWindow::describe() const
{
    return u"%1–%2 %3"_s.arg(m_start.toString(u"HH:mm"_s), m_end.toString(u"HH:mm"_s),
                             m_zoneName.isEmpty() ? u"local time"_s : m_zoneName);
}

QString OffPeakWindow::waitingReason(qint64 nowMs) const
{
    return u"waiting for off-peak window %1 (opens in %2)"_s.arg(describe(),
                                                                   durationText(msUntilOpen(nowMs), DurationRounding::UpToMinute));
}

} // namespace bd::dispatch
