// A console told to stop (SIGTERM from a session's logout, kill, or Ctrl+C in a terminal)
// leaves as if its window were closed: it exits normally and its engine stops cleanly,
// writing its last heartbeat (nothing in flight) as it goes; killed, it wrote none.
#include "api/engine.h"
#include "api/workers.h"

#include <csignal>
#include <QDateTime>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#ifndef BATCHDESK_PATH
#error "BATCHDESK_PATH must name the batchdesk binary"
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
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(u"QT_QPA_PLATFORM"_s, u"offscreen"_s);
        environment.insert(u"HOME"_s, dir.path()); // its settings stay in the test's folder
        environment.insert(u"XDG_CONFIG_HOME"_s, dir.filePath(u"config"_s));
        environment.insert(u"XDG_DATA_HOME"_s, dir.filePath(u"data"_s));
        environment.remove(u"DBUS_SESSION_BUS_ADDRESS"_s);
        console.setProcessEnvironment(environment);
        console.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        console.start(QStringLiteral(BATCHDESK_PATH), {u"--db"_s, db, u"--no-resume"_s});
        QVERIFY(console.waitForStarted());

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
};

QTEST_GUILESS_MAIN(TestGuiQuitSignals)
#include "test_gui_quitsignals.moc"
