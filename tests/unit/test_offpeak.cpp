// Off-peak windows for priority-3 work: the window itself (inside, outside, across midnight,
// in a named time zone) and a job runner that holds its work until the window opens or the
// user says "run now". Fake clock, real SQLite store, the simulator.

#include "core/clock.h"
#include "cost/pricetable.h"
#include "dispatch/jobrunner.h"
#include "dispatch/offpeakwindow.h"
#include "api/engine.h"
#include "providers/simulatorprovider.h"
#include "store/sqlite/sqlitestore.h"

#include <QDateTime>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimeZone>

using namespace Qt::StringLiterals;
using bd::JobState;
using bd::dispatch::JobRunner;
using bd::dispatch::OffPeakWindow;

namespace {

qint64 utc(const QString &iso)
{
    return QDateTime::fromString(iso, Qt::ISODate).toUTC().toMSecsSinceEpoch();
}

// A CSV of rows "row 0" ... in dir; its path.
QString writeRows(const QTemporaryDir &dir, int rows)
{
    QFile csv(dir.filePath(u"rows.csv"_s));
    if (!csv.open(QIODevice::WriteOnly))
        qFatal("cannot write %s", qPrintable(csv.fileName()));
    csv.write("text\n");
    for (int i = 0; i < rows; ++i)
        csv.write("row " + QByteArray::number(i) + '\n');
    return csv.fileName();
}

// A priority-3 job of grouped sync calls over that CSV, off-peak from 22:00 to 06:00 UTC.
bd::JobSpec offPeakSpec(const QString &csv)
{
    bd::JobSpec spec;
    spec.sourcePath = csv;
    spec.templateText = u"Echo {{text}}"_s;
    spec.model = u"sim-1"_s;
    spec.priority = 3;
    spec.mode = u"grouped"_s;
    spec.settings = {{u"offpeak"_s, QJsonObject{{u"start"_s, u"22:00"_s}, {u"end"_s, u"06:00"_s},
                                                 {u"timezone"_s, u"UTC"_s}}}};
    return spec;
}

OffPeakWindow window(const QString &text)
{
    QString error;
    const auto parsed = OffPeakWindow::parse(text, &error);
    if (!parsed)
        qFatal("%s: %s", qPrintable(text), qPrintable(error));
    return *parsed;
}

} // namespace

class TestOffPeak : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void windowWithinOneDay();
    void windowAcrossMidnightInAZone();
    void windowInLocalTime();
    void badWindowsAreRefused();
    void runnerWaitsForTheWindowAndTheTimerOpensIt();
    void runNowIsKeptAcrossARestart();
    void raisedFromAnotherEngineGoesAtOnce();
};

void TestOffPeak::windowWithinOneDay()
{
    const OffPeakWindow w = window(u"09:00-17:00@UTC"_s);
    QVERIFY(!w.contains(utc(u"2026-03-02T08:59:59Z"_s)));
    QVERIFY(w.contains(utc(u"2026-03-02T09:00:00Z"_s)));
    QVERIFY(w.contains(utc(u"2026-03-02T16:59:59Z"_s)));
    QVERIFY(!w.contains(utc(u"2026-03-02T17:00:00Z"_s)));
    QCOMPARE(w.msUntilOpen(utc(u"2026-03-02T12:00:00Z"_s)), qint64(0));
    QCOMPARE(w.msUntilOpen(utc(u"2026-03-02T08:00:00Z"_s)), qint64(3'600'000));
    // After today's window: tomorrow's start.
    QCOMPARE(w.msUntilOpen(utc(u"2026-03-02T17:30:00Z"_s)), qint64(15 * 3'600'000 + 1'800'000));
}

void TestOffPeak::windowAcrossMidnightInAZone()
{
    // 22:00-06:00 in Berlin: 21:00-05:00 UTC in winter (CET), 20:00-04:00 in summer (CEST).
    const OffPeakWindow w = window(u"22:00-06:00@Europe/Berlin"_s);
    QVERIFY(!w.contains(utc(u"2026-01-15T20:59:00Z"_s)));
    QVERIFY(w.contains(utc(u"2026-01-15T21:00:00Z"_s)));
    QVERIFY(w.contains(utc(u"2026-01-15T23:30:00Z"_s)));
    QVERIFY(w.contains(utc(u"2026-01-16T04:59:00Z"_s)));
    QVERIFY(!w.contains(utc(u"2026-01-16T05:00:00Z"_s)));
    QVERIFY(w.contains(utc(u"2026-07-15T20:00:00Z"_s)));
    QVERIFY(!w.contains(utc(u"2026-07-15T19:59:00Z"_s)));
    // 17:48 UTC is 18:48 in Berlin: the window opens in 3 h 12 min.
    const qint64 at = utc(u"2026-01-15T17:48:00Z"_s);
    QCOMPARE(w.msUntilOpen(at), qint64((3 * 60 + 12) * 60'000));
    QCOMPARE(w.waitingReason(at),
             u"waiting for off-peak window 22:00–06:00 Europe/Berlin (opens in 3 h 12 min)"_s);
    // Just after it closed: the next opening is tonight at 22:00 (16 h later).
    QCOMPARE(w.msUntilOpen(utc(u"2026-01-16T05:00:00Z"_s)), qint64(16 * 3'600'000));
    // The night the clocks go forward (29 March 2026) is an hour shorter.
    QCOMPARE(w.msUntilOpen(utc(u"2026-03-28T21:30:00Z"_s)), qint64(0));
    QVERIFY(!w.contains(utc(u"2026-03-29T04:00:00Z"_s))); // 06:00 CEST
}

void TestOffPeak::windowInLocalTime()
{
    // No zone: the machine's local time, whatever it is.
    const OffPeakWindow w = window(u"01:00-02:00"_s);
    const QDateTime localOneThirty(QDate(2026, 5, 4), QTime(1, 30));
    QVERIFY(w.contains(localOneThirty.toMSecsSinceEpoch()));
    const QDateTime localNoon(QDate(2026, 5, 4), QTime(12, 0));
    QVERIFY(!w.contains(localNoon.toMSecsSinceEpoch()));
    QCOMPARE(w.msUntilOpen(localNoon.toMSecsSinceEpoch()),
             localNoon.msecsTo(QDateTime(QDate(2026, 5, 5), QTime(1, 0))));
    QVERIFY(w.describe().endsWith(u"local time"_s));
}

void TestOffPeak::badWindowsAreRefused()
{
    QString error;
    QVERIFY(!OffPeakWindow::parse(u"22:00"_s, &error));
    QVERIFY(error.contains(u"HH:MM-HH:MM"_s));
    QVERIFY(!OffPeakWindow::parse(u"25:00-06:00"_s, &error));
    QVERIFY(error.contains(u"25:00"_s));
    QVERIFY(!OffPeakWindow::parse(u"22:00-06:00@Mars/Olympus"_s, &error));
    QVERIFY(error.contains(u"Mars/Olympus"_s));
    QVERIFY(!OffPeakWindow::fromJson({}, &error));
    QVERIFY(error.isEmpty()); // no window at all is not an error
}

namespace {

// A priority-3 job of grouped sync calls on the simulator with an off-peak window.
struct OffPeakJob
{
    QTemporaryDir dir;
    std::unique_ptr<bd::store::SqliteStore> store;
    qint64 jobId = 0;

    OffPeakJob(bd::Clock &clock, const QJsonObject &settings, int rows)
    {
        store = std::make_unique<bd::store::SqliteStore>(dir.filePath(u"offpeak.sqlite"_s));
        bd::JobSpec spec;
        spec.sourcePath = u"rows.csv"_s;
        spec.sourceSha256 = "00";
        spec.templateText = u"Echo {{text}}"_s;
        spec.model = u"sim-1"_s;
        spec.priority = 3;
        spec.mode = u"grouped"_s;
        spec.settings = settings;
        jobId = store->createJob(spec, {u"text"_s}, clock.nowMs());
        QList<QStringList> values;
        for (int i = 0; i < rows; ++i)
            values.append({u"row %1"_s.arg(i)});
        store->appendTasks(jobId, 1, values, 3, clock.nowMs());
        store->setJobState(jobId, JobState::Paused, QString(), clock.nowMs());
    }

    std::unique_ptr<JobRunner> runner(bd::Clock *clock)
    {
        JobRunner::Options options;
        options.idlePollMs = 5;
        options.flushIntervalMs = 5;
        auto provider = std::make_unique<bd::providers::SimulatorProvider>(bd::ProviderConfig{}, clock);
        return std::make_unique<JobRunner>(store.get(), std::move(provider), *store->job(jobId),
                                           bd::cost::PriceTable::builtIn(), clock,
                                           u"offpeakhost:1:1"_s, options);
    }
};

} // namespace

void TestOffPeak::runnerWaitsForTheWindowAndTheTimerOpensIt()
{
    // 21:59:59 UTC with a window from 22:00 UTC: nothing goes until the window opens, and a
    // timer (set for the second that is left) wakes the runner; nobody pokes it.
    bd::FakeClock clock(utc(u"2026-01-15T21:59:59Z"_s));
    const QJsonObject offpeak{{u"start"_s, u"22:00"_s}, {u"end"_s, u"06:00"_s}, {u"timezone"_s, u"UTC"_s}};
    OffPeakJob job(clock, {{u"offpeak"_s, offpeak}}, 20);
    auto runner = job.runner(&clock);
    QSignalSpy waiting(runner.get(), &JobRunner::waitingChanged);
    QSignalSpy finished(runner.get(), &JobRunner::finished);
    runner->start();
    QCOMPARE(waiting.count(), 1);
    QCOMPARE(waiting.at(0).at(1).toString(),
             u"waiting for off-peak window 22:00–06:00 UTC (opens in 1 min)"_s);
    QCOMPARE(runner->waitingFor(), waiting.at(0).at(1).toString());
    QCOMPARE(job.store->job(job.jobId)->stateReason, waiting.at(0).at(1).toString());
    QTest::qWait(300);
    QCOMPARE(job.store->taskCounts(job.jobId).pending, qint64(20)); // nothing claimed
    clock.advance(1'000);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 5'000);
    QCOMPARE(finished.at(0).at(1).value<JobState>(), JobState::Finished);
    QCOMPARE(job.store->taskCounts(job.jobId).completed, qint64(20));
    QCOMPARE(waiting.count(), 2);
    QVERIFY(waiting.at(1).at(1).toString().isEmpty());
}

void TestOffPeak::runNowIsKeptAcrossARestart()
{
    // Through the facade: a job waiting for its window goes at once after runNow, and the
    // override lands in the job's stored settings, where a restarted engine reads it.
    QTemporaryDir dir;
    const QString csv = writeRows(dir, 30);
    bd::FakeClock clock(utc(u"2026-01-15T12:00:00Z"_s)); // ten hours before the window
    bd::EngineOptions options;
    options.database = dir.filePath(u"runnow.sqlite"_s);
    options.clock = &clock;
    qint64 jobId = 0;
    {
        auto engineOwner = bd::createEngine(options);
        bd::Engine &engine = *engineOwner;
        QSignalSpy opened(&engine, &bd::Engine::opened);
        engine.open();
        QTRY_COMPARE(opened.count(), 1);
        QSignalSpy imported(&engine, &bd::Engine::importFinished);
        engine.importJob(offPeakSpec(csv));
        QTRY_COMPARE(imported.count(), 1);
        jobId = imported.at(0).at(0).value<bd::ImportResult>().jobId;
        QVERIFY(jobId > 0);
        QSignalSpy waiting(&engine, &bd::Engine::jobWaiting);
        QSignalSpy stopped(&engine, &bd::Engine::jobStopped);
        QSignalSpy snapshots(&engine, &bd::Engine::snapshotTaken);
        engine.setSnapshotInterval(20);
        engine.startJob(jobId, bd::ProviderConfig{});
        QTRY_COMPARE(waiting.count(), 1);
        QCOMPARE(waiting.at(0).at(1).toString(),
                 u"waiting for off-peak window 22:00–06:00 UTC (opens in 10 h)"_s);
        snapshots.clear();
        QTRY_VERIFY(!snapshots.isEmpty());
        const bd::EngineSnapshot snapshot = snapshots.last().at(0).value<bd::EngineSnapshot>();
        QCOMPARE(snapshot.jobs.size(), 1);
        QCOMPARE(snapshot.jobs.first().waitingFor, waiting.at(0).at(1).toString());

        engine.runNow(jobId);
        QTRY_COMPARE(stopped.count(), 1);
        QCOMPARE(stopped.at(0).at(1).value<JobState>(), JobState::Finished);
        QCOMPARE(waiting.count(), 2);
        QVERIFY(waiting.at(1).at(1).toString().isEmpty());
    }
    bd::store::SqliteStore reader(options.database);
    const auto job = reader.job(jobId);
    QVERIFY(job);
    QCOMPARE(job->spec.settings.value(u"offpeak_run_now"_s).toBool(), true);
    QCOMPARE(reader.taskCounts(jobId).completed, qint64(30));
}

void TestOffPeak::raisedFromAnotherEngineGoesAtOnce()
{
    // Engine A runs a priority-3 job that waits ten hours for its window. Engine B on the
    // same database (as batchctl job or a second console would) raises it to 2: A hears of
    // it at its next poll and sends the job's tasks now, as grouped sync calls.
    QTemporaryDir dir;
    const QString csv = writeRows(dir, 40);
    bd::FakeClock clock(utc(u"2026-01-15T12:00:00Z"_s));
    bd::EngineOptions options;
    options.database = dir.filePath(u"raise.sqlite"_s);
    options.clock = &clock;
    auto runningEngine = bd::createEngine(options);
    auto otherEngine = bd::createEngine(options);
    bd::Engine &a = *runningEngine;
    bd::Engine &b = *otherEngine;
    QSignalSpy openedA(&a, &bd::Engine::opened);
    QSignalSpy openedB(&b, &bd::Engine::opened);
    a.open();
    QTRY_COMPARE(openedA.count(), 1);
    b.open();
    QTRY_COMPARE(openedB.count(), 1);
    QSignalSpy imported(&a, &bd::Engine::importFinished);
    a.importJob(offPeakSpec(csv));
    QTRY_COMPARE(imported.count(), 1);
    const qint64 jobId = imported.at(0).at(0).value<bd::ImportResult>().jobId;
    QSignalSpy waiting(&a, &bd::Engine::jobWaiting);
    QSignalSpy stopped(&a, &bd::Engine::jobStopped);
    a.setSnapshotInterval(50);
    a.startJob(jobId, bd::ProviderConfig{});
    QTRY_COMPARE(waiting.count(), 1);

    QSignalSpy recorded(&b, &bd::Engine::controlRecorded);
    QSignalSpy reprioritised(&b, &bd::Engine::jobReprioritised);
    b.reprioritiseJob(jobId, 2);
    QTRY_COMPARE(reprioritised.count(), 1);
    QCOMPARE(reprioritised.at(0).at(2).toInt(), 40);
    QCOMPARE(recorded.count(), 1);
    QCOMPARE(recorded.at(0).at(1).toString(), u"priority"_s);
    QVERIFY(recorded.at(0).at(2).toString().isEmpty());
    QTRY_COMPARE(stopped.count(), 1);
    QCOMPARE(stopped.at(0).at(1).value<JobState>(), JobState::Finished);
    QCOMPARE(waiting.count(), 2);
    QVERIFY(waiting.at(1).at(1).toString().isEmpty());
    runningEngine.reset();
    otherEngine.reset();
    bd::store::SqliteStore reader(options.database);
    QCOMPARE(reader.taskCounts(jobId).completed, qint64(40));
    QCOMPARE(reader.job(jobId)->spec.priority, 2);
    QCOMPARE(reader.job(jobId)->spec.mode, u"grouped"_s);
}

QTEST_GUILESS_MAIN(TestOffPeak)
#include "test_offpeak.moc"
