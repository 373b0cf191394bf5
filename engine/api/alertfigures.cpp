#include "alertfigures.h"

#include "api/durationtext.h"

#include <cmath>
#include <QJsonArray>
#include <QStringList>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

QString percent(double fraction)
{
    const double p = fraction * 100.0;
    // 5 % reads better than 5.0 %, 7.4 % better than 7 %.
    return QString::number(p, 'f', std::abs(p - std::round(p)) < 0.05 ? 0 : 1) + u" %"_s;
}

QString seconds(double s)
{
    return durationText(qint64(std::llround(qMax(0.0, s) * 1000.0)));
}

QString usd(double value)
{
    return u"$"_s + QString::number(value, 'f', value != 0.0 && std::abs(value) < 1.0 ? 4 : 2);
}

QString number(double value)
{
    return std::abs(value - std::round(value)) < 1e-9 ? QString::number(qint64(std::llround(value)))
                                                      : QString::number(value, 'g', 4);
}

bool isPriorityWait(const QString &kind)
{
    return kind == u"priority1_wait"_s || kind == u"priority2_wait"_s ||
           kind == u"priority3_wait"_s;
}

// The value alone, in the kind's unit (for the figure at clearing).
QString valueText(const QString &kind, double value)
{
    if (kind == u"error_rate_high"_s || kind == u"cost_per_task_up"_s)
        return percent(value);
    if (isPriorityWait(kind) || kind == u"no_progress"_s)
        return seconds(value);
    if (kind.startsWith(u"budget"_s) || kind.startsWith(u"global_budget"_s))
        return usd(value);
    return number(value);
}

QString periodText(const QString &period)
{
    if (period == u"day"_s)
        return u"today (UTC)"_s;
    if (period == u"all"_s)
        return u"in all"_s;
    return u"this month (UTC)"_s;
}

} // namespace

QString describeAlertFigures(const QString &kind, const QJsonObject &figures)
{
    if (figures.isEmpty())
        return QString();
    const QJsonValue value = figures.value(u"value"_s);
    const QJsonValue threshold = figures.value(u"threshold"_s);
    const double v = value.toDouble();
    const double t = threshold.toDouble();
    const double window = figures.value(u"window_s"_s).toDouble();
    QString text;
    if (kind == u"error_rate_high"_s) {
        text = u"error rate %1 > %2 over %3"_s.arg(percent(v), percent(t), seconds(window));
        if (figures.contains(u"attempts"_s))
            text += u" (%1 of %2 calls)"_s.arg(number(figures.value(u"failures"_s).toDouble()),
                                               number(figures.value(u"attempts"_s).toDouble()));
    } else if (kind == u"queue_depth_high"_s) {
        const QJsonValue baseline = figures.value(u"baseline"_s);
        text = baseline.isDouble()
                   ? u"queue depth %1 > %2 (%3× baseline %4) for %5"_s.arg(
                         number(v), number(t), number(figures.value(u"factor"_s).toDouble(2.0)),
                         number(baseline.toDouble()), seconds(window))
                   : u"queue depth %1 (no baseline yet)"_s.arg(number(v));
    } else if (kind == u"cost_per_task_up"_s) {
        text = u"cost per task up %1 > %2 over %3 (%4 → %5)"_s.arg(
            percent(v), percent(t), seconds(window), usd(figures.value(u"baseline"_s).toDouble()),
            usd(figures.value(u"cost_per_task"_s).toDouble()));
    } else if (isPriorityWait(kind)) {
        text = u"oldest priority-%1 task waiting %2 > %3"_s.arg(
            number(figures.value(u"priority"_s).toDouble(1)), seconds(v), seconds(t));
    } else if (kind == u"budget_80"_s || kind == u"budget_exhausted"_s ||
               kind == u"global_budget_80"_s || kind == u"global_budget_exhausted"_s) {
        text = u"spent %1 of %2 (%3)"_s.arg(usd(v), usd(t), percent(t > 0 ? v / t : 0.0));
        if (kind.startsWith(u"global"_s))
            text += u" "_s + periodText(figures.value(u"period"_s).toString());
    } else if (kind == u"no_progress"_s) {
        text = u"no progress for %1 > %2 with %3 pending"_s.arg(
            seconds(v), seconds(t), number(figures.value(u"pending"_s).toDouble()));
    } else if (kind == u"circuit_open"_s) {
        const QString provider = figures.value(u"provider"_s).toString();
        text = u"circuit open: %1"_s.arg(provider.isEmpty() ? number(v) : provider);
        if (figures.contains(u"failures"_s))
            text += u" after %1 failures in a row"_s.arg(
                number(figures.value(u"failures"_s).toDouble()));
    } else if (kind == u"quota_exhausted"_s || kind == u"auth"_s) {
        text = u"%1 call(s) refused"_s.arg(number(qMax(1.0, v)));
        if (figures.contains(u"http_status"_s))
            text += u" (HTTP %1)"_s.arg(number(figures.value(u"http_status"_s).toDouble()));
    } else if (value.isDouble()) {
        text = threshold.isDouble() ? u"%1 > %2"_s.arg(number(v), number(t)) : number(v);
    }
    const QJsonObject cleared = figures.value(u"cleared"_s).toObject();
    if (cleared.value(u"value"_s).isDouble())
        text += u"; at clearing %1"_s.arg(valueText(kind, cleared.value(u"value"_s).toDouble()));
    return text;
}

} // namespace bd
