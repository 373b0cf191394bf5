// The budget gate of one job: its own cap and the engine-wide one (GlobalBudget) decide
// whether a request's worst case may be reserved, what the runner does when it may not
// (wait for answers in flight, wait for other jobs, pause under which cap), the warning
// share, and that reservations never outlive the runner in the shared pool.

#include "dispatch/budgetgate.h"

#include <QTest>

#include <memory>

using bd::dispatch::BudgetGate;
using bd::dispatch::GlobalBudget;
using Refusal = BudgetGate::Refusal;

class TestBudgetGate : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void noCapLetsEverythingGo()
    {
        BudgetGate gate;
        QVERIFY(gate.allows(1e9));
        gate.reserve(5.0);
        gate.settled(3.0);
        QVERIFY(gate.allows(1e9));
        QVERIFY(!gate.jobCapReached());
        QVERIFY(!gate.takeWarning());
    }

    void jobCapCountsSpendAndReservations()
    {
        // Binary fractions: the edges are exact.
        BudgetGate gate(1.0);
        gate.setSpent(0.375);
        QVERIFY(gate.allows(0.625)); // exactly fits
        QVERIFY(!gate.allows(0.626));
        gate.reserve(0.5);           // a request in flight may still cost this much
        QVERIFY(gate.allows(0.125));
        QVERIFY(!gate.allows(0.126));
        // It came back cheaper than its worst case: the rest of the reservation is free.
        gate.release(0.5);
        gate.settled(0.125);
        QCOMPARE(gate.spentUsd(), 0.5);
        QCOMPARE(gate.reservedUsd(), 0.0);
        QVERIFY(gate.allows(0.5));
        QVERIFY(!gate.allows(0.501));
        // Releasing more than was reserved never goes below zero.
        gate.release(1.0);
        QCOMPARE(gate.reservedUsd(), 0.0);
    }

    void refusedUnderTheJobCap()
    {
        BudgetGate gate(1.0);
        gate.setSpent(0.75);
        gate.reserve(0.125);
        QVERIFY(!gate.allows(0.25));
        // Its own answers in flight decide when they are back.
        QCOMPARE(gate.refusal(0.25, true), Refusal::WaitForOwnAnswers);
        // Nothing of its own in flight: no answer will make room, the job pauses.
        QCOMPARE(gate.refusal(0.25, false), Refusal::PauseForJobCap);
        gate.release(0.125);
        gate.settled(0.25);
        QVERIFY(gate.jobCapReached());
    }

    void globalCapWaitsForOtherJobsReservations()
    {
        auto global = std::make_shared<GlobalBudget>();
        global->setCap(10.0, GlobalBudget::Period::Month);
        global->setStoredSpend(6.0);
        BudgetGate other;
        other.setGlobal(global);
        other.reserve(3.5); // another job's requests in flight
        BudgetGate gate(100.0);
        gate.setGlobal(global);
        QVERIFY(gate.allows(0.5));
        QVERIFY(!gate.allows(0.6));
        // Spent 6 of 10: 0.6 fits once the other job's answers are in.
        QCOMPARE(gate.refusal(0.6, false), Refusal::WaitForOthers);
        QCOMPARE(gate.refusal(0.6, true), Refusal::WaitForOwnAnswers);
        // More than what is left beside the real spend: pause under the global cap.
        QVERIFY(!gate.allows(4.5));
        QCOMPARE(gate.refusal(4.5, false), Refusal::PauseForGlobalCap);
        other.release(3.5);
        QVERIFY(gate.allows(0.6));
    }

    void spendReachesTheSharedPool()
    {
        auto global = std::make_shared<GlobalBudget>();
        global->setCap(1.0, GlobalBudget::Period::All);
        BudgetGate gate;
        gate.setGlobal(global);
        gate.reserve(0.375);
        QCOMPARE(global->reservedUsd(), 0.375);
        gate.release(0.375);
        gate.settled(0.25); // answered, not written yet
        QCOMPARE(global->spentUsd(), 0.25);
        gate.written(0.25); // written: the pool counts it once
        QCOMPARE(global->spentUsd(), 0.25);
        gate.charged(0.75); // a charge stored at once
        QCOMPARE(global->spentUsd(), 1.0);
        QCOMPARE(gate.spentUsd(), 1.0);
        QVERIFY(gate.globalCapReached());
        // A classification's cost is the job's; the pool counts it with the task's answer.
        gate.addSpent(0.125);
        QCOMPARE(gate.spentUsd(), 1.125);
        QCOMPARE(global->spentUsd(), 1.0);
    }

    void reservationsLeaveThePoolWithTheRunner()
    {
        auto global = std::make_shared<GlobalBudget>();
        global->setCap(1.0, GlobalBudget::Period::All);
        {
            BudgetGate gate;
            gate.setGlobal(global);
            gate.reserve(0.75); // requests that never come back
            QVERIFY(!global->fits(0.5));
        }
        QCOMPARE(global->reservedUsd(), 0.0);
        QVERIFY(global->fits(0.5));
    }

    void warnsOnceAtItsShare()
    {
        BudgetGate gate(2.0);
        gate.setWarnFraction(0.5);
        gate.settled(0.875);
        QVERIFY(!gate.takeWarning());
        gate.settled(0.125);
        QVERIFY(gate.takeWarning());
        gate.settled(0.5);
        QVERIFY(!gate.takeWarning()); // once per job
        QCOMPARE(gate.figures().value(u"spent_usd").toDouble(), 1.5);
        QCOMPARE(gate.figures().value(u"budget_usd").toDouble(), 2.0);

        BudgetGate silent(2.0);
        silent.setWarnFraction(0.0); // no warning at all
        silent.settled(2.0);
        QVERIFY(!silent.takeWarning());
    }
};

QTEST_APPLESS_MAIN(TestBudgetGate)
#include "test_budgetgate.moc"
