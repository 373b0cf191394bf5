// The engine facade as both front ends hold it: two engines on two databases in one
// process, each with its own connections and threads; and the console's cost estimate
// equal to `batchctl estimate` for the same job and the same price overrides.

#include "api/engine.h"
#include "importwizard.h"
#include "mainwindow.h"
#include "templateeditor.h"

#include "../support/batchctlrun.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;

namespace {

QString writeCsv(const QString &path, int rows, const QString &product)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        qFatal("cannot write %s", qPrintable(path));
    file.write("id,product,review\n");
    for (int i = 1; i <= rows; ++i)
        file.write(u"%1,%2,\"Review %1 of the %2: works as described, would buy again\"\n"_s.arg(i).arg(product).toUtf8());
    return path;
}

struct Run
{
    std::unique_ptr<bd::Engine> engine;
    qint64 jobId = 0;
    bd::JobState state = bd::JobState::Importing;
};

} // namespace

class TestEngineApi : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void twoEnginesOnTwoDatabasesInOneProcess();
    void consoleEstimateEqualsBatchctlEstimate();

private:
    QTemporaryDir m_dir;
};

void TestEngineApi::twoEnginesOnTwoDatabasesInOneProcess()
{
    QVERIFY(m_dir.isValid());
    Run runs[2];
    for (int i = 0; i < 2; ++i) {
        bd::EngineOptions options;
        options.database = m_dir.filePath(u"two-%1.sqlite"_s.arg(i));
        runs[i].engine = bd::createEngine(options);
        QSignalSpy opened(runs[i].engine.get(), &bd::Engine::opened);
        runs[i].engine->open();
        QVERIFY(opened.wait(10'000));
        QVERIFY2(opened.constFirst().at(0).toBool(), qPrintable(opened.constFirst().at(1).toString()));
    }
    // Both import and run at the same time, each on its own database.
    for (int i = 0; i < 2; ++i) {
        Run &run = runs[i];
        QObject::connect(run.engine.get(), &bd::Engine::importFinished, run.engine.get(),
                         [&run](const bd::ImportResult &result) {
                             QVERIFY2(result.ok, qPrintable(result.error));
                             run.jobId = result.jobId;
                             bd::ProviderConfig simulator;
                             simulator.settings.insert(u"latency_ms"_s, 1);
                             run.engine->startJob(result.jobId, simulator);
                         });
        QObject::connect(run.engine.get(), &bd::Engine::jobStopped, run.engine.get(),
                         [&run](qint64, bd::JobState state, const QString &) { run.state = state; });
        bd::JobSpec spec;
        spec.sourcePath = writeCsv(m_dir.filePath(u"two-%1.csv"_s.arg(i)), 200 + 100 * i,
                                   i == 0 ? u"kettle"_s : u"toaster"_s);
        spec.templateText = u"Classify: {{review}}"_s;
        run.engine->importJob(spec);
    }
    QVERIFY(QTest::qWaitFor([&] { return runs[0].state == bd::JobState::Finished
                                         && runs[1].state == bd::JobState::Finished; }, 60'000));
    for (int i = 0; i < 2; ++i) {
        QSignalSpy listed(runs[i].engine.get(), &bd::Engine::jobsListed);
        runs[i].engine->requestJobs();
        QVERIFY(listed.wait(10'000));
        const auto jobs = listed.constFirst().at(0).value<QList<bd::JobInfo>>();
        QCOMPARE(jobs.size(), 1); // its own job only: no connection was shared or replaced
        QCOMPARE(jobs.constFirst().counts.completed, qint64(200 + 100 * i));
        QCOMPARE(jobs.constFirst().counts.unfinished(), qint64(0));
        QVERIFY(jobs.constFirst().spec.sourcePath.endsWith(u"two-%1.csv"_s.arg(i)));
    }
    QVERIFY(runs[0].engine->workerId() != runs[1].engine->workerId());
}

void TestEngineApi::consoleEstimateEqualsBatchctlEstimate()
{
    // A user override that makes the simulator's model dearer than the built-in table.
    const QString configHome = m_dir.filePath(u"config"_s);
    QVERIFY(QDir().mkpath(configHome + u"/BatchDesk"_s));
    const QString overridePath = configHome + u"/BatchDesk/prices.json"_s;
    {
        QFile prices(overridePath);
        QVERIFY(prices.open(QIODevice::WriteOnly));
        prices.write(R"({"models": {"sim-1": {"input": 7.0, "cached_input": 3.5, "output": 21.0,
                      "batch_discount": 0.5, "simulated": true}}})");
    }
    const QString csv = writeCsv(m_dir.filePath(u"estimate.csv"_s), 120, u"blender"_s);
    const QString templateText = u"Classify the sentiment of this {{product}} review: {{review}}"_s;

    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, configHome);
    env.insert(u"XDG_DATA_HOME"_s, m_dir.filePath(u"data"_s));
    const BatchctlRun cli = runBatchctl(QStringLiteral(BATCHCTL_PATH),
                                        {u"estimate"_s, csv, u"--template"_s, templateText,
                                         u"--db"_s, m_dir.filePath(u"estimate.sqlite"_s), u"--json"_s},
                                        env, m_dir.path(), 60'000);
    QVERIFY2(cli.exitCode == 0, qPrintable(cli.describe()));
    const QJsonObject cost = cli.json().value(u"cost_usd"_s).toObject();
    const double cliRealtime = cost.value(u"realtime"_s).toObject().value(u"max"_s).toDouble();
    const double cliBatch = cost.value(u"batch_api"_s).toObject().value(u"max"_s).toDouble();
    QVERIFY2(cliRealtime > 0, qPrintable(cli.describe()));

    // The console: a window over an engine with the same override, its import wizard on the
    // same file and template, priority 2 (grouped) as batchctl's default.
    bd::EngineOptions options;
    options.database = m_dir.filePath(u"estimate.sqlite"_s);
    options.priceOverridePath = overridePath;
    bd::ui::MainWindow::Options windowOptions;
    windowOptions.restoreWindowState = false;
    windowOptions.trayNotifications = false;
    windowOptions.resumeInterruptedJobs = false;
    windowOptions.useKeychain = false;
    bd::ui::MainWindow window(bd::createEngine(options), windowOptions);
    window.show();
    QVERIFY(QTest::qWaitFor([&] { return window.isEngineOpen(); }, 10'000));
    bd::ui::ImportWizard *wizard = window.openCsv(csv);
    QVERIFY(wizard);
    QVERIFY(QTest::qWaitFor([&] { return wizard->isPreviewReady(); }, 10'000));
    wizard->templateEditor()->setPlainText(templateText);
    QVERIFY(QTest::qWaitFor([&] { return !wizard->isEstimating() && wizard->lastEstimate().rows > 0; }, 20'000));
    const bd::JobEstimate console = wizard->lastEstimate();
    QCOMPARE(console.rows, qint64(120));
    QVERIFY(console.priced);
    // The same figures, rounded as the JSON rounds them (to a millionth of a dollar).
    QCOMPARE(std::round(*console.realtime.maxUsd * 1e6) / 1e6, cliRealtime);
    QCOMPARE(std::round(*console.batchApi.maxUsd * 1e6) / 1e6, cliBatch);
    // ... and not the built-in price: the override was honoured by both.
    QVERIFY(*console.realtime.maxUsd > 10 * 120 * 256 * 0.60 / 1e6);
    QVERIFY(wizard->estimateText().contains(u"sim-1"_s));
    wizard->close();
}

QTEST_MAIN(TestEngineApi)
#include "test_gui_engineapi.moc"
