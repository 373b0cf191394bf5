// SnapshotBuilder: per-job figures from store reads and runners, the slow ticks and the
// oldest-pending tracking, without an engine.

#include "snapshotbuilder.h"

#include <QTest>

using bd::JobInfo;
using bd::JobSnapshot;
using bd::JobState;
using bd::SnapshotBuilder;
using bd::TaskCounts;
using bd::Usage;

namespace {

JobInfo storedJob(qint64 id, JobState state, qint64 pending, qint64 leased = 0, int priority = 2)
{
    JobInfo job;
    job.id = id;
    job.state = state;
    job.spec.priority = priority;
    job.counts.pending = pending;
    job.counts.leased = leased;
    job.costUsd = 0.25;
    return job;
}

} // namespace

class TestSnapshotBuilder : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void aRunningJobKeepsItsRunnersFigures();
    void goneJobsAreDropped();
    void jobsChangingElsewhereAreReReadOnSlowTicks();
    void oldestPendingIsProbedOnlyWhenAsked();
    void buildCompletesEachJob();
};

void TestSnapshotBuilder::aRunningJobKeepsItsRunnersFigures()
{
    SnapshotBuilder builder;
    TaskCounts counts;
    counts.pending = 3;
    counts.completed = 7;
    builder.progressed(1, counts, Usage{}, 1.5, true);
    QCOMPARE(builder.jobs().value(1).state, JobState::Running);
    builder.update(storedJob(1, JobState::Paused, 10, 0, 1), true); // a read from a moment ago
    const JobSnapshot kept = builder.jobs().value(1);
    QCOMPARE(kept.counts.completed, 7);
    QCOMPARE(kept.costUsd, 1.5);
    QCOMPARE(kept.priority, 1); // the priority always comes from the store
    builder.refresh(1, storedJob(1, JobState::Paused, 10), false); // the runner stopped
    QCOMPARE(builder.jobs().value(1).state, JobState::Paused);
    QCOMPARE(builder.jobs().value(1).counts.pending, 10);
    QCOMPARE(builder.jobs().value(1).costUsd, 0.25);
}

void TestSnapshotBuilder::goneJobsAreDropped()
{
    SnapshotBuilder builder;
    builder.update(storedJob(1, JobState::Finished, 0), false);
    builder.update(storedJob(2, JobState::Paused, 4), false);
    builder.update(storedJob(3, JobState::Paused, 4), false);
    builder.retain({1, 3});
    QCOMPARE(builder.jobIds(), (QList<qint64>{1, 3}));
    builder.refresh(3, std::nullopt, false);
    QCOMPARE(builder.jobIds(), QList<qint64>{1});
}

void TestSnapshotBuilder::jobsChangingElsewhereAreReReadOnSlowTicks()
{
    SnapshotBuilder builder;
    builder.update(storedJob(1, JobState::Running, 5), false);    // another worker runs it
    builder.update(storedJob(2, JobState::Paused, 5, 2), false);  // leases still out
    builder.update(storedJob(3, JobState::Paused, 5), false);     // idle
    builder.update(storedJob(4, JobState::Running, 5), true);     // runs here
    JobInfo queue = storedJob(5, JobState::Paused, 5);            // a paused intake queue
    queue.queueMaxPending = 100;
    builder.update(queue, false);
    // `batchctl serve` fills a queue even while it is paused: its fill is read too.
    QCOMPARE(builder.changingElsewhere(), (QList<qint64>{1, 2, 5}));
    int slow = 0;
    for (int i = 0; i < 3 * SnapshotBuilder::kSlowTickEvery; ++i) {
        if (builder.nextTick()) {
            QVERIFY(builder.isSlowTick());
            ++slow;
        }
    }
    QCOMPARE(slow, 3);
    int elsewhere = 0;
    for (int i = 0; i < 10 * SnapshotBuilder::kElsewhereEvery; ++i) {
        builder.nextTick();
        elsewhere += builder.isElsewhereTick();
    }
    QCOMPARE(elsewhere, 10); // jobs of other workers: re-read every other second
}

void TestSnapshotBuilder::oldestPendingIsProbedOnlyWhenAsked()
{
    SnapshotBuilder builder;
    int reads = 0;
    const auto read = [&reads](qint64) {
        ++reads;
        return QMap<int, qint64>{{2, 1'000}};
    };
    JobSnapshot job;
    job.jobId = 5;
    job.counts.pending = 4;
    QVERIFY(builder.oldestPendingSince(job, false, read).isEmpty());
    QCOMPARE(builder.oldestPendingSince(job, true, read).value(2), 1'000);
    QCOMPARE(builder.oldestPendingSince(job, false, read).value(2), 1'000); // kept between probes
    QCOMPARE(reads, 1);
    job.counts.pending = 0;
    QVERIFY(builder.oldestPendingSince(job, true, read).isEmpty()); // nothing waits: no read
    QCOMPARE(reads, 1);
}

void TestSnapshotBuilder::buildCompletesEachJob()
{
    SnapshotBuilder builder;
    builder.update(storedJob(1, JobState::Paused, 1), false);
    builder.update(storedJob(2, JobState::Paused, 2), false);
    const auto snapshot = builder.build(42, [](JobSnapshot &job) { job.concurrency = int(job.jobId) * 10; });
    QCOMPARE(snapshot.atMs, 42);
    QCOMPARE(snapshot.jobs.size(), 2);
    QCOMPARE(snapshot.jobs.at(1).concurrency, 20);
    QCOMPARE(snapshot.totals().pending, 3);
}

QTEST_GUILESS_MAIN(TestSnapshotBuilder)
#include "test_snapshotbuilder.moc"
