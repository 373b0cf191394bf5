// The batch-API lane of JobRunner, on a real SQLite store and the simulator's batch API,
// with a fake clock for the provider's turnaround.

#include "api/metrictypes.h"
#include "core/clock.h"
#include "cost/pricetable.h"
#include "dispatch/jobrunner.h"
#include "ingest/exportwriter.h"
#include "ingest/prompttemplate.h"
#include "metrics/metricsrecorder.h"
#include "providers/simulatorprovider.h"
#include "store/sql/sqltaskactions.h"
#include "store/sqlite/sqlitestore.h"

#include <QJsonArray>
#include <QSignalSpy>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::JobState;
using bd::dispatch::JobRunner;

namespace {

const QString kTemplate = u"Label this: {{text}}"_s;

class Harness
{
public:
    explicit Harness(int rows, const QJsonObject &settings = {},
                     const QString &mode = u"batch-api"_s, int priority = 3)
    {
        m_store = std::make_unique<bd::store::SqliteStore>(m_dir.filePath(u"lane.sqlite"_s));
        bd::JobSpec spec;
        spec.sourcePath = u"rows.csv"_s;
        spec.sourceSha256 = "00";
        spec.templateText = kTemplate;
        spec.model = u"sim-1"_s;
        spec.priority = priority;
        spec.mode = mode;
        spec.maxRetries = 2;
        spec.settings = settings;
        m_jobId = m_store->createJob(spec, {u"text"_s}, clock.nowMs());
        QList<QStringList> values;
        for (int i = 0; i < rows; ++i) {
            const QString text =
                i % 50 == 7 ? u"row %1 [[sim:invalid]]"_s.arg(i) : u"row %1"_s.arg(i);
            values.append({text});
            m_texts.append(text);
        }
        m_store->appendTasks(m_jobId, 1, values, priority, clock.nowMs());
        m_store->setJobState(m_jobId, JobState::Paused, QString(), clock.nowMs());
    }

    std::unique_ptr<JobRunner> makeRunner(int maxBatchSize, int concurrency = 16,
                                          qint64 simBatchMs = 60'000)
    {
        JobRunner::Options options;
        options.concurrency = concurrency;
        options.maxBatchSize = maxBatchSize;
        options.maxConcurrentBatches = 2;
        options.batchPollFirstMs = 5;
        options.idlePollMs = 5;
        options.flushIntervalMs = 5;
        bd::ProviderConfig config;
        config.settings = QJsonObject{{u"sim_batch_ms"_s, simBatchMs}};
        auto provider = std::make_unique<bd::providers::SimulatorProvider>(config, &clock);
        return std::make_unique<JobRunner>(m_store.get(), std::move(provider),
                                           *m_store->job(m_jobId), bd::cost::PriceTable::builtIn(),
                                           &clock, u"lanehost:1:%1"_s.arg(++s_instance), options);
    }

    QString expected(int row) const
    {
        bd::ingest::PromptTemplate prompt(kTemplate);
        QString error;
        prompt.bind({u"text"_s}, &error);
        return bd::providers::SimulatorProvider::answerFor(QString(),
                                                           prompt.render({m_texts.at(row)}));
    }

    // Puts the first n tasks out of reach for an hour (a retry waiting in the store), so the
    // job has work pending that cannot join a batch now.
    void parkFirst(int n)
    {
        QList<bd::ClaimedTask> claimed;
        const qint64 now = clock.nowMs();
        QVERIFY(m_store->claimTasks(m_jobId, u"parker"_s, n, now, now + 60'000, &claimed));
        QList<bd::TaskTransition> retries;
        for (const bd::ClaimedTask &task : std::as_const(claimed)) {
            bd::TaskTransition retry = bd::releaseUnsent(task.id, now + 3'600'000);
            retries.append(retry);
        }
        QVERIFY(m_store->applyTransitions(u"parker"_s, retries, now));
    }

    // Moves the job as the engine does (store action, then the runner's lane).
    int reprioritise(JobRunner &runner, int priority, const QString &mode)
    {
        bd::store::SqlTaskActions actions(m_store->connection()->db(),
                                          bd::store::SqlDialect::Sqlite, m_store->connection());
        const int changed = actions.reprioritiseJob(m_jobId, priority, mode, clock.nowMs());
        runner.setLane(priority, mode);
        return changed;
    }

    // Settled tasks by the lane that answered them ("batch-api", "sync").
    QMap<QString, qint64> tasksByLane()
    {
        QMap<QString, qint64> byLane;
        for (const bd::store::CostLine &line : m_store->costLines(m_jobId))
            byLane[line.lane] += line.tasks;
        return byLane;
    }

    QList<qint64> pendingTaskIds()
    {
        QList<qint64> ids;
        QSqlQuery query(m_store->connection()->db());
        query.prepare(u"SELECT id FROM tasks WHERE job_id = ? AND state = 0 ORDER BY id"_s);
        query.addBindValue(m_jobId);
        if (query.exec()) {
            while (query.next())
                ids.append(query.value(0).toLongLong());
        }
        return ids;
    }

    // A recorder ticked by hand; fillByLane() ends its interval and reads the fill rates.
    bd::metrics::MetricsRecorder &metrics()
    {
        if (!m_metrics) {
            bd::metrics::MetricsRecorder::Options options;
            options.autoTick = false;
            m_metrics = std::make_unique<bd::metrics::MetricsRecorder>(&clock, nullptr, options);
        }
        return *m_metrics;
    }
    QHash<QString, double> fillByLane()
    {
        clock.advance(bd::metrics::MetricsRecorder::Options().intervalMs);
        metrics().tick();
        QHash<QString, double> fill;
        for (const bd::metrics::MetricSample &sample : metrics().lastInterval()) {
            if (sample.metric == QLatin1StringView(bd::metrics::names::batchFillRate))
                fill.insert(sample.labels, sample.value);
        }
        return fill;
    }

    bd::store::SqliteStore &store() { return *m_store; }
    qint64 jobId() const { return m_jobId; }
    bd::FakeClock clock;

private:
    static inline int s_instance = 0;
    QTemporaryDir m_dir;
    std::unique_ptr<bd::store::SqliteStore> m_store;
    std::unique_ptr<bd::metrics::MetricsRecorder> m_metrics;
    qint64 m_jobId = 0;
    QStringList m_texts;
};

} // namespace

class TestBatchLane : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void everyRowOnceAtTheBatchPrice();
    void restartPollsInsteadOfResubmitting();
    void groupedLaneAdaptsGroupSize();
    void cancellingTheJobCancelsItsBatches();
    void jobSettingsSetBatchesOpenAtOnce();
    void batchesOpenAtOnceChangeWhileRunning();
    void jobSettingsSetGroupSizesAndDepths();
    void providerThatKeepsCancellingEndsInTheDeadLetterQueue();
    void groupClosesWhenFull();
    void groupClosesAtItsMaximumWait();
    void providerBatchClosesAtItsMaximumWait();
    void raisedJobSendsItsPendingTasksAsSyncCalls();
    void loweredJobJoinsTheBatchLane();
    void tasksRaisedOnTheirOwnGoAsSyncCallsAtOnce();
    void tasksLoweredOnTheirOwnJoinTheBatchLane();
    void loweredTasksWaitingForTheBatchLaneBlockNoSyncTask();
};

void TestBatchLane::raisedJobSendsItsPendingTasksAsSyncCalls()
{
    // 200 tasks in two provider batches (the most open at once), 100 waiting for a slot.
    // Raised to priority 1, the 100 go at once as sync calls; the two batches finish at the
    // provider, at the batch price.
    Harness h(300);
    auto runner = h.makeRunner(100);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    runner->start();
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2);
    QCOMPARE(h.store().taskCounts(h.jobId()).pending, qint64(100));
    QVERIFY(runner->isBatchLane());

    QCOMPARE(h.reprioritise(*runner, 1, u"realtime"_s), 300); // the batches' tasks too
    QCOMPARE(runner->priority(), 1);
    QVERIFY(!runner->isBatchLane());
    QTRY_COMPARE(h.store().taskCounts(h.jobId()).pending, qint64(0));
    QTRY_COMPARE(h.store().taskCounts(h.jobId()).leased, qint64(200)); // inside the batches
    QCOMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2);
    QCOMPARE(h.tasksByLane().value(u"sync"_s), qint64(98)); // two of the 100 are invalid: dead
    QCOMPARE(h.store().job(h.jobId())->spec.mode, u"realtime"_s);

    h.clock.advance(60'000);
    QTRY_COMPARE(finished.count(), 1);
    QCOMPARE(finished.at(0).at(1).value<JobState>(), JobState::Finished);
    const QMap<QString, qint64> byLane = h.tasksByLane();
    QCOMPARE(byLane.value(u"batch-api"_s), qint64(196));
    QCOMPARE(byLane.value(u"sync"_s), qint64(98));
    QCOMPARE(h.store().batches(h.jobId(), {u"ended"_s}).size(), 2);
}

void TestBatchLane::loweredJobJoinsTheBatchLane()
{
    // A job of grouped sync calls: 50 tasks go, 150 wait for a retry an hour away. Lowered to
    // priority 3, the 150 go out as provider batches when they come due, not as sync calls.
    Harness h(200, {{u"group_sizes"_s, QJsonArray{25, 25, 25}}}, u"grouped"_s);
    h.parkFirst(150);
    auto runner = h.makeRunner(100, 8);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    runner->start();
    QTRY_COMPARE(h.store().taskCounts(h.jobId()).completed + h.store().taskCounts(h.jobId()).dead,
                 qint64(50));
    QVERIFY(!runner->isBatchLane());

    h.reprioritise(*runner, 3, u"batch-api"_s);
    QVERIFY(runner->isBatchLane());
    h.clock.advance(3'600'000);
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2);
    QCOMPARE(h.store().taskCounts(h.jobId()).leased, qint64(150));
    h.clock.advance(60'000);
    QTRY_COMPARE(finished.count(), 1);
    const QMap<QString, qint64> byLane = h.tasksByLane();
    QCOMPARE(byLane.value(u"sync"_s), qint64(49));       // rows 150..199 but the invalid 157
    QCOMPARE(byLane.value(u"batch-api"_s), qint64(147)); // rows 0..149 but 7, 57 and 107
    QCOMPARE(h.store().batches(h.jobId(), {u"ended"_s}).size(), 2);
}

void TestBatchLane::tasksRaisedOnTheirOwnGoAsSyncCallsAtOnce()
{
    // Every provider batch slot is taken; five of the 100 waiting tasks are raised to
    // priority 1 on their own: they go as sync calls at once, the rest keep waiting.
    Harness h(300);
    auto runner = h.makeRunner(100);
    runner->start();
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2);
    const QList<qint64> waiting = h.pendingTaskIds();
    QCOMPARE(waiting.size(), 100);
    const QList<qint64> raised = waiting.mid(10, 5); // rows 210..214, all valid
    bd::store::SqlTaskActions actions(h.store().connection()->db(), bd::store::SqlDialect::Sqlite,
                                      h.store().connection());
    QCOMPARE(actions.reprioritiseTasks(raised, 1), 5);
    runner->handBackUnsent();
    QTRY_COMPARE(h.store().taskCounts(h.jobId()).completed, qint64(5));
    QCOMPARE(h.tasksByLane().value(u"sync"_s), qint64(5));
    QCOMPARE(h.store().taskCounts(h.jobId()).pending, qint64(95));
    QVERIFY(runner->isBatchLane());
    runner->stop(JobState::Paused, u"test over"_s, true);
}

void TestBatchLane::tasksLoweredOnTheirOwnJoinTheBatchLane()
{
    // A priority-2 job of grouped sync calls: 50 tasks go, 150 wait for a retry an hour
    // away. 60 of those are lowered to priority 3 on their own while it runs: when they come
    // due they go out as one provider batch, the other 90 as sync calls.
    Harness h(200, {{u"group_sizes"_s, QJsonArray{25, 25, 25}}}, u"grouped"_s, 2);
    h.parkFirst(150);
    auto runner = h.makeRunner(100, 8);
    runner->setMetrics(&h.metrics());
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    runner->start();
    QTRY_COMPARE(h.store().taskCounts(h.jobId()).completed + h.store().taskCounts(h.jobId()).dead,
                 qint64(50));
    const QList<qint64> parked = h.pendingTaskIds();
    QCOMPARE(parked.size(), 150);
    const QList<qint64> lowered = parked.mid(50, 60); // rows 50..109
    bd::store::SqlTaskActions actions(h.store().connection()->db(), bd::store::SqlDialect::Sqlite,
                                      h.store().connection());
    QCOMPARE(actions.reprioritiseTasks(lowered, 3), 60);
    runner->handBackUnsent(); // as every engine does for a TasksChanged control
    QVERIFY(!runner->isBatchLane());

    h.clock.advance(3'600'000);
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 1);
    QCOMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).constFirst().size, 60);
    QTRY_COMPARE(h.store().taskCounts(h.jobId()).leased, qint64(60)); // the rest went sync
    QCOMPARE(h.store().taskCounts(h.jobId()).pending, qint64(0));
    // The provider batch's fill (60 of 100 lines) is the batch lane's, not the job's.
    const QHash<QString, double> fillByLane = h.fillByLane();
    QCOMPARE(fillByLane.value(u"lane=batch"_s), 0.6);
    QVERIFY(fillByLane.contains(u"lane=sync"_s));
    h.clock.advance(60'000);
    QTRY_COMPARE(finished.count(), 1);
    QCOMPARE(finished.at(0).at(1).value<JobState>(), JobState::Finished);
    const QMap<QString, qint64> byLane = h.tasksByLane();
    QCOMPARE(byLane.value(u"batch-api"_s), qint64(58)); // rows 50..109 but 57 and 107
    QCOMPARE(byLane.value(u"sync"_s), qint64(138));     // the other 140 but 7 and 157
}

void TestBatchLane::loweredTasksWaitingForTheBatchLaneBlockNoSyncTask()
{
    // A priority-2 job of grouped sync calls: rows 0..149 wait for a retry an hour away,
    // rows 150..299 are lowered to priority 3. They fill the two provider batches open at
    // once (50 lines each, a day at the provider) and a third, full, waits for a slot. When
    // the 150 priority-2 tasks come due they go as sync calls at once, not behind it.
    Harness h(300, {{u"group_sizes"_s, QJsonArray{25, 25, 25}}}, u"grouped"_s, 2);
    h.parkFirst(150);
    const QList<qint64> lowered = h.pendingTaskIds().mid(150); // rows 150..299
    bd::store::SqlTaskActions actions(h.store().connection()->db(), bd::store::SqlDialect::Sqlite,
                                      h.store().connection());
    QCOMPARE(actions.reprioritiseTasks(lowered, 3), 150);
    auto runner = h.makeRunner(50, 8, 86'400'000);
    runner->start();
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2);
    QTRY_COMPARE(h.store().taskCounts(h.jobId()).leased, qint64(150)); // 100 sent, 50 waiting
    QVERIFY(!runner->isBatchLane());

    h.clock.advance(3'600'000);
    // Rows 0..149 but the invalid 7, 57 and 107 (dead-lettered), as sync calls.
    QTRY_COMPARE(h.store().taskCounts(h.jobId()).completed, qint64(147));
    QCOMPARE(h.store().taskCounts(h.jobId()).dead, qint64(3));
    QCOMPARE(h.tasksByLane().value(u"sync"_s), qint64(147));
    QCOMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2); // the third still waits
    QCOMPARE(h.store().taskCounts(h.jobId()).leased + h.store().taskCounts(h.jobId()).pending,
             qint64(150));
    runner->stop(JobState::Paused, u"test over"_s, true);
}

void TestBatchLane::batchesOpenAtOnceChangeWhileRunning()
{
    // Two provider batches open at once (the runner's option); raised to four while the job
    // runs, two more go out without waiting for the first ones to end.
    Harness h(600);
    auto runner = h.makeRunner(100);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    runner->start();
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2);
    QTest::qWait(50);
    QCOMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2);
    runner->setMaxConcurrentBatches(4);
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 4);
    QCOMPARE(runner->maxConcurrentBatches(), 4);
    runner->stop(JobState::Paused, u"test over"_s, true);
    QTRY_COMPARE(finished.count(), 1);
}

void TestBatchLane::jobSettingsSetGroupSizesAndDepths()
{
    // Group sizes and the depths that switch them, from the job's settings (as the console's
    // Lanes defaults arrive): 60 above 1,000 pending, 40 above 200, else 20.
    constexpr int kRows = 1'200;
    Harness h(kRows,
              QJsonObject{{u"group_sizes"_s, QJsonArray{20, 40, 60}},
                          {u"medium_depth"_s, 200},
                          {u"large_depth"_s, 1'000}},
              u"grouped"_s);
    auto runner = h.makeRunner(0, 8);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    runner->start();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60'000);
    const QList<bd::ProviderBatchRecord> groups = h.store().batches(h.jobId(), {});
    QCOMPARE(groups.first().maxSize, 60);
    QCOMPARE(groups.last().maxSize, 20);
    QSet<int> seenMaxima;
    qint64 total = 0;
    for (const bd::ProviderBatchRecord &group : groups) {
        seenMaxima.insert(group.maxSize);
        total += group.size;
    }
    QCOMPARE(seenMaxima, (QSet<int>{20, 40, 60}));
    QCOMPARE(total, qint64(kRows));
}

void TestBatchLane::jobSettingsSetBatchesOpenAtOnce()
{
    // The runner's option says 2; the job's settings (or the console's defaults merged into
    // them) say 3, and the job wins.
    Harness h(300, QJsonObject{{u"max_concurrent_batches"_s, 3}});
    auto runner = h.makeRunner(100);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    runner->start();
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 3);
    QCOMPARE(h.store().taskCounts(h.jobId()).leased, qint64(300));
    runner->stop(JobState::Paused, u"test over"_s, true);
    QTRY_COMPARE(finished.count(), 1);
}

void TestBatchLane::groupClosesWhenFull()
{
    // A wait of an hour never comes into it: full groups close at once, and the last, partial
    // one closes as soon as no other task of the job could still join it.
    Harness h(250,
              {{u"group_sizes"_s, QJsonArray{100, 100, 100}}, {u"batch_max_wait_ms"_s, 3'600'000}},
              u"grouped"_s);
    auto runner = h.makeRunner(0, 8);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    runner->start();
    QTRY_COMPARE(finished.count(), 1);
    QList<int> sizes;
    for (const bd::ProviderBatchRecord &group : h.store().batches(h.jobId(), {})) {
        QCOMPARE(group.maxSize, 100);
        sizes.append(group.size);
    }
    QCOMPARE(sizes, (QList<int>{100, 100, 50}));
}

void TestBatchLane::groupClosesAtItsMaximumWait()
{
    // 30 tasks are due, 10 wait in the store for a retry an hour away: the group of up to 100
    // waits 10 s (on the fake clock) to fill, then goes with 30 and records a fill of 0.3.
    Harness h(40, {{u"group_sizes"_s, QJsonArray{100, 100, 100}}, {u"batch_max_wait_ms"_s, 10'000}},
              u"grouped"_s);
    h.parkFirst(10);
    bd::metrics::MetricsRecorder::Options metricsOptions;
    metricsOptions.autoTick = false;
    bd::metrics::MetricsRecorder recorder(&h.clock, nullptr, metricsOptions);
    auto runner = h.makeRunner(0, 8);
    runner->setMetrics(&recorder);
    runner->start();
    QTest::qWait(100); // many wake-ups, no time passes
    QCOMPARE(h.store().batches(h.jobId(), {}).size(), 0);
    bd::TaskCounts counts = h.store().taskCounts(h.jobId());
    QCOMPARE(counts.leased, qint64(30));
    QCOMPARE(counts.completed, qint64(0));

    h.clock.advance(9'999);
    QTest::qWait(50);
    QCOMPARE(h.store().batches(h.jobId(), {}).size(), 0);
    h.clock.advance(1);
    QTRY_COMPARE(h.store().batches(h.jobId(), {}).size(), 1);
    const bd::ProviderBatchRecord group = h.store().batches(h.jobId(), {}).constFirst();
    QCOMPARE(group.size, 30);
    QCOMPARE(group.maxSize, 100);
    QTRY_COMPARE(h.store().taskCounts(h.jobId()).completed, qint64(30));

    h.clock.advance(metricsOptions.intervalMs);
    recorder.tick();
    bool sawFill = false;
    for (const bd::metrics::MetricSample &sample : recorder.lastInterval()) {
        if (sample.metric == QLatin1StringView(bd::metrics::names::batchFillRate)) {
            QCOMPARE(sample.value, 0.3);
            sawFill = true;
        }
    }
    QVERIFY(sawFill);
    runner->stop(JobState::Paused, u"test over"_s, true);
}

void TestBatchLane::providerBatchClosesAtItsMaximumWait()
{
    // The batch-API lane: a provider batch of up to 100 lines waits its maximum (60 s by
    // default) with the 20 due tasks, then is submitted as it is.
    Harness h(30);
    h.parkFirst(10);
    auto runner = h.makeRunner(100);
    runner->start();
    QTest::qWait(100);
    QCOMPARE(h.store().batches(h.jobId(), {}).size(), 0);
    QCOMPARE(h.store().taskCounts(h.jobId()).leased, qint64(20));
    h.clock.advance(59'999);
    QTest::qWait(50);
    QCOMPARE(h.store().batches(h.jobId(), {}).size(), 0);
    h.clock.advance(1);
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 1);
    const bd::ProviderBatchRecord batch = h.store().batches(h.jobId(), {}).constFirst();
    QCOMPARE(batch.size, 20);
    QCOMPARE(batch.maxSize, 100);
    runner->stop(JobState::Paused, u"test over"_s, false);
}

void TestBatchLane::providerThatKeepsCancellingEndsInTheDeadLetterQueue()
{
    // Every batch the runner submits is cancelled by the provider before it ends. The first
    // three cancellations of a task are free; after that each one is an attempt, so with two
    // retries a task dies on its sixth cancellation instead of circling forever.
    constexpr int kRows = 5;
    Harness h(kRows);
    auto runner = h.makeRunner(100);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    bd::providers::SimulatorProvider provider(bd::ProviderConfig{}, &h.clock);
    QSet<QString> cancelled;
    runner->start();
    for (int i = 0; i < 2'000 && finished.isEmpty(); ++i) {
        for (const bd::ProviderBatchRecord &batch :
             h.store().batches(h.jobId(), {u"submitted"_s})) {
            if (!cancelled.contains(batch.providerBatchId)) {
                cancelled.insert(batch.providerBatchId);
                provider.cancelBatch(batch.providerBatchId);
            }
        }
        h.clock.advance(5'000); // past the retry backoff, short of the simulated turnaround
        QTest::qWait(2);
    }
    QTRY_COMPARE(finished.count(), 1);
    QCOMPARE(finished.at(0).at(1).value<JobState>(), JobState::Finished);
    QCOMPARE(cancelled.size(), 6);
    const QList<bd::DeadTask> dead = h.store().deadTasks(h.jobId(), 100, 0);
    QCOMPARE(dead.size(), kRows);
    for (const bd::DeadTask &task : dead) {
        QCOMPARE(task.errorClass, u"provider_cancelled"_s);
        QCOMPARE(task.attempts, 3); // 1 + max retries, all charged after the free three
        QVERIFY2(task.errorMessage.contains(u"cancelled this line (6 times"_s),
                 qPrintable(task.errorMessage));
        const QList<bd::AttemptRecord> history = h.store().attempts(task.id);
        QCOMPARE(history.size(), 6);
    }
}

void TestBatchLane::cancellingTheJobCancelsItsBatches()
{
    constexpr int kRows = 150;
    Harness h(kRows);
    auto runner = h.makeRunner(100);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    runner->start();
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2);
    QCOMPARE(h.store().taskCounts(h.jobId()).leased, qint64(kRows));
    runner->stop(JobState::Cancelled, u"cancelled by the user"_s, true);
    QTRY_COMPARE(finished.count(), 1);
    QCOMPARE(finished.at(0).at(1).value<JobState>(), JobState::Cancelled);
    // The provider was told, and no task stays leased to a batch for a day.
    const QList<bd::ProviderBatchRecord> batches = h.store().batches(h.jobId(), {});
    QCOMPARE(batches.size(), 2);
    for (const bd::ProviderBatchRecord &batch : batches)
        QCOMPARE(batch.state, u"cancelled"_s);
    const bd::TaskCounts counts = h.store().taskCounts(h.jobId());
    QCOMPARE(counts.leased, qint64(0));
    QCOMPARE(counts.pending, qint64(kRows));
    QCOMPARE(counts.completed, qint64(0));
    h.store().forEachExportRow(h.jobId(), [](const bd::ingest::ExportRow &row) {
        [&] { QCOMPARE(row.attempts, 0); }();
        return true;
    });
    // The simulator's side: polling a cancelled batch reports it cancelled.
    bd::providers::SimulatorProvider probe(bd::ProviderConfig{}, &h.clock);
    QSignalSpy polled(&probe, &bd::providers::Provider::batchPolled);
    probe.pollBatch(batches.first().providerBatchId);
    QTRY_COMPARE(polled.count(), 1);
    QCOMPARE(polled.at(0).at(0).value<bd::providers::BatchStatus>().providerStatus, u"cancelled"_s);
}

void TestBatchLane::groupedLaneAdaptsGroupSize()
{
    // Sync calls grouped by queue depth: the simulator's profile is 100 / 250 / 500 above
    // 1,000 and 10,000 pending tasks.
    constexpr int kRows = 12'000;
    Harness h(kRows, {}, u"grouped"_s);
    auto runner = h.makeRunner(0, 8);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    runner->start();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60'000);
    const QList<bd::ProviderBatchRecord> groups = h.store().batches(h.jobId(), {});
    QVERIFY(groups.size() > 10);
    QCOMPARE(groups.first().maxSize, 500);
    QCOMPARE(groups.first().size, 500);
    QCOMPARE(groups.first().lane, u"sync"_s);
    QCOMPARE(groups.last().maxSize, 100);
    qint64 total = 0;
    QSet<int> seenMaxima;
    for (const bd::ProviderBatchRecord &group : groups) {
        total += group.size;
        seenMaxima.insert(group.maxSize);
        QVERIFY(group.size <= group.maxSize);
    }
    QCOMPARE(seenMaxima, (QSet<int>{100, 250, 500}));
    // Each task went out in exactly one group (no failures here, so no second claims).
    QCOMPARE(total, qint64(kRows));
}

void TestBatchLane::everyRowOnceAtTheBatchPrice()
{
    constexpr int kRows = 450;
    Harness h(kRows);
    auto runner = h.makeRunner(200);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    const int submittedBefore = bd::providers::SimulatorProvider::batchesSubmitted();
    runner->start();

    // Two batches open at once (the limit), the third waits for a slot.
    QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2);
    QCOMPARE(h.store().taskCounts(h.jobId()).leased, 400);
    QTest::qWait(20);
    QCOMPARE(finished.count(), 0); // the provider has not finished them: nothing settles
    for (int i = 0; i < 200 && finished.isEmpty(); ++i) {
        h.clock.advance(30'000);
        QTest::qWait(5);
    }
    QTRY_COMPARE(finished.count(), 1);
    QCOMPARE(finished.at(0).at(1).value<JobState>(), JobState::Finished);
    QCOMPARE(bd::providers::SimulatorProvider::batchesSubmitted() - submittedBefore, 3);

    const QList<bd::ProviderBatchRecord> batches = h.store().batches(h.jobId(), {});
    QCOMPARE(batches.size(), 3);
    QList<int> sizes;
    for (const bd::ProviderBatchRecord &batch : batches) {
        QCOMPARE(batch.state, u"ended"_s);
        QCOMPARE(batch.lane, u"batch-api"_s);
        QCOMPARE(batch.maxSize, 200);
        QVERIFY(batch.providerBatchId.startsWith(u"simbatch_"_s));
        sizes.append(batch.size);
    }
    QCOMPARE(sizes, (QList<int>{200, 200, 50}));

    const bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    int row = 0;
    int dead = 0;
    h.store().forEachExportRow(h.jobId(), [&](const bd::ingest::ExportRow &r) {
        if (row % 50 == 7) {
            ++dead;
            [&] {
                QCOMPARE(r.status, u"dead"_s);
                QVERIFY(r.error.startsWith(u"invalid_request"_s));
                QCOMPARE(r.attempts, 1);
            }();
        } else {
            [&] {
                QCOMPARE(r.status, u"completed"_s);
                QCOMPARE(r.output, h.expected(row));
                QCOMPARE(r.attempts, 1);
                // Half the list price of the same usage.
                bd::Usage usage;
                usage.inputTokens = r.inputTokens;
                usage.outputTokens = r.outputTokens;
                QVERIFY(r.costUsd.has_value());
                QVERIFY(qAbs(*r.costUsd - 0.5 * *prices.cost(u"sim-1"_s, usage, false)) < 1e-12);
            }();
        }
        ++row;
        return true;
    });
    QCOMPARE(row, kRows);
    QCOMPARE(dead, 9);
}

void TestBatchLane::restartPollsInsteadOfResubmitting()
{
    constexpr int kRows = 120;
    Harness h(kRows);
    const int submittedBefore = bd::providers::SimulatorProvider::batchesSubmitted();
    {
        auto first = h.makeRunner(100);
        first->start();
        QTRY_COMPARE(h.store().batches(h.jobId(), {u"submitted"_s}).size(), 2);
        // The engine dies here: no stop, no hand-back. The provider keeps the batches.
    }
    QCOMPARE(h.store().taskCounts(h.jobId()).leased, kRows);
    QCOMPARE(bd::providers::SimulatorProvider::batchesSubmitted() - submittedBefore, 2);

    auto second = h.makeRunner(100);
    QSignalSpy finished(second.get(), &JobRunner::finished);
    second->start();
    for (int i = 0; i < 200 && finished.isEmpty(); ++i) {
        h.clock.advance(30'000);
        QTest::qWait(5);
    }
    QTRY_COMPARE(finished.count(), 1);
    // The stored batch ids were polled; nothing was sent a second time.
    QCOMPARE(bd::providers::SimulatorProvider::batchesSubmitted() - submittedBefore, 2);
    const bd::TaskCounts counts = h.store().taskCounts(h.jobId());
    QCOMPARE(counts.completed + counts.dead, qint64(kRows));
    QCOMPARE(counts.dead, qint64(3));
    int row = 0;
    h.store().forEachExportRow(h.jobId(), [&](const bd::ingest::ExportRow &r) {
        if (r.status == u"completed"_s) {
            [&] {
                QCOMPARE(r.output, h.expected(row));
                QCOMPARE(r.attempts, 1);
            }();
        }
        ++row;
        return true;
    });
}

QTEST_GUILESS_MAIN(TestBatchLane)
#include "test_batchlane.moc"
