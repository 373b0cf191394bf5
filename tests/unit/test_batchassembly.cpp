// Batch assembly of one job (dispatch/batchassembly.h, dispatch/groupsizer.h), on the fake
// clock without threads: a batch closes when full, when it has waited its maximum or when
// nothing else could join; claimed tasks go to the lane of their own priority; groups of
// sync calls grow with the queue's depth and never fall below what may be in flight.

#include "api/jobsettings.h"
#include "core/clock.h"
#include "dispatch/batchassembly.h"
#include "dispatch/concurrencylimiter.h"
#include "dispatch/groupsizer.h"

#include <QJsonArray>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::FakeClock;
using bd::dispatch::BatchAssembly;
using bd::dispatch::ConcurrencyLimiter;
using bd::dispatch::GroupSizer;
using bd::dispatch::TaskLanes;

namespace {

ClaimedTask task(qint64 id, int priority = 2)
{
    ClaimedTask claimed;
    claimed.id = id;
    claimed.priority = priority;
    return claimed;
}

} // namespace

class TestBatchAssembly : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void closesWhenFull()
    {
        FakeClock clock;
        BatchAssembly batch;
        batch.open(3, clock.nowMs());
        QCOMPARE(batch.room(), 3);
        batch.add(task(1));
        batch.add(task(2));
        QCOMPARE(batch.msUntilClose(clock.nowMs(), 500, true), 500);
        batch.add(task(3));
        QVERIFY(batch.isFull());
        QCOMPARE(batch.msUntilClose(clock.nowMs(), 500, true), 0);
        const QList<ClaimedTask> taken = batch.take();
        QCOMPARE(taken.size(), 3);
        QCOMPARE(taken.constFirst().id, 1);
        QVERIFY(batch.isEmpty());
    }

    void waitsItsMaximumThenCloses()
    {
        FakeClock clock;
        BatchAssembly batch;
        batch.open(100, clock.nowMs());
        batch.add(task(1));
        clock.advance(200);
        QCOMPARE(batch.msUntilClose(clock.nowMs(), 500, true), 300);
        // A batch being assembled keeps its opening time and size: a second open is none.
        batch.open(5, clock.nowMs());
        QCOMPARE(batch.capacity(), 100);
        clock.advance(300);
        QCOMPARE(batch.msUntilClose(clock.nowMs(), 500, true), 0);
    }

    void closesAtOnceWhenNothingElseCanJoin()
    {
        FakeClock clock;
        BatchAssembly batch;
        batch.open(100, clock.nowMs());
        batch.add(task(1));
        QCOMPARE(batch.msUntilClose(clock.nowMs(), 60'000, false), 0);
        // Emptied, it opens afresh with the new size and time.
        batch.take();
        clock.advance(10'000);
        batch.open(4, clock.nowMs());
        QCOMPARE(batch.capacity(), 4);
        batch.add(task(2));
        QCOMPARE(batch.msUntilClose(clock.nowMs(), 60'000, true), 60'000);
    }

    void knowsWhenBetterWorkArrived()
    {
        BatchAssembly batch;
        batch.open(10, 0);
        batch.add(task(1, 2));
        QVERIFY(!batch.holdsWorseThan(2));
        QVERIFY(batch.holdsWorseThan(1));
    }

    void tasksGoToTheLaneOfTheirOwnPriority()
    {
        TaskLanes lanes;
        lanes.configure(3, true, true); // a priority-3 job on the batch API
        QCOMPARE(lanes.laneOf(task(1, 3)), TaskLanes::Lane::BatchApi);
        QCOMPARE(lanes.laneOf(task(2, 2)), TaskLanes::Lane::Sync); // raised on their own
        QCOMPARE(lanes.laneOf(task(3, 1)), TaskLanes::Lane::Sync);
        lanes.configure(2, false, true); // a job of sync calls: lowered ones join the batch API
        QCOMPARE(lanes.laneOf(task(1, 2)), TaskLanes::Lane::Sync);
        QCOMPARE(lanes.laneOf(task(2, 1)), TaskLanes::Lane::Sync);
        QCOMPARE(lanes.laneOf(task(3, 3)), TaskLanes::Lane::BatchApi);
        lanes.configure(1, false, true);
        QCOMPARE(lanes.laneOf(task(1, 2)), TaskLanes::Lane::Sync);
        QCOMPARE(lanes.laneOf(task(2, 3)), TaskLanes::Lane::BatchApi);
        // No batch API (or a classifier that must answer first): sync calls all the same.
        lanes.configure(2, false, false);
        QCOMPARE(lanes.laneOf(task(3, 3)), TaskLanes::Lane::Sync);
        // A priority-3 job sent as sync calls by choice keeps its own tasks there.
        lanes.configure(3, false, true);
        QCOMPARE(lanes.laneOf(task(3, 3)), TaskLanes::Lane::Sync);
    }

    void emptyBatchIsNeverFull()
    {
        BatchAssembly batch;
        QVERIFY(!batch.isFull()); // never opened: tasks may join once it opens
        batch.open(1, 0);
        batch.add(task(1));
        QVERIFY(batch.isFull());
    }

    void groupsGrowWithTheQueue()
    {
        // A server of one's own: 100 / 250 / 500 at the default depth thresholds.
        GroupSizer local(u"simulator"_s, GroupSizer::Profile{}, QJsonObject{});
        QCOMPARE(local.size(10, 16, false), 100);
        QCOMPARE(local.size(1'001, 16, false), 250);
        QCOMPARE(local.size(10'001, 16, false), 500);
        // Hosted APIs start smaller.
        GroupSizer hosted(u"openai"_s, GroupSizer::Profile{}, QJsonObject{});
        QCOMPARE(hosted.size(10, 16, false), 50);
        QCOMPARE(hosted.size(10'001, 16, false), 100);
        // Never below what may go out at once; realtime claims only that.
        QCOMPARE(hosted.size(10, 64, false), 64);
        QCOMPARE(hosted.size(10'001, 8, true), 8);
        QCOMPARE(hosted.size(10, 0, true), 1);
    }

    void groupsShrinkUnderApiLoad()
    {
        // The provider pushes back (429s; climbing latency cuts the same way): groups shrink
        // with the share of the configured concurrency it takes now.
        FakeClock clock;
        ConcurrencyLimiter limiter(16);
        GroupSizer groups(u"simulator"_s, GroupSizer::Profile{}, QJsonObject{});
        auto sizeNow = [&] {
            return groups.size(10'001, limiter.limit(), false,
                               double(limiter.limit()) / limiter.ceiling());
        };
        QCOMPARE(sizeNow(), 500);
        limiter.recordOverload(clock.nowMs()); // 16 -> 12
        QCOMPARE(sizeNow(), 375);
        for (int i = 0; i < 3; ++i) {
            clock.advance(1'000);
            limiter.recordOverload(clock.nowMs()); // 12 -> 9 -> 6 -> 4
        }
        QCOMPARE(limiter.limit(), 4);
        QCOMPARE(sizeNow(), 125);
        // Never below the smallest group (the guide's floor for the provider).
        QCOMPARE(groups.size(10, 4, false, 0.25), 100);
        QCOMPARE(groups.size(1'001, 4, false, 0.25), 100);
        // Recovered: back to the depth's size.
        for (int i = 0; i < 50'000 && limiter.limit() < 16; ++i) {
            clock.advance(10);
            limiter.recordAnswer(100, limiter.limit(), clock.nowMs());
        }
        QCOMPARE(sizeNow(), 500);
        // Never below what may be in flight.
        QCOMPARE(groups.size(10, 128, false, 0.01), 128);
    }

    void groupSizesFromSettingsAndProfile()
    {
        GroupSizer::Profile profile;
        profile.sizes[0] = 20;
        profile.mediumDepth = 50;
        profile.largeDepth = 500;
        GroupSizer fromProfile(u"simulator"_s, profile, QJsonObject{});
        QCOMPARE(fromProfile.size(10, 4, false), 20);
        QCOMPARE(fromProfile.size(51, 4, false), 250);
        const QJsonObject settings{{bd::settingkeys::groupSizes, QJsonArray{7, 9, 11}}};
        GroupSizer fromSettings(u"simulator"_s, profile, settings);
        QCOMPARE(fromSettings.size(10, 4, false), 7);
        QCOMPARE(fromSettings.size(51, 4, false), 9);
        QCOMPARE(fromSettings.size(501, 4, false), 11);
        profile.claimBatch = 64; // fixed: whatever the depth
        GroupSizer fixed(u"simulator"_s, profile, settings);
        QCOMPARE(fixed.size(100'000, 4, false), 64);
        QCOMPARE(fixed.size(1, 128, true), 128);
    }

    void pacedGroupsHoldOnlyWhatGoesOutSoon()
    {
        // A paced lane's group is what its rate limit sends within the claim horizon,
        // below every floor (smallest group, concurrency, a fixed claim batch).
        GroupSizer local(u"simulator"_s, GroupSizer::Profile{}, QJsonObject{});
        QCOMPARE(local.size(10'001, 16, false, 1.0, 6), 6);
        QCOMPARE(local.size(10, 16, true, 1.0, 6), 6);
        QCOMPARE(local.size(10'001, 16, false, 1.0, 800), 500); // a cap above changes nothing
        QCOMPARE(local.size(10'001, 16, false, 1.0, -1), 500);  // no limit known
        GroupSizer::Profile profile;
        profile.claimBatch = 64;
        GroupSizer fixed(u"simulator"_s, profile, QJsonObject{});
        QCOMPARE(fixed.size(100, 16, false, 1.0, 6), 6);
    }
};

QTEST_GUILESS_MAIN(TestBatchAssembly)
#include "test_batchassembly.moc"
