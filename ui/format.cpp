#include "format.h"

#include <QApplication>
#include <QLocale>
#include <QPalette>

namespace bd::ui {

using namespace Qt::StringLiterals;

QString formatCount(qint64 n)
{
    return QLocale().toString(n);
}

QString formatUsd(double usd)
{
    const QLocale locale;
    if (usd == 0.0)
        return u"$0.00"_s;
    if (qAbs(usd) < 0.01)
        return u"$"_s + locale.toString(usd, 'f', 6);
    if (qAbs(usd) < 1.0)
        return u"$"_s + locale.toString(usd, 'f', 4);
    if (qAbs(usd) < 1000.0)
        return u"$"_s + locale.toString(usd, 'f', 2);
    return u"$"_s + locale.toString(usd, 'f', 0);
}

QString formatUsd(std::optional<double> usd)
{
    return usd ? formatUsd(*usd) : QApplication::translate("bd::ui", "unknown");
}

QString formatDuration(qint64 seconds)
{
    if (seconds < 0)
        return u"–"_s;
    if (seconds < 60)
        return u"%1 s"_s.arg(seconds);
    if (seconds < 3600)
        return u"%1 min"_s.arg((seconds + 30) / 60);
    if (seconds < 86400)
        return u"%1 h %2 min"_s.arg(seconds / 3600).arg((seconds % 3600) / 60, 2, 10, QLatin1Char('0'));
    return u"%1 d %2 h"_s.arg(seconds / 86400).arg((seconds % 86400) / 3600);
}

QString formatRate(double perMinute)
{
    return QLocale().toString(perMinute, 'f', perMinute < 10 ? 1 : 0) + u"/min"_s;
}

QString priorityLabel(int priority)
{
    switch (priority) {
    case 1: return QApplication::translate("bd::ui", "1 · now (realtime)");
    case 2: return QApplication::translate("bd::ui", "2 · within the hour (grouped)");
    default: return QApplication::translate("bd::ui", "3 · within a day (batch price)");
    }
}

QString priorityShortLabel(int priority)
{
    switch (priority) {
    case 1: return QApplication::translate("bd::ui", "1 · now");
    case 2: return QApplication::translate("bd::ui", "2 · within the hour");
    default: return QApplication::translate("bd::ui", "3 · within a day");
    }
}

QStringList priorityLabels()
{
    return {priorityLabel(1), priorityLabel(2), priorityLabel(3)};
}

QString countOf(qint64 n, const char *singular, const char *plural)
{
    return u"%1 %2"_s.arg(formatCount(n), QApplication::translate("bd::ui", n == 1 ? singular : plural));
}

QString taskStateLabel(TaskState state)
{
    switch (state) {
    case TaskState::Pending: return QApplication::translate("bd::ui", "pending");
    // Claimed by a worker: in a request now, about to be sent, or inside a provider batch.
    case TaskState::Leased:
        return QApplication::translate("bd::ui", "in progress");
    case TaskState::Completed: return QApplication::translate("bd::ui", "completed");
    case TaskState::Dead: return QApplication::translate("bd::ui", "dead");
    case TaskState::Cancelled: return QApplication::translate("bd::ui", "cancelled");
    }
    return {};
}

QString jobStateLabel(JobState state)
{
    switch (state) {
    case JobState::Importing: return QApplication::translate("bd::ui", "importing");
    case JobState::Running: return QApplication::translate("bd::ui", "running");
    case JobState::Paused: return QApplication::translate("bd::ui", "paused");
    case JobState::Finished: return QApplication::translate("bd::ui", "finished");
    case JobState::Cancelled: return QApplication::translate("bd::ui", "cancelled");
    }
    return {};
}

static bool isDark()
{
    return QApplication::palette().color(QPalette::Window).lightness() < 128;
}

QColor stateColor(TaskState state)
{
    const bool dark = isDark();
    switch (state) {
    case TaskState::Pending: return dark ? QColor(0x9e, 0xa7, 0xb3) : QColor(0x5f, 0x67, 0x73);
    case TaskState::Leased: return dark ? QColor(0x6c, 0xb6, 0xff) : QColor(0x1f, 0x6f, 0xd1);
    case TaskState::Completed: return dark ? QColor(0x5f, 0xd0, 0x7a) : QColor(0x1a, 0x7f, 0x37);
    case TaskState::Dead: return dark ? QColor(0xff, 0x7b, 0x72) : QColor(0xcf, 0x22, 0x2e);
    case TaskState::Cancelled: return dark ? QColor(0xd2, 0xa8, 0xff) : QColor(0x82, 0x50, 0xdf);
    }
    return {};
}

QColor jobStateColor(JobState state)
{
    switch (state) {
    case JobState::Running: return stateColor(TaskState::Leased);
    case JobState::Finished: return stateColor(TaskState::Completed);
    case JobState::Cancelled: return stateColor(TaskState::Cancelled);
    case JobState::Paused:
    case JobState::Importing: return stateColor(TaskState::Pending);
    }
    return {};
}

} // namespace bd::ui
