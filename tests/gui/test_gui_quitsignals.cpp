// A console told to stop (SIGTERM from a session's logout, kill, or Ctrl+C in a terminal)
// leaves as if its window were closed: it exits normally and its engine's worker row is
// gone, not left greyed on every other console's Workers page.
#include "api/engine.h"
#include "api/workers.h"

#include <csignal>
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
    // The pids of the workers the database lists.
    static QList<qint64> workerPids(bd::Engine *engine)
    {
        QSignalSpy listed(engine, &bd::Engine::workersListed);
        engine->requestWorkers(0);
        if (!listed.wait(10'000))
            return {};
        QList<qint64> pids;
        for (const bd::WorkerInfo &worker : listed.at(0).at(0).value<QList<bd::WorkerInfo>>())
            pids.append(worker.pid);
        return pids;
    }

private Q_SLOTS:
    void aTerminatedConsoleLeavesNoWorker_data()
    {
        QTest::addColumn<int>("signal");
        QTest::newRow("SIGTERM") << int(SIGTERM);
        QTest::newRow("SIGINT") << int(SIGINT);
        QTest::newRow("SIGHUP") << int(SIGHUP);
    }

    void aTerminatedConsoleLeavesNoWorker()
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
        QTRY_VERIFY_WITH_TIMEOUT(workerPids(engine.get()).contains(console.processId()), 30'000);

        ::kill(pid_t(console.processId()), signal);
        QVERIFY(console.waitForFinished(30'000));
        QCOMPARE(console.exitStatus(), QProcess::NormalExit);
        QCOMPARE(console.exitCode(), 0);
        QVERIFY(!workerPids(engine.get()).contains(console.processId()));
    }
};

QTEST_GUILESS_MAIN(TestGuiQuitSignals)
#include "test_gui_quitsignals.moc"
