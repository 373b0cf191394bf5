// A cap shared by workers through the database (dispatch/capledger.h): each worker's claim
// covers its requests in flight and its answers settled but not written; a claim is raised
// (published, then the others' read) before a request it does not cover. Two workers
// racing for the last room cannot both take it, answers one worker settled or wrote count
// for the other at its next claim, and room that became spend is not used twice. The
// "database" here is the few figures the exchange publishes and reads (a map of claims and
// a spend total); the real one is exercised by test_workers.

#include "dispatch/budgetgate.h"
#include "dispatch/capledger.h"

#include <functional>
#include <QHash>
#include <QTest>

using bd::dispatch::BudgetGate;
using bd::dispatch::CapLedger;

namespace {

// Claims and written spend as the database holds them; `between` runs between a worker's
// publish and its read (where another worker's whole claim may fall).
struct Shared
{
    QHash<QString, double> claims;
    double spent = 0.0;
    std::function<void()> between;
    int exchanges = 0;

    CapLedger::Exchange exchangeFor(const QString &worker)
    {
        return [this, worker](double mineUsd) -> std::optional<CapLedger::View> {
            ++exchanges;
            claims[worker] = mineUsd;
            if (auto hook = std::exchange(between, nullptr))
                hook();
            double others = 0.0;
            for (auto it = claims.cbegin(); it != claims.cend(); ++it)
                others += it.key() == worker ? 0.0 : it.value();
            return CapLedger::View{others, spent};
        };
    }
};

CapLedger sharedLedger(Shared &shared, const QString &worker, double cap)
{
    CapLedger ledger;
    ledger.setCap(cap);
    ledger.setExchange(shared.exchangeFor(worker));
    return ledger;
}

} // namespace

class TestCapLedger : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void twoWorkersRacingForTheLastRoomDoNotBothTakeIt()
    {
        // Binary fractions: the edges are exact. Room for one request of 0.5 under a cap of
        // 1.0 once 0.5 is spent; B's whole claim falls between A's publish and A's read.
        Shared shared;
        shared.spent = 0.5;
        CapLedger a = sharedLedger(shared, u"A"_qs, 1.0);
        CapLedger b = sharedLedger(shared, u"B"_qs, 1.0);
        a.setStoredSpend(0.5);
        b.setStoredSpend(0.5);
        bool bAdmitted = false;
        shared.between = [&] {
            bAdmitted = b.admit(0.5);
            if (bAdmitted)
                b.reserve(0.5);
        };
        const bool aAdmitted = a.admit(0.5);
        if (aAdmitted)
            a.reserve(0.5);
        QVERIFY(!(aAdmitted && bAdmitted));
        QVERIFY(aAdmitted || bAdmitted || shared.claims.value(u"A"_qs) == 0.0);
        QCOMPARE(a.reservedUsd() + b.reservedUsd() + shared.spent <= 1.0, true);
    }

    void aRefusedClaimGivesTheRoomBack()
    {
        Shared shared;
        CapLedger a = sharedLedger(shared, u"A"_qs, 1.0);
        CapLedger b = sharedLedger(shared, u"B"_qs, 1.0);
        QVERIFY(a.admit(0.75));
        a.reserve(0.75);
        QVERIFY(!b.admit(0.5));
        QCOMPARE(shared.claims.value(u"B"_qs), 0.0); // B holds nothing it did not get
        QVERIFY(b.admit(0.25));
    }

    void answersSettledElsewhereCountUntilWritten()
    {
        // A's answer came back and cost its worst case; until A writes it, A's claim still
        // covers it, so B cannot spend the same room (the job budget's race of session 7,
        // where only requests in flight were exchanged).
        Shared shared;
        CapLedger a = sharedLedger(shared, u"A"_qs, 1.0);
        CapLedger b = sharedLedger(shared, u"B"_qs, 1.0);
        QVERIFY(a.admit(0.5));
        a.reserve(0.5);
        a.release(0.5);
        a.settled(0.5);
        QVERIFY(a.exchange()); // A's tick: its claim shrinks to what it covers, 0.5
        QCOMPARE(shared.claims.value(u"A"_qs), 0.5);
        QVERIFY(!b.admit(0.75));
        QVERIFY(b.admit(0.5));
        b.reserve(0.5);
        // Written: the spend holds it, A's claim no longer does (after A's next tick).
        a.written(0.5);
        shared.spent += 0.5;
        QVERIFY(a.exchange());
        QCOMPARE(shared.claims.value(u"A"_qs), 0.0);
        QVERIFY(!a.admit(0.25)); // 0.5 spent + B's 0.5: full
        QCOMPARE(a.spentUsd(), 0.5);
    }

    void roomThatBecameSpendIsNotUsedTwice()
    {
        // Alone on the database: A claims ahead, an answer is written, and the claim's room
        // for it is gone until the spend is read again.
        Shared shared;
        CapLedger a = sharedLedger(shared, u"A"_qs, 1.0);
        QVERIFY(a.admit(0.125)); // claims ahead: 0.125 + 4 x 0.125
        a.reserve(0.125);
        QCOMPARE(shared.claims.value(u"A"_qs), 0.625);
        a.release(0.125);
        a.settled(0.125);
        a.written(0.125);
        shared.spent += 0.125; // in the database now; A has not read it
        int before = shared.exchanges;
        for (int i = 0; i < 4; ++i) { // within the claim: no statement
            QVERIFY(a.admit(0.125));
            a.reserve(0.125);
        }
        QCOMPARE(shared.exchanges, before);
        QCOMPARE(a.reservedUsd() + shared.spent, 0.625);
        QVERIFY(a.admit(0.25)); // raised: 0.125 spent + 0.5 + 0.25 + ... <= 1.0
        a.reserve(0.25);
        QVERIFY(!a.admit(0.25)); // 0.125 + 0.75 + 0.25 > 1.0
        QVERIFY(a.admit(0.125));
        a.reserve(0.125);
        QCOMPARE(a.reservedUsd() + shared.spent, 1.0);
    }

    void aDatabaseErrorSendsNothing()
    {
        CapLedger a;
        a.setCap(1.0);
        a.setExchange([](double) { return std::optional<CapLedger::View>(); });
        QVERIFY(!a.admit(0.125));
        QVERIFY(!a.exchange());
    }

    void aClaimThatShrankAfterTheReadWaitsNotPauses()
    {
        // B is refused by A's claim, and A's claim is gone by the time B gives its own back
        // (A's answers written, its tick): room is left beside the spend, so B waits and
        // asks again rather than pausing the job at its budget (the flake of session 7).
        Shared shared;
        BudgetGate b(1.0);
        b.setExchange(shared.exchangeFor(u"B"_qs));
        shared.claims[u"A"_qs] = 0.75;
        QVERIFY(!b.allows(0.5));
        shared.claims[u"A"_qs] = 0.0;
        shared.spent = 0.25;
        b.exchange();
        QCOMPARE(b.refusal(0.5, false), BudgetGate::Refusal::WaitForOthers);
        QVERIFY(b.allows(0.5));
        b.reserve(0.5);
        QVERIFY(!b.allows(0.5));
        QCOMPARE(b.refusal(0.5, true), BudgetGate::Refusal::WaitForOwnAnswers);
        b.release(0.5);
        b.settled(0.5);
        b.written(0.5);
        shared.spent += 0.5;
        QVERIFY(!b.allows(0.5)); // 0.75 really spent
        QCOMPARE(b.refusal(0.5, false), BudgetGate::Refusal::PauseForJobCap);
    }

    void aJobGateClaimsItsBudgetAcrossWorkers()
    {
        // Two runners of one job on two workers: the job's cap holds for both.
        Shared shared;
        BudgetGate a(1.0);
        BudgetGate b(1.0);
        a.setExchange(shared.exchangeFor(u"A"_qs));
        b.setExchange(shared.exchangeFor(u"B"_qs));
        QVERIFY(a.allows(0.5));
        a.reserve(0.5);
        QVERIFY(b.allows(0.5));
        b.reserve(0.5);
        QVERIFY(!b.allows(0.125));
        QCOMPARE(b.refusal(0.125, true), BudgetGate::Refusal::WaitForOwnAnswers);
        QVERIFY(!a.allows(0.125));
    }
};

QTEST_GUILESS_MAIN(TestCapLedger)
#include "test_capledger.moc"
