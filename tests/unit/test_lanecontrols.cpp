// LaneControls: the user's paused lanes and per-lane limits, as plain values.

#include "dispatch/lanecontrols.h"

#include <QTest>

using bd::Lane;
using bd::dispatch::LaneControls;

class TestLaneControls : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void pausingReportsOnlyChanges();
    void priorityOutsideTheLanesCountsAsTheNearest();
    void unknownLanesAreIgnored();
    void limitsAdjustOnlyWhatDiffers();
    void zeroLimitsLeaveTheJobsOwn();
};

void TestLaneControls::pausingReportsOnlyChanges()
{
    LaneControls lanes;
    QVERIFY(lanes.pausedLanes().isEmpty());
    QVERIFY(lanes.setPaused(Lane::Batch, true));
    QVERIFY(!lanes.setPaused(Lane::Batch, true)); // already paused: no second laneStateChanged
    QVERIFY(lanes.setPaused(Lane::Realtime, true));
    QCOMPARE(lanes.pausedLanes(), (QList<int>{1, 3})); // sorted for the snapshot
    QVERIFY(lanes.isPaused(3));
    QVERIFY(!lanes.isPaused(2));
    QVERIFY(lanes.setPaused(Lane::Batch, false));
    QVERIFY(!lanes.setPaused(Lane::Batch, false));
    QVERIFY(!lanes.setPaused(Lane::Grouped, false)); // never paused
    QCOMPARE(lanes.pausedLanes(), QList<int>{1});
}

void TestLaneControls::priorityOutsideTheLanesCountsAsTheNearest()
{
    LaneControls lanes;
    lanes.setPaused(Lane::Realtime, true);
    lanes.setPaused(Lane::Batch, true);
    QVERIFY(lanes.isPaused(0));
    QVERIFY(lanes.isPaused(-4));
    QVERIFY(lanes.isPaused(7));
    QVERIFY(!lanes.isPaused(2));
}

void TestLaneControls::unknownLanesAreIgnored()
{
    LaneControls lanes;
    QVERIFY(!lanes.setPaused(Lane(0), true));
    QVERIFY(!lanes.setPaused(Lane(4), true));
    QVERIFY(lanes.pausedLanes().isEmpty());
    QVERIFY(!lanes.setLimits(Lane(9), 5, 5));
    QCOMPARE(lanes.limits(9).concurrency, 0);
}

void TestLaneControls::limitsAdjustOnlyWhatDiffers()
{
    LaneControls lanes;
    QVERIFY(lanes.setLimits(Lane::Grouped, 3, 0));
    QVERIFY(lanes.setLimits(Lane::Batch, 0, 2));
    QCOMPARE(lanes.limits(2).concurrency, 3);

    auto change = lanes.adjustment(2, 16, 4);
    QCOMPARE(change.concurrency, std::optional<int>(3));
    QVERIFY(!change.maxConcurrentBatches);
    QVERIFY(lanes.adjustment(2, 3, 4).isEmpty()); // already there

    change = lanes.adjustment(3, 16, 4);
    QVERIFY(!change.concurrency);
    QCOMPARE(change.maxConcurrentBatches, std::optional<int>(2));

    QVERIFY(lanes.adjustment(1, 16, 4).isEmpty()); // nothing set for the realtime lane
    QVERIFY(lanes.adjustment(5, 16, 4).isEmpty()); // an odd priority has no lane limits
}

void TestLaneControls::zeroLimitsLeaveTheJobsOwn()
{
    LaneControls lanes;
    lanes.setLimits(Lane::Grouped, 3, 0);
    lanes.setLimits(Lane::Grouped, -1, -5); // negative counts as unset
    QCOMPARE(lanes.limits(2).concurrency, 0);
    QCOMPARE(lanes.limits(2).maxConcurrentBatches, 0);
    QVERIFY(lanes.adjustment(2, 16, 4).isEmpty());
}

QTEST_GUILESS_MAIN(TestLaneControls)
#include "test_lanecontrols.moc"
