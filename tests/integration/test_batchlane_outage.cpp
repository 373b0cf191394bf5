// The batch-API lane through provider outages, over loopback HTTP with the real batchctl: a
// 400-row priority-3 job with --max-retries 1 while the batch endpoints answer 503, refuse
// connections, fail a batch without naming a line, or let a batch expire. Checked: every
// row ends completed with its own answer, no attempt is charged for the provider's trouble
// (each row completed on its first charged attempt), and the circuit_open alert is raised
// and cleared where the endpoints were down. Endpoints that hang (accept the connection and
// never answer) are run in process, where the job's api_deadline_ms can be short: each call
// ends at that deadline and the batch's lines go back to pending uncharged.

#include "api/jobsettings.h"
#include "batchctlrun.h"
#include "core/clock.h"
#include "cost/pricetable.h"
#include "dispatch/jobrunner.h"
#include "fakeprovider.h"
#include "store/sqlite/sqlitestore.h"

#include <memory>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::testing::FakeProvider;

namespace {

const QString kKey = u"sk-outage-TEST-0123456789abcdef"_s;
const QString kTemplate = u"Classify: {{text}}"_s;
constexpr int kRows = 400;
constexpr int kOutageMs = 5'000;

enum class Scenario
{
    Unavailable,       // 503 from the Files and batch endpoints for kOutageMs
    Overloaded,        // 529 overloaded from them for kOutageMs
    ConnectionReset,   // they drop the connection without an answer for kOutageMs
    ConnectionRefused, // the server refuses connections for kOutageMs
    FailedNoLines,     // the first batch ends "failed" with an error naming no line
    Expired,           // the first batch expires with half its lines done
};

} // namespace

class TestBatchLaneOutage : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void outageHarmsNothing_data();
    void outageHarmsNothing();
    void hangingEndpointsHarmNothing_data();
    void hangingEndpointsHarmNothing();

private:
    void providers();
};

void TestBatchLaneOutage::providers()
{
    QTest::addColumn<QString>("providerId");
    QTest::addColumn<QString>("model");
    QTest::newRow("openai") << u"openai"_s << u"gpt-4.1-mini"_s;
    QTest::newRow("anthropic") << u"anthropic"_s << u"claude-haiku-4-5"_s;
}

void TestBatchLaneOutage::outageHarmsNothing_data()
{
    QTest::addColumn<QString>("providerId");
    QTest::addColumn<QString>("model");
    QTest::addColumn<int>("scenario");
    QTest::addColumn<bool>("breakerOpens");
    for (const auto &[id, model] : {std::pair{u"openai"_s, u"gpt-4.1-mini"_s},
                                    std::pair{u"anthropic"_s, u"claude-haiku-4-5"_s}}) {
        const QByteArray p = id.toUtf8();
        QTest::newRow(QByteArray(p + " 503 on submit").constData())
            << id << model << int(Scenario::Unavailable) << true;
        QTest::newRow(QByteArray(p + " 529 overloaded").constData())
            << id << model << int(Scenario::Overloaded) << true;
        QTest::newRow(QByteArray(p + " connection reset").constData())
            << id << model << int(Scenario::ConnectionReset) << true;
        QTest::newRow(QByteArray(p + " connection refused").constData())
            << id << model << int(Scenario::ConnectionRefused) << true;
        QTest::newRow(QByteArray(p + " batch expired").constData())
            << id << model << int(Scenario::Expired) << false;
    }
    // Anthropic batches have no "failed" state: a refused create is a 400 (the lines' fault).
    QTest::newRow("openai batch failed without line errors")
        << u"openai"_s << u"gpt-4.1-mini"_s << int(Scenario::FailedNoLines) << true;
}

void TestBatchLaneOutage::outageHarmsNothing()
{
    QFETCH(QString, providerId);
    QFETCH(QString, model);
    QFETCH(int, scenario);
    QFETCH(bool, breakerOpens);

    FakeProvider server;
    QVERIFY(server.listen());
    server.options().requiredKey = kKey;
    QTemporaryDir dir;
    QVERIFY(dir.isValid());

    QStringList prompts;
    const QString csv = dir.filePath(u"rows.csv"_s);
    {
        QFile file(csv);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("id,text\n");
        for (int row = 1; row <= kRows; ++row) {
            const QString text = u"parcel %1 arrived on time"_s.arg(row);
            prompts.append(u"Classify: "_s + text);
            file.write(QByteArray::number(row) + ',' + text.toUtf8() + '\n');
        }
    }
    const QString db = dir.filePath(u"jobs.sqlite"_s);
    const bool anthropic = providerId == u"anthropic"_s;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"HOME"_s, dir.path());
    env.insert(u"XDG_CONFIG_HOME"_s, dir.filePath(u"config"_s));
    env.insert(u"XDG_DATA_HOME"_s, dir.filePath(u"data"_s));
    for (const QString &name : {u"OPENAI_BASE_URL"_s, u"ANTHROPIC_BASE_URL"_s, u"OPENAI_API_KEY"_s,
                                u"ANTHROPIC_API_KEY"_s})
        env.remove(name);
    env.insert(anthropic ? u"ANTHROPIC_API_KEY"_s : u"OPENAI_API_KEY"_s, kKey);
    const QStringList arguments{u"run"_s,
                                csv,
                                u"--template"_s,
                                kTemplate,
                                u"--provider"_s,
                                providerId,
                                u"--model"_s,
                                model,
                                u"--base-url"_s,
                                anthropic ? server.anthropicBaseUrl() : server.openAiBaseUrl(),
                                u"--priority"_s,
                                u"3"_s,
                                u"--mode"_s,
                                u"batch-api"_s,
                                u"--max-retries"_s,
                                u"1"_s,
                                u"--batch-poll-ms"_s,
                                u"100"_s,
                                u"--batch-max-wait-ms"_s,
                                u"200"_s,
                                u"--db"_s,
                                db,
                                u"--json"_s};

    switch (Scenario(scenario)) {
    case Scenario::Unavailable:
    case Scenario::Overloaded:
    case Scenario::ConnectionReset:
        server.options().batchFault =
            Scenario(scenario) == Scenario::Unavailable  ? FakeProvider::Fault::Unavailable
            : Scenario(scenario) == Scenario::Overloaded ? FakeProvider::Fault::Overloaded
                                                         : FakeProvider::Fault::Close;
        QTimer::singleShot(kOutageMs, &server,
                           [&server] { server.options().batchFault = FakeProvider::Fault::None; });
        break;
    case Scenario::ConnectionRefused:
        server.startOutage(kOutageMs);
        break;
    case Scenario::FailedNoLines:
        server.options().batchOutcome = FakeProvider::BatchOutcome::FailServer;
        server.options().batchOutcomeBatches = 2;
        break;
    case Scenario::Expired:
        server.options().batchOutcome = FakeProvider::BatchOutcome::Expire;
        server.options().batchOutcomeBatches = 1;
        break;
    }

    const BatchctlRun run =
        runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, env, dir.path(), 60'000);
    QVERIFY2(run.exitCode == 0, run.err.constData());

    int completed = 0;
    int charged = 0;
    int circuitAlerts = 0;
    int circuitCleared = 0;
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"outage"_s);
        database.setDatabaseName(db);
        QVERIFY(database.open());
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT state, attempts, output FROM tasks"_s));
        while (query.next()) {
            completed += query.value(0).toInt() == 2; // TaskState::Completed
            // The one charged attempt is the one that answered.
            charged += query.value(1).toInt() > 1;
        }
        QVERIFY(
            query.exec(u"SELECT cleared_at IS NOT NULL FROM alerts WHERE kind = 'circuit_open'"_s));
        while (query.next()) {
            ++circuitAlerts;
            circuitCleared += query.value(0).toBool();
        }
        database.close();
    }
    QSqlDatabase::removeDatabase(u"outage"_s);

    QCOMPARE(completed, kRows);
    QCOMPARE(charged, 0);
    for (const QString &prompt : std::as_const(prompts))
        QVERIFY2(server.successesFor(prompt) >= 1, qPrintable(prompt));
    if (breakerOpens) {
        QVERIFY2(circuitAlerts >= 1, "no circuit_open alert");
        QCOMPARE(circuitCleared, circuitAlerts);
    }
}

void TestBatchLaneOutage::hangingEndpointsHarmNothing_data()
{
    providers();
}

void TestBatchLaneOutage::hangingEndpointsHarmNothing()
{
    QFETCH(QString, providerId);
    QFETCH(QString, model);
    constexpr int kHangRows = 40;
    constexpr qint64 kApiDeadlineMs = 300;
    constexpr int kHangMs = 3'000; // a probe of the breaker (open 2 s) meets it hanging too

    FakeProvider server;
    QVERIFY(server.listen());
    server.options().requiredKey = kKey;
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    bd::store::SqliteStore store(dir.filePath(u"jobs.sqlite"_s));
    bd::Clock *clock = bd::SystemClock::instance();
    bd::JobSpec spec;
    spec.sourcePath = u"rows.csv"_s;
    spec.sourceSha256 = "00";
    spec.templateText = kTemplate;
    spec.provider = providerId;
    spec.model = model;
    spec.priority = 3;
    spec.mode = u"batch-api"_s;
    spec.maxRetries = 1;
    spec.settings = QJsonObject{{bd::settingkeys::apiDeadlineMs, kApiDeadlineMs},
                                {bd::settingkeys::batchPollMs, 100},
                                {bd::settingkeys::batchMaxWaitMs, 200}};
    const qint64 jobId = store.createJob(spec, {u"text"_s}, clock->nowMs());
    QVERIFY(jobId > 0);
    QList<QStringList> rows;
    QStringList prompts;
    for (int row = 1; row <= kHangRows; ++row) {
        const QString text = u"parcel %1 held at the depot"_s.arg(row);
        rows.append({text});
        prompts.append(u"Classify: "_s + text);
    }
    QVERIFY(store.appendTasks(jobId, 1, rows, 3, clock->nowMs()));
    QVERIFY(store.setJobState(jobId, bd::JobState::Paused, QString(), clock->nowMs()));

    bd::ProviderConfig config;
    config.id = providerId;
    config.apiKey = kKey;
    config.settings = spec.settings; // as the engine passes them
    config.baseUrl =
        providerId == u"anthropic"_s ? server.anthropicBaseUrl() : server.openAiBaseUrl();
    QString error;
    auto provider = bd::providers::createProvider(config, clock, &error);
    QVERIFY2(provider, qPrintable(error));

    server.options().batchFault = FakeProvider::Fault::Hang;
    QTimer::singleShot(kHangMs, &server,
                       [&server] { server.options().batchFault = FakeProvider::Fault::None; });
    bd::dispatch::JobRunner::Options options;
    options.idlePollMs = 50;
    bd::dispatch::JobRunner runner(&store, std::move(provider), *store.job(jobId),
                                   bd::cost::PriceTable::builtIn(), clock, u"hang:1:1"_s, options);
    QSignalSpy raised(&runner, &bd::dispatch::JobRunner::alertRaised);
    QSignalSpy cleared(&runner, &bd::dispatch::JobRunner::alertCleared);
    QSignalSpy finished(&runner, &bd::dispatch::JobRunner::finished);
    runner.start();
    QVERIFY(finished.wait(60'000));
    QCOMPARE(finished.constFirst().at(1).value<bd::JobState>(), bd::JobState::Finished);

    // Every row completed with its own answer; the hung calls charged no attempt.
    QCOMPARE(store.taskCounts(jobId).completed, kHangRows);
    for (const QString &prompt : std::as_const(prompts))
        QVERIFY2(server.successesFor(prompt) >= 1, qPrintable(prompt));
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"hang"_s);
        database.setDatabaseName(dir.filePath(u"jobs.sqlite"_s));
        QVERIFY(database.open());
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT MAX(attempts) FROM tasks"_s));
        QVERIFY(query.next());
        QCOMPARE(query.value(0).toInt(), 1); // the one that answered
        database.close();
    }
    QSqlDatabase::removeDatabase(u"hang"_s);

    // The deadline ended the calls: the breaker opened with the alert, which cleared once
    // the endpoints answered again.
    int circuitRaised = 0;
    for (const QList<QVariant> &alert : std::as_const(raised)) {
        if (alert.at(1).toString() != u"circuit_open"_s)
            continue;
        ++circuitRaised;
        QVERIFY2(alert.at(2).toString().contains(u"within the 0.3 s deadline"_s),
                 qPrintable(alert.at(2).toString()));
    }
    QCOMPARE(circuitRaised, 1);
    int circuitCleared = 0;
    for (const QList<QVariant> &alert : std::as_const(cleared))
        circuitCleared += alert.at(1).toString() == u"circuit_open"_s;
    QCOMPARE(circuitCleared, 1);
}

QTEST_GUILESS_MAIN(TestBatchLaneOutage)
#include "test_batchlane_outage.moc"
