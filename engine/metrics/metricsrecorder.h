#pragma once

#include "core/tasktypes.h"
#include "metrics/loghistogram.h"
#include "api/metrictypes.h"

#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QObject>
#include <QSet>
#include <QTimer>

#include <array>

namespace bd {
class Clock;
}

namespace bd::metrics {

class Exposition;
class MetricsSink;

// One task answered and stored.
struct TaskCompletion
{
    qint64 jobId = 0;
    int priority = 2;
    QString lane;        // empty: the priority's default lane (see laneName())
    qint64 waitMs = -1;  // queued (or eligible again) until sent; < 0: unknown
    qint64 runMs = -1;   // sent until answered; < 0: unknown
    double costUsd = 0.0;
    Usage usage;
    bool cacheHit = false; // answered from the response cache
    // The same answer at the realtime (list) price; < 0: as costUsd (not sent at a discount).
    double realtimeCostUsd = -1.0;
};

// One provider call that did not produce an answer. Cancelled and None are not failures
// and are ignored.
struct TaskFailure
{
    qint64 jobId = 0;
    int priority = 2;
    QString lane;
    ErrorClass error = ErrorClass::ServerError;
    int httpStatus = 0;
    bool deadLettered = false; // the task went to the DLQ (else it will be tried again)
};

// What one job has waiting, per priority, as the caller already knows it (runner counts,
// snapshot counts). oldestPendingSinceMs: when the longest-waiting pending task of that
// priority was queued (0: none or unknown; a level may carry only that, with no counts);
// see QueueProbe for an index-only way to find it.
struct QueueLevel
{
    int priority = 2;
    QString lane;
    qint64 pending = 0;
    qint64 leased = 0;
    qint64 oldestPendingSinceMs = 0;
};

struct JobQueueReport
{
    qint64 jobId = 0;
    bool running = false; // dispatched by this engine now
    QList<QueueLevel> levels;
    // While running: requests allowed in flight now, and the configured ceiling of that.
    int concurrencyLimit = 0;
    int concurrencyCeiling = 0;
};

// The lane a job's tasks travel in: "batch" for the provider batch API, "realtime" for
// priority 1, "sync" otherwise.
QString laneName(int priority, const QString &mode);

// Receives engine events one by one on the engine thread (construct it there: its timer
// belongs to the thread that creates it) and keeps per-interval aggregates
// in bounded memory: counters and sums per label set, and a LogHistogram per priority for
// wait and run latency. Nothing here reads the task table.
//
// Every `intervalMs` (aligned to the epoch, so two processes agree on the boundaries) the
// open interval is closed into MetricSample rows at that resolution, handed to the sink and
// emitted as intervalClosed(). The closed rows are also folded into a coarse accumulator
// (plus coarse histograms, so coarse percentiles are exact too) that is written every
// `rollupMs`. After each rollup the sink prunes fine rows older than fineRetentionMs and
// coarse rows older than coarseRetentionMs (so fine rows outlive their retention by less
// than one rollup). Downsampling is therefore incremental: no job
// ever re-reads the fine rows to build the coarse ones.
//
// Besides the per-interval samples it keeps cumulative totals since start (counters by
// job, priority, lane and error class; latency histograms) for the /metrics endpoint.
class MetricsRecorder final : public QObject
{
    Q_OBJECT

public:
    struct Options
    {
        qint64 intervalMs = 10'000;                      // fine samples
        qint64 rollupMs = 300'000;                       // coarse samples (multiple of intervalMs)
        qint64 fineRetentionMs = 24LL * 3600 * 1000;     // keep fine samples this long
        qint64 coarseRetentionMs = 30LL * 24 * 3600 * 1000;
        bool autoTick = true; // a timer closes intervals; off: the caller calls tick()

        // Keys: interval_s, rollup_s, fine_retention_h, coarse_retention_d. Bad values
        // fall back to the defaults; rollup is rounded to a multiple of the interval.
        static Options fromJson(const QJsonObject &json);
        QJsonObject toJson() const;
        Options normalized() const;
    };

    // sink may be null (nothing is stored; samples are still emitted). Neither pointer is
    // owned; both must outlive the recorder or be detached with setSink(nullptr).
    MetricsRecorder(const Clock *clock, MetricsSink *sink, const Options &options,
                    QObject *parent = nullptr);
    ~MetricsRecorder() override;

    const Options &options() const { return m_options; }
    void setSink(MetricsSink *sink) { m_sink = sink; }

    // ---- events (cheap: a few hash updates each)
    void recordCompletion(const TaskCompletion &completion);
    void recordFailure(const TaskFailure &failure);
    // A 429 that is not a task outcome (say, a provider batch submission was refused).
    void recordRateLimited(qint64 jobId, const QString &lane);
    // One batch sent: how many tasks went and how many it could have held.
    void recordBatch(const QString &lane, int size, int maxSize);
    // Adapter for the dispatcher: one stored outcome, as JobRunner::handleReply decides it.
    // waitMs: from queued / eligible to sent, or -1.
    void recordTransition(qint64 jobId, int priority, const QString &lane,
                          const TaskTransition &transition, qint64 waitMs);

    // ---- levels: the latest report per job counts; a job no longer reported keeps its
    // last report until forgotten.
    void reportQueue(const JobQueueReport &report);
    void forgetJob(qint64 jobId);

    // Closes the interval if it has ended by clock->nowMs() (a gap of several intervals
    // leaves no samples for them). Called by the timer; a record call that finds the
    // interval over queues a call, so events land at most one event-loop turn late.
    void tick();
    // Writes the open fine interval and the open rollup as they are (before shutdown);
    // the rest of those intervals, recorded later, merges with them in the sink.
    void flush();

    // Cumulative counters, live queue gauges and latency histograms, for /metrics.
    void addTo(Exposition &exposition);

    QList<MetricSample> lastInterval() const { return m_lastInterval; }
    qint64 openIntervalStartMs() const { return m_fineStart; }

Q_SIGNALS:
    // Fine samples of the interval that just closed (the rules evaluate these; charts append).
    void intervalClosed(const QList<bd::metrics::MetricSample> &samples);
    void rollupClosed(const QList<bd::metrics::MetricSample> &samples);
    void writeFailed(const QString &error);

private:
    using Key = std::pair<QString, QString>; // metric, labels
    struct Acc
    {
        double sum = 0.0;
        qint64 count = 0;
        double min = 0.0;
        double max = 0.0;
        bool any = false;
    };
    struct LatencyPair
    {
        LogHistogram wait;
        LogHistogram run;
    };
    static constexpr int kLeBuckets = 17; // finite upper bounds; +Inf is the count
    struct CumulativeHistogram
    {
        std::array<quint64, kLeBuckets> buckets{};
        double sum = 0.0;
        quint64 count = 0;
        void add(double seconds);
    };
    struct CumulativeCounter
    {
        QList<std::pair<QString, QString>> labels; // in display order
        double value = 0.0;
    };

    // Completions of one job, priority and lane since the last fold: a drain records one
    // per task, and summing them here first spares each task about twenty hash and map
    // updates with their label strings. Folded before anything reads the counters.
    struct CompletionShape
    {
        qint64 jobId = 0;
        int priority = 2;
        QString lane;
        friend bool operator==(const CompletionShape &, const CompletionShape &) = default;
        friend size_t qHash(const CompletionShape &shape, size_t seed = 0)
        {
            return qHashMulti(seed, shape.jobId, shape.priority, shape.lane);
        }
    };
    struct CompletionSums
    {
        qint64 tasks = 0;
        qint64 cacheHits = 0;
        double costUsd = 0.0;
        double costUsdAtRealtime = 0.0;
        double inputTokens = 0.0;
        double outputTokens = 0.0;
        double cachedTokens = 0.0;
    };
    void foldCompletions();
    QHash<CompletionShape, CompletionSums> m_unfolded;

    void ensureOpen(qint64 nowMs);
    void rollIfDue();
    void addCounter(const char *metric, const QString &labels, double amount, qint64 events = 1);
    void addCumulative(const QString &family, const QList<std::pair<QString, QString>> &labels,
                       double amount);
    void addCumulative(const QString &family, const QList<std::pair<QString, QString>> &labels,
                       const QString &key, double amount);
    QList<MetricSample> closeFine(bool partial);
    void foldIntoRollup(const QList<MetricSample> &rows);
    void closeRollup();
    void write(const QList<MetricSample> &rows);
    void prune(qint64 nowMs);
    MetricSample makeRow(const QString &metric, const QString &labels, qint64 atMs,
                         qint64 resolutionMs, double value, qint64 count, double sum, double min,
                         double max) const;

    const Clock *m_clock;
    MetricsSink *m_sink;
    Options m_options;
    QTimer m_timer;

    qint64 m_fineStart = -1;
    qint64 m_rollupStart = -1;

    // fine interval
    QHash<Key, Acc> m_counters;
    QSet<Key> m_knownCounters; // written every interval, zero when idle
    QSet<QString> m_knownLevels;   // {priority, lane} label sets reported so far
    QSet<int> m_knownPriorities;
    QMap<int, LatencyPair> m_latency;
    QHash<QString, std::pair<qint64, qint64>> m_fill; // lane -> (tasks, capacity)

    // open rollup
    QHash<Key, Acc> m_rollup;
    QMap<int, LatencyPair> m_rollupLatency;

    // levels
    QMap<qint64, JobQueueReport> m_reports;

    // since start, for /metrics
    QMap<QString, QMap<QString, CumulativeCounter>> m_cumulative; // family -> labels -> value
    QMap<int, std::pair<CumulativeHistogram, CumulativeHistogram>> m_cumulativeLatency;

    QList<MetricSample> m_lastInterval;
    bool m_closing = false;
    bool m_tickQueued = false;
};

} // namespace bd::metrics
