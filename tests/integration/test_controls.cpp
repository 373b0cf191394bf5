// Job controls from another process, over loopback HTTP with the real batchctl: a `batchctl
// run` drains a job while `batchctl job` (a second process on the same database) pauses it
// or cancels it, raises its priority, or sends its priority-3 work outside its off-peak
// window. The running engine reads the control at its next poll of the database and applies
// it: the run stops within 2 s (exit 3 when paused), the job's pending tasks leave the
// provider's batch API for sync calls while its submitted batches finish there, or a job
// waiting for its window sends within 2 s.

#include "api/engine.h"
#include "batchctlrun.h"
#include "fakeprovider.h"

#include <QElapsedTimer>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::testing::FakeProvider;

namespace {

const QString kKey = u"sk-controls-TEST-0123456789abcdef"_s;
const QByteArray kChatPath = "/v1/chat/completions";

} // namespace

class TestControls : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void pauseFromAnotherProcess();
    void cancelFromAnotherProcess();
    void runNowFromAnotherProcess();
    void raisedBatchJobMovesToSyncCalls();
    void unknownJobIsAUsageError();
    void importNeverStallsDispatch();

private:
    QString writeCsv(int rows, const QString &name = QStringLiteral("rows.csv"));
    QStringList runArguments(const QString &csv, const QStringList &extra) const;
    // batchctl run in the background, the event loop free for the server.
    void startRun(QProcess &run, const QStringList &arguments);
    // batchctl job JOB ... on the test's database, run to its end.
    BatchctlRun job(const QStringList &arguments);
    // Counts over the tasks table of the test's database.
    int count(const QString &where);
    // A 200-row run under way (two requests in flight, 300 ms each: about 30 s of work) gets
    // `batchctl job 1 --<control>` from another process: how long after that returned the
    // run took to stop, and its --json summary.
    void stopRunFromAnotherProcess(const QString &control, qint64 *tookMs, int *exitCode,
                                   QJsonObject *summary);

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<FakeProvider> m_server;
    QProcessEnvironment m_env;
    QString m_db;
};

void TestControls::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_server = std::make_unique<FakeProvider>();
    QVERIFY(m_server->listen());
    m_server->options().requiredKey = kKey;
    m_env = QProcessEnvironment::systemEnvironment();
    m_env.insert(u"HOME"_s, m_dir->path());
    m_env.insert(u"XDG_CONFIG_HOME"_s, m_dir->filePath(u"config"_s));
    m_env.insert(u"XDG_DATA_HOME"_s, m_dir->filePath(u"data"_s));
    for (const QString &name :
         {u"OPENAI_BASE_URL"_s, u"ANTHROPIC_BASE_URL"_s, u"ANTHROPIC_API_KEY"_s})
        m_env.remove(name);
    m_env.insert(u"OPENAI_API_KEY"_s, kKey);
    m_db = m_dir->filePath(u"jobs.sqlite"_s);
}

QString TestControls::writeCsv(int rows, const QString &name)
{
    const QString csv = m_dir->filePath(name);
    QFile file(csv);
    if (!file.open(QIODevice::WriteOnly))
        return {};
    file.write("id,text\n");
    for (int row = 1; row <= rows; ++row)
        file.write(QByteArray::number(row) + ",parcel " + QByteArray::number(row) + " arrived\n");
    return csv;
}

QStringList TestControls::runArguments(const QString &csv, const QStringList &extra) const
{
    return QStringList{u"run"_s,        csv,
                       u"--template"_s, u"Classify: {{text}}"_s,
                       u"--provider"_s, u"openai"_s,
                       u"--model"_s,    u"gpt-4.1-mini"_s,
                       u"--base-url"_s, m_server->openAiBaseUrl(),
                       u"--db"_s,       m_db,
                       u"--json"_s} +
           extra;
}

void TestControls::startRun(QProcess &run, const QStringList &arguments)
{
    run.setProcessEnvironment(m_env);
    run.setWorkingDirectory(m_dir->path());
    run.start(QStringLiteral(BATCHCTL_PATH), arguments);
    QVERIFY(run.waitForStarted(10'000));
}

BatchctlRun TestControls::job(const QStringList &arguments)
{
    return runBatchctl(QStringLiteral(BATCHCTL_PATH),
                       QStringList{u"job"_s} + arguments + QStringList{u"--db"_s, m_db}, m_env,
                       m_dir->path(), 30'000);
}

int TestControls::count(const QString &where)
{
    int n = -1;
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"controls"_s);
        database.setDatabaseName(m_db);
        if (database.open()) {
            QSqlQuery query(database);
            if (query.exec(u"SELECT COUNT(*) FROM tasks WHERE "_s + where) && query.next())
                n = query.value(0).toInt();
        }
    }
    QSqlDatabase::removeDatabase(u"controls"_s);
    return n;
}

void TestControls::stopRunFromAnotherProcess(const QString &control, qint64 *tookMs, int *exitCode,
                                             QJsonObject *summary)
{
    m_server->options().latencyMs = 300;
    const QString csv = writeCsv(200);
    QProcess run;
    QSignalSpy finished(&run, &QProcess::finished);
    startRun(run, runArguments(csv, {u"--priority"_s, u"2"_s, u"--concurrency"_s, u"2"_s}));
    QTRY_VERIFY_WITH_TIMEOUT(m_server->requestCount(kChatPath) >= 6, 30'000);

    const BatchctlRun stopped = job({u"1"_s, u"--"_s + control, u"--json"_s});
    QVERIFY2(stopped.exitCode == 0, qPrintable(stopped.describe()));
    QElapsedTimer sinceControl;
    sinceControl.start();
    QVERIFY2(finished.wait(10'000), run.readAllStandardError().constData());
    *tookMs = sinceControl.elapsed();
    qInfo("the running batchctl stopped %lld ms after `batchctl job --%s` returned", *tookMs,
          qPrintable(control));
    *exitCode = run.exitCode();
    *summary = QJsonDocument::fromJson(run.readAllStandardOutput()).object();
}

void TestControls::pauseFromAnotherProcess()
{
    qint64 tookMs = -1;
    int exitCode = -1;
    QJsonObject summary;
    stopRunFromAnotherProcess(u"pause"_s, &tookMs, &exitCode, &summary);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(tookMs <= 2'000, qPrintable(QString::number(tookMs)));
    QCOMPARE(exitCode, 3); // paused, resumable (CLI.md)
    QCOMPARE(summary.value(u"state"_s).toString(), u"paused"_s);
    QVERIFY(summary.value(u"pending"_s).toInt() > 0);
    QCOMPARE(count(u"state = 1"_s), 0); // nothing left leased
}

void TestControls::cancelFromAnotherProcess()
{
    qint64 tookMs = -1;
    int exitCode = -1;
    QJsonObject summary;
    stopRunFromAnotherProcess(u"cancel"_s, &tookMs, &exitCode, &summary);
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(tookMs <= 2'000, qPrintable(QString::number(tookMs)));
    QCOMPARE(summary.value(u"state"_s).toString(), u"cancelled"_s);
    QCOMPARE(count(u"state = 1"_s), 0); // nothing left leased
    QCOMPARE(count(u"state = 0"_s), 0); // nor pending: what was left is cancelled
    const int sent = m_server->requestCount(kChatPath);
    QTest::qWait(500);
    QCOMPARE(m_server->requestCount(kChatPath), sent);
}

void TestControls::runNowFromAnotherProcess()
{
    // A priority-3 job whose off-peak window opens in two hours waits without sending;
    // `batchctl job --run-now` from another process sends its work within 2 s.
    const QDateTime now = QDateTime::currentDateTimeUtc();
    const QString window = u"%1-%2@UTC"_s.arg(now.addSecs(2 * 3600).toString(u"HH:mm"_s),
                                              now.addSecs(3 * 3600).toString(u"HH:mm"_s));
    const QString csv = writeCsv(20);
    QProcess run;
    QSignalSpy finished(&run, &QProcess::finished);
    startRun(run, runArguments(csv, {u"--priority"_s, u"3"_s, u"--mode"_s, u"realtime"_s,
                                     u"--offpeak"_s, window}));
    // Waiting: the job is running, says what it waits for, and sends nothing.
    QTRY_VERIFY_WITH_TIMEOUT(count(u"state = 0"_s) == 20, 30'000);
    QTest::qWait(1'500);
    QCOMPARE(m_server->requestCount(kChatPath), 0);
    QVERIFY(finished.isEmpty());

    const BatchctlRun ranNow = job({u"1"_s, u"--run-now"_s, u"--json"_s});
    QVERIFY2(ranNow.exitCode == 0, qPrintable(ranNow.describe()));
    QElapsedTimer sinceRunNow;
    sinceRunNow.start();
    QTRY_VERIFY_WITH_TIMEOUT(m_server->requestCount(kChatPath) > 0, 10'000);
    const qint64 tookMs = sinceRunNow.elapsed();
    qInfo("the waiting batchctl sent %lld ms after `batchctl job --run-now` returned", tookMs);
    QVERIFY2(tookMs <= 2'000, qPrintable(QString::number(tookMs)));
    // Twenty rows can be done while the wait above turns the event loop: then the spy has
    // the signal already, and wait() would wait for a second one.
    QVERIFY2(!finished.isEmpty() || finished.wait(30'000),
             run.readAllStandardError().constData());
    QVERIFY2(run.exitCode() == 0, run.readAllStandardError().constData());
    QCOMPARE(count(u"state = 2"_s), 20);
}

void TestControls::raisedBatchJobMovesToSyncCalls()
{
    // A priority-3 job on the batch API: four batches of 50 open at once (held by the
    // provider), 100 tasks wait for a slot. Raised to 1 from another process, the 100 go as
    // sync calls at once; the four batches finish at the provider when it lets them.
    m_server->options().holdBatches = true;
    const QString csv = writeCsv(300);
    QProcess run;
    QSignalSpy finished(&run, &QProcess::finished);
    startRun(run, runArguments(csv, {u"--priority"_s, u"3"_s, u"--mode"_s, u"batch-api"_s,
                                     u"--batch-size"_s, u"50"_s, u"--batch-poll-ms"_s, u"100"_s,
                                     u"--batch-max-wait-ms"_s, u"200"_s}));
    QTRY_COMPARE_WITH_TIMEOUT(m_server->batchesCreated(), 4, 30'000);
    QTest::qWait(500);
    QCOMPARE(m_server->batchesCreated(), 4);
    QCOMPARE(m_server->requestCount(kChatPath), 0);

    const BatchctlRun raised = job({u"1"_s, u"--priority"_s, u"1"_s, u"--json"_s});
    QVERIFY2(raised.exitCode == 0, qPrintable(raised.describe()));
    QCOMPARE(raised.json().value(u"job"_s).toInt(), 1);
    QTRY_COMPARE_WITH_TIMEOUT(m_server->requestCount(kChatPath), 100, 10'000);
    QCOMPARE(m_server->batchesCreated(), 4);
    QVERIFY(finished.isEmpty());

    m_server->options().holdBatches = false;
    QVERIFY2(finished.wait(60'000), run.readAllStandardError().constData());
    QVERIFY2(run.exitCode() == 0, run.readAllStandardError().constData());
    QCOMPARE(count(u"state = 2 AND batch_id IS NULL"_s), 100);     // as sync calls
    QCOMPARE(count(u"state = 2 AND batch_id IS NOT NULL"_s), 200); // in the provider's batches
}

void TestControls::unknownJobIsAUsageError()
{
    const QString csv = writeCsv(3);
    const BatchctlRun imported = runBatchctl(QStringLiteral(BATCHCTL_PATH), runArguments(csv, {}),
                                             m_env, m_dir->path(), 30'000);
    QVERIFY2(imported.exitCode == 0, qPrintable(imported.describe()));
    const BatchctlRun unknown = job({u"42"_s, u"--pause"_s});
    QCOMPARE(unknown.exitCode, 2);
    QVERIFY2(unknown.err.contains("no job 42"), unknown.err.constData());
    const BatchctlRun nothing = job({u"1"_s});
    QCOMPARE(nothing.exitCode, 2);
    const BatchctlRun both = job({u"1"_s, u"--pause"_s, u"--cancel"_s});
    QCOMPARE(both.exitCode, 2);
}

void TestControls::importNeverStallsDispatch()
{
    // One engine imports a 300,000-row CSV. A one-row priority-1 job submitted once the
    // first of those rows are stored has its request at the server before that import
    // ends: imports are read off the engine thread and stored in slices, never ahead of
    // dispatch. Ordering, not timing (bench_dispatch --part d times it).
    constexpr int kBigRows = 300'000;
    m_server->options().requiredKey.clear();
    const QString big = writeCsv(kBigRows, u"big.csv"_s);
    const QString urgent = m_dir->filePath(u"urgent.csv"_s);
    {
        QFile file(urgent);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("id,text\n1,URGENT customer waiting\n");
    }
    bd::EngineOptions options;
    options.database = m_db;
    auto engine = bd::createEngine(options);
    QSignalSpy opened(engine.get(), &bd::Engine::opened);
    engine->open();
    QVERIFY(opened.wait(30'000));
    QVERIFY(opened.at(0).at(0).toBool());

    QStringList events; // in the order they happened
    qint64 bigRowsStored = 0;
    QList<bd::ImportResult> imports;
    connect(m_server.get(), &FakeProvider::chatReceived, this, [&](const QString &prompt) {
        if (prompt.contains(u"URGENT"_s) && !events.contains(u"urgent request"_s))
            events.append(u"urgent request"_s);
    });
    connect(engine.get(), &bd::Engine::importProgressed, this,
            [&](qint64 rows, qint64, qint64) { bigRowsStored = qMax(bigRowsStored, rows); });
    connect(engine.get(), &bd::Engine::importFinished, this, [&](const bd::ImportResult &result) {
        imports.append(result);
        events.append(u"import of %1 rows finished"_s.arg(result.rows));
    });
    const auto spec = [&](const QString &csv, int priority) {
        bd::JobSpec job;
        job.sourcePath = csv;
        job.templateText = u"Classify: {{text}}"_s;
        job.provider = u"openai-compatible"_s;
        job.model = u"fake-model-1"_s;
        job.baseUrl = m_server->openAiBaseUrl();
        job.priority = priority;
        job.mode = priority == 1 ? u"realtime"_s : u"grouped"_s;
        return job;
    };
    engine->importJob(spec(big, 3));
    QTRY_VERIFY_WITH_TIMEOUT(bigRowsStored > 0, 30'000);
    QVERIFY2(imports.isEmpty(), "the big import ended before the test could submit");
    engine->importJob(spec(urgent, 1));
    QTRY_VERIFY_WITH_TIMEOUT(!imports.isEmpty(), 30'000);
    QVERIFY2(imports.constFirst().ok && imports.constFirst().rows == 1,
             qPrintable(events.join(u", "_s)));
    bd::ProviderConfig provider;
    provider.id = u"openai-compatible"_s;
    provider.baseUrl = m_server->openAiBaseUrl();
    engine->startJob(imports.constFirst().jobId, provider);
    QTRY_VERIFY_WITH_TIMEOUT(events.contains(u"urgent request"_s), 30'000);
    QTRY_COMPARE_WITH_TIMEOUT(imports.size(), 2, 120'000);
    QVERIFY(imports.at(1).ok);
    QCOMPARE(imports.at(1).rows, qint64(kBigRows));
    const QStringList expected = {u"import of 1 rows finished"_s, u"urgent request"_s,
                                  u"import of %1 rows finished"_s.arg(kBigRows)};
    QCOMPARE(events, expected);
}

QTEST_GUILESS_MAIN(TestControls)
#include "test_controls.moc"
