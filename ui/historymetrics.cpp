#include "historymetrics.h"

#include "api/engine.h"
#include "api/metrictypes.h"
#include "livemetrics.h"

#include <algorithm>
#include <limits>

namespace bd::ui {

using namespace Qt::StringLiterals;

// Where each chart metric is stored and how its values become the chart's units.
struct StoredSeries
{
    Metric metric;
    const char *name;
    const char *labels;
    double scale; // stored value -> chart unit
};

namespace {

constexpr StoredSeries kStored[] = {
    {Metric::QueuePriority1, "queue_pending", "priority=1", 1.0},
    {Metric::QueuePriority2, "queue_pending", "priority=2", 1.0},
    {Metric::QueuePriority3, "queue_pending", "priority=3", 1.0},
    {Metric::InFlight, "queue_leased", "", 1.0},
    {Metric::RatePerMinute, "tasks_completed", "", 60.0}, // counters store events per second
    {Metric::SpendUsd, "cost_usd", "", 1.0},              // per second; summed up below
    {Metric::CostPerTask, "cost_per_task", "", 1.0},
    {Metric::WaitP50, "wait_ms_p50", "", 0.001},
    {Metric::WaitP95, "wait_ms_p95", "", 0.001},
    {Metric::RunP50, "run_ms_p50", "", 0.001},
    {Metric::RunP95, "run_ms_p95", "", 0.001},
};

// The same charts for one job: the series the recorder keeps by {job}. Its queue goes in
// the line of the job's priority; latency is not kept per job.
constexpr StoredSeries kStoredForJob[] = {
    {Metric::QueuePriority1, "job_queue_pending", "", 1.0},
    {Metric::QueuePriority2, "job_queue_pending", "", 1.0},
    {Metric::QueuePriority3, "job_queue_pending", "", 1.0},
    {Metric::InFlight, "job_queue_leased", "", 1.0},
    {Metric::RatePerMinute, "job_tasks_completed", "", 60.0},
    {Metric::SpendUsd, "job_cost_usd", "", 1.0},
};

} // namespace

HistoryMetrics::HistoryMetrics(Engine *engine, const LiveMetrics *live, QObject *parent)
    : MetricSource(parent)
    , m_engine(engine)
    , m_live(live)
{
    connect(m_engine, &Engine::seriesReady, this, &HistoryMetrics::handleSeries);
}

void HistoryMetrics::setJob(qint64 jobId, int priority, const LiveMetrics *live)
{
    m_jobId = jobId;
    m_live = live;
    m_jobPriority = priority;
    m_stored.clear();
    m_bucketMs.clear();
    m_requests.clear();
}

void HistoryMetrics::load(qint64 fromMs, qint64 toMs, int maxPoints)
{
    const auto ask = [&](const StoredSeries &series, const QString &labels) {
        const quint64 ticket = m_engine->newTicket();
        m_requests.insert(ticket, &series);
        m_engine->requestSeries(ticket, QString::fromLatin1(series.name), labels, fromMs, toMs,
                                maxPoints);
    };
    if (m_jobId == 0) {
        for (const StoredSeries &series : kStored)
            ask(series, QString::fromLatin1(series.labels));
        return;
    }
    const QString jobLabels = metrics::labelString({{u"job"_s, QString::number(m_jobId)}});
    for (const StoredSeries &series : kStoredForJob) {
        const int queuePriority = int(series.metric) - int(Metric::QueuePriority1) + 1;
        const bool otherPriority = series.metric <= Metric::QueuePriority3 && queuePriority != m_jobPriority;
        if (!otherPriority)
            ask(series, jobLabels);
    }
}

void HistoryMetrics::handleSeries(quint64 ticket, const metrics::SeriesData &series)
{
    const auto request = m_requests.constFind(ticket);
    if (request == m_requests.cend())
        return; // another source's request
    const StoredSeries *stored = request.value();
    const Metric metric = stored->metric;
    m_requests.erase(request);
    QList<QPointF> points;
    points.reserve(series.points.size());
    double cumulative = 0;
    for (const metrics::MetricPoint &point : series.points) {
        double value = point.value * stored->scale;
        if (metric == Metric::SpendUsd) {
            // Dollars per second over each bucket, summed to the spend so far in the range.
            cumulative += value * double(qMax<qint64>(series.bucketMs, 1)) / 1000.0;
            value = cumulative;
        }
        points.append(QPointF(double(point.atMs), value));
    }
    m_stored.insert(int(metric), points);
    m_bucketMs.insert(int(metric), qMax<qint64>(series.bucketMs, 1));
    Q_EMIT changed();
}

QList<QPointF> HistoryMetrics::points(Metric metric, qint64 fromMs, qint64 toMs,
                                      int maxPoints) const
{
    const bool live = m_live && LiveMetrics::isLive(metric) && m_live->sampleCount() > 0;
    const qint64 liveFrom = live ? m_live->earliestMs() : std::numeric_limits<qint64>::max();
    QList<QPointF> result;
    const QList<QPointF> stored = m_stored.value(int(metric));
    // One truth per instant: a stored point stands for its whole bucket (a gauge is read at
    // the end of each interval, averaged over every process that wrote it), so a bucket that
    // reaches into the live span would draw, before the live samples, what the database said
    // after them: a job another process starts showed up early, then the live line fell
    // back to what this window saw. Such buckets give way to the live samples.
    const double storedUntil = double(liveFrom) - double(m_bucketMs.value(int(metric), 1));
    const auto pastEnd = std::upper_bound(stored.cbegin(), stored.cend(), storedUntil,
                                          [](double t, const QPointF &p) { return t < p.x(); });
    double offset = 0;
    if (metric == Metric::SpendUsd && live && pastEnd != stored.cbegin()) {
        // The stored sum starts at zero with the range; the snapshots know the true total.
        // Shift the past so that it meets the first live point.
        const QList<QPointF> first = m_live->points(metric, liveFrom, liveFrom, 1);
        if (!first.isEmpty())
            offset = first.first().y() - std::prev(pastEnd)->y();
    }
    for (auto it = stored.cbegin(); it != pastEnd; ++it) {
        const QPointF &point = *it;
        if (point.x() < double(fromMs) || point.x() > double(toMs))
            continue;
        result.append(QPointF(point.x(), qMax(0.0, point.y() + offset)));
    }
    if (live)
        result += m_live->points(metric, qMax(fromMs, liveFrom), toMs, maxPoints);
    return result;
}

qint64 HistoryMetrics::earliestMs() const
{
    qint64 earliest = m_live ? m_live->earliestMs() : 0;
    for (const QList<QPointF> &points : m_stored) {
        if (!points.isEmpty() && (earliest == 0 || qint64(points.first().x()) < earliest))
            earliest = qint64(points.first().x());
    }
    return earliest;
}

int HistoryMetrics::storedPointCount(Metric metric) const
{
    return int(m_stored.value(int(metric)).size());
}

} // namespace bd::ui
