#pragma once

#include "api/metrictypes.h"

#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QSet>
#include <QStringList>

#include <optional>

namespace bd {
class Clock;
}

namespace bd::metrics {

// Thresholds of every rule, defaults from the guide. JSON (all keys optional):
//
// { "queue_depth":    {"enabled": true, "factor": 2.0, "clear_factor": 1.5, "sustain_s": 1800,
//                      "baseline_window_s": 86400, "min_history_s": 3600, "min_depth": 1000},
//   "error_rate":     {"enabled": true, "threshold": 0.05, "clear_threshold": 0.04,
//                      "window_s": 600, "min_attempts": 20, "ignored_classes": ["rate_limited"]},
//   "cost_per_task":  {"enabled": true, "increase": 0.20, "clear_increase": 0.15,
//                      "period_s": 604800, "min_tasks": 50},
//   "priority_wait":  {"enabled": true, "max_wait_s": 300, "priority2_max_wait_s": 3600,
//                      "priority3_max_wait_s": 86400},   (max_wait_s: priority 1's, or that
//                      of "priority" when given, as older settings have it)
//   "budget":         {"enabled": true, "warn_fraction": 0.8},
//   "circuit_open":   {"enabled": true},   (raised by the runners when a breaker opens)
//   "quota_exhausted":{"enabled": true},
//   "no_progress":    {"enabled": true, "after_s": 900} }
struct AlertThresholds
{
    struct QueueDepth
    {
        bool enabled = true;
        double factor = 2.0;        // raise above factor x baseline ...
        double clearFactor = 1.5;   // ... clear at or below clearFactor x baseline
        qint64 sustainMs = 30LL * 60 * 1000;
        qint64 baselineWindowMs = 24LL * 3600 * 1000; // the baseline is the mean over this
        qint64 minHistoryMs = 3600LL * 1000;          // no alert before this much history
        qint64 minDepth = 1000;     // never alert below this many pending tasks
    } queueDepth;
    struct ErrorRate
    {
        bool enabled = true;
        double threshold = 0.05;
        double clearThreshold = 0.04;
        qint64 windowMs = 10LL * 60 * 1000;
        qint64 minAttempts = 20;    // fewer calls in the window say nothing
        // 429 rate limits are throttling, handled by the limiter and counted in rate_429.
        QStringList ignoredClasses = {QStringLiteral("rate_limited")};
    } errorRate;
    struct CostPerTask
    {
        bool enabled = true;
        double increase = 0.20;      // raise when this period is > 20 % dearer per task
        double clearIncrease = 0.15;
        qint64 periodMs = 7LL * 24 * 3600 * 1000; // week over week
        qint64 minTasks = 50;        // in each period
    } costPerTask;
    // The guide's service levels: priority 1 at once (5 min), 2 within the hour, 3 within a
    // day. A task waits from when it last became pending (metrics/queueprobe.h).
    struct PriorityWait
    {
        bool enabled = true;
        qint64 maxWaitMs[3] = {5LL * 60 * 1000, 3600LL * 1000, 24LL * 3600 * 1000};
        qint64 maxWait(int priority) const { return maxWaitMs[qBound(1, priority, 3) - 1]; }
    } priorityWait;
    struct Budget
    {
        bool enabled = true;
        double warnFraction = 0.8; // and 1.0 (exhausted)
    } budget;
    struct Toggle
    {
        bool enabled = true;
    };
    Toggle circuitOpen;
    Toggle quotaExhausted;
    struct NoProgress
    {
        bool enabled = true;
        qint64 afterMs = 15LL * 60 * 1000;
    } noProgress;

    static AlertThresholds fromJson(const QJsonObject &json);
    QJsonObject toJson() const;
};

// State the samples do not carry, supplied by the caller at each evaluation. A job without
// a Budget entry keeps its budget alerts as they are.
struct RuleInputs
{
    struct Budget
    {
        qint64 jobId = 0;
        double budgetUsd = 0.0; // <= 0: no budget (clears budget alerts)
        double spentUsd = 0.0;
    };
    QList<Budget> budgets;
};

// The guide's alert rules as a pure function of the closed metric samples and a Clock:
// no I/O, no timers, no signals. Feed every closed fine interval to evaluate() (the
// recorder's intervalClosed()); it returns the alerts that changed state. Each rule raises
// once when its condition starts (after its sustain time) with its figures in the message
// and in AlertEvent::figures, and clears once when the condition ends; thresholds with a
// clear level below the raise level keep an alert from flapping.
//
// Rules and what they read:
//   queue_depth_high  total queue_pending > factor x its rolling baseline (mean of the last
//                     baseline window, 5-minute buckets) and >= min_depth, for > sustain
//   error_rate_high   failures / calls over the trailing window (tasks_failed vs.
//                     tasks_completed, ignored classes left out of both)
//   cost_per_task_up  cost_usd / tasks_completed this period vs. the period before (hourly
//                     buckets, primed from the rollups at start)
//   priority1_wait, priority2_wait, priority3_wait
//                     oldest_pending_age_ms{priority=N} > that priority's max wait
//   budget_80 / budget_exhausted   RuleInputs::budgets
//   quota_exhausted   job_tasks_failed{error_class=quota_exhausted} > 0; clears when the
//                     job completes tasks again
//   no_progress       job_running = 1 with job_queue_pending + job_queue_leased > 0 and no
//                     job_tasks_completed / job_tasks_dead for after_s
class AlertRules
{
public:
    AlertRules(const AlertThresholds &thresholds, const Clock *clock);

    const AlertThresholds &thresholds() const { return m_thresholds; }
    void setThresholds(const AlertThresholds &thresholds) { m_thresholds = thresholds; }

    // History before this run (rollups from the database, oldest first): builds the
    // baselines without raising anything.
    void prime(const QList<MetricSample> &samples);
    // One closed interval (or several, oldest first). Returns the transitions.
    QList<AlertEvent> evaluate(const QList<MetricSample> &samples, const RuleInputs &inputs = {});

    // An alert of one of ruleKinds() found open in the store at start: the rule owns it
    // now and clears it when its condition is found false.
    void adoptOpen(const QString &kind, qint64 jobId, const QString &message = QString());
    bool isRaised(const QString &kind, qint64 jobId = 0) const;
    static QStringList ruleKinds();

    // Introspection for tests and the console.
    std::optional<double> queueBaseline() const;

private:
    using AlertKey = std::pair<QString, qint64>;
    struct ErrorEntry
    {
        qint64 atMs = 0;
        double attempts = 0;
        double failures = 0;
        QMap<QString, double> byClass;
    };

    void observe(const QList<MetricSample> &samples, qint64 nowMs);
    void raise(QList<AlertEvent> &out, const QString &kind, qint64 jobId, const QString &message,
               const QJsonObject &figures);
    void clear(QList<AlertEvent> &out, const QString &kind, qint64 jobId, const QString &message,
               const QJsonObject &figures = {});

    void checkQueueDepth(QList<AlertEvent> &out, const QList<MetricSample> &latest, qint64 now);
    void checkErrorRate(QList<AlertEvent> &out, qint64 now);
    void checkCostPerTask(QList<AlertEvent> &out, qint64 now);
    void checkPriorityWait(QList<AlertEvent> &out, const QList<MetricSample> &latest);
    void checkBudgets(QList<AlertEvent> &out, const RuleInputs &inputs);
    void checkJobs(QList<AlertEvent> &out, const QList<MetricSample> &all,
                   const QList<MetricSample> &latest, qint64 now);

    AlertThresholds m_thresholds;
    const Clock *m_clock;
    QHash<AlertKey, QString> m_open; // -> message it was raised with

    // queue depth baseline: 5-minute bucket start -> (sum of value x weight, weight)
    QMap<qint64, std::pair<double, double>> m_depthBuckets;
    qint64 m_depthFirstMs = -1;
    std::optional<qint64> m_depthExceedSince;
    std::optional<double> m_baseline;
    // error rate
    QList<ErrorEntry> m_errors; // oldest first
    // cost per task: hour start -> (dollars, tasks)
    QMap<qint64, std::pair<double, double>> m_costHours;
    // no progress: job -> time of its last progress (or of becoming active)
    QHash<qint64, qint64> m_lastProgress;
};

} // namespace bd::metrics
