#include "charticks.h"

#include <algorithm>
#include <cmath>
#include <QDateTime>
#include <QLocale>

namespace bd::ui::charticks {

using namespace Qt::StringLiterals;

ValueScale valueScale(double maxValue, int maxTicks, double minimumStep)
{
    maxTicks = qMax(1, maxTicks);
    ValueScale scale;
    if (!(maxValue > 0)) { // also NaN
        scale.step = minimumStep > 0 ? minimumStep : 1;
        scale.top = scale.step * maxTicks;
        scale.decimals = 0;
        return scale;
    }
    const double rough = qMax(maxValue / maxTicks, minimumStep);
    double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
    double step = 10 * magnitude;
    for (const double factor : {1.0, 2.0, 5.0, 10.0}) {
        if (factor * magnitude >= rough * (1 - 1e-9)) {
            step = factor * magnitude;
            break;
        }
    }
    scale.step = step;
    scale.top = std::ceil(maxValue / step - 1e-9) * step;
    if (scale.top <= 0)
        scale.top = step;
    scale.decimals = qMax(0, int(-std::floor(std::log10(step) + 1e-9)));
    return scale;
}

double clipLevel(const QList<double> &values, double percentile)
{
    if (values.isEmpty())
        return 0;
    QList<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    const double maximum = sorted.constLast();
    // Too few points to call any of them an outlier.
    if (sorted.size() < 10)
        return maximum;
    const auto index = qsizetype(std::ceil(percentile * double(sorted.size() - 1)));
    const double bulk = sorted.at(qBound<qsizetype>(0, index, sorted.size() - 1));
    // Only clip what would squash the rest into the bottom third of the chart.
    if (bulk <= 0 || maximum <= 3 * bulk)
        return maximum;
    return bulk * 1.25;
}

namespace {

struct TimeStep
{
    qint64 ms;
    const char *format; // QDateTime format for ticks that are not at midnight
};

constexpr TimeStep kTimeSteps[] = {
    {10'000, "HH:mm:ss"},     {15'000, "HH:mm:ss"},      {30'000, "HH:mm:ss"},
    {60'000, "HH:mm"},        {2 * 60'000, "HH:mm"},     {5 * 60'000, "HH:mm"},
    {10 * 60'000, "HH:mm"},   {15 * 60'000, "HH:mm"},    {30 * 60'000, "HH:mm"},
    {3'600'000, "HH:mm"},     {2 * 3'600'000, "HH:mm"},  {3 * 3'600'000, "HH:mm"},
    {6 * 3'600'000, "HH:mm"}, {12 * 3'600'000, "HH:mm"}, {24 * 3'600'000, "ddd d"},
};

} // namespace

QList<TimeTick> timeTicks(qint64 fromMs, qint64 toMs, int maxTicks)
{
    QList<TimeTick> ticks;
    if (toMs <= fromMs || maxTicks < 1)
        return ticks;
    const TimeStep *chosen = &kTimeSteps[std::size(kTimeSteps) - 1];
    for (const TimeStep &step : kTimeSteps) {
        if ((toMs - fromMs) / step.ms <= maxTicks) {
            chosen = &step;
            break;
        }
    }
    // Round in local time, so "every hour" lands on the hour where the user is.
    const qint64 offsetMs = qint64(QDateTime::fromMSecsSinceEpoch(fromMs).offsetFromUtc()) * 1000;
    qint64 at = ((fromMs + offsetMs + chosen->ms - 1) / chosen->ms) * chosen->ms - offsetMs;
    const QLocale locale;
    for (; at <= toMs && ticks.size() <= maxTicks; at += chosen->ms) {
        const QDateTime time = QDateTime::fromMSecsSinceEpoch(at);
        const bool midnight = time.time() == QTime(0, 0);
        const QString format =
            midnight && chosen->ms >= 3'600'000 ? u"ddd d"_s : QString::fromLatin1(chosen->format);
        ticks.append({at, locale.toString(time, format)});
    }
    return ticks;
}

QList<QList<QPointF>> splitAtGaps(const QList<QPointF> &points, double gapFactor,
                                  qint64 minimumGapMs)
{
    QList<QList<QPointF>> segments;
    if (points.isEmpty())
        return segments;
    QList<double> spacings;
    spacings.reserve(points.size());
    for (qsizetype i = 1; i < points.size(); ++i)
        spacings.append(points.at(i).x() - points.at(i - 1).x());
    double usual = 0;
    if (!spacings.isEmpty()) {
        auto middle = spacings.begin() + spacings.size() / 2;
        std::nth_element(spacings.begin(), middle, spacings.end());
        usual = *middle;
    }
    const double gap = qMax(usual * gapFactor, double(minimumGapMs));
    segments.append(QList<QPointF>{points.constFirst()});
    for (qsizetype i = 1; i < points.size(); ++i) {
        if (points.at(i).x() - points.at(i - 1).x() > gap)
            segments.append(QList<QPointF>());
        segments.last().append(points.at(i));
    }
    return segments;
}

} // namespace bd::ui::charticks
