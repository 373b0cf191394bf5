#include "metricsrecorder.h"

#include "core/clock.h"
#include "metrics/exposition.h"
#include "metrics/metricssink.h"

#include <algorithm>
#include <cmath>

namespace bd::metrics {

using namespace Qt::StringLiterals;

namespace {

// Upper bounds (seconds) of the /metrics latency histograms: sub-second realtime calls up
// to a day of waiting in the bulk lane.
constexpr double kLeBounds[] = {0.05, 0.1, 0.25, 0.5, 1,    2.5,  5,     10,   30,
                                60,   120, 300,  600, 1800, 3600, 21600, 86400};

qint64 alignDown(qint64 t, qint64 step)
{
    qint64 q = t / step;
    if (t % step < 0)
        --q;
    return q * step;
}

QString priorityText(int priority)
{
    return QString::number(priority);
}

struct FamilyInfo
{
    const char *name;
    Exposition::Type type;
    const char *help;
};

// Cumulative families, in exposition order.
constexpr FamilyInfo kCounterFamilies[] = {
    {"batchdesk_tasks_completed_total", Exposition::Type::Counter,
     "Tasks answered and stored."},
    {"batchdesk_tasks_failed_total", Exposition::Type::Counter,
     "Provider calls that produced no answer, by error class (each failed attempt counts)."},
    {"batchdesk_tasks_dead_lettered_total", Exposition::Type::Counter,
     "Tasks moved to the dead-letter queue."},
    {"batchdesk_rate_limited_responses_total", Exposition::Type::Counter,
     "HTTP 429 answers (rate limits and exhausted quotas)."},
    {"batchdesk_batches_dispatched_total", Exposition::Type::Counter, "Batches sent."},
    {"batchdesk_batch_tasks_total", Exposition::Type::Counter, "Tasks sent in batches."},
    {"batchdesk_batch_capacity_total", Exposition::Type::Counter,
     "Tasks the batches sent could have held (fill rate = batch_tasks / batch_capacity)."},
    {"batchdesk_cost_usd_total", Exposition::Type::Counter, "Spend on answered tasks, in US dollars."},
    {"batchdesk_input_tokens_total", Exposition::Type::Counter, "Uncached input tokens."},
    {"batchdesk_cached_input_tokens_total", Exposition::Type::Counter,
     "Input tokens read from the provider's prompt cache."},
    {"batchdesk_output_tokens_total", Exposition::Type::Counter, "Output tokens."},
    {"batchdesk_response_cache_hits_total", Exposition::Type::Counter,
     "Tasks answered from the response cache."},
};

} // namespace

QString laneName(int priority, const QString &mode)
{
    if (mode == u"batch-api"_s || mode == u"batch"_s)
        return QString::fromLatin1(lanes::batch);
    return QString::fromLatin1(priority <= 1 ? lanes::realtime : lanes::sync);
}

// ---------------------------------------------------------------- options

MetricsRecorder::Options MetricsRecorder::Options::fromJson(const QJsonObject &json)
{
    Options options;
    auto seconds = [&json](const char *key, qint64 fallbackMs, qint64 unitMs) {
        const double value = json.value(QLatin1StringView(key)).toDouble(-1);
        return value > 0 ? qint64(std::llround(value * double(unitMs))) : fallbackMs;
    };
    options.intervalMs = seconds("interval_s", options.intervalMs, 1000);
    options.rollupMs = seconds("rollup_s", options.rollupMs, 1000);
    options.fineRetentionMs = seconds("fine_retention_h", options.fineRetentionMs, 3'600'000);
    options.coarseRetentionMs = seconds("coarse_retention_d", options.coarseRetentionMs, 86'400'000);
    return options.normalized();
}

QJsonObject MetricsRecorder::Options::toJson() const
{
    return QJsonObject{
        {u"interval_s"_s, double(intervalMs) / 1000.0},
        {u"rollup_s"_s, double(rollupMs) / 1000.0},
        {u"fine_retention_h"_s, double(fineRetentionMs) / 3'600'000.0},
        {u"coarse_retention_d"_s, double(coarseRetentionMs) / 86'400'000.0},
    };
}

MetricsRecorder::Options MetricsRecorder::Options::normalized() const
{
    Options o = *this;
    o.intervalMs = qMax<qint64>(100, o.intervalMs);
    o.rollupMs = qMax(o.intervalMs, (o.rollupMs + o.intervalMs / 2) / o.intervalMs * o.intervalMs);
    o.fineRetentionMs = qMax(o.fineRetentionMs, o.intervalMs);
    o.coarseRetentionMs = qMax(o.coarseRetentionMs, o.rollupMs);
    return o;
}

// ---------------------------------------------------------------- recorder

void MetricsRecorder::CumulativeHistogram::add(double seconds)
{
    for (int i = 0; i < kLeBuckets; ++i) {
        if (seconds <= kLeBounds[i]) {
            ++buckets[size_t(i)];
            break;
        }
    }
    sum += seconds;
    ++count;
}

MetricsRecorder::MetricsRecorder(const Clock *clock, MetricsSink *sink, const Options &options,
                                 QObject *parent)
    : QObject(parent)
    , m_clock(clock)
    , m_sink(sink)
    , m_options(options.normalized())
{
    static_assert(std::size(kLeBounds) == kLeBuckets);
    if (m_options.autoTick) {
        // Checked once a second (or faster for short test intervals); the clock decides.
        m_timer.setInterval(int(qBound<qint64>(qint64(50), m_options.intervalMs / 10, qint64(1000))));
        connect(&m_timer, &QTimer::timeout, this, &MetricsRecorder::tick);
        m_timer.start();
    }
}

MetricsRecorder::~MetricsRecorder() = default;

void MetricsRecorder::ensureOpen(qint64 nowMs)
{
    if (m_fineStart >= 0)
        return;
    m_fineStart = alignDown(nowMs, m_options.intervalMs);
    m_rollupStart = alignDown(m_fineStart, m_options.rollupMs);
}

void MetricsRecorder::rollIfDue()
{
    const qint64 now = m_clock->nowMs();
    if (m_fineStart < 0) {
        ensureOpen(now);
    } else if (now >= m_fineStart + m_options.intervalMs && !m_tickQueued) {
        // Close the interval as soon as the event loop is back, not inside the caller (a
        // dispatcher handling a reply): the closing writes and emits intervalClosed(), whose
        // receivers raise alerts. Until then events still count in the ending interval.
        m_tickQueued = true;
        QMetaObject::invokeMethod(this, [this] {
            m_tickQueued = false;
            tick();
        }, Qt::QueuedConnection);
    }
}

void MetricsRecorder::addCounter(const char *metric, const QString &labels, double amount,
                                 qint64 events)
{
    const Key key{QString::fromLatin1(metric), labels};
    Acc &acc = m_counters[key];
    acc.sum += amount;
    acc.count += events;
    m_knownCounters.insert(key);
}

void MetricsRecorder::addCumulative(const QString &family,
                                    const QList<std::pair<QString, QString>> &labels, double amount)
{
    QString key;
    for (const auto &label : labels)
        key += label.second + u'\x1f';
    addCumulative(family, labels, key, amount);
}

void MetricsRecorder::addCumulative(const QString &family,
                                    const QList<std::pair<QString, QString>> &labels,
                                    const QString &key, double amount)
{
    CumulativeCounter &counter = m_cumulative[family][key];
    if (counter.labels.isEmpty())
        counter.labels = labels;
    counter.value += amount;
}

void MetricsRecorder::foldCompletions()
{
    for (auto it = m_unfolded.cbegin(); it != m_unfolded.cend(); ++it) {
        const CompletionShape &shape = it.key();
        const CompletionSums &sums = it.value();
        const QString priority = priorityText(shape.priority);
        const QString job = QString::number(shape.jobId);
        const QString pl = labelString({{u"priority"_s, priority}, {u"lane"_s, shape.lane}});
        const QString jl = labelString({{u"job"_s, job}});
        const qint64 n = sums.tasks;
        addCounter(names::tasksCompleted, pl, double(n), n);
        addCounter(names::costUsd, pl, sums.costUsd, n);
        addCounter(names::costUsdAtRealtime, pl, sums.costUsdAtRealtime, n);
        addCounter(names::tokensInput, pl, sums.inputTokens, n);
        addCounter(names::tokensOutput, pl, sums.outputTokens, n);
        addCounter(names::tokensCached, pl, sums.cachedTokens, n);
        if (sums.cacheHits > 0)
            addCounter(names::responseCacheHits, pl, double(sums.cacheHits), sums.cacheHits);
        addCounter(names::jobTasksCompleted, jl, double(n), n);
        addCounter(names::jobCostUsd, jl, sums.costUsd, n);

        const QList<std::pair<QString, QString>> labels = {
            {u"job"_s, job}, {u"priority"_s, priority}, {u"lane"_s, shape.lane}};
        const QString key = job + u'\x1f' + priority + u'\x1f' + shape.lane + u'\x1f';
        addCumulative(u"batchdesk_tasks_completed_total"_s, labels, key, double(n));
        addCumulative(u"batchdesk_cost_usd_total"_s, labels, key, sums.costUsd);
        addCumulative(u"batchdesk_input_tokens_total"_s, labels, key, sums.inputTokens);
        addCumulative(u"batchdesk_cached_input_tokens_total"_s, labels, key, sums.cachedTokens);
        addCumulative(u"batchdesk_output_tokens_total"_s, labels, key, sums.outputTokens);
        if (sums.cacheHits > 0)
            addCumulative(u"batchdesk_response_cache_hits_total"_s, labels, key,
                          double(sums.cacheHits));
    }
    m_unfolded.clear();
}

void MetricsRecorder::recordCompletion(const TaskCompletion &c)
{
    rollIfDue();
    const double cost = std::isfinite(c.costUsd) ? qMax(0.0, c.costUsd) : 0.0;
    CompletionSums &sums = m_unfolded[CompletionShape{
        c.jobId, c.priority, c.lane.isEmpty() ? laneName(c.priority, QString()) : c.lane}];
    sums.tasks += 1;
    sums.cacheHits += c.cacheHit ? 1 : 0;
    sums.costUsd += cost;
    sums.costUsdAtRealtime +=
        std::isfinite(c.realtimeCostUsd) && c.realtimeCostUsd >= 0 ? c.realtimeCostUsd : cost;
    sums.inputTokens += double(c.usage.inputTokens);
    sums.outputTokens += double(c.usage.outputTokens);
    sums.cachedTokens += double(c.usage.cachedTokens);

    LatencyPair &latency = m_latency[c.priority];
    if (c.waitMs >= 0)
        latency.wait.add(double(c.waitMs));
    if (c.runMs >= 0)
        latency.run.add(double(c.runMs));

    auto &histograms = m_cumulativeLatency[c.priority];
    if (c.waitMs >= 0)
        histograms.first.add(double(c.waitMs) / 1000.0);
    if (c.runMs >= 0)
        histograms.second.add(double(c.runMs) / 1000.0);
}

void MetricsRecorder::recordFailure(const TaskFailure &f)
{
    if (f.error == ErrorClass::Cancelled && !f.deadLettered)
        return; // a user or a preemption stopped it: not the provider's failure
    if (f.error == ErrorClass::None && !f.deadLettered)
        return;
    rollIfDue();
    const QString lane = f.lane.isEmpty() ? laneName(f.priority, QString()) : f.lane;
    const QString priority = priorityText(f.priority);
    const QString job = QString::number(f.jobId);
    QString errorClass = errorClassName(f.error);
    if (errorClass.isEmpty())
        errorClass = u"unknown"_s;

    addCounter(names::tasksFailed,
               labelString({{u"priority"_s, priority}, {u"lane"_s, lane}, {u"error_class"_s, errorClass}}),
               1);
    addCounter(names::jobTasksFailed, labelString({{u"job"_s, job}, {u"error_class"_s, errorClass}}), 1);
    addCumulative(u"batchdesk_tasks_failed_total"_s,
                  {{u"job"_s, job}, {u"priority"_s, priority}, {u"lane"_s, lane}, {u"error_class"_s, errorClass}},
                  1);
    if (f.deadLettered) {
        addCounter(names::tasksDead, labelString({{u"priority"_s, priority}, {u"lane"_s, lane}}), 1);
        addCounter(names::jobTasksDead, labelString({{u"job"_s, job}}), 1);
        addCumulative(u"batchdesk_tasks_dead_lettered_total"_s,
                      {{u"job"_s, job}, {u"priority"_s, priority}, {u"lane"_s, lane}}, 1);
    }
    if (f.httpStatus == 429 || f.error == ErrorClass::RateLimited
        || f.error == ErrorClass::QuotaExhausted) {
        addCounter(names::responses429, labelString({{u"lane"_s, lane}}), 1);
        addCumulative(u"batchdesk_rate_limited_responses_total"_s, {{u"job"_s, job}, {u"lane"_s, lane}}, 1);
    }
}

void MetricsRecorder::recordRateLimited(qint64 jobId, const QString &lane)
{
    rollIfDue();
    const QString laneText = lane.isEmpty() ? laneName(2, QString()) : lane;
    addCounter(names::responses429, labelString({{u"lane"_s, laneText}}), 1);
    addCumulative(u"batchdesk_rate_limited_responses_total"_s,
                  {{u"job"_s, QString::number(jobId)}, {u"lane"_s, laneText}}, 1);
}

void MetricsRecorder::recordBatch(const QString &lane, int size, int maxSize)
{
    if (size <= 0)
        return;
    rollIfDue();
    maxSize = qMax(size, maxSize);
    const QString laneText = lane.isEmpty() ? laneName(2, QString()) : lane;
    addCounter(names::batches, labelString({{u"lane"_s, laneText}}), 1);
    auto &fill = m_fill[laneText];
    fill.first += size;
    fill.second += maxSize;
    const QList<std::pair<QString, QString>> labels = {{u"lane"_s, laneText}};
    addCumulative(u"batchdesk_batches_dispatched_total"_s, labels, 1);
    addCumulative(u"batchdesk_batch_tasks_total"_s, labels, size);
    addCumulative(u"batchdesk_batch_capacity_total"_s, labels, maxSize);
}

void MetricsRecorder::recordTransition(qint64 jobId, int priority, const QString &lane,
                                       const TaskTransition &transition, qint64 waitMs)
{
    const TaskOutcome &outcome = transition.outcome;
    const qint64 runMs = outcome.startedAtMs > 0 && outcome.finishedAtMs >= outcome.startedAtMs
                             ? outcome.finishedAtMs - outcome.startedAtMs
                             : -1;
    switch (transition.action) {
    case OutcomeAction::Complete:
        recordCompletion(TaskCompletion{jobId, priority, lane, waitMs, runMs,
                                        outcome.costUsd.value_or(0.0), outcome.usage,
                                        outcome.cacheHit, outcome.realtimeCostUsd.value_or(-1.0)});
        break;
    case OutcomeAction::DeadLetter:
        recordFailure(TaskFailure{jobId, priority, lane, outcome.error, outcome.httpStatus, true});
        break;
    case OutcomeAction::Retry:
    case OutcomeAction::Release:
        recordFailure(TaskFailure{jobId, priority, lane, outcome.error, outcome.httpStatus, false});
        break;
    }
}

void MetricsRecorder::reportQueue(const JobQueueReport &report)
{
    rollIfDue();
    m_reports.insert(report.jobId, report);
}

void MetricsRecorder::forgetJob(qint64 jobId)
{
    foldCompletions();
    m_reports.remove(jobId);
    // Its per-job counters stop being written once this interval is out.
    const QString job = QString::number(jobId);
    for (auto it = m_knownCounters.begin(); it != m_knownCounters.end();) {
        if (labelValue(it->second, u"job"_s) == job)
            it = m_knownCounters.erase(it);
        else
            ++it;
    }
}

// ---------------------------------------------------------------- closing intervals

MetricSample MetricsRecorder::makeRow(const QString &metric, const QString &labels, qint64 atMs,
                                      qint64 resolutionMs, double value, qint64 count, double sum,
                                      double min, double max) const
{
    MetricSample row;
    row.metric = metric;
    row.labels = labels;
    row.atMs = atMs;
    row.resolutionMs = resolutionMs;
    row.value = value;
    row.count = count;
    row.sum = sum;
    row.min = min;
    row.max = max;
    return row;
}

QList<MetricSample> MetricsRecorder::closeFine(bool partial)
{
    foldCompletions();
    const qint64 start = m_fineStart;
    const qint64 res = m_options.intervalMs;
    const double seconds = double(res) / 1000.0;
    QList<MetricSample> rows;
    auto ratio = [&](const char *metric, const QString &labels, double numerator, double denominator) {
        const double value = numerator / denominator;
        rows.append(makeRow(QString::fromLatin1(metric), labels, start, res, value,
                            qint64(std::llround(denominator)), numerator, value, value));
    };

    // Counters, zero for series seen before but idle now, so charts and rules see the lull.
    for (const Key &key : std::as_const(m_knownCounters)) {
        const Acc acc = m_counters.value(key);
        const double rate = acc.sum / seconds;
        rows.append(makeRow(key.first, key.second, start, res, rate, acc.count, acc.sum, rate, rate));
    }

    // Ratios derived from this interval's counters.
    double completed = 0, failed = 0, cost = 0, input = 0, cached = 0, r429 = 0;
    QMap<QString, double> failedByClass;
    QMap<QString, std::pair<double, double>> costByLevel; // {priority, lane} -> (dollars, tasks)
    for (auto it = m_counters.cbegin(); it != m_counters.cend(); ++it) {
        const QString &metric = it.key().first;
        const double sum = it.value().sum;
        if (metric == QLatin1StringView(names::tasksCompleted)) {
            completed += sum;
            costByLevel[it.key().second].second += sum;
        } else if (metric == QLatin1StringView(names::tasksFailed)) {
            failed += sum;
            failedByClass[labelValue(it.key().second, u"error_class"_s)] += sum;
        } else if (metric == QLatin1StringView(names::costUsd)) {
            cost += sum;
            costByLevel[it.key().second].first += sum;
        } else if (metric == QLatin1StringView(names::tokensInput)) {
            input += sum;
        } else if (metric == QLatin1StringView(names::tokensCached)) {
            cached += sum;
        } else if (metric == QLatin1StringView(names::responses429)) {
            r429 += sum;
        }
    }
    const double attempts = completed + failed;
    if (attempts > 0) {
        ratio(names::errorRate, QString(), failed, attempts);
        for (auto it = failedByClass.cbegin(); it != failedByClass.cend(); ++it)
            ratio(names::errorRate, labelString({{u"error_class"_s, it.key()}}), it.value(), attempts);
    }
    if (attempts > 0 || r429 > 0)
        ratio(names::rate429, QString(), r429, qMax(attempts, r429));
    if (completed > 0) {
        ratio(names::costPerTask, QString(), cost, completed);
        for (auto it = costByLevel.cbegin(); it != costByLevel.cend(); ++it) {
            if (it->second > 0)
                ratio(names::costPerTask, it.key(), it->first, it->second);
        }
    }
    if (input + cached > 0)
        ratio(names::cacheHitRate, QString(), cached, input + cached);
    for (auto it = m_fill.cbegin(); it != m_fill.cend(); ++it) {
        if (it->second > 0)
            ratio(names::batchFillRate, labelString({{u"lane"_s, it.key()}}), double(it->first),
                  double(it->second));
    }

    // Latency per priority.
    for (auto it = m_latency.cbegin(); it != m_latency.cend(); ++it) {
        const QString labels = labelString({{u"priority"_s, priorityText(it.key())}});
        auto quantiles = [&](const LogHistogram &h, const char *p50, const char *p95, const char *mean) {
            if (!h.count())
                return;
            const auto n = qint64(h.count());
            rows.append(makeRow(QString::fromLatin1(p50), labels, start, res, h.quantile(0.5), n,
                                h.sum(), h.min(), h.max()));
            rows.append(makeRow(QString::fromLatin1(p95), labels, start, res, h.quantile(0.95), n,
                                h.sum(), h.min(), h.max()));
            rows.append(makeRow(QString::fromLatin1(mean), labels, start, res, h.mean(), n, h.sum(),
                                h.min(), h.max()));
        };
        quantiles(it->wait, names::waitMsP50, names::waitMsP95, names::waitMsMean);
        quantiles(it->run, names::runMsP50, names::runMsP95, names::runMsMean);
        LatencyPair &rollup = m_rollupLatency[it.key()];
        rollup.wait.merge(it->wait);
        rollup.run.merge(it->run);
    }

    // Levels, read at the end of the interval from the latest report of every job.
    const qint64 at = partial ? m_clock->nowMs() : start + res;
    QMap<QString, std::pair<qint64, qint64>> levels;
    QMap<int, qint64> ages;
    auto gauge = [&](const char *metric, const QString &labels, double value) {
        rows.append(makeRow(QString::fromLatin1(metric), labels, start, res, value, 1, value, value, value));
    };
    for (const JobQueueReport &report : std::as_const(m_reports)) {
        qint64 pending = 0, leased = 0;
        for (const QueueLevel &level : report.levels) {
            const QString lane = level.lane.isEmpty() ? laneName(level.priority, QString()) : level.lane;
            const QString pl = labelString({{u"priority"_s, priorityText(level.priority)}, {u"lane"_s, lane}});
            levels[pl].first += level.pending;
            levels[pl].second += level.leased;
            m_knownLevels.insert(pl);
            m_knownPriorities.insert(level.priority);
            qint64 &age = ages[level.priority];
            if (level.oldestPendingSinceMs > 0)
                age = qMax(age, at - level.oldestPendingSinceMs);
            pending += level.pending;
            leased += level.leased;
        }
        const QString jl = labelString({{u"job"_s, QString::number(report.jobId)}});
        gauge(names::jobQueuePending, jl, double(pending));
        gauge(names::jobQueueLeased, jl, double(leased));
        gauge(names::jobRunning, jl, report.running ? 1.0 : 0.0);
        if (report.running && report.concurrencyLimit > 0)
            gauge(names::jobConcurrencyLimit, jl, double(report.concurrencyLimit));
    }
    for (const QString &pl : std::as_const(m_knownLevels)) {
        const auto level = levels.value(pl);
        gauge(names::queuePending, pl, double(level.first));
        gauge(names::queueLeased, pl, double(level.second));
    }
    for (const int priority : std::as_const(m_knownPriorities)) {
        gauge(names::oldestPendingAgeMs, labelString({{u"priority"_s, priorityText(priority)}}),
              double(qMax<qint64>(0, ages.value(priority))));
    }

    std::sort(rows.begin(), rows.end(), [](const MetricSample &a, const MetricSample &b) {
        return a.metric != b.metric ? a.metric < b.metric : a.labels < b.labels;
    });
    m_counters.clear();
    m_latency.clear();
    m_fill.clear();
    return rows;
}

void MetricsRecorder::foldIntoRollup(const QList<MetricSample> &rows)
{
    for (const MetricSample &row : rows) {
        if (metricKind(row.metric) == MetricKind::Quantile)
            continue; // from the rollup histograms instead
        Acc &acc = m_rollup[Key{row.metric, row.labels}];
        acc.sum += row.sum;
        acc.count += row.count;
        acc.min = acc.any ? qMin(acc.min, row.min) : row.min;
        acc.max = acc.any ? qMax(acc.max, row.max) : row.max;
        acc.any = true;
    }
}

void MetricsRecorder::closeRollup()
{
    const qint64 start = m_rollupStart;
    const qint64 res = m_options.rollupMs;
    QList<MetricSample> rows;
    for (auto it = m_rollup.cbegin(); it != m_rollup.cend(); ++it) {
        const Acc &acc = it.value();
        double value = 0.0;
        switch (metricKind(it.key().first)) {
        case MetricKind::Counter:
            value = acc.sum * 1000.0 / double(res);
            break;
        case MetricKind::Gauge:
        case MetricKind::Ratio:
        case MetricKind::Quantile:
            value = acc.count > 0 ? acc.sum / double(acc.count) : 0.0;
            break;
        }
        rows.append(makeRow(it.key().first, it.key().second, start, res, value, acc.count, acc.sum,
                            acc.min, acc.max));
    }
    for (auto it = m_rollupLatency.cbegin(); it != m_rollupLatency.cend(); ++it) {
        const QString labels = labelString({{u"priority"_s, priorityText(it.key())}});
        auto quantiles = [&](const LogHistogram &h, const char *p50, const char *p95) {
            if (!h.count())
                return;
            const auto n = qint64(h.count());
            rows.append(makeRow(QString::fromLatin1(p50), labels, start, res, h.quantile(0.5), n,
                                h.sum(), h.min(), h.max()));
            rows.append(makeRow(QString::fromLatin1(p95), labels, start, res, h.quantile(0.95), n,
                                h.sum(), h.min(), h.max()));
        };
        quantiles(it->wait, names::waitMsP50, names::waitMsP95);
        quantiles(it->run, names::runMsP50, names::runMsP95);
    }
    std::sort(rows.begin(), rows.end(), [](const MetricSample &a, const MetricSample &b) {
        return a.metric != b.metric ? a.metric < b.metric : a.labels < b.labels;
    });
    m_rollup.clear();
    m_rollupLatency.clear();
    write(rows);
    if (!rows.isEmpty())
        Q_EMIT rollupClosed(rows);
}

void MetricsRecorder::write(const QList<MetricSample> &rows)
{
    if (!m_sink || rows.isEmpty())
        return;
    if (!m_sink->writeSamples(rows))
        Q_EMIT writeFailed(m_sink->errorString());
}

void MetricsRecorder::prune(qint64 nowMs)
{
    if (!m_sink)
        return;
    if (!m_sink->prune(m_options.intervalMs, nowMs - m_options.fineRetentionMs)
        || !m_sink->prune(m_options.rollupMs, nowMs - m_options.coarseRetentionMs))
        Q_EMIT writeFailed(m_sink->errorString());
}

void MetricsRecorder::tick()
{
    if (m_closing)
        return;
    const qint64 now = m_clock->nowMs();
    if (m_fineStart < 0) {
        ensureOpen(now);
        return;
    }
    if (now < m_fineStart + m_options.intervalMs)
        return;
    m_closing = true;
    const QList<MetricSample> rows = closeFine(false);
    write(rows);
    m_lastInterval = rows;
    foldIntoRollup(rows);
    // A long pause (suspend, no engine) leaves a gap: no made-up samples for it.
    const qint64 next = alignDown(now, m_options.intervalMs);
    const qint64 nextRollup = alignDown(next, m_options.rollupMs);
    if (nextRollup != m_rollupStart) {
        closeRollup();
        m_rollupStart = nextRollup;
        // Retention once per rollup: two range deletes on the age index, each interval's
        // write stays one transaction.
        prune(now);
    }
    m_fineStart = next;
    m_closing = false;
    Q_EMIT intervalClosed(rows);
}

void MetricsRecorder::flush()
{
    if (m_fineStart < 0 || m_closing)
        return;
    m_closing = true;
    const QList<MetricSample> rows = closeFine(true);
    write(rows);
    foldIntoRollup(rows);
    closeRollup();
    m_fineStart = -1;
    m_rollupStart = -1;
    m_closing = false;
}

// ---------------------------------------------------------------- /metrics

void MetricsRecorder::addTo(Exposition &out)
{
    foldCompletions();
    for (const FamilyInfo &info : kCounterFamilies) {
        const QString name = QString::fromLatin1(info.name);
        const auto family = m_cumulative.constFind(name);
        if (family == m_cumulative.cend() || family->isEmpty())
            continue;
        out.family(name, info.type, QString::fromLatin1(info.help));
        for (const CumulativeCounter &counter : *family)
            out.sample(counter.labels, counter.value);
    }

    const qint64 now = m_clock->nowMs();
    if (!m_reports.isEmpty()) {
        QMap<int, qint64> ages;
        out.family(u"batchdesk_queue_pending_tasks"_s, Exposition::Type::Gauge,
                   u"Tasks waiting to be sent."_s);
        for (const JobQueueReport &report : m_reports) {
            for (const QueueLevel &level : report.levels) {
                const QString lane = level.lane.isEmpty() ? laneName(level.priority, QString()) : level.lane;
                out.sample({{u"job"_s, QString::number(report.jobId)},
                            {u"priority"_s, priorityText(level.priority)}, {u"lane"_s, lane}},
                           double(level.pending));
                qint64 &age = ages[level.priority];
                if (level.oldestPendingSinceMs > 0)
                    age = qMax(age, now - level.oldestPendingSinceMs);
            }
        }
        out.family(u"batchdesk_queue_leased_tasks"_s, Exposition::Type::Gauge,
                   u"Tasks leased by a worker (in flight or about to be)."_s);
        for (const JobQueueReport &report : m_reports) {
            for (const QueueLevel &level : report.levels) {
                const QString lane = level.lane.isEmpty() ? laneName(level.priority, QString()) : level.lane;
                out.sample({{u"job"_s, QString::number(report.jobId)},
                            {u"priority"_s, priorityText(level.priority)}, {u"lane"_s, lane}},
                           double(level.leased));
            }
        }
        out.family(u"batchdesk_job_running"_s, Exposition::Type::Gauge,
                   u"1 while this engine dispatches the job."_s);
        for (const JobQueueReport &report : m_reports)
            out.sample({{u"job"_s, QString::number(report.jobId)}}, report.running ? 1 : 0);
        auto concurrency = [&](const QString &name, const QString &help, int JobQueueReport::*figure) {
            out.family(name, Exposition::Type::Gauge, help);
            for (const JobQueueReport &report : m_reports) {
                if (report.running && report.*figure > 0)
                    out.sample({{u"job"_s, QString::number(report.jobId)}}, double(report.*figure));
            }
        };
        concurrency(u"batchdesk_job_concurrency_limit"_s,
                    u"Requests the job may have in flight now, adapted to 429s, overloads and latency."_s,
                    &JobQueueReport::concurrencyLimit);
        concurrency(u"batchdesk_job_concurrency_ceiling"_s,
                    u"The job's configured concurrency: the most the adapted limit reaches."_s,
                    &JobQueueReport::concurrencyCeiling);
        out.family(u"batchdesk_oldest_pending_age_seconds"_s, Exposition::Type::Gauge,
                   u"Age of the longest-waiting pending task."_s);
        for (auto it = ages.cbegin(); it != ages.cend(); ++it)
            out.sample({{u"priority"_s, priorityText(it.key())}}, double(qMax<qint64>(0, it.value())) / 1000.0);
    }

    auto histogram = [&](const QString &name, const QString &help, bool wait) {
        if (m_cumulativeLatency.isEmpty())
            return;
        out.family(name, Exposition::Type::Histogram, help);
        for (auto it = m_cumulativeLatency.cbegin(); it != m_cumulativeLatency.cend(); ++it) {
            const CumulativeHistogram &h = wait ? it->first : it->second;
            const QString priority = priorityText(it.key());
            quint64 cumulative = 0;
            for (int i = 0; i < kLeBuckets; ++i) {
                cumulative += h.buckets[size_t(i)];
                out.sample(name + u"_bucket"_s,
                           {{u"priority"_s, priority}, {u"le"_s, Exposition::formatValue(kLeBounds[i])}},
                           double(cumulative));
            }
            out.sample(name + u"_bucket"_s, {{u"priority"_s, priority}, {u"le"_s, u"+Inf"_s}}, double(h.count));
            out.sample(name + u"_sum"_s, {{u"priority"_s, priority}}, h.sum);
            out.sample(name + u"_count"_s, {{u"priority"_s, priority}}, double(h.count));
        }
    };
    histogram(u"batchdesk_task_wait_seconds"_s,
              u"Time from queued (or eligible again) to sent, for answered tasks."_s, true);
    histogram(u"batchdesk_task_run_seconds"_s, u"Time from sent to answered."_s, false);
}

} // namespace bd::metrics
