#pragma once

#include <QList>
#include <QPointF>
#include <QString>

// The arithmetic behind the dashboard's axes, apart from any widget so that it can be
// tested on its own: value ticks on 1, 2 or 5 times a power of ten, time ticks on round
// clock times, the clip level that keeps one spike from flattening a steady series, and
// where a series has gaps.
namespace bd::ui::charticks {

struct ValueScale
{
    double top = 1;   // the axis runs from 0 to top, a whole number of steps
    double step = 1;  // 1, 2 or 5 × 10^n
    int decimals = 0; // what the step needs to read exactly (0.25 → 2)
};

// The scale whose top is the first step at or above maxValue, with at most maxTicks
// intervals. minimumStep keeps count axes on whole numbers (1) so labels never repeat.
ValueScale valueScale(double maxValue, int maxTicks = 5, double minimumStep = 0);

// Where to draw the axis so that a few outliers do not squash everything else: the
// maximum when it is close to the bulk of the values, else a margin above the given
// percentile (0..1) of them. Values above the result are drawn clipped and marked.
double clipLevel(const QList<double> &values, double percentile = 0.95);

struct TimeTick
{
    qint64 atMs = 0;
    QString label;
};

// Round clock times (every 10 s … 1 day, local time) within [fromMs, toMs], at most
// maxTicks of them, labelled as precisely as their spacing needs: 14:05:30, 14:05, Tue 3.
QList<TimeTick> timeTicks(qint64 fromMs, qint64 toMs, int maxTicks);

// Splits points (x ascending) where two neighbours are further apart than gapFactor times
// their usual spacing (the median), and at least minimumGapMs: a period nobody watched,
// drawn as a break rather than a straight line across it.
QList<QList<QPointF>> splitAtGaps(const QList<QPointF> &points, double gapFactor = 5.0,
                                  qint64 minimumGapMs = 30'000);

} // namespace bd::ui::charticks
