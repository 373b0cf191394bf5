#pragma once

#include "metricsource.h"

#include <QHash>

namespace bd {
class Engine;
namespace metrics {
struct SeriesData;
}
} // namespace bd

namespace bd::ui {

class LiveMetrics;
struct StoredSeries;

// The dashboard's source over stored history: the metric tables the engine's recorder
// writes (read on the engine's reader thread through Engine::requestSeries), with the
// live snapshot samples appended after the point where they begin. So a reopened window
// or a 7-day range draws the past, and the last seconds stay as fresh as the snapshots.
// Metrics that snapshots do not carry (fill rate, latency) come from the store alone and
// are as fresh as the last load().
class HistoryMetrics final : public MetricSource
{
    Q_OBJECT

public:
    HistoryMetrics(Engine *engine, const LiveMetrics *live, QObject *parent = nullptr);

    // Draws one job's series (the recorder's {job} ones) from now on; 0: every job.
    void setJob(qint64 jobId, int priority, const LiveMetrics *live);
    qint64 jobId() const { return m_jobId; }
    // Asks for every chartable metric over [fromMs, toMs]; changed() once per arrival.
    void load(qint64 fromMs, qint64 toMs, int maxPoints = 360);

    QList<QPointF> points(Metric metric, qint64 fromMs, qint64 toMs, int maxPoints) const override;
    qint64 earliestMs() const override;
    // Stored points held for a metric (tests, the benchmark).
    int storedPointCount(Metric metric) const;

private:
    void handleSeries(quint64 ticket, const bd::metrics::SeriesData &series);

    Engine *m_engine;
    const LiveMetrics *m_live; // appended after the stored points
    QHash<int, QList<QPointF>> m_stored; // by Metric, in display units
    QHash<int, qint64> m_bucketMs;       // by Metric: the span each stored point stands for
    QHash<quint64, const StoredSeries *> m_requests; // ticket -> what was asked for
    qint64 m_jobId = 0;
    int m_jobPriority = 0;
};

} // namespace bd::ui
