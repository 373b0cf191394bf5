#pragma once

#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QMetaType>
#include <QString>

#include <utility>

// Value types of the metrics module: one sample of one series for one interval, the
// points a chart asks for, and the alert transitions the rules produce. They cross
// threads by value.
namespace bd::metrics {

// How a series is aggregated over time (rollups, chart buckets, merges of two writers).
enum class MetricKind : int
{
    Counter = 0,  // events in the interval. sum: amount (tasks, dollars, tokens); count: events;
                  // value: sum per second, so it reads the same at every resolution
    Gauge = 1,    // a level read at the end of each fine interval. value: mean of the readings
                  // (sum / count); min / max: extremes of the readings
    Ratio = 2,    // sum / count (numerator / denominator), merged exactly
    Quantile = 3, // a percentile from a histogram; value: the percentile; count / sum: the
                  // observations behind it; merged conservatively (the larger value)
};

// Series names. Labels are canonical strings (see labelString()).
namespace names {
// counters by {priority, lane}
inline constexpr char tasksCompleted[] = "tasks_completed";
inline constexpr char tasksDead[] = "tasks_dead";
inline constexpr char costUsd[] = "cost_usd";
// what the same answers would have cost sent realtime (the list price): cost_usd except
// on the batch lane, so their difference is what batching saved
inline constexpr char costUsdAtRealtime[] = "cost_usd_at_realtime";
inline constexpr char tokensInput[] = "tokens_input";   // uncached input tokens
inline constexpr char tokensOutput[] = "tokens_output";
inline constexpr char tokensCached[] = "tokens_cached"; // input tokens read from the prompt cache
inline constexpr char responseCacheHits[] = "response_cache_hits";
// counter by {priority, lane, error_class}
inline constexpr char tasksFailed[] = "tasks_failed";
// counters by {lane}
inline constexpr char responses429[] = "responses_429";
inline constexpr char batches[] = "batches";
// counters by {job}, ({job, error_class} for failures)
inline constexpr char jobTasksCompleted[] = "job_tasks_completed";
inline constexpr char jobTasksFailed[] = "job_tasks_failed";
inline constexpr char jobTasksDead[] = "job_tasks_dead";
inline constexpr char jobCostUsd[] = "job_cost_usd";
// gauges
inline constexpr char queuePending[] = "queue_pending";           // {priority, lane}
inline constexpr char queueLeased[] = "queue_leased";             // {priority, lane}
inline constexpr char oldestPendingAgeMs[] = "oldest_pending_age_ms"; // {priority}
inline constexpr char jobQueuePending[] = "job_queue_pending";    // {job}
inline constexpr char jobQueueLeased[] = "job_queue_leased";      // {job}
inline constexpr char jobRunning[] = "job_running";               // {job}: 1 while dispatched
// {job}: requests the job may have in flight now (adapted to 429s, overloads, latency)
inline constexpr char jobConcurrencyLimit[] = "job_concurrency_limit";
// ratios
inline constexpr char errorRate[] = "error_rate";         // {} and {error_class}: failures / attempts
inline constexpr char rate429[] = "rate_429";             // {}: 429 answers / attempts
inline constexpr char costPerTask[] = "cost_per_task";    // {} and {priority, lane}: dollars / completed
inline constexpr char cacheHitRate[] = "cache_hit_rate";  // {}: cached / (cached + uncached input tokens)
// {lane}: tasks sent / batch capacity, one series per lane (see lanes below). Read it a lane
// at a time: merged, the lanes weigh by capacity, and one 50,000-line provider batch drowns
// every group of sync calls.
inline constexpr char batchFillRate[] = "batch_fill_rate";
inline constexpr char waitMsMean[] = "wait_ms_mean";      // {priority}
inline constexpr char runMsMean[] = "run_ms_mean";        // {priority}
// quantiles by {priority}
inline constexpr char waitMsP50[] = "wait_ms_p50";
inline constexpr char waitMsP95[] = "wait_ms_p95";
inline constexpr char runMsP50[] = "run_ms_p50";
inline constexpr char runMsP95[] = "run_ms_p95";
} // namespace names

// The values of the {lane} label: single sync calls of priority 1, groups of sync calls,
// the provider's batch API.
namespace lanes {
inline constexpr char realtime[] = "realtime";
inline constexpr char sync[] = "sync";
inline constexpr char batch[] = "batch";
} // namespace lanes
QStringList laneLabels(); // realtime, sync, batch

// The kind of a known series name; unknown names are gauges.
MetricKind metricKind(const QString &metric);
// Every series name the recorder writes, for pickers.
QStringList knownMetrics();

// Labels as one canonical string: "k=v" pairs sorted by key, joined by ','. Characters
// ',', '=' and control characters in values are replaced by '_'. Empty: no labels.
using LabelList = QList<std::pair<QString, QString>>;
QString labelString(const LabelList &labels);
QMap<QString, QString> parseLabels(const QString &labels);
QString labelValue(const QString &labels, const QString &key); // empty when absent

struct MetricSample
{
    QString metric;
    QString labels;
    qint64 atMs = 0;          // start of the interval, a multiple of resolutionMs
    qint64 resolutionMs = 0;
    double value = 0.0;       // see MetricKind
    qint64 count = 0;
    double sum = 0.0;
    double min = 0.0;
    double max = 0.0;

    bool operator==(const MetricSample &other) const = default;
};

struct MetricPoint
{
    qint64 atMs = 0;
    double value = 0.0;
    double min = 0.0;
    double max = 0.0;
    qint64 count = 0;
};

struct SeriesData
{
    QString metric;
    QString labels;
    MetricKind kind = MetricKind::Gauge;
    qint64 resolutionMs = 0; // stored resolution the points were read from
    qint64 bucketMs = 0;     // spacing of the points (a multiple of resolutionMs)
    QList<MetricPoint> points;
};

// An alert changing state. Raised and Cleared are transitions: a rule that still holds
// does not raise again.
struct AlertEvent
{
    enum class Type : int
    {
        Raised = 0,
        Cleared = 1,
    };
    Type type = Type::Raised;
    QString kind;
    qint64 jobId = 0; // 0: global
    QString message;
    QJsonObject figures;
    qint64 atMs = 0;

    bool raised() const { return type == Type::Raised; }
    // {"event":"raised"|"cleared","kind","job"(null when global),"message","figures","at"}
    QJsonObject toJson() const;
};

// Alert kinds the rules raise. budget_80, budget_exhausted and quota_exhausted are the
// names the dispatcher already uses, so both sources land on the same stored alert.
namespace kinds {
inline constexpr char queueDepthHigh[] = "queue_depth_high";
inline constexpr char errorRateHigh[] = "error_rate_high";
inline constexpr char costPerTaskUp[] = "cost_per_task_up";
inline constexpr char priorityWait[] = "priority1_wait"; // the guide's service levels, per priority
inline constexpr char priority2Wait[] = "priority2_wait";
inline constexpr char priority3Wait[] = "priority3_wait";
inline constexpr char budget80[] = "budget_80";
inline constexpr char budgetExhausted[] = "budget_exhausted";
inline constexpr char circuitOpen[] = "circuit_open";
inline constexpr char quotaExhausted[] = "quota_exhausted";
inline constexpr char noProgress[] = "no_progress";
} // namespace kinds

} // namespace bd::metrics

Q_DECLARE_METATYPE(bd::metrics::MetricSample)
Q_DECLARE_METATYPE(bd::metrics::AlertEvent)
Q_DECLARE_METATYPE(bd::metrics::SeriesData)
