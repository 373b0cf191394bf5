// What limits a running job (issue #14, api/joblimit.h): the engine's derivation from what
// every worker reports, in the order a person can do least about.

#include "api/joblimit.h"

#include <QTest>

using namespace Qt::StringLiterals;
using bd::JobLimit;
using bd::JobLoadFigures;

class TestJobLimit : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void eachLimitSaysWhatToDo()
    {
        JobLoadFigures f;
        f.workers = 2;
        f.saturatedWorkers = 1;
        f.inFlight = 10;
        QCOMPARE(bd::explainJobLimit(f).kind, JobLimit::Kind::None);
        QVERIFY(bd::explainJobLimit(f).text.isEmpty());

        f.saturatedWorkers = 2; // every worker's slots taken
        QCOMPARE(bd::explainJobLimit(f).kind, JobLimit::Kind::WorkersSaturated);
        QCOMPARE(bd::explainJobLimit(f).text,
                 u"workers saturated (2 workers, every request slot taken) — add workers"_s);

        f.concurrencyCeiling = 10; // ... because the job's ceiling allows no more
        QCOMPARE(bd::explainJobLimit(f).kind, JobLimit::Kind::Concurrency);
        QVERIFY(bd::explainJobLimit(f).text.contains(u"more workers would not help"_s));

        f.configuredRpm = 600;
        f.sentPerMinute = 530; // under 90 %: not the rate
        QCOMPARE(bd::explainJobLimit(f).kind, JobLimit::Kind::Concurrency);
        f.sentPerMinute = 588;
        const JobLimit rate = bd::explainJobLimit(f);
        QCOMPARE(rate.kind, JobLimit::Kind::RateLimit);
        QCOMPARE(rate.percent, 98);
        QCOMPARE(rate.text,
                 u"98 % of the provider's rate limit in use — more workers would not help"_s);
        f.sentPerMinute = 700; // a burst over the window: never more than all of it
        QCOMPARE(bd::explainJobLimit(f).percent, 100);

        // Priority 1 work (here or in another process) goes first: this job's lane waits.
        f.heldForUrgentWork = true;
        QCOMPARE(bd::explainJobLimit(f).kind, JobLimit::Kind::UrgentWork);
        QVERIFY(bd::explainJobLimit(f).text.startsWith(u"priority 1 work goes first"_s));
        f.budgetHeld = true;
        QCOMPARE(bd::explainJobLimit(f).kind, JobLimit::Kind::Budget);
        f.breakerOpen = true;
        QCOMPARE(bd::explainJobLimit(f).kind, JobLimit::Kind::Breaker);
    }
};

QTEST_GUILESS_MAIN(TestJobLimit)
#include "test_joblimit.moc"
