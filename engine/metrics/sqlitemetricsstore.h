#pragma once

#include "metrics/metricsrecorder.h"
#include "metrics/metricssink.h"
#include "api/metrictypes.h"

#include <QHash>
#include <QString>
#include <QStringList>

namespace bd {
class Clock;
}

namespace bd::metrics {

// The metric tables of schema version 2 (metric_series, metric_samples), over a Qt SQLite
// connection that is already open, found by its connection name; it belongs to the thread
// that opened it and so does this object. The engine thread uses the writer's connection
// ("engine-writer") so there is still one writer; a view reads through a reader connection
// (say "engine-reader-tasks") with a second instance. Holds no QSqlQuery between calls, so
// it never keeps a connection busy.
//
// Rows are (series, resolution, start) -> value, n, total, lo, hi; see MetricKind for what
// each means per kind. A series is one (metric, labels) pair, stored once.
class SqliteMetricsStore final : public MetricsSink
{
public:
    // options: the recorder's resolutions and retentions, to pick where series() reads.
    SqliteMetricsStore(const QString &connectionName, const Clock *clock,
                       const MetricsRecorder::Options &options = {});

    bool writeSamples(const QList<MetricSample> &samples) override;
    bool prune(qint64 resolutionMs, qint64 beforeMs) override;
    QString errorString() const override { return m_error; }

    // For a chart: the series between fromMs and toMs with at most maxPoints points. Reads
    // the fine samples when they still cover fromMs and there are not too many of them
    // (at most kMaxRowsRead), else the rollups; buckets them in SQL when there are more
    // rows than points (counters: mean rate; gauges, ratios: weighted mean; quantiles: the
    // largest). Points without data are absent, not zero.
    static constexpr qint64 kMaxRowsRead = 10'000;
    SeriesData series(const QString &metric, const QString &labels, qint64 fromMs, qint64 toMs,
                      int maxPoints);
    // Label sets stored for a metric ("" for the unlabelled series), sorted.
    QStringList labelSets(const QString &metric);
    // Raw rows of one resolution, oldest first (to prime the alert rules at start).
    QList<MetricSample> samples(const QStringList &metrics, qint64 resolutionMs, qint64 fromMs,
                                qint64 toMs);
    // Stored rows of a resolution (of one metric when given).
    qint64 sampleCount(qint64 resolutionMs, const QString &metric = QString());

private:
    bool fail(const QString &what);
    qint64 seriesId(const QString &metric, const QString &labels, bool create);

    QString m_connectionName;
    const Clock *m_clock;
    MetricsRecorder::Options m_options;
    QHash<std::pair<QString, QString>, qint64> m_seriesIds;
    QString m_error;
};

} // namespace bd::metrics
