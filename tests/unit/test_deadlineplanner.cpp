// A deadline instead of a lane: the plan at import (batch API only when the deadline is at
// least the batch window away), the review while running (off the batch API once the window
// would overrun, raised to priority 1 when the measured rate misses, at risk when even that
// misses or nothing moves) and the throughput meter behind it. Pure functions, fake times.

#include "dispatch/deadlineplanner.h"

#include <QTest>

using namespace Qt::StringLiterals;
using namespace bd::dispatch;

namespace {
constexpr qint64 kNow = 1'800'000'000'000;
constexpr qint64 kHour = 3'600'000;
} // namespace

class TestDeadlinePlanner : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void batchApiWhenTheWindowFits()
    {
        const DeadlinePlan plan = planForDeadline(kNow, kNow + 36 * kHour, 5000, true, 10.0);
        QCOMPARE(plan.priority, 3);
        QVERIFY(plan.batchApi);
        QCOMPARE(plan.batchApiTasks, 5000);
        QCOMPARE(plan.syncTasks, 0);
        QVERIFY(plan.meetsDeadline);
        QVERIFY2(plan.why.contains(u"batch API"_s), qPrintable(plan.why));
    }

    void exactlyTheWindowAwayStillBatches()
    {
        QVERIFY(planForDeadline(kNow, kNow + kBatchCompletionWindowMs, 10, true, 1.0).batchApi);
        QVERIFY(!planForDeadline(kNow, kNow + kBatchCompletionWindowMs - 1, 10, true, 1.0).batchApi);
    }

    void syncWhenNoBatchApi()
    {
        const DeadlinePlan plan = planForDeadline(kNow, kNow + 36 * kHour, 5000, false, 10.0);
        QVERIFY(!plan.batchApi);
        QCOMPARE(plan.priority, 2);
        QCOMPARE(plan.syncTasks, 5000);
        QVERIFY(plan.meetsDeadline);
    }

    void priorityOneWithinTheHour()
    {
        const DeadlinePlan plan = planForDeadline(kNow, kNow + 30 * 60'000, 100, true, 10.0);
        QCOMPARE(plan.priority, 1);
        QVERIFY(!plan.batchApi);
        QVERIFY(plan.meetsDeadline);
    }

    void missesWhenTheRateIsTooLow()
    {
        // 36,000 tasks at 5/s take 2 h; due in 90 min.
        const DeadlinePlan plan = planForDeadline(kNow, kNow + 90 * 60'000, 36'000, true, 5.0);
        QVERIFY(!plan.meetsDeadline);
        QCOMPARE(plan.expectedFinishMs, kNow + 2 * kHour);
        QVERIFY2(plan.why.contains(u"2 h"_s), qPrintable(plan.why));
    }

    void passedDeadlineNeverMeets()
    {
        const DeadlinePlan plan = planForDeadline(kNow, kNow - 1000, 1, true, 100.0);
        QVERIFY(!plan.meetsDeadline);
        QCOMPARE(plan.priority, 1);
    }

    void assumedRate()
    {
        QCOMPARE(assumedSyncTasksPerSecond(600, 16), 10.0);
        QCOMPARE(assumedSyncTasksPerSecond(0, 16), 8.0);
        QCOMPARE(assumedSyncTasksPerSecond(0, 0), 0.0);
    }

    void reviewMovesPendingOffTheBatchApi()
    {
        // Planned 25 h ahead on the batch API; two hours later 23 h are left.
        const DeadlineReview early = reviewDeadline(kNow, kNow + 25 * kHour, 3, true, 400, -1);
        QCOMPARE(early.action, DeadlineReview::Action::Keep);
        const DeadlineReview late = reviewDeadline(kNow + 2 * kHour, kNow + 25 * kHour, 3, true, 400, -1);
        QCOMPARE(late.action, DeadlineReview::Action::MoveToSync);
        QCOMPARE(late.priority, 2);
        QVERIFY2(late.why.contains(u"400 pending"_s), qPrintable(late.why));
        // Nothing pending outside submitted batches: nothing to move.
        QCOMPARE(reviewDeadline(kNow + 2 * kHour, kNow + 25 * kHour, 3, true, 0, -1).action,
                 DeadlineReview::Action::Keep);
    }

    void reviewRaisesALateSyncJob()
    {
        // 10,000 pending at 2/s need 83 min; due in an hour and a half at priority 2: on track.
        const DeadlineReview onTrack = reviewDeadline(kNow, kNow + 90 * 60'000, 2, false, 10'000, 2.0);
        QCOMPARE(onTrack.action, DeadlineReview::Action::Keep);
        QCOMPARE(onTrack.lateByMs, 0);
        QVERIFY(!onTrack.atRisk);
        // At 1/s they need 2 h 47 min: raised to 1, not yet at risk.
        const DeadlineReview late = reviewDeadline(kNow, kNow + 90 * 60'000, 2, false, 10'000, 1.0);
        QCOMPARE(late.action, DeadlineReview::Action::RaiseToNow);
        QCOMPARE(late.priority, 1);
        QVERIFY(late.lateByMs > 0);
        QVERIFY(!late.atRisk);
        // Already at priority 1 and still late: at risk.
        const DeadlineReview atRisk = reviewDeadline(kNow, kNow + 90 * 60'000, 1, false, 10'000, 1.0);
        QCOMPARE(atRisk.action, DeadlineReview::Action::Keep);
        QVERIFY(atRisk.atRisk);
        QCOMPARE(atRisk.lateByMs, 10'000'000 - 90 * 60'000);
    }

    void reviewRaisesWithinTheLastHour()
    {
        const DeadlineReview review = reviewDeadline(kNow, kNow + 50 * 60'000, 2, false, 10, 5.0);
        QCOMPARE(review.action, DeadlineReview::Action::RaiseToNow);
        QCOMPARE(review.priority, 1);
        QVERIFY(!review.atRisk);
    }

    void stalledAndPassedAreAtRisk()
    {
        const DeadlineReview stalled = reviewDeadline(kNow, kNow + 5 * kHour, 2, false, 10, 0.0);
        QVERIFY(stalled.atRisk);
        QVERIFY2(stalled.why.contains(u"no task settled"_s), qPrintable(stalled.why));
        const DeadlineReview passed = reviewDeadline(kNow, kNow - 10 * 60'000, 1, false, 10, 5.0);
        QVERIFY(passed.atRisk);
        QCOMPARE(passed.lateByMs, 10 * 60'000 + 2'000); // 10 min past, and 10 tasks at 5/s to go
        // Unknown rate (just started) and time left: nothing said yet.
        QVERIFY(!reviewDeadline(kNow, kNow + 5 * kHour, 2, false, 10, -1.0).atRisk);
    }

    void throughputMeterNeedsASpanAndSlides()
    {
        ThroughputMeter meter;
        QCOMPARE(meter.tasksPerSecond(), -1.0);
        meter.record(0, 0);
        meter.record(10'000, 100);
        QCOMPARE(meter.tasksPerSecond(), -1.0); // 10 s is too short to trust
        meter.record(20'000, 200);
        QCOMPARE(meter.tasksPerSecond(), 10.0);
        // Two minutes later at 1/s: the first minute's fast start has left the window.
        for (qint64 t = 21'000; t <= 140'000; t += 1'000)
            meter.record(t, 200 + (t - 20'000) / 1'000);
        QVERIFY2(qAbs(meter.tasksPerSecond() - 1.0) < 0.05, qPrintable(QString::number(meter.tasksPerSecond())));
        // Nothing settles for a minute: zero, not unknown.
        for (qint64 t = 141'000; t <= 210'000; t += 1'000)
            meter.record(t, 320);
        QCOMPARE(meter.tasksPerSecond(), 0.0);
    }
};

QTEST_GUILESS_MAIN(TestDeadlinePlanner)
#include "test_deadlineplanner.moc"
