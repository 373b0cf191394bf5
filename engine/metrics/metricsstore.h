#pragma once

#include "api/metrictypes.h"
#include "metrics/metricssink.h"

#include <QList>
#include <QString>
#include <QStringList>

namespace bd::metrics {

// The metric tables (metric_series, metric_samples): the recorder writes through the sink
// half, charts and the alert rules read through the rest. Handed out by a database
// (store::Database::metricsStore) and bound to its connection and thread: the engine thread
// uses the writer's database so there is still one writer; a view reads through a reader's
// database with a second instance. Every call is synchronous.
//
// Rows are (series, resolution, start) -> value, n, total, lo, hi; see MetricKind for what
// each means per kind. A series is one (metric, labels) pair, stored once.
class MetricsStore : public MetricsSink
{
public:
    // For a chart: the series between fromMs and toMs with at most maxPoints points. Reads
    // the fine samples when they still cover fromMs and there are not too many of them
    // (at most kMaxRowsRead), else the rollups; buckets them when there are more rows than
    // points (counters: mean rate; gauges, ratios: weighted mean; quantiles: the largest).
    // Points without data are absent, not zero.
    static constexpr qint64 kMaxRowsRead = 10'000;
    virtual SeriesData series(const QString &metric, const QString &labels, qint64 fromMs,
                              qint64 toMs, int maxPoints) = 0;
    // Label sets stored for a metric ("" for the unlabelled series), sorted.
    virtual QStringList labelSets(const QString &metric) = 0;
    // Raw rows of one resolution, oldest first (to prime the alert rules at start).
    virtual QList<MetricSample> samples(const QStringList &metrics, qint64 resolutionMs,
                                        qint64 fromMs, qint64 toMs) = 0;
    // Stored rows of a resolution (of one metric when given); -1 on a database error.
    virtual qint64 sampleCount(qint64 resolutionMs, const QString &metric = QString()) = 0;
};

} // namespace bd::metrics
