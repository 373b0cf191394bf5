// BatchApiDispatch on its own (dispatch/batchapidispatch.h): a real SQLite store, a real
// BatchLane over a scripted provider, a fake clock and a runner that records what it is asked.
// A batch-API job's pending tasks go out as one provider batch once nothing else could join
// it, and wait to fill while a task still may; tasks raised above the job go to the queue of
// sync calls, also while every batch slot is taken (the bulk then goes back uncharged); a
// closed batch waits while the batch endpoints' breaker is open and goes at its probe; a
// held lane claims nothing; a batch the budget cannot cover goes back; a sync job's lowered
// tasks go as a batch of their own, and while they cannot the sync lane keeps looking.

#include "batchlanefakes.h"
#include "core/clock.h"
#include "dispatch/batchapidispatch.h"
#include "dispatch/batchlane.h"
#include "dispatch/budgetgate.h"
#include "dispatch/circuitbreaker.h"
#include "store/sqlite/sqlitestore.h"

#include <memory>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::OutcomeAction;
using bd::TaskTransition;
using bd::dispatch::BatchApiDispatch;
using bd::dispatch::BatchLane;
using bd::dispatch::BudgetGate;
using bd::dispatch::CircuitBreaker;
using bd::dispatch::ClaimedWork;
using bd::dispatch::TaskLanes;

namespace {

const QString kWorker = u"worker-1"_s;
constexpr qint64 kIdlePollMs = 1'000;
constexpr qint64 kMaxWaitMs = 60'000;

class Harness final : public BatchApiDispatch::Host
{
public:
    // A priority-3 batch-API job with `bulk` tasks at its priority.
    explicit Harness(int bulk = 5, int maxConcurrentBatches = 4, double capUsd = 0.0)
        : budget(capUsd)
        , breaker(CircuitBreaker::Options{.failureThreshold = 1, .openMs = 10'000})
    {
        store = std::make_unique<bd::store::SqliteStore>(dir.filePath(u"dispatch.sqlite"_s));
        bd::JobSpec spec;
        spec.sourcePath = u"rows.csv"_s;
        spec.sourceSha256 = "00";
        spec.templateText = u"{{text}}"_s;
        spec.model = u"m-1"_s;
        spec.priority = 3;
        spec.mode = u"batch-api"_s;
        jobId = store->createJob(spec, {u"text"_s}, clock.nowMs());
        append(bulk, 3);
        BatchLane::Options laneOptions;
        laneOptions.jobId = jobId;
        laneOptions.workerId = kWorker;
        laneOptions.maxBatchSize = 100;
        lane = std::make_unique<BatchLane>(&laneHost, store.get(), &provider, &clock, &budget,
                                           laneOptions);
        lanes.configure(3, true, true);
        wake.setSingleShot(true);
        BatchApiDispatch::Options options;
        options.jobId = jobId;
        options.workerId = kWorker;
        options.maxBatchSize = 100;
        options.maxConcurrentBatches = maxConcurrentBatches;
        options.idlePollMs = kIdlePollMs;
        options.maxWaitMs = kMaxWaitMs;
        options.loweredMaxWaitMs = kMaxWaitMs;
        dispatch = std::make_unique<BatchApiDispatch>(this, store.get(), lane.get(), &lanes, &work,
                                                      &wake, options);
    }

    void append(int count, int priority)
    {
        QList<QStringList> rows;
        for (int i = 0; i < count; ++i)
            rows.append({u"row %1"_s.arg(nextRow + i)});
        QVERIFY(store->appendTasks(jobId, nextRow, rows, priority, clock.nowMs()));
        nextRow += count;
        work.counts = store->taskCounts(jobId);
    }

    // Claims `count` tasks into the lowered batch (of `capacity`), as a sync job's claims do.
    bool lower(int count, int capacity)
    {
        QList<ClaimedTask> claimed;
        const qint64 now = clock.nowMs();
        if (!store->claimTasks(jobId, kWorker, count, now, now + 60'000, &claimed))
            return false;
        work.claimed(claimed.size());
        work.lowered.open(capacity, now);
        for (const ClaimedTask &task : std::as_const(claimed))
            work.lowered.add(task);
        return claimed.size() == count;
    }

    int linesSubmitted() const
    {
        int lines = 0;
        for (const auto &[reference, requests] : provider.submitted)
            lines += int(requests.size());
        return lines;
    }

    bool laneRunning() const override { return failures.isEmpty(); }
    bool laneHeld() const override { return held; }
    bool syncIdle() const override { return noSyncInFlight; }
    CircuitBreaker &batchBreaker() override { return breaker; }
    void laneFailed(const QString &error) override { failures.append(error); }
    void flush() override { ++flushes; }
    void laneProgressed() override { ++progressed; }
    void laneIdle() override { ++idles; }
    void budgetRefused(double extraUsd, bool ownWorkInFlight) override
    {
        refusals.append({extraUsd, ownWorkInFlight});
    }
    void pumpLater() override { ++pumps; }

    QTemporaryDir dir;
    bd::FakeClock clock;
    std::unique_ptr<bd::store::SqliteStore> store;
    qint64 jobId = 0;
    int nextRow = 1;
    bd::testing::ScriptedBatches provider;
    bd::testing::RecordingLaneHost laneHost;
    BudgetGate budget;
    std::unique_ptr<BatchLane> lane;
    TaskLanes lanes;
    ClaimedWork work;
    QTimer wake;
    CircuitBreaker breaker;
    std::unique_ptr<BatchApiDispatch> dispatch;

    bool held = false;
    bool noSyncInFlight = true;
    QStringList failures;
    int flushes = 0;
    int progressed = 0;
    int idles = 0;
    QList<std::pair<double, bool>> refusals;
    int pumps = 0;
};

QList<int> prioritiesOf(const QList<ClaimedTask> &tasks)
{
    QList<int> priorities;
    for (const ClaimedTask &task : tasks)
        priorities.append(task.priority);
    return priorities;
}

} // namespace

class TestBatchApiDispatch : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void aBatchGoesWhenNothingElseCanJoin()
    {
        Harness h;
        h.dispatch->pumpBatches(h.clock.nowMs());
        QVERIFY2(h.failures.isEmpty(), qPrintable(h.failures.join(u"; "_s)));
        QCOMPARE(h.provider.submitted.size(), 1);
        QCOMPARE(h.linesSubmitted(), 5);
        QCOMPARE(h.lane->openCount(), 1);
        QCOMPARE(h.work.counts.pending, 0);
        QCOMPARE(h.work.counts.leased, 5);
        QVERIFY(h.work.assembly.isEmpty());
        QVERIFY(h.work.ready.isEmpty());
        QCOMPARE(h.progressed, 1);
        QCOMPARE(h.idles, 0);
        QVERIFY(!h.wake.isActive()); // nothing pending: the batch's polls come back
    }

    void aBatchWaitsToFillWhileATaskMayStillJoin()
    {
        Harness h;
        // One task waits for its retry: it could join the batch once it comes due.
        QList<ClaimedTask> first;
        const qint64 now = h.clock.nowMs();
        QVERIFY(h.store->claimTasks(h.jobId, kWorker, 1, now, now + 60'000, &first));
        TaskTransition retry;
        retry.outcome.taskId = first.constFirst().id;
        retry.outcome.error = bd::ErrorClass::ServerError;
        retry.action = OutcomeAction::Retry;
        retry.notBeforeMs = now + 10 * kMaxWaitMs;
        QVERIFY(h.store->applyTransitions(kWorker, {retry}, now));
        h.work.counts = h.store->taskCounts(h.jobId);

        h.dispatch->pumpBatches(now);
        QVERIFY(h.provider.submitted.isEmpty());
        QCOMPARE(h.work.assembly.size(), 4);
        QVERIFY(h.wake.isActive());
        QVERIFY(h.wake.interval() <= kIdlePollMs);

        h.clock.advance(kMaxWaitMs);
        h.dispatch->pumpBatches(h.clock.nowMs());
        QCOMPARE(h.linesSubmitted(), 4);
        QVERIFY(h.work.assembly.isEmpty());
        QVERIFY(h.wake.isActive()); // the retry is still pending: looked for again
    }

    void raisedTasksGoAsSyncCalls()
    {
        Harness h;
        h.append(2, 1);
        h.dispatch->pumpBatches(h.clock.nowMs());
        QCOMPARE(prioritiesOf(h.work.ready), (QList<int>{1, 1}));
        QCOMPARE(h.linesSubmitted(), 5);
        QCOMPARE(h.work.counts.leased, 7);
    }

    void raisedTasksAreFoundWhileEverySlotIsTaken()
    {
        Harness h(5, 1);
        h.dispatch->pumpBatches(h.clock.nowMs());
        QCOMPARE(h.linesSubmitted(), 5);

        h.append(3, 3);
        h.append(2, 1);
        h.dispatch->lookForRaised(); // the runner's priorities changed
        h.dispatch->pumpBatches(h.clock.nowMs());
        QCOMPARE(prioritiesOf(h.work.ready), (QList<int>{1, 1}));
        QCOMPARE(h.provider.submitted.size(), 1); // no slot for another batch
        // The bulk that came along went back uncharged, for the next free slot.
        QCOMPARE(h.work.toWrite.size(), 3);
        for (const TaskTransition &t : std::as_const(h.work.toWrite)) {
            QCOMPARE(t.action, OutcomeAction::Release);
            QVERIFY(!t.chargeAttempt);
        }
        QCOMPARE(h.flushes, 1);
        QCOMPARE(h.work.counts.pending, 3);
        QVERIFY(h.wake.isActive());

        // Looked for once per change, not at every pump.
        h.work.toWrite.clear();
        h.dispatch->pumpBatches(h.clock.nowMs());
        QCOMPARE(h.flushes, 1);
    }

    void anOpenBreakerHoldsTheClosedBatch()
    {
        Harness h;
        const qint64 now = h.clock.nowMs();
        h.breaker.recordOutageFailure(now);
        QVERIFY(!h.breaker.allowRequest(now));
        h.dispatch->pumpBatches(now);
        QVERIFY(h.provider.submitted.isEmpty());
        QCOMPARE(h.work.assembly.size(), 5); // kept, claimed, for the probe
        QVERIFY(h.wake.isActive());
        QVERIFY(h.wake.interval() <= kIdlePollMs);

        h.clock.advance(10'000); // the breaker's cool-down: one probe goes
        h.dispatch->pumpBatches(h.clock.nowMs());
        QCOMPARE(h.linesSubmitted(), 5);
    }

    void aHeldLaneClaimsNothing()
    {
        Harness h;
        h.held = true;
        h.dispatch->pumpBatches(h.clock.nowMs());
        QVERIFY(h.provider.submitted.isEmpty());
        QCOMPARE(h.work.counts.pending, 5);
        QCOMPARE(h.store->taskCounts(h.jobId).leased, 0);
    }

    void nothingLeftIsIdle()
    {
        Harness h(0);
        h.dispatch->pumpBatches(h.clock.nowMs());
        QCOMPARE(h.idles, 1);
        QVERIFY(!h.wake.isActive());
    }

    void aBatchTheBudgetCannotCoverGoesBack()
    {
        Harness h(5, 4, 0.10); // each line may cost 0.25
        h.dispatch->pumpBatches(h.clock.nowMs());
        QVERIFY(h.provider.submitted.isEmpty());
        QCOMPARE(h.refusals.size(), 1);
        QCOMPARE(h.refusals.constFirst().first, 0.25);
        QVERIFY(!h.refusals.constFirst().second); // no batch of the job is out
        QCOMPARE(h.store->taskCounts(h.jobId).pending, 5);
    }

    void loweredTasksGoAsABatchOfTheirOwn()
    {
        Harness h;
        const qint64 now = h.clock.nowMs();
        QVERIFY(h.lower(3, 100));

        // Sync tasks are still being claimed: the lowered ones wait to fill their batch.
        h.dispatch->pumpLowered(now);
        QVERIFY(h.provider.submitted.isEmpty());
        QVERIFY(h.wake.isActive());

        h.work.claimedEverything = true; // nothing else can join
        h.dispatch->pumpLowered(now);
        QCOMPARE(h.linesSubmitted(), 3);
        QVERIFY(h.work.lowered.isEmpty());
        QCOMPARE(h.pumps, 1); // two tasks still pending: claims go on
    }

    void loweredTasksWaitingForASlotKeepTheSyncLaneLooking()
    {
        Harness h(5, 1);
        h.dispatch->pumpBatches(h.clock.nowMs()); // takes the only slot
        h.append(2, 3);
        const qint64 now = h.clock.nowMs();
        QVERIFY(h.lower(2, 2));
        h.work.claimedEverything = true;
        h.wake.stop();

        h.dispatch->pumpLowered(now);
        QCOMPARE(h.provider.submitted.size(), 1);
        QCOMPARE(h.work.lowered.size(), 2);
        QVERIFY(!h.work.claimedEverything); // a sync task that comes due is looked for
        QVERIFY(h.wake.isActive());

        h.noSyncInFlight = false; // an answer in flight brings the runner back anyway
        h.work.claimedEverything = true;
        h.wake.stop();
        h.dispatch->pumpLowered(now);
        QVERIFY(h.work.claimedEverything);
        QVERIFY(!h.wake.isActive());
    }
};

QTEST_GUILESS_MAIN(TestBatchApiDispatch)
#include "test_batchapidispatch.moc"
