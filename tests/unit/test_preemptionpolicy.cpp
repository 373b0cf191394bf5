// PreemptionPolicy: which runners to hold, decided from plain runner states on a fake
// clock. No runners, store or event loop: the decisions are checked directly.

#include "core/clock.h"
#include "dispatch/lanecontrols.h"
#include "dispatch/preemptionpolicy.h"

#include <QTest>

using bd::FakeClock;
using bd::Lane;
using bd::dispatch::LaneControls;
using bd::dispatch::PreemptionPolicy;
using Decision = PreemptionPolicy::Decision;
using Runner = PreemptionPolicy::Runner;

namespace {

constexpr qint64 kAgingMs = 60'000;

Runner urgent(qint64 jobId, bool work = true)
{
    return {jobId, 1, false, true, work};
}
Runner grouped(qint64 jobId)
{
    return {jobId, 2, false, true, true};
}
Runner bulk(qint64 jobId, bool batchLane)
{
    return {jobId, 3, batchLane, true, true};
}

Decision decisionFor(const QList<Decision> &decisions, qint64 jobId)
{
    for (const Decision &decision : decisions) {
        if (decision.jobId == jobId)
            return decision;
    }
    qFatal("no decision for job %lld", jobId);
}

} // namespace

class TestPreemptionPolicy : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void nothingUrgentHoldsNobody();
    void urgentWorkHoldsLowerSyncLanesOnly();
    void heldWorkTricklesAfterAging();
    void releasedWhenUrgentWorkIsDone();
    void anUrgentJobNotYetRunningCountsAsWaiting();
    void aPausedRealtimeLaneHoldsNobody();
    void aPausedLaneStaysHeldWhenPreemptionEnds();
    void aPausedLaneGetsNoAgingTrickle();
    void urgentWorkElsewhereHoldsWithAGrace();
    void urgentElsewhereIsAskedOnlyWhenSomethingCouldYield();
    void aForgottenJobAgesAfresh();
};

void TestPreemptionPolicy::nothingUrgentHoldsNobody()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    FakeClock clock;
    const auto decisions = policy.decide({grouped(1), bulk(2, false), urgent(3, false)}, lanes, clock.nowMs());
    QCOMPARE(decisions.size(), 3);
    for (const Decision &decision : decisions) {
        QVERIFY(!decision.held);
        QCOMPARE(decision.trickle, 0);
    }
}

void TestPreemptionPolicy::urgentWorkHoldsLowerSyncLanesOnly()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    FakeClock clock;
    const auto decisions =
        policy.decide({urgent(1), grouped(2), bulk(3, false), bulk(4, true)}, lanes, clock.nowMs());
    QCOMPARE(decisionFor(decisions, 1), (Decision{1, false, 0}));
    QCOMPARE(decisionFor(decisions, 2), (Decision{2, true, 0}));
    QCOMPARE(decisionFor(decisions, 3), (Decision{3, true, 0})); // priority 3 on sync calls
    QCOMPARE(decisionFor(decisions, 4), (Decision{4, false, 0})); // provider batches: own capacity
    QVERIFY(policy.isHeld(2));
    QVERIFY(!policy.isHeld(4));
}

void TestPreemptionPolicy::heldWorkTricklesAfterAging()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    FakeClock clock;
    const QList<Runner> runners{urgent(1), grouped(2)};
    QCOMPARE(decisionFor(policy.decide(runners, lanes, clock.nowMs()), 2), (Decision{2, true, 0}));
    clock.advance(kAgingMs - 1);
    QCOMPARE(decisionFor(policy.decide(runners, lanes, clock.nowMs()), 2), (Decision{2, true, 0}));
    clock.advance(1);
    // Held for agingMs: one request in flight, still held otherwise.
    QCOMPARE(decisionFor(policy.decide(runners, lanes, clock.nowMs()), 2), (Decision{2, true, 1}));
    clock.advance(kAgingMs * 5);
    QCOMPARE(decisionFor(policy.decide(runners, lanes, clock.nowMs()), 2), (Decision{2, true, 1}));
}

void TestPreemptionPolicy::releasedWhenUrgentWorkIsDone()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    FakeClock clock;
    policy.decide({urgent(1), grouped(2)}, lanes, clock.nowMs());
    clock.advance(kAgingMs);
    QCOMPARE(decisionFor(policy.decide({urgent(1, false), grouped(2)}, lanes, clock.nowMs()), 2),
             (Decision{2, false, 0}));
    QVERIFY(!policy.isHeld(2));
    // Held again later: its aging starts over.
    QCOMPARE(decisionFor(policy.decide({urgent(1), grouped(2)}, lanes, clock.nowMs()), 2),
             (Decision{2, true, 0}));
}

void TestPreemptionPolicy::anUrgentJobNotYetRunningCountsAsWaiting()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    FakeClock clock;
    // Lower lanes yield before the urgent job's first claim.
    const Runner starting{1, 1, false, false, false};
    QVERIFY(decisionFor(policy.decide({starting, grouped(2)}, lanes, clock.nowMs()), 2).held);
}

void TestPreemptionPolicy::aPausedRealtimeLaneHoldsNobody()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    lanes.setPaused(Lane::Realtime, true);
    FakeClock clock;
    const auto decisions = policy.decide({urgent(1), grouped(2)}, lanes, clock.nowMs());
    QCOMPARE(decisionFor(decisions, 1), (Decision{1, true, 0})); // its own lane is paused
    QCOMPARE(decisionFor(decisions, 2), (Decision{2, false, 0}));
}

void TestPreemptionPolicy::aPausedLaneStaysHeldWhenPreemptionEnds()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    lanes.setPaused(Lane::Grouped, true);
    FakeClock clock;
    QCOMPARE(decisionFor(policy.decide({urgent(1), grouped(2), bulk(3, false)}, lanes, clock.nowMs()), 2),
             (Decision{2, true, 0}));
    clock.advance(1'000);
    const auto after = policy.decide({urgent(1, false), grouped(2), bulk(3, false)}, lanes, clock.nowMs());
    QCOMPARE(decisionFor(after, 2), (Decision{2, true, 0})); // the user's pause outlives preemption
    QCOMPARE(decisionFor(after, 3), (Decision{3, false, 0}));
    lanes.setPaused(Lane::Grouped, false);
    QCOMPARE(decisionFor(policy.decide({grouped(2)}, lanes, clock.nowMs()), 2), (Decision{2, false, 0}));
}

void TestPreemptionPolicy::aPausedLaneGetsNoAgingTrickle()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    lanes.setPaused(Lane::Batch, true);
    FakeClock clock;
    const QList<Runner> runners{urgent(1), grouped(2), bulk(3, false)};
    policy.decide(runners, lanes, clock.nowMs());
    clock.advance(kAgingMs);
    const auto aged = policy.decide(runners, lanes, clock.nowMs());
    QCOMPARE(decisionFor(aged, 2), (Decision{2, true, 1}));
    QCOMPARE(decisionFor(aged, 3), (Decision{3, true, 0}));
}

void TestPreemptionPolicy::urgentWorkElsewhereHoldsWithAGrace()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    FakeClock clock;
    bool elsewhere = true;
    const auto probe = [&elsewhere] { return elsewhere; };
    QVERIFY(decisionFor(policy.decide({grouped(2)}, lanes, clock.nowMs(), probe), 2).held);
    // Between the other process's claims it is not seen for a moment: still held.
    elsewhere = false;
    clock.advance(PreemptionPolicy::kUrgentElsewhereGraceMs - 1);
    QVERIFY(decisionFor(policy.decide({grouped(2)}, lanes, clock.nowMs(), probe), 2).held);
    clock.advance(1);
    QVERIFY(!decisionFor(policy.decide({grouped(2)}, lanes, clock.nowMs(), probe), 2).held);
}

void TestPreemptionPolicy::urgentElsewhereIsAskedOnlyWhenSomethingCouldYield()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    FakeClock clock;
    int asked = 0;
    const auto probe = [&asked] {
        ++asked;
        return true;
    };
    // Urgent work here already decides; provider batches and stopped runners never yield.
    policy.decide({urgent(1), grouped(2)}, lanes, clock.nowMs(), probe);
    policy.decide({bulk(3, true)}, lanes, clock.nowMs(), probe);
    policy.decide({Runner{4, 2, false, false, true}}, lanes, clock.nowMs(), probe);
    QCOMPARE(asked, 0);
    QVERIFY(!decisionFor(policy.decide({bulk(3, true)}, lanes, clock.nowMs(), probe), 3).held);
    policy.decide({grouped(2)}, lanes, clock.nowMs(), probe);
    QCOMPARE(asked, 1);
}

void TestPreemptionPolicy::aForgottenJobAgesAfresh()
{
    PreemptionPolicy policy(kAgingMs);
    LaneControls lanes;
    FakeClock clock;
    policy.decide({urgent(1), grouped(2)}, lanes, clock.nowMs());
    clock.advance(kAgingMs);
    policy.forget(2); // its runner went away and a new one started
    QCOMPARE(decisionFor(policy.decide({urgent(1), grouped(2)}, lanes, clock.nowMs()), 2),
             (Decision{2, true, 0}));
}

QTEST_GUILESS_MAIN(TestPreemptionPolicy)
#include "test_preemptionpolicy.moc"
