// The global budget: a USD cap across every job of the database. GlobalBudget's
// arithmetic and periods on their own; then the real engine on the simulator with many
// requests in flight from two jobs at once: the spend never passes the cap, the 80 % and
// 100 % alerts are stored with their figures, every job pauses, and raising the cap
// resumes them to the end. Last, another worker's spend and cap on the same database
// reach a running engine.

#include "../support/testcsv.h"
#include "dispatch/globalbudget.h"
#include "api/engine.h"
#include "store/sqlite/sqlitestore.h"

#include <QDateTime>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::dispatch::GlobalBudget;

class TestGlobalBudget : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void periodsAreUtcCalendarRanges();
    void reservationsSettlementsAndReads();
    void concurrentJobsStopAtTheCapAndResumeWhenRaised();
    void anotherProcessesSpendAndCapAreReadBack();
    void batchLaneSpendIsCountedOnce();

private:
    static QString writeCsv(const QTemporaryDir &dir, const QString &name, int rows)
    {
        return bd::testing::writeNumberedCsv(dir, name, rows);
    }
};

void TestGlobalBudget::periodsAreUtcCalendarRanges()
{
    const qint64 now = QDateTime(QDate(2026, 11, 26), QTime(21, 15), Qt::UTC).toMSecsSinceEpoch();
    QCOMPARE(GlobalBudget::periodStartMs(GlobalBudget::Period::Month, now),
             QDateTime(QDate(2026, 11, 1), QTime(0, 0), Qt::UTC).toMSecsSinceEpoch());
    QCOMPARE(GlobalBudget::periodStartMs(GlobalBudget::Period::Day, now),
             QDateTime(QDate(2026, 11, 26), QTime(0, 0), Qt::UTC).toMSecsSinceEpoch());
    QCOMPARE(GlobalBudget::periodStartMs(GlobalBudget::Period::All, now), 0);
    QCOMPARE(GlobalBudget::periodFromName(u"month"_s), GlobalBudget::Period::Month);
    QCOMPARE(GlobalBudget::periodFromName(u"day"_s), GlobalBudget::Period::Day);
    QCOMPARE(GlobalBudget::periodFromName(u"all"_s), GlobalBudget::Period::All);
    QVERIFY(!GlobalBudget::periodFromName(u"week"_s));
    QCOMPARE(GlobalBudget::periodName(GlobalBudget::Period::Day), u"day"_s);
}

void TestGlobalBudget::reservationsSettlementsAndReads()
{
    GlobalBudget budget;
    QVERIFY(budget.fits(1e9)); // no cap
    budget.setCap(1.0, GlobalBudget::Period::Month);
    budget.setStoredSpend(0.5);
    QVERIFY(budget.tryReserve(0.3));
    QVERIFY(budget.tryReserve(0.2));
    QVERIFY(!budget.tryReserve(0.01)); // 0.5 spent + 0.5 reserved: full
    // Full of reservations only: the request fits once they come back, so a job waits
    // for them instead of pausing.
    QVERIFY(budget.fitsBesideSpend(0.4));
    QVERIFY(!budget.fitsBesideSpend(0.51));
    // An answer costs less than its reservation: room again.
    budget.release(0.3);
    budget.settled(0.1);
    QCOMPARE(budget.spentUsd(), 0.6);
    QVERIFY(budget.fits(0.2));
    QVERIFY(!budget.fits(0.21));
    // Written to the database, then read back with another process's 0.05: counted once.
    budget.written(0.1);
    QCOMPARE(budget.spentUsd(), 0.6);
    budget.setStoredSpend(0.65);
    QCOMPARE(budget.spentUsd(), 0.65);
    QVERIFY(!budget.isReached());
    budget.release(0.2);
    QCOMPARE(budget.reservedUsd(), 0.0);
    budget.settled(0.35);
    QVERIFY(budget.isReached());
    QVERIFY(!budget.fits(0.0001));
}

void TestGlobalBudget::concurrentJobsStopAtTheCapAndResumeWhenRaised()
{
    QTemporaryDir dir;
    bd::EngineOptions options;
    options.database = dir.filePath(u"budget.sqlite"_s);
    options.runner.concurrency = 48;
    auto engineOwner = bd::createEngine(options);
    bd::Engine &engine = *engineOwner;
    QSignalSpy opened(&engine, &bd::Engine::opened);
    engine.open();
    QTRY_COMPARE(opened.count(), 1);
    QVERIFY(opened.at(0).at(0).toBool());
    engine.setSnapshotInterval(50);

    QSignalSpy imported(&engine, &bd::Engine::importFinished);
    QSignalSpy stopped(&engine, &bd::Engine::jobStopped);
    QSignalSpy snapshots(&engine, &bd::Engine::snapshotTaken);
    QSignalSpy budgetChanged(&engine, &bd::Engine::globalBudgetChanged);
    const auto importJob = [&](const QString &csv) -> qint64 {
        bd::JobSpec spec;
        spec.sourcePath = csv;
        spec.templateText = u"Echo {{text}}"_s;
        spec.model = u"sim-1"_s;
        spec.priority = 2;
        spec.mode = u"grouped"_s;
        spec.settings = QJsonObject{{u"response_cache"_s, false}};
        const int before = int(imported.count());
        engine.importJob(spec);
        if (!QTest::qWaitFor([&] { return imported.count() > before; }, 20'000))
            return 0;
        return imported.last().at(0).value<bd::ImportResult>().jobId;
    };
    const qint64 a = importJob(writeCsv(dir, u"a.csv"_s, 1'500));
    const qint64 b = importJob(writeCsv(dir, u"b.csv"_s, 1'500));
    QVERIFY(a > 0 && b > 0);

    // About 1,000 of the 3,000 tasks fit.
    constexpr double kCap = 0.015;
    engine.setGlobalBudget(kCap, u"month"_s);
    QTRY_COMPARE(budgetChanged.count(), 1);
    QCOMPARE(budgetChanged.at(0).at(0).toDouble(), kCap);
    bd::ProviderConfig simulator;
    simulator.settings = QJsonObject{{u"latency_ms"_s, 15}};
    engine.startJob(a, simulator);
    engine.startJob(b, simulator);
    QTRY_COMPARE_WITH_TIMEOUT(stopped.count(), 2, 60'000);
    for (const QList<QVariant> &stop : std::as_const(stopped)) {
        QCOMPARE(stop.at(1).value<bd::JobState>(), bd::JobState::Paused);
        QCOMPARE(stop.at(2).toString(), u"global budget reached"_s);
    }

    bd::store::SqliteStore reader(options.database);
    const double spent = reader.spendSince(0);
    const double jobsCost = reader.job(a)->costUsd + reader.job(b)->costUsd;
    QVERIFY2(spent <= kCap, qPrintable(QString::number(spent, 'g', 10)));
    QVERIFY2(qAbs(spent - jobsCost) < 1e-9, qPrintable(u"%1 vs %2"_s.arg(spent).arg(jobsCost)));
    // Stopped because the next worst case did not fit, not far below the cap.
    QVERIFY2(spent >= 0.8 * kCap, qPrintable(QString::number(spent, 'g', 10)));
    const bd::TaskCounts countsA = reader.taskCounts(a);
    const bd::TaskCounts countsB = reader.taskCounts(b);
    QVERIFY(countsA.completed > 0 && countsB.completed > 0); // both ran, sharing the cap
    QCOMPARE(countsA.leased + countsB.leased, 0);

    QMap<QString, bd::AlertRecord> open;
    for (const bd::AlertRecord &alert : reader.alerts(false))
        open.insert(alert.kind, alert);
    QVERIFY(open.contains(u"global_budget_80"_s));
    QVERIFY(open.contains(u"global_budget_exhausted"_s));
    const QJsonObject figures = open.value(u"global_budget_exhausted"_s).figures;
    QCOMPARE(figures.value(u"threshold"_s).toDouble(), kCap);
    QVERIFY(figures.value(u"value"_s).toDouble() <= kCap);
    QCOMPARE(open.value(u"global_budget_exhausted"_s).jobId, 0);

    // The snapshot carries the cap and the spend of every process.
    snapshots.clear();
    QTRY_VERIFY(!snapshots.isEmpty());
    const auto snapshot = snapshots.last().at(0).value<bd::EngineSnapshot>();
    QCOMPARE(snapshot.globalBudgetUsd, kCap);
    QCOMPARE(snapshot.globalBudgetPeriod, u"month"_s);
    QVERIFY(qAbs(snapshot.globalSpentUsd - spent) < 1e-9);
    QVERIFY(snapshot.globalBudgetReached);

    // A higher cap resumes both jobs where they stopped; each row is answered once.
    engine.setGlobalBudget(1.0, QString());
    QTRY_COMPARE_WITH_TIMEOUT(stopped.count(), 4, 60'000);
    for (int i = 2; i < 4; ++i)
        QCOMPARE(stopped.at(i).at(1).value<bd::JobState>(), bd::JobState::Finished);
    QCOMPARE(reader.taskCounts(a).completed, qint64(1'500));
    QCOMPARE(reader.taskCounts(b).completed, qint64(1'500));
    QCOMPARE(reader.setting(u"global_budget_period"_s).value_or(QString()), u"month"_s); // kept
    QTRY_VERIFY(reader.alerts(false).isEmpty());
    const double total = reader.spendSince(0);
    QVERIFY(qAbs(total - (reader.job(a)->costUsd + reader.job(b)->costUsd)) < 1e-9);
}

// What another worker does on the same database reaches a running engine within a tick:
// its spend (completions it stores) and a cap it sets (`batchctl budget --set`).
void TestGlobalBudget::anotherProcessesSpendAndCapAreReadBack()
{
    QTemporaryDir dir;
    bd::EngineOptions options;
    options.database = dir.filePath(u"shared.sqlite"_s);
    options.runner.concurrency = 2;
    auto engineOwner = bd::createEngine(options);
    bd::Engine &engine = *engineOwner;
    QSignalSpy opened(&engine, &bd::Engine::opened);
    engine.open();
    QTRY_COMPARE(opened.count(), 1);
    engine.setSnapshotInterval(50);
    QSignalSpy imported(&engine, &bd::Engine::importFinished);
    QSignalSpy stopped(&engine, &bd::Engine::jobStopped);
    QSignalSpy snapshots(&engine, &bd::Engine::snapshotTaken);
    bd::JobSpec spec;
    spec.sourcePath = writeCsv(dir, u"slow.csv"_s, 400);
    spec.templateText = u"Echo {{text}}"_s;
    spec.model = u"sim-1"_s;
    spec.mode = u"grouped"_s;
    engine.importJob(spec);
    QTRY_COMPARE_WITH_TIMEOUT(imported.count(), 1, 20'000);
    const qint64 job = imported.at(0).at(0).value<bd::ImportResult>().jobId;

    // The other worker: its own connection, its own job, its own completions.
    bd::store::SqliteStore other(options.database);
    QVERIFY(other.isOpen());
    const qint64 otherJob =
        other.createJob(spec, {u"id"_s, u"text"_s}, QDateTime::currentMSecsSinceEpoch());
    QVERIFY(other.appendTasks(otherJob, 1, {{u"1"_s, u"x"_s}, {u"2"_s, u"y"_s}}, 2,
                              QDateTime::currentMSecsSinceEpoch()));

    // A cap set by the other worker reaches this engine.
    QVERIFY(other.setSetting(u"global_budget_usd"_s, u"0.5"_s));
    snapshots.clear();
    QTRY_VERIFY(!snapshots.isEmpty() &&
                snapshots.last().at(0).value<bd::EngineSnapshot>().globalBudgetUsd == 0.5);

    bd::ProviderConfig slow;
    slow.settings = QJsonObject{{u"latency_ms"_s, 40}};
    engine.startJob(job, slow);
    bd::store::SqliteStore reader(options.database);
    QTRY_VERIFY_WITH_TIMEOUT(reader.taskCounts(job).completed >= 10, 20'000);

    // The other worker completes two tasks at $0.25 each: the cap is spent.
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    QList<bd::ClaimedTask> claimed;
    QVERIFY(other.claimTasks(otherJob, u"other:1:aaaaaa"_s, 2, now, now + 60'000, &claimed));
    QList<bd::TaskTransition> answers;
    for (const bd::ClaimedTask &task : std::as_const(claimed)) {
        bd::TaskTransition t;
        t.outcome.taskId = task.id;
        t.outcome.output = u"answer"_s;
        t.outcome.costUsd = 0.25;
        answers.append(t);
    }
    QVERIFY(other.applyTransitions(u"other:1:aaaaaa"_s, answers, now));
    QTRY_COMPARE_WITH_TIMEOUT(stopped.count(), 1, 10'000);
    QCOMPARE(stopped.at(0).at(1).value<bd::JobState>(), bd::JobState::Paused);
    QCOMPARE(stopped.at(0).at(2).toString(), u"global budget reached"_s);
    QVERIFY(reader.taskCounts(job).pending > 0);

    // The other worker raises the cap: the job here goes on to the end.
    QVERIFY(other.setSetting(u"global_budget_usd"_s, u"0"_s));
    QTRY_COMPARE_WITH_TIMEOUT(stopped.count(), 2, 120'000);
    QCOMPARE(stopped.at(1).at(1).value<bd::JobState>(), bd::JobState::Finished);
    QCOMPARE(reader.taskCounts(job).completed, qint64(400));
}

// Answers settled through provider batches are written by the batch lane itself: the
// pool must count them once (as stored), not also as settled-but-unwritten for ever.
void TestGlobalBudget::batchLaneSpendIsCountedOnce()
{
    QTemporaryDir dir;
    bd::EngineOptions options;
    options.database = dir.filePath(u"batch.sqlite"_s);
    options.runner.batchApiMaxWaitMs = 50;
    options.runner.batchPollFirstMs = 20;
    options.runner.maxBatchSize = 50;
    auto engine = bd::createEngine(options);
    QSignalSpy opened(engine.get(), &bd::Engine::opened);
    engine->open();
    QTRY_COMPARE(opened.count(), 1);
    engine->setSnapshotInterval(50);
    QSignalSpy imported(engine.get(), &bd::Engine::importFinished);
    QSignalSpy stopped(engine.get(), &bd::Engine::jobStopped);
    QSignalSpy snapshots(engine.get(), &bd::Engine::snapshotTaken);
    bd::JobSpec spec;
    spec.sourcePath = writeCsv(dir, u"batch.csv"_s, 200);
    spec.templateText = u"Echo {{text}}"_s;
    spec.model = u"sim-1"_s;
    spec.priority = 3;
    spec.mode = u"batch-api"_s;
    spec.settings = QJsonObject{{u"response_cache"_s, false}};
    engine->importJob(spec);
    QTRY_COMPARE_WITH_TIMEOUT(imported.count(), 1, 20'000);
    const qint64 job = imported.at(0).at(0).value<bd::ImportResult>().jobId;
    engine->setGlobalBudget(10.0, u"month"_s); // a cap far away: the pool is in use
    engine->startJob(job, bd::ProviderConfig{});
    QTRY_COMPARE_WITH_TIMEOUT(stopped.count(), 1, 60'000);
    QCOMPARE(stopped.at(0).at(1).value<bd::JobState>(), bd::JobState::Finished);

    bd::store::SqliteStore reader(options.database);
    const double stored = reader.spendSince(0);
    QVERIFY(stored > 0);
    QCOMPARE(reader.taskCounts(job).completed, qint64(200));
    snapshots.clear();
    QTRY_VERIFY(!snapshots.isEmpty());
    const auto snapshot = snapshots.last().at(0).value<bd::EngineSnapshot>();
    QVERIFY2(
        qAbs(snapshot.globalSpentUsd - stored) < 1e-9,
        qPrintable(
            u"engine says %1 spent, the database %2"_s.arg(snapshot.globalSpentUsd).arg(stored)));
    QCOMPARE(snapshot.globalReservedUsd, 0.0); // nothing in flight any more
}

QTEST_GUILESS_MAIN(TestGlobalBudget)
#include "test_global_budget.moc"
