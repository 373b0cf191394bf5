// The metrics recorder and its storage: percentiles from the log histogram within the
// stated error, per-interval aggregates from incremental events, rollups, the retention
// policy after simulated days and weeks (fake clock, real SQLite file), chart reads that
// pick the right resolution, merges of re-written intervals, the text exposition format and
// the index-only oldest-pending probe.

#include "core/clock.h"
#include "metrics/exposition.h"
#include "metrics/loghistogram.h"
#include "metrics/metricsrecorder.h"
#include "metrics/metricssink.h"
#include "store/sql/sqlmetricsstore.h"
#include "store/sql/sqlqueueprobe.h"
#include "store/sqlite/sqlitestore.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <QRandomGenerator>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using namespace bd::metrics;

namespace {

constexpr qint64 kT0 = 1'700'000'400'000; // a multiple of 5 min
constexpr qint64 kSecond = 1000;
constexpr qint64 kMinute = 60 * kSecond;
constexpr qint64 kHour = 60 * kMinute;
constexpr qint64 kDay = 24 * kHour;

// A metrics store over the SQLite test store's connection.
bd::store::SqlMetricsStore sqliteMetricsOver(bd::store::SqliteStore &store, const bd::Clock *clock,
                                             const MetricsRecorder::Options &options = {})
{
    return {store.connection()->db(), bd::store::SqlDialect::Sqlite, store.connection(), clock,
            options};
}

class MemorySink final : public MetricsSink
{
public:
    bool writeSamples(const QList<MetricSample> &samples) override
    {
        written += samples;
        ++writes;
        return true;
    }
    bool prune(qint64 resolutionMs, qint64 beforeMs) override
    {
        prunes.append({resolutionMs, beforeMs});
        return true;
    }
    QString errorString() const override { return {}; }

    QList<MetricSample> written;
    QList<std::pair<qint64, qint64>> prunes;
    int writes = 0;
};

const MetricSample *find(const QList<MetricSample> &rows, const char *metric, const QString &labels = {})
{
    for (const MetricSample &row : rows) {
        if (row.metric == QLatin1StringView(metric) && row.labels == labels)
            return &row;
    }
    return nullptr;
}

// The row, or a failure naming the missing one (and a NaN row, so the comparison fails too).
const MetricSample &get(const QList<MetricSample> &rows, const char *metric, const QString &labels = {})
{
    if (const MetricSample *row = find(rows, metric, labels))
        return *row;
    static MetricSample missing;
    missing.value = missing.sum = missing.min = missing.max = std::nan("");
    QTest::qFail(qPrintable(u"no row %1{%2}"_s.arg(QLatin1StringView(metric), labels)), __FILE__, __LINE__);
    return missing;
}

double exactQuantile(QList<double> values, double q)
{
    std::sort(values.begin(), values.end());
    const auto rank = qMax<qsizetype>(1, qsizetype(std::ceil(q * double(values.size()))));
    return values.at(rank - 1);
}

bd::Usage usage(qint64 in, qint64 out, qint64 cached)
{
    bd::Usage u;
    u.inputTokens = in;
    u.outputTokens = out;
    u.cachedTokens = cached;
    return u;
}

// A recorder ticked by hand on a fake clock; closeInterval() ends the open interval.
struct ManualRecorder
{
    static MetricsRecorder::Options manual()
    {
        MetricsRecorder::Options options;
        options.autoTick = false;
        return options;
    }
    ManualRecorder() { recorder.tick(); }
    QList<MetricSample> closeInterval()
    {
        clock.advance(options.intervalMs);
        recorder.tick();
        return recorder.lastInterval();
    }
    bd::FakeClock clock{kT0};
    MemorySink sink;
    MetricsRecorder::Options options = manual();
    MetricsRecorder recorder{&clock, &sink, options};
};

} // namespace

class TestMetricsRecorder : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void histogramPercentilesWithinStatedError_data();
    void histogramPercentilesWithinStatedError();
    void histogramMergesExactly();
    void bucketsOfWholeValuesAreTheFormulas();
    void labelsAreCanonical();
    void expositionFormat();

    void intervalAggregates();
    void fillRateIsPerLaneBesideAFiftyThousandLineBatch();
    void adaptedConcurrencyIsAGaugePerRunningJob();
    void idleCountersWriteZeros();
    void rollupsAreExact();
    void lateEventClosesOnTheNextTurn();
    void transitionsMapToEvents();
    void optionsFromJson();

    void retentionKeepsTheRightRowsOverDays();
    void seriesPicksResolution();
    void rewrittenIntervalsMerge();
    void flushThenRestartMergesTheInterval();
    void queueProbeSeeksTheWaitingIndex();

private:
    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<bd::store::SqliteStore> m_store;
    QString connection() const { return m_store->connectionName(); }
    void openStore();
};

void TestMetricsRecorder::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

void TestMetricsRecorder::cleanup()
{
    m_store.reset();
    m_dir.reset();
}

void TestMetricsRecorder::openStore()
{
    m_store = std::make_unique<bd::store::SqliteStore>(m_dir->filePath(u"queue.db"_s));
    QVERIFY2(m_store->isOpen(), qPrintable(m_store->errorString()));
}

// ---- histogram --------------------------------------------------------------------------

void TestMetricsRecorder::histogramPercentilesWithinStatedError_data()
{
    QTest::addColumn<QString>("distribution");
    QTest::newRow("log-normal latencies") << u"lognormal"_s;
    QTest::newRow("uniform 1..60000 ms") << u"uniform"_s;
    QTest::newRow("bimodal fast and slow") << u"bimodal"_s;
    QTest::newRow("constant") << u"constant"_s;
}

void TestMetricsRecorder::histogramPercentilesWithinStatedError()
{
    QFETCH(QString, distribution);
    QRandomGenerator random(42);
    QList<double> values;
    LogHistogram histogram;
    for (int i = 0; i < 100'000; ++i) {
        double v = 0;
        if (distribution == u"lognormal"_s) {
            // Box-Muller: median e^6.5 (~665 ms), wide tail.
            const double u1 = qMax(1e-12, random.generateDouble());
            const double u2 = random.generateDouble();
            v = std::exp(6.5 + 1.2 * std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * M_PI * u2));
        } else if (distribution == u"uniform"_s) {
            v = 1.0 + random.bounded(60'000.0);
        } else if (distribution == u"bimodal"_s) {
            v = random.bounded(10) < 9 ? 20.0 + random.bounded(30.0) : 30'000.0 + random.bounded(5'000.0);
        } else {
            v = 1234.0;
        }
        values.append(v);
        histogram.add(v);
    }
    QCOMPARE(histogram.count(), quint64(values.size()));
    for (const double q : {0.5, 0.9, 0.95, 0.99}) {
        const double exact = exactQuantile(values, q);
        const double estimate = histogram.quantile(q);
        const double error = std::abs(estimate - exact) / exact;
        QVERIFY2(error <= LogHistogram::kRelativeError,
                 qPrintable(u"q%1: estimate %2, exact %3, error %4"_s.arg(q).arg(estimate).arg(exact).arg(error)));
    }
    QCOMPARE(histogram.quantile(0.0), histogram.min());
    QCOMPARE(histogram.quantile(1.0), histogram.max());
    // Bounded: the same few kilobytes for a hundred thousand observations as for one.
    QVERIFY(sizeof(LogHistogram) < 2400);
}

// Whole values below a few thousand take their bucket from a table; it must be the bucket
// the formula gives, next to values just off a whole number and past the table.
void TestMetricsRecorder::bucketsOfWholeValuesAreTheFormulas()
{
    const auto formula = [](double value) {
        if (!(value >= 1.0))
            return 0;
        const int index =
            1 + int(std::floor(std::log2(value) * LogHistogram::kSubBuckets));
        return qBound(1, index, LogHistogram::kBuckets - 1);
    };
    for (int whole = 0; whole <= 10'000; ++whole) {
        for (const double value : {double(whole), std::nextafter(double(whole), 0.0),
                                   std::nextafter(double(whole), 1e9), whole + 0.5}) {
            QVERIFY2(LogHistogram::bucketOf(value) == formula(value),
                     qPrintable(QString::number(value, 'g', 17)));
        }
    }
    QCOMPARE(LogHistogram::bucketOf(-1.0), 0);
    QCOMPARE(LogHistogram::bucketOf(std::nan("")), 0);
    QCOMPARE(LogHistogram::bucketOf(1e300), LogHistogram::kBuckets - 1);
}

void TestMetricsRecorder::histogramMergesExactly()
{
    LogHistogram a, b, all;
    for (int i = 0; i < 1000; ++i) {
        const double v = 0.5 + i * 3.7;
        (i % 3 ? a : b).add(v);
        all.add(v);
    }
    a.merge(b);
    QCOMPARE(a.count(), all.count());
    QCOMPARE(a.sum(), all.sum());
    QCOMPARE(a.min(), all.min());
    QCOMPARE(a.max(), all.max());
    for (const double q : {0.1, 0.5, 0.95, 0.999})
        QCOMPARE(a.quantile(q), all.quantile(q));
    // Below 1 ms: absolute error under 1.
    LogHistogram small;
    small.add(0.2);
    small.add(0.4);
    QVERIFY(std::abs(small.quantile(0.5) - 0.2) < 1.0);
    QCOMPARE(LogHistogram().quantile(0.5), 0.0);
}

void TestMetricsRecorder::labelsAreCanonical()
{
    QCOMPARE(labelString({{u"priority"_s, u"1"_s}, {u"lane"_s, u"realtime"_s}}), u"lane=realtime,priority=1"_s);
    QCOMPARE(labelString({{u"lane"_s, u"a,b=c"_s}}), u"lane=a_b_c"_s);
    QCOMPARE(labelString({}), QString());
    QCOMPARE(labelValue(u"error_class=timeout,lane=sync,priority=2"_s, u"lane"_s), u"sync"_s);
    QCOMPARE(labelValue(u"job=12,jobx=3"_s, u"job"_s), u"12"_s);
    QCOMPARE(labelValue(u"jobx=3"_s, u"job"_s), QString());
    const auto map = parseLabels(u"job=7,error_class=quota_exhausted"_s);
    QCOMPARE(map.value(u"job"_s), u"7"_s);
    QCOMPARE(map.value(u"error_class"_s), u"quota_exhausted"_s);
}

void TestMetricsRecorder::expositionFormat()
{
    Exposition e;
    e.family(u"x_total"_s, Exposition::Type::Counter, u"Help with \\ and\nnewline."_s);
    e.sample({{u"a"_s, u"q\"uo\\te\nd"_s}}, 3);
    e.family(u"y"_s, Exposition::Type::Gauge, u"A gauge."_s);
    e.sample({}, 0.25);
    e.family(u"x_total"_s, Exposition::Type::Counter, u"ignored"_s); // appends to the first
    e.sample({{u"a"_s, u"b"_s}}, 1e20);
    const QByteArray expected = "# HELP x_total Help with \\\\ and\\nnewline.\n"
                                "# TYPE x_total counter\n"
                                "x_total{a=\"q\\\"uo\\\\te\\nd\"} 3\n"
                                "x_total{a=\"b\"} 1e+20\n"
                                "# HELP y A gauge.\n"
                                "# TYPE y gauge\n"
                                "y 0.25\n";
    QCOMPARE(e.text(), expected);
    QCOMPARE(Exposition::formatValue(std::numeric_limits<double>::infinity()), u"+Inf"_s);
    QCOMPARE(Exposition::formatValue(std::nan("")), u"NaN"_s);
    QCOMPARE(Exposition::formatValue(0.1), u"0.1"_s);
}

// ---- recorder ---------------------------------------------------------------------------

void TestMetricsRecorder::fillRateIsPerLaneBesideAFiftyThousandLineBatch()
{
    // Issue #12 §4: one fill line weighted by capacity read near 0 % as soon as a provider
    // batch of up to 50,000 lines existed. Each lane has its own: grouped calls 80 of 100,
    // the batch API one full batch of 50,000 and one of 500 (of 50,000 too).
    ManualRecorder manual;
    for (int i = 0; i < 10; ++i)
        manual.recorder.recordBatch(u"sync"_s, 80, 100);
    manual.recorder.recordBatch(u"batch"_s, 50'000, 50'000);
    manual.recorder.recordBatch(u"batch"_s, 500, 50'000);
    const QList<MetricSample> rows = manual.closeInterval();
    QCOMPARE(get(rows, names::batchFillRate, u"lane=sync"_s).value, 0.8);
    QCOMPARE(get(rows, names::batchFillRate, u"lane=batch"_s).value, 50'500.0 / 100'000.0);
    // The savings panel's average batch per lane: tasks over batches against capacity.
    QCOMPARE(get(rows, names::batches, u"lane=batch"_s).sum, 2.0);
    QCOMPARE(get(rows, names::batchFillRate, u"lane=batch"_s).sum, 50'500.0);
    QCOMPARE(get(rows, names::batchFillRate, u"lane=sync"_s).sum, 800.0);
    QVERIFY(!find(rows, names::batchFillRate)); // no line across lanes
}

void TestMetricsRecorder::adaptedConcurrencyIsAGaugePerRunningJob()
{
    // Issue #12 §1: the adapted concurrency is in the metrics (and so in `status --json`'s
    // concurrency_limit, read from this series) while the job runs, and only then.
    ManualRecorder manual;
    JobQueueReport running{5, true, {{2, u"sync"_s, 100, 4, kT0}}};
    running.concurrencyLimit = 4;
    running.concurrencyCeiling = 16;
    manual.recorder.reportQueue(running);
    manual.recorder.reportQueue(JobQueueReport{6, false, {{2, u"sync"_s, 10, 0, kT0}}});
    const QList<MetricSample> rows = manual.closeInterval();
    QCOMPARE(get(rows, names::jobConcurrencyLimit, u"job=5"_s).value, 4.0);
    QVERIFY(!find(rows, names::jobConcurrencyLimit, u"job=6"_s));
    Exposition exposition; // /metrics
    manual.recorder.addTo(exposition);
    QVERIFY(exposition.text().contains("batchdesk_job_concurrency_limit{job=\"5\"} 4\n"));
}

void TestMetricsRecorder::intervalAggregates()
{
    qRegisterMetaType<QList<MetricSample>>();
    bd::FakeClock clock(kT0);
    MemorySink sink;
    MetricsRecorder::Options options;
    options.autoTick = false;
    MetricsRecorder recorder(&clock, &sink, options);
    QSignalSpy closed(&recorder, &MetricsRecorder::intervalClosed);
    recorder.tick();
    QCOMPARE(recorder.openIntervalStartMs(), kT0);

    // 40 answered p2 tasks with waits 100..4000 ms, 10 failures, 2 of them 429s, one dead.
    QList<double> waits;
    for (int i = 1; i <= 40; ++i) {
        TaskCompletion c;
        c.jobId = 3;
        c.priority = 2;
        c.waitMs = i * 100;
        c.runMs = 500 + i;
        c.costUsd = 0.002;
        c.usage = usage(100, 20, 300);
        c.cacheHit = i <= 4;
        recorder.recordCompletion(c);
        waits.append(double(c.waitMs));
    }
    for (int i = 0; i < 10; ++i) {
        TaskFailure f;
        f.jobId = 3;
        f.priority = 2;
        f.error = i < 2 ? bd::ErrorClass::RateLimited : bd::ErrorClass::ServerError;
        f.httpStatus = i < 2 ? 429 : 502;
        f.deadLettered = i == 9;
        recorder.recordFailure(f);
    }
    recorder.recordFailure(TaskFailure{3, 2, {}, bd::ErrorClass::Cancelled, 0, false}); // not a failure
    recorder.recordBatch(u"sync"_s, 16, 32);
    recorder.recordBatch(u"sync"_s, 32, 32);
    recorder.reportQueue(JobQueueReport{3, true, {{2, u"sync"_s, 500, 16, kT0 - 90 * kSecond}}});
    recorder.reportQueue(JobQueueReport{4, false, {{1, u"realtime"_s, 7, 0, kT0 - 2 * kMinute}, {2, u"sync"_s, 100, 0, kT0 - 10 * kMinute}}});

    clock.advance(9 * kSecond);
    recorder.tick();
    QCOMPARE(closed.size(), 0);
    clock.advance(1 * kSecond);
    recorder.tick();
    QCOMPARE(closed.size(), 1);
    const auto rows = closed.at(0).at(0).value<QList<MetricSample>>();
    QCOMPARE(sink.written, rows);
    for (const MetricSample &row : rows) {
        QCOMPARE(row.atMs, kT0);
        QCOMPARE(row.resolutionMs, 10 * kSecond);
    }
    const QString p2 = u"lane=sync,priority=2"_s;
    const MetricSample *completed = find(rows, names::tasksCompleted, p2);
    QVERIFY(completed);
    QCOMPARE(completed->sum, 40.0);
    QCOMPARE(completed->value, 4.0); // per second
    QCOMPARE(get(rows, names::tasksFailed, u"error_class=server_error,"_s + p2).sum, 8.0);
    QCOMPARE(get(rows, names::tasksFailed, u"error_class=rate_limited,"_s + p2).sum, 2.0);
    QCOMPARE(get(rows, names::tasksDead, p2).sum, 1.0);
    QCOMPARE(get(rows, names::responses429, u"lane=sync"_s).sum, 2.0);
    QCOMPARE(get(rows, names::jobTasksCompleted, u"job=3"_s).sum, 40.0);
    QCOMPARE(get(rows, names::jobTasksFailed, u"error_class=server_error,job=3"_s).sum, 8.0);
    QVERIFY(qFuzzyCompare(get(rows, names::costUsd, p2).sum, 0.08));
    QCOMPARE(get(rows, names::tokensCached, p2).sum, 12000.0);
    QCOMPARE(get(rows, names::responseCacheHits, p2).sum, 4.0);

    QVERIFY(qFuzzyCompare(get(rows, names::errorRate).value, 10.0 / 50.0));
    QCOMPARE(get(rows, names::errorRate).count, 50);
    QVERIFY(qFuzzyCompare(get(rows, names::errorRate, u"error_class=server_error"_s).value, 8.0 / 50.0));
    QVERIFY(qFuzzyCompare(get(rows, names::rate429).value, 2.0 / 50.0));
    QVERIFY(qFuzzyCompare(get(rows, names::costPerTask).value, 0.002));
    QVERIFY(qFuzzyCompare(get(rows, names::costPerTask, p2).value, 0.002));
    QVERIFY(qFuzzyCompare(get(rows, names::cacheHitRate).value, 300.0 / 400.0));
    QVERIFY(qFuzzyCompare(get(rows, names::batchFillRate, u"lane=sync"_s).value, 48.0 / 64.0));

    const MetricSample *p50 = find(rows, names::waitMsP50, u"priority=2"_s);
    QVERIFY(p50);
    const MetricSample *p95 = find(rows, names::waitMsP95, u"priority=2"_s);
    QVERIFY(p95);
    QVERIFY(p50 && p95);
    QVERIFY(std::abs(p50->value - exactQuantile(waits, 0.5)) / exactQuantile(waits, 0.5) <= LogHistogram::kRelativeError);
    QVERIFY(std::abs(p95->value - exactQuantile(waits, 0.95)) / exactQuantile(waits, 0.95) <= LogHistogram::kRelativeError);
    QCOMPARE(p95->count, 40);
    QCOMPARE(p95->min, 100.0);
    QCOMPARE(p95->max, 4000.0);
    QCOMPARE(get(rows, names::waitMsMean, u"priority=2"_s).value, 2050.0);
    QCOMPARE(get(rows, names::runMsMean, u"priority=2"_s).value, 520.5);

    // Levels: summed over jobs per (priority, lane), oldest age per priority at the end of
    // the interval, and per job.
    QCOMPARE(get(rows, names::queuePending, p2).value, 600.0);
    QCOMPARE(get(rows, names::queueLeased, p2).value, 16.0);
    QCOMPARE(get(rows, names::queuePending, u"lane=realtime,priority=1"_s).value, 7.0);
    QCOMPARE(get(rows, names::oldestPendingAgeMs, u"priority=2"_s).value, double(10 * kMinute + 10 * kSecond));
    QCOMPARE(get(rows, names::oldestPendingAgeMs, u"priority=1"_s).value, double(2 * kMinute + 10 * kSecond));
    QCOMPARE(get(rows, names::jobQueuePending, u"job=4"_s).value, 107.0);
    QCOMPARE(get(rows, names::jobRunning, u"job=3"_s).value, 1.0);
    QCOMPARE(get(rows, names::jobRunning, u"job=4"_s).value, 0.0);
}

void TestMetricsRecorder::idleCountersWriteZeros()
{
    bd::FakeClock clock(kT0);
    MemorySink sink;
    MetricsRecorder::Options options;
    options.autoTick = false;
    MetricsRecorder recorder(&clock, &sink, options);
    recorder.recordCompletion(TaskCompletion{1, 2, {}, 10, 10, 0.0, {}, false});
    clock.advance(10 * kSecond);
    recorder.tick();
    sink.written.clear();
    clock.advance(10 * kSecond);
    recorder.tick();
    const MetricSample *zero = find(sink.written, names::tasksCompleted, u"lane=sync,priority=2"_s);
    QVERIFY(zero);
    QCOMPARE(zero->sum, 0.0);
    QCOMPARE(zero->atMs, kT0 + 10 * kSecond);
    QVERIFY(!find(sink.written, names::errorRate)); // no calls: no rate at all
    QVERIFY(!find(sink.written, names::waitMsP50, u"priority=2"_s));

    // A forgotten job stops being written.
    recorder.forgetJob(1);
    sink.written.clear();
    clock.advance(10 * kSecond);
    recorder.tick();
    QVERIFY(!find(sink.written, names::jobTasksCompleted, u"job=1"_s));
    QVERIFY(find(sink.written, names::tasksCompleted, u"lane=sync,priority=2"_s));

    // A pause longer than an interval leaves a gap instead of made-up samples.
    sink.written.clear();
    clock.advance(95 * kSecond);
    recorder.tick();
    QCOMPARE(get(sink.written, names::tasksCompleted, u"lane=sync,priority=2"_s).atMs, kT0 + 30 * kSecond);
    QCOMPARE(recorder.openIntervalStartMs(), kT0 + 120 * kSecond);
}

void TestMetricsRecorder::rollupsAreExact()
{
    qRegisterMetaType<QList<MetricSample>>();
    bd::FakeClock clock(kT0);
    MemorySink sink;
    MetricsRecorder::Options options;
    options.autoTick = false;
    MetricsRecorder recorder(&clock, &sink, options);
    QSignalSpy rolled(&recorder, &MetricsRecorder::rollupClosed);
    recorder.tick();
    QList<double> runs;
    double depthSum = 0;
    for (int step = 0; step < 30; ++step) { // 5 minutes
        for (int i = 0; i < step % 4; ++i) {
            const qint64 run = 100 + step * 37 + i * 1000;
            recorder.recordCompletion(TaskCompletion{1, 1, {}, 5, run, 0.01, usage(10, 1, 0), false});
            runs.append(double(run));
        }
        recorder.reportQueue(JobQueueReport{1, true, {{1, {}, step * 10, 0, 0}}});
        depthSum += step * 10;
        clock.advance(10 * kSecond);
        recorder.tick();
    }
    QCOMPARE(rolled.size(), 1);
    const auto rows = rolled.at(0).at(0).value<QList<MetricSample>>();
    for (const MetricSample &row : rows) {
        QCOMPARE(row.atMs, kT0);
        QCOMPARE(row.resolutionMs, 5 * kMinute);
    }
    const QString p1 = u"lane=realtime,priority=1"_s;
    QCOMPARE(get(rows, names::tasksCompleted, p1).sum, double(runs.size()));
    QVERIFY(qFuzzyCompare(get(rows, names::tasksCompleted, p1).value, double(runs.size()) / 300.0));
    QVERIFY(qFuzzyCompare(get(rows, names::costPerTask).value, 0.01));
    const MetricSample *depth = find(rows, names::queuePending, p1);
    QVERIFY(depth);
    QCOMPARE(depth->count, 30);
    QVERIFY(qFuzzyCompare(depth->value, depthSum / 30.0));
    QCOMPARE(depth->min, 0.0);
    QCOMPARE(depth->max, 290.0);
    // Coarse percentiles from the merged histograms: as exact as the fine ones.
    const MetricSample *p95 = find(rows, names::runMsP95, u"priority=1"_s);
    QVERIFY(p95);
    QCOMPARE(p95->count, qint64(runs.size()));
    QVERIFY(std::abs(p95->value - exactQuantile(runs, 0.95)) / exactQuantile(runs, 0.95) <= LogHistogram::kRelativeError);
    QVERIFY(qFuzzyCompare(get(rows, names::runMsMean, u"priority=1"_s).value,
                          std::accumulate(runs.cbegin(), runs.cend(), 0.0) / double(runs.size())));
    // Retention was applied after the rollup.
    QVERIFY(sink.prunes.contains(std::pair<qint64, qint64>(5 * kMinute, clock.nowMs() - 30 * kDay)));
    QVERIFY(sink.prunes.contains(std::pair<qint64, qint64>(10 * kSecond, clock.nowMs() - kDay)));
}

void TestMetricsRecorder::lateEventClosesOnTheNextTurn()
{
    qRegisterMetaType<QList<MetricSample>>();
    bd::FakeClock clock(kT0);
    MetricsRecorder::Options options;
    options.autoTick = false;
    MetricsRecorder recorder(&clock, nullptr, options);
    QSignalSpy closed(&recorder, &MetricsRecorder::intervalClosed);
    recorder.tick();
    clock.advance(10 * kSecond);
    // The interval is over but nobody ticked: the event still counts in it, and the close
    // comes from the event loop, not from inside the record call.
    recorder.recordCompletion(TaskCompletion{1, 2, {}, 10, 10, 0.0, {}, false});
    recorder.recordCompletion(TaskCompletion{1, 2, {}, 10, 10, 0.0, {}, false});
    QCOMPARE(closed.size(), 0);
    QVERIFY(closed.wait(1000));
    QCOMPARE(closed.size(), 1);
    const auto rows = closed.at(0).at(0).value<QList<MetricSample>>();
    QCOMPARE(get(rows, names::tasksCompleted, u"lane=sync,priority=2"_s).sum, 2.0);
    QCOMPARE(recorder.openIntervalStartMs(), kT0 + 10 * kSecond);
}

void TestMetricsRecorder::transitionsMapToEvents()
{
    bd::FakeClock clock(kT0);
    MemorySink sink;
    MetricsRecorder::Options options;
    options.autoTick = false;
    MetricsRecorder recorder(&clock, &sink, options);
    auto transition = [](bd::OutcomeAction action, bd::ErrorClass error, int status) {
        bd::TaskTransition t;
        t.action = action;
        t.outcome.error = error;
        t.outcome.httpStatus = status;
        t.outcome.startedAtMs = kT0;
        t.outcome.finishedAtMs = kT0 + 750;
        t.outcome.costUsd = 0.5;
        return t;
    };
    recorder.recordTransition(2, 3, u"batch"_s, transition(bd::OutcomeAction::Complete, bd::ErrorClass::None, 200), 60'000);
    recorder.recordTransition(2, 3, u"batch"_s, transition(bd::OutcomeAction::Retry, bd::ErrorClass::Timeout, 0), 0);
    recorder.recordTransition(2, 3, u"batch"_s, transition(bd::OutcomeAction::Release, bd::ErrorClass::RateLimited, 429), 0);
    recorder.recordTransition(2, 3, u"batch"_s, transition(bd::OutcomeAction::Release, bd::ErrorClass::Cancelled, 0), 0);
    recorder.recordTransition(2, 3, u"batch"_s, transition(bd::OutcomeAction::DeadLetter, bd::ErrorClass::InvalidRequest, 400), 0);
    clock.advance(10 * kSecond);
    recorder.tick();
    const QString l = u"lane=batch,priority=3"_s;
    QCOMPARE(get(sink.written, names::tasksCompleted, l).sum, 1.0);
    QCOMPARE(get(sink.written, names::costUsd, l).sum, 0.5);
    QCOMPARE(get(sink.written, names::tasksFailed, u"error_class=timeout,"_s + l).sum, 1.0);
    QCOMPARE(get(sink.written, names::tasksFailed, u"error_class=rate_limited,"_s + l).sum, 1.0);
    QCOMPARE(get(sink.written, names::tasksFailed, u"error_class=invalid_request,"_s + l).sum, 1.0);
    QVERIFY(!find(sink.written, names::tasksFailed, u"error_class=cancelled,"_s + l));
    QCOMPARE(get(sink.written, names::tasksDead, l).sum, 1.0);
    QCOMPARE(get(sink.written, names::responses429, u"lane=batch"_s).sum, 1.0);
    QCOMPARE(get(sink.written, names::runMsP50, u"priority=3"_s).value, 750.0);
    QCOMPARE(get(sink.written, names::waitMsP50, u"priority=3"_s).value, 60'000.0);
    QCOMPARE(laneName(1, u"auto"_s), u"realtime"_s);
    QCOMPARE(laneName(2, u"auto"_s), u"sync"_s);
    QCOMPARE(laneName(2, u"batch-api"_s), u"batch"_s);
}

void TestMetricsRecorder::optionsFromJson()
{
    const auto o = MetricsRecorder::Options::fromJson(QJsonObject{
        {u"interval_s"_s, 15}, {u"rollup_s"_s, 100}, {u"fine_retention_h"_s, 6}, {u"coarse_retention_d"_s, 7}});
    QCOMPARE(o.intervalMs, 15 * kSecond);
    QCOMPARE(o.rollupMs, 105 * kSecond); // a multiple of the interval
    QCOMPARE(o.fineRetentionMs, 6 * kHour);
    QCOMPARE(o.coarseRetentionMs, 7 * kDay);
    const auto d = MetricsRecorder::Options::fromJson({});
    QCOMPARE(d.intervalMs, 10 * kSecond);
    QCOMPARE(d.rollupMs, 5 * kMinute);
    QCOMPARE(d.fineRetentionMs, kDay);
    QCOMPARE(d.coarseRetentionMs, 30 * kDay);
}

// ---- storage ----------------------------------------------------------------------------

void TestMetricsRecorder::retentionKeepsTheRightRowsOverDays()
{
    openStore();
    bd::FakeClock clock(kT0);
    // The default resolutions (10 s, 5 min) with retentions of 6 hours and 7 days, so the
    // simulation stays short: a week and a day of engine time.
    MetricsRecorder::Options options;
    options.autoTick = false;
    options.fineRetentionMs = 6 * kHour;
    options.coarseRetentionMs = 7 * kDay;
    bd::store::SqlMetricsStore store(sqliteMetricsOver(*m_store, &clock, options));
    MetricsRecorder recorder(&clock, &store, options);
    QSignalSpy failures(&recorder, &MetricsRecorder::writeFailed);
    recorder.tick();

    // 7 hours at the fine interval: one task answered and one queue reading per interval.
    const qint64 end1 = kT0 + 7 * kHour;
    while (clock.nowMs() < end1) {
        recorder.recordCompletion(TaskCompletion{1, 2, {}, 100, 200, 0.001, usage(10, 5, 0), false});
        recorder.reportQueue(JobQueueReport{1, true, {{2, {}, 50, 2, clock.nowMs() - kMinute}}});
        clock.advance(10 * kSecond);
        recorder.tick();
    }
    QCOMPARE(failures.size(), 0);
    // Fine: exactly the last 6 hours (2160 ten-second samples per series). Coarse: every
    // 5-minute rollup since the start (7 x 12).
    QCOMPARE(store.sampleCount(10 * kSecond, QString::fromLatin1(names::tasksCompleted)), 6 * 360);
    QCOMPARE(store.sampleCount(10 * kSecond, QString::fromLatin1(names::queuePending)), 6 * 360);
    QCOMPARE(store.sampleCount(5 * kMinute, QString::fromLatin1(names::tasksCompleted)), 7 * 12);
    QCOMPARE(store.sampleCount(5 * kMinute, QString::fromLatin1(names::waitMsP95)), 7 * 12);

    // Then eight days more, sampled every 5 minutes (the engine running all along, tasks
    // trickling): coarse keeps exactly 7 days, fine the last 6 hours.
    const qint64 end2 = clock.nowMs() + 8 * kDay;
    while (clock.nowMs() < end2) {
        recorder.recordCompletion(TaskCompletion{1, 2, {}, 100, 200, 0.001, usage(10, 5, 0), false});
        clock.advance(5 * kMinute);
        recorder.tick();
    }
    QCOMPARE(failures.size(), 0);
    QCOMPARE(store.sampleCount(5 * kMinute, QString::fromLatin1(names::tasksCompleted)), 7 * 288);
    QCOMPARE(store.sampleCount(10 * kSecond, QString::fromLatin1(names::tasksCompleted)), 6 * 12);
    // Nothing older than the coarse retention anywhere.
    QSqlQuery query(QSqlDatabase::database(connection()));
    QVERIFY(query.exec(u"SELECT MIN(at_ms) FROM metric_samples"_s) && query.next());
    QVERIFY(query.value(0).toLongLong() >= clock.nowMs() - 7 * kDay);
}

void TestMetricsRecorder::seriesPicksResolution()
{
    openStore();
    bd::FakeClock clock(kT0);
    MetricsRecorder::Options options;
    options.autoTick = false;
    bd::store::SqlMetricsStore store(sqliteMetricsOver(*m_store, &clock, options));
    // Three days as the recorder leaves them: 5-minute rollups throughout, ten-second
    // samples for the last day (the fine retention). One task per 10 s the first two days,
    // two the last; the queue depth is the hour number.
    const QString p2 = u"lane=sync,priority=2"_s;
    QList<MetricSample> rows;
    auto add = [&rows, &p2](const char *metric, qint64 at, qint64 res, double value, qint64 n, double sum) {
        MetricSample row;
        row.metric = QString::fromLatin1(metric);
        row.labels = p2;
        row.atMs = at;
        row.resolutionMs = res;
        row.value = value;
        row.count = n;
        row.sum = sum;
        row.min = row.max = value;
        rows.append(row);
    };
    for (qint64 at = kT0; at < kT0 + 3 * kDay; at += 5 * kMinute) {
        const double rate = at < kT0 + 2 * kDay ? 0.1 : 0.2;
        add(names::tasksCompleted, at, 5 * kMinute, rate, qint64(rate * 300), rate * 300);
        const double hour = double((at - kT0) / kHour);
        add(names::queuePending, at, 5 * kMinute, hour, 30, hour * 30);
    }
    for (qint64 at = kT0 + 2 * kDay; at < kT0 + 3 * kDay; at += 10 * kSecond)
        add(names::tasksCompleted, at, 10 * kSecond, 0.2, 2, 2);
    QVERIFY2(store.writeSamples(rows), qPrintable(store.errorString()));
    clock.set(kT0 + 3 * kDay);

    const QString metric = QString::fromLatin1(names::tasksCompleted);
    QCOMPARE(store.labelSets(metric), QStringList{p2});

    // Last hour, 60 points: fine samples, one-minute buckets, the rate in tasks/s.
    const qint64 now = clock.nowMs();
    SeriesData lastHour = store.series(metric, p2, now - kHour, now, 60);
    QCOMPARE(lastHour.resolutionMs, 10 * kSecond);
    QCOMPARE(lastHour.bucketMs, kMinute);
    QCOMPARE(lastHour.points.size(), 60);
    for (const MetricPoint &p : std::as_const(lastHour.points))
        QVERIFY2(qFuzzyCompare(p.value, 0.2), qPrintable(QString::number(p.value)));
    // Last hour at full resolution.
    QCOMPARE(store.series(metric, p2, now - kHour, now, 1000).points.size(), 360);

    // Last week, 200 points: older than the fine retention, so the rollups, bucketed.
    SeriesData week = store.series(metric, p2, now - 7 * kDay, now, 200);
    QCOMPARE(week.resolutionMs, 5 * kMinute);
    QVERIFY(week.points.size() <= 200);
    QCOMPARE(week.bucketMs % (5 * kMinute), 0);
    QVERIFY(qFuzzyCompare(week.points.constFirst().value, 0.1));
    QVERIFY(qFuzzyCompare(week.points.constLast().value, 0.2));
    // Gauges average by weight and keep their extremes.
    SeriesData depth = store.series(QString::fromLatin1(names::queuePending), p2, kT0, kT0 + 2 * kHour, 1);
    QCOMPARE(depth.bucketMs, 2 * kHour);
    QCOMPARE(depth.points.size(), 1);
    QCOMPARE(depth.points.at(0).value, 0.5);
    QCOMPARE(depth.points.at(0).count, 720); // the ten-second readings behind it
    QCOMPARE(depth.points.at(0).min, 0.0);
    QCOMPARE(depth.points.at(0).max, 1.0);
    // Unknown series: empty, not an error.
    QVERIFY(store.series(metric, u"lane=nope"_s, now - kHour, now, 10).points.isEmpty());
}

void TestMetricsRecorder::rewrittenIntervalsMerge()
{
    openStore();
    bd::FakeClock clock(kT0);
    bd::store::SqlMetricsStore store(sqliteMetricsOver(*m_store, &clock));
    auto row = [](const char *metric, double value, qint64 n, double sum, double lo, double hi) {
        MetricSample s;
        s.metric = QString::fromLatin1(metric);
        s.labels = u"lane=sync,priority=2"_s;
        s.atMs = kT0;
        s.resolutionMs = 10 * kSecond;
        s.value = value;
        s.count = n;
        s.sum = sum;
        s.min = lo;
        s.max = hi;
        return s;
    };
    QVERIFY(store.writeSamples({row(names::tasksCompleted, 0.3, 3, 3, 0.3, 0.3),
                                row(names::queuePending, 10, 1, 10, 10, 10),
                                row(names::waitMsP95, 900, 5, 2000, 100, 1000)}));
    QVERIFY2(store.writeSamples({row(names::tasksCompleted, 0.5, 5, 5, 0.5, 0.5),
                                 row(names::queuePending, 30, 1, 30, 30, 30),
                                 row(names::waitMsP95, 700, 5, 1500, 50, 800)}),
             qPrintable(store.errorString()));
    const QStringList metrics{QString::fromLatin1(names::tasksCompleted), QString::fromLatin1(names::queuePending),
                              QString::fromLatin1(names::waitMsP95)};
    const QList<MetricSample> stored = store.samples(metrics, 10 * kSecond, kT0, kT0 + 1);
    QCOMPARE(stored.size(), 3);
    const MetricSample *completed = find(stored, names::tasksCompleted, u"lane=sync,priority=2"_s);
    QVERIFY(completed);
    QCOMPARE(completed->sum, 8.0);
    QCOMPARE(completed->value, 0.8); // counters add, rate from the sum
    const MetricSample *depth = find(stored, names::queuePending, u"lane=sync,priority=2"_s);
    QVERIFY(depth);
    QCOMPARE(depth->value, 20.0); // gauges: mean of the readings
    QCOMPARE(depth->min, 10.0);
    QCOMPARE(depth->max, 30.0);
    const MetricSample *p95 = find(stored, names::waitMsP95, u"lane=sync,priority=2"_s);
    QVERIFY(p95);
    QCOMPARE(p95->value, 900.0); // quantiles: the larger
    QCOMPARE(p95->count, 10);
}

void TestMetricsRecorder::flushThenRestartMergesTheInterval()
{
    openStore();
    bd::FakeClock clock(kT0);
    MetricsRecorder::Options options;
    options.autoTick = false;
    bd::store::SqlMetricsStore store(sqliteMetricsOver(*m_store, &clock, options));
    {
        MetricsRecorder first(&clock, &store, options);
        first.tick();
        for (int i = 0; i < 3; ++i)
            first.recordCompletion(TaskCompletion{1, 2, {}, 10, 10, 0.0, {}, false});
        clock.advance(4 * kSecond);
        first.flush(); // shutting down mid-interval
    }
    MetricsRecorder second(&clock, &store, options);
    second.tick();
    for (int i = 0; i < 2; ++i)
        second.recordCompletion(TaskCompletion{1, 2, {}, 10, 10, 0.0, {}, false});
    clock.advance(6 * kSecond);
    second.tick();
    const QList<MetricSample> fine = store.samples({QString::fromLatin1(names::tasksCompleted)}, 10 * kSecond, kT0, kT0 + kMinute);
    QCOMPARE(fine.size(), 1);
    QCOMPARE(fine.at(0).sum, 5.0);
    QCOMPARE(fine.at(0).value, 0.5);
    // The half-finished rollup was written too and will merge with the rest.
    const QList<MetricSample> coarse = store.samples({QString::fromLatin1(names::tasksCompleted)}, 5 * kMinute, kT0, kT0 + kMinute);
    QCOMPARE(coarse.size(), 1);
    QCOMPARE(coarse.at(0).sum, 3.0);
}

void TestMetricsRecorder::queueProbeSeeksTheWaitingIndex()
{
    openStore();
    bd::JobSpec spec;
    spec.sourcePath = u"/data/a.csv"_s;
    spec.sourceSha256 = QByteArray("ab").repeated(32);
    spec.templateText = u"{{x}}"_s;
    spec.model = u"sim-1"_s;
    const qint64 job = m_store->createJob(spec, {u"x"_s}, kT0);
    QVERIFY(job > 0);
    QVERIFY(m_store->appendTasks(job, 1, {{u"a"_s}, {u"b"_s}}, 2, kT0 + 1000));
    QVERIFY(m_store->appendTasks(job, 3, {{u"c"_s}}, 1, kT0 + 5000));
    QVERIFY(m_store->setJobState(job, bd::JobState::Running, {}, kT0));

    bd::store::SqlQueueProbe probe(m_store->connection()->db(), bd::store::SqlDialect::Sqlite,
                                   m_store->connection());
    const QMap<int, qint64> oldest = probe.oldestPendingSince(job);
    QVERIFY2(probe.errorString().isEmpty(), qPrintable(probe.errorString()));
    QCOMPARE(oldest.value(2), kT0 + 1000);
    QCOMPARE(oldest.value(1), kT0 + 5000);
    QVERIFY(!oldest.contains(3));

    // One index seek per priority, never a scan of the task table.
    QSqlQuery plan(QSqlDatabase::database(connection()));
    QVERIFY(plan.prepare(u"EXPLAIN QUERY PLAN "_s +
                         bd::store::SqlQueueProbe::statement(bd::store::SqlDialect::Sqlite)));
    for (int side = 0; side < 2; ++side) {
        plan.addBindValue(job);
        plan.addBindValue(2);
    }
    QVERIFY(plan.exec());
    QString text;
    while (plan.next())
        text += plan.value(3).toString() + u'\n';
    // Tasks pending since their import: the first by id of the claim index; tasks pending
    // again (retries, hand-backs, replays): the first of tasks_requeued.
    QVERIFY2(text.contains(u"USING INDEX tasks_claim (job_id=? AND priority=?)"_s),
             qPrintable(text));
    QVERIFY2(text.contains(u"USING INDEX tasks_requeued (job_id=? AND priority=?)"_s),
             qPrintable(text));
    // (The two answers are rows of a constant compound, which the plan calls scans.)
    QVERIFY2(!text.contains(u"SCAN tasks"_s), qPrintable(text));
    QVERIFY2(!text.contains(u"TEMP B-TREE"_s), qPrintable(text));
}

QTEST_GUILESS_MAIN(TestMetricsRecorder)
#include "test_metrics_recorder.moc"
