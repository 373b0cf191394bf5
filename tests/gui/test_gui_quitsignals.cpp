// A console told to stop (SIGTERM from a session's logout, kill, or Ctrl+C in a terminal)
// leaves as if its window were closed: it exits normally and its engine stops cleanly,
// writing its last heartbeat (nothing in flight) as it goes; killed, it wrote none. A job
// it was running is left resumable: `batchctl resume` finishes it, every row answered once.
#include "api/engine.h"
#include "api/jobsettings.h"
#include "api/workers.h"

#include <csignal>
#include <QDateTime>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#ifndef BATCHDESK_PATH
#error "BATCHDESK_PATH must name the batchdesk binary"
#endif
#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;

class TestGuiQuitSignals final : public QObject
{
    Q_OBJECT

private:
    // The worker of that pid as the database lists it; id empty when it is not listed.
    static bd::WorkerInfo workerOf(bd::Engine *engine, qint64 pid)
    {
        QSignalSpy listed(engine, &bd::Engine::workersListed);
        engine->requestWorkers(0);
        if (!listed.wait(10'000))
            qFatal("the workers were not listed");
        for (const bd::WorkerInfo &worker : listed.at(0).at(0).value<QList<bd::WorkerInfo>>()) {
            if (worker.pid == pid)
                return worker;
        }
        return {};
    }

    // The job as the database lists it; id 0 when it is not there.
    static bd::JobInfo jobOf(bd::Engine *engine, qint64 jobId)
    {
        QSignalSpy listed(engine, &bd::Engine::jobsListed);
        engine->requestJobs();
        if (!listed.wait(10'000))
            qFatal("the jobs were not listed");
        for (const bd::JobInfo &job : listed.at(0).at(0).value<QList<bd::JobInfo>>()) {
            if (job.id == jobId)
                return job;
        }
        return {};
    }

    // A console on the database, its settings in the test's folder; started when it returns.
    static void startConsole(QProcess &console, const QTemporaryDir &dir,
                             const QStringList &arguments)
    {
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(u"QT_QPA_PLATFORM"_s, u"offscreen"_s);
        environment.insert(u"HOME"_s, dir.path());
        environment.insert(u"XDG_CONFIG_HOME"_s, dir.filePath(u"config"_s));
        environment.insert(u"XDG_DATA_HOME"_s, dir.filePath(u"data"_s));
        environment.remove(u"DBUS_SESSION_BUS_ADDRESS"_s);
        console.setProcessEnvironment(environment);
        console.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        console.start(QStringLiteral(BATCHDESK_PATH), arguments);
        QVERIFY(console.waitForStarted());
    }

    // The database's reader alone: it runs nothing and holds no lease.
    static std::unique_ptr<bd::Engine> openReader(const QString &db)
    {
        bd::EngineOptions options;
        options.database = db;
        options.readOnly = true;
        auto engine = bd::createEngine(options);
        QSignalSpy opened(engine.get(), &bd::Engine::opened);
        engine->open();
        if (!opened.wait(20'000) || !opened.at(0).at(0).toBool())
            return nullptr;
        return engine;
    }

    // rows.csv in the folder: an id and a question a row; its path (empty: not written).
    static QString questionsCsv(const QTemporaryDir &dir, int rows)
    {
        QFile file(dir.filePath(u"rows.csv"_s));
        if (!file.open(QIODevice::WriteOnly))
            return {};
        file.write("id,text\n");
        for (int row = 1; row <= rows; ++row)
            file.write(QByteArray("R") + QByteArray::number(row) + ",question " +
                       QByteArray::number(row) + "\n");
        return file.fileName();
    }

    // batchctl run to its end with these arguments: its exit code (-1: it crashed or hung).
    static int batchctl(const QStringList &arguments)
    {
        QProcess process;
        process.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        process.setStandardOutputFile(QProcess::nullDevice());
        process.start(QStringLiteral(BATCHCTL_PATH), arguments);
        return process.waitForFinished(120'000) && process.exitStatus() == QProcess::NormalExit
                   ? process.exitCode()
                   : -1;
    }

private Q_SLOTS:
    void aSignalClosesTheConsoleCleanly_data()
    {
        QTest::addColumn<int>("signal");
        QTest::newRow("SIGTERM") << int(SIGTERM);
        QTest::newRow("SIGINT") << int(SIGINT);
        QTest::newRow("SIGHUP") << int(SIGHUP);
    }

    void aSignalClosesTheConsoleCleanly()
    {
        QFETCH(int, signal);
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString db = dir.filePath(u"jobs.sqlite"_s);
        QProcess console;
        startConsole(console, dir, {u"--db"_s, db, u"--no-resume"_s});
        if (QTest::currentTestFailed())
            return;

        bd::EngineOptions options;
        options.database = db;
        auto engine = bd::createEngine(options);
        QSignalSpy opened(engine.get(), &bd::Engine::opened);
        engine->open();
        QVERIFY(opened.wait(20'000));
        QVERIFY(opened.at(0).at(0).toBool());
        const qint64 pid = console.processId();
        QTRY_VERIFY_WITH_TIMEOUT(!workerOf(engine.get(), pid).id.isEmpty(), 30'000);

        const QDateTime signalled = QDateTime::currentDateTimeUtc();
        ::kill(pid_t(pid), signal);
        QVERIFY(console.waitForFinished(30'000));
        QCOMPARE(console.exitStatus(), QProcess::NormalExit);
        QCOMPARE(console.exitCode(), 0);
        // The window's close path ran: the engine's stop wrote its last heartbeat.
        const bd::WorkerInfo last = workerOf(engine.get(), pid);
        QVERIFY(!last.id.isEmpty());
        QVERIFY2(last.lastSeen >= signalled.addMSecs(-1),
                 qPrintable(last.lastSeen.toString(Qt::ISODateWithMs)));
        QCOMPARE(last.inFlight, 0);
    }

    // SIGTERM to a console in the middle of a job (a real job on a real database, requests
    // in flight) leaves the job as a closed window does: paused for the next process with
    // nothing leased; `batchctl resume` then finishes it, every row answered exactly once.
    void aJobLeftBySigtermResumesWithEveryRowOnce()
    {
        constexpr int kRows = 1200;
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString db = dir.filePath(u"jobs.sqlite"_s);
        const QString csv = questionsCsv(dir, kRows);
        QVERIFY(!csv.isEmpty());
        // A job a batchctl worker began and was stopped in: handed back, as a console that
        // opens takes up.
        QCOMPARE(batchctl({u"submit"_s, csv, u"--db"_s, db, u"--template"_s,
                           u"Answer {{id}}: {{text}}"_s, u"--priority"_s, u"1"_s,
                           u"--concurrency"_s, u"4"_s, u"--sim-latency-ms"_s, u"40"_s}),
                 0);
        const auto reader = openReader(db);
        QVERIFY(reader);
        constexpr qint64 jobId = 1;
        QProcess worker;
        worker.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        worker.setStandardOutputFile(QProcess::nullDevice());
        worker.start(QStringLiteral(BATCHCTL_PATH), {u"worker"_s, u"--db"_s, db});
        QVERIFY(worker.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(jobOf(reader.get(), jobId).counts.completed >= 30, 60'000);
        ::kill(pid_t(worker.processId()), SIGTERM);
        QVERIFY(worker.waitForFinished(30'000));
        const bd::JobInfo handedOver = jobOf(reader.get(), jobId);
        QCOMPARE(bd::stopCauseOf(handedOver.stateReason), bd::StopCause::EngineShutdown);

        // The console opens on the database and takes the job up.
        QProcess console;
        startConsole(console, dir, {u"--db"_s, db});
        if (QTest::currentTestFailed())
            return;
        const QString consolePid = u":%1:"_s.arg(console.processId());
        QTRY_VERIFY_WITH_TIMEOUT(jobOf(reader.get(), jobId).counts.completed >=
                                     handedOver.counts.completed + 60,
                                 60'000);
        const bd::JobInfo running = jobOf(reader.get(), jobId);
        QCOMPARE(running.state, bd::JobState::Running);
        QVERIFY2(running.runner.contains(consolePid), qPrintable(running.runner));
        QVERIFY2(running.counts.completed < kRows, "the job finished before the signal");

        ::kill(pid_t(console.processId()), SIGTERM);
        QVERIFY(console.waitForFinished(30'000));
        QCOMPARE(console.exitStatus(), QProcess::NormalExit);
        QCOMPARE(console.exitCode(), 0);
        const bd::JobInfo left = jobOf(reader.get(), jobId);
        QCOMPARE(left.state, bd::JobState::Paused);
        QCOMPARE(bd::stopCauseOf(left.stateReason), bd::StopCause::EngineShutdown);
        QVERIFY2(bd::waitsForAWorker(left.state, left.stateReason), qPrintable(left.stateReason));
        QVERIFY2(left.runner.isEmpty(), qPrintable(left.runner));
        QCOMPARE(left.counts.leased, 0); // the requests in flight went back, unanswered
        QVERIFY(left.counts.completed >= running.counts.completed);
        QVERIFY(left.counts.completed < kRows);
        QCOMPARE(left.counts.dead + left.counts.cancelled, 0);

        QCOMPARE(batchctl({u"resume"_s, u"--db"_s, db}), 0);
        const bd::JobInfo done = jobOf(reader.get(), jobId);
        QCOMPARE(done.state, bd::JobState::Finished);
        QCOMPARE(done.counts.completed, kRows);
        QCOMPARE(done.counts.total(), kRows); // one task a row: nothing imported twice

        // Every row once in the export, answered.
        const QString out = dir.filePath(u"out.jsonl"_s);
        QCOMPARE(batchctl({u"export"_s, QString::number(jobId), u"--out"_s, out, u"--db"_s, db}),
                 0);
        QFile exported(out);
        QVERIFY(exported.open(QIODevice::ReadOnly));
        QSet<QString> ids;
        int lines = 0;
        while (!exported.atEnd()) {
            const QByteArray line = exported.readLine().trimmed();
            if (line.isEmpty())
                continue;
            ++lines;
            const QJsonObject row = QJsonDocument::fromJson(line).object();
            QCOMPARE(row.value(u"status"_s).toString(), u"completed"_s);
            QVERIFY(!row.value(u"output"_s).toString().isEmpty());
            ids.insert(row.value(u"id"_s).toString());
        }
        QCOMPARE(lines, kRows);
        QCOMPARE(ids.size(), kRows);
    }

    // SIGTERM to `batchctl run` leaves its job as it leaves a worker's or a console's:
    // "engine shut down", waiting for the next engine (it said "paused by the user", which
    // no console or worker takes up). A console takes it up; `batchctl resume` finishes it.
    void aRunStoppedBySignalIsLeftForTheNextEngine()
    {
        constexpr int kRows = 600;
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString db = dir.filePath(u"jobs.sqlite"_s);
        const QString csv = questionsCsv(dir, kRows);
        QVERIFY(!csv.isEmpty());
        QProcess run;
        run.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        run.setStandardOutputFile(QProcess::nullDevice());
        run.start(QStringLiteral(BATCHCTL_PATH),
                  {u"run"_s, csv, u"--db"_s, db, u"--template"_s, u"Answer {{id}}: {{text}}"_s,
                   u"--priority"_s, u"1"_s, u"--concurrency"_s, u"4"_s, u"--sim-latency-ms"_s,
                   u"40"_s});
        QVERIFY(run.waitForStarted());
        QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(db), 30'000);
        const auto reader = openReader(db);
        QVERIFY(reader);
        constexpr qint64 jobId = 1;
        QTRY_VERIFY_WITH_TIMEOUT(jobOf(reader.get(), jobId).counts.completed >= 30, 60'000);
        ::kill(pid_t(run.processId()), SIGTERM);
        QVERIFY(run.waitForFinished(30'000));
        QCOMPARE(run.exitStatus(), QProcess::NormalExit);
        QCOMPARE(run.exitCode(), 3); // paused, resumable
        const bd::JobInfo left = jobOf(reader.get(), jobId);
        QCOMPARE(left.state, bd::JobState::Paused);
        QCOMPARE(left.stateReason, bd::stopCauseReason(bd::StopCause::EngineShutdown));
        QVERIFY(bd::waitsForAWorker(left.state, left.stateReason));
        QVERIFY(left.counts.completed < kRows);

        // A console on the database takes it up.
        QProcess console;
        startConsole(console, dir, {u"--db"_s, db});
        if (QTest::currentTestFailed())
            return;
        const QString consolePid = u":%1:"_s.arg(console.processId());
        QTRY_VERIFY_WITH_TIMEOUT(jobOf(reader.get(), jobId).runner.contains(consolePid), 30'000);
        ::kill(pid_t(console.processId()), SIGTERM);
        QVERIFY(console.waitForFinished(30'000));
        QCOMPARE(console.exitCode(), 0);

        // batchctl resume finishes it.
        QCOMPARE(batchctl({u"resume"_s, u"--db"_s, db}), 0);
        const bd::JobInfo done = jobOf(reader.get(), jobId);
        QCOMPARE(done.state, bd::JobState::Finished);
        QCOMPARE(done.counts.completed, kRows);
        QCOMPARE(done.counts.total(), kRows);
    }
};

QTEST_GUILESS_MAIN(TestGuiQuitSignals)
#include "test_gui_quitsignals.moc"
