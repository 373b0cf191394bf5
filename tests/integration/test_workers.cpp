// Workers sharing one database (issue #14): `batchctl submit` imports a job once, three
// `batchctl worker` processes drain it against the simulator while one of them is SIGKILLed,
// `batchctl wait` returns as run would, and `status --json` lists the workers. A worker
// stopped with SIGTERM exits 0 and leaves no task leased. On SQLite and on a private
// PostgreSQL server (tests/store/privatepostgres.h; those rows are skipped without one).
// Leases are shortened (--lease-ms) so that the dead worker's tasks come back within
// seconds; the figures asserted are counts in the database, never timings of the machine.

#include "../store/privatepostgres.h"
#include "../support/batchctlrun.h"
#include "api/engine.h"
#include "api/snapshot.h"
#include "fakeprovider.h"

#include <memory>
#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QProcess>
#include <QScopeGuard>
#include <QSet>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;

namespace {

constexpr int kLeaseMs = 3'000;
constexpr int kHeartbeatMs = 500;
const QString kProviderKey = u"sk-workers-TEST-0123456789abcdef"_s;

} // namespace

// The data row's database; the row is skipped without a PostgreSQL server.
#define WORKERS_DATABASE()                                                                         \
    QFETCH(QString, backend);                                                                      \
    const QString db = database(backend);                                                          \
    if (db.isEmpty())                                                                              \
        QSKIP("PostgreSQL's server (initdb, pg_ctl) is not installed (Debian: postgresql)")
// A PostgreSQL database of its own for a test of PostgreSQL only; skipped without a server.
#define POSTGRES_DATABASE()                                                                        \
    const QString db = database(u"postgresql"_s);                                                  \
    if (db.isEmpty())                                                                              \
    QSKIP("PostgreSQL's server (initdb, pg_ctl) is not installed (Debian: postgresql)")
// The same, and a loopback provider answering after latencyMs whose key batchctl's
// environment holds until the test ends.
#define WORKERS_DATABASE_AND_PROVIDER(latencyMs)                                                   \
    WORKERS_DATABASE();                                                                            \
    const auto provider = startProvider(latencyMs);                                                \
    QVERIFY(provider);                                                                             \
    const auto restore = useProviderKey()

class TestWorkers : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void threeWorkersDrainOneJobWhileOneIsKilled_data();
    void threeWorkersDrainOneJobWhileOneIsKilled();
    void sigtermHandsEverythingBack_data();
    void sigtermHandsEverythingBack();
    void providerBatchIsAdoptedNotResubmitted_data();
    void providerBatchIsAdoptedNotResubmitted();
    void aKilledWorkerIsBilledTwiceAtMostItsInFlight_data();
    void aKilledWorkerIsBilledTwiceAtMostItsInFlight();
    void aJobBudgetCountsOtherWorkersReservations_data();
    void aJobBudgetCountsOtherWorkersReservations();
    void threeWorkersShareOneRateLimit_data();
    void threeWorkersShareOneRateLimit();
    void theGlobalCapHoldsAcrossWorkers_data();
    void theGlobalCapHoldsAcrossWorkers();
    void aWorkerTakesOnlyOptionsThatAct();
    void aSubmittedJobWakesAnIdleWorker();
    void aPriorityOneJobPreemptsOtherWorkersBacklog();
    void theWorkerCountOfARunningJobIsSteady_data();
    void theWorkerCountOfARunningJobIsSteady();
    void aJobsConcurrencyHoldsAcrossWorkers_data();
    void aJobsConcurrencyHoldsAcrossWorkers();
    void aWorkerSurvivesARestartOfItsServer();
    void aWorkerWhoseSessionsAreTerminatedGoesOn();
    void aWorkerWhoseDatabaseStaysAwayExits1();
    void cleanupTestCase();

private:
    void addBackends();
    QString database(const QString &name);
    BatchctlRun batchctl(const QStringList &arguments, int timeoutMs = 120'000)
    {
        return runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, m_env, m_dir.path(),
                           timeoutMs);
    }
    // rows of "row N" padded with `pad` characters of filler.
    QString writeCsv(const QString &name, int rows, int pad = 0);
    // batchctl's environment holds the loopback provider's key until the guard goes.
    auto useProviderKey()
    {
        const QProcessEnvironment plain = m_env;
        m_env.insert(u"OPENAI_API_KEY"_s, kProviderKey);
        return qScopeGuard([this, plain] { m_env = plain; });
    }
    // Submits csv as a realtime gpt-4.1-mini job on the loopback provider (more: further
    // options); the job's id, 0 on failure (said).
    qint64 submitToProvider(const QString &db, const bd::testing::FakeProvider &provider,
                            const QString &csv, const QStringList &more);
    std::unique_ptr<QProcess> startWorker(const QString &db, int concurrency,
                                          const QStringList &more = {});
    using Workers = std::vector<std::unique_ptr<QProcess>>;
    // `count` workers of `concurrency` on db; empty when one did not start (said).
    Workers startWorkers(const QString &db, int count, int concurrency);
    // SIGTERM to each; true when every one exited 0 within a minute (else said).
    static bool stopWorkers(const Workers &workers);
    // A loopback provider taking the test's key, answering after latencyMs (null, said, when
    // it cannot listen).
    static std::unique_ptr<bd::testing::FakeProvider> startProvider(int latencyMs);
    // The first column of the first row (0 for a statement without rows), -1 on failure; on
    // the test's own connection.
    qint64 scalar(const QString &db, const QString &sql);
    // Submits `rows` simulator rows answered after latencyMs (more: further options); the
    // job's id, 0 on failure (said).
    qint64 submitSimulated(const QString &db, const QString &name, int rows, int latencyMs,
                           const QStringList &more = {});
    // The job's tasks in state (0 pending, 1 leased, 2 completed).
    qint64 tasksIn(const QString &db, qint64 job, int state)
    {
        return scalar(
            db,
            u"SELECT COUNT(*) FROM tasks WHERE job_id = %1 AND state = %2"_s.arg(job).arg(state));
    }
    // Until the worker says it is up (its engine open, listening for wake-ups); false, said,
    // when it did not start or come up within 30 s.
    static bool waitUntilUp(QProcess *worker);
    // `batchctl wait JOB --json` with a timeout of timeoutS seconds.
    BatchctlRun waitFor(const QString &db, qint64 job, int timeoutS)
    {
        return batchctl({u"wait"_s, QString::number(job), u"--db"_s, db, u"--timeout"_s,
                         QString::number(timeoutS), u"--json"_s},
                        (timeoutS + 30) * 1000);
    }
    static QSet<qint64> pidsOf(const Workers &workers)
    {
        QSet<qint64> pids;
        for (const auto &worker : workers)
            pids.insert(worker->processId());
        return pids;
    }
    // How many of the workers with these pids have completed something, as status says.
    static int workingOf(const QJsonObject &status, const QSet<qint64> &pids);
    // Polls `status --json` until pred accepts it (or the deadline passes).
    QJsonObject statusWhen(const QString &db, const std::function<bool(const QJsonObject &)> &pred,
                           int timeoutMs);

    QTemporaryDir m_dir;
    QProcessEnvironment m_env;
    std::unique_ptr<bd::storetest::PrivatePostgres> m_server;
    // A server of the test's own, to stop and start (null, said, when it cannot start).
    static std::unique_ptr<bd::storetest::PrivatePostgres> startOwnServer();
    int m_databases = 0;
};

void TestWorkers::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_env = isolatedEnvironment(m_dir.path());
    for (const char *key : {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL",
                            "ANTHROPIC_BASE_URL", "PGPASSWORD"})
        m_env.remove(QString::fromLatin1(key));
    if (bd::storetest::PrivatePostgres::available()) {
        m_server = std::make_unique<bd::storetest::PrivatePostgres>();
        QVERIFY2(m_server->start(), qPrintable(m_server->errorString()));
    }
}

void TestWorkers::cleanupTestCase()
{
    m_server.reset();
}

void TestWorkers::addBackends()
{
    QTest::addColumn<QString>("backend");
    QTest::newRow("sqlite") << u"sqlite"_s;
    QTest::newRow("postgresql") << u"postgresql"_s;
}

QString TestWorkers::database(const QString &backend)
{
    const QString name = u"workers_%1"_s.arg(++m_databases);
    if (backend == u"postgresql"_s)
        return m_server ? m_server->url(name) : QString();
    return m_dir.filePath(name + u".sqlite"_s);
}

QString TestWorkers::writeCsv(const QString &name, int rows, int pad)
{
    const QString path = m_dir.filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return {};
    file.write("id,text\n");
    for (int i = 1; i <= rows; ++i)
        file.write(QByteArray::number(i) + ",row " + QByteArray::number(i) + QByteArray(pad, 'x') +
                   "\n");
    return path;
}

qint64 TestWorkers::submitToProvider(const QString &db, const bd::testing::FakeProvider &provider,
                                     const QString &csv, const QStringList &more)
{
    const BatchctlRun submitted = batchctl(
        QStringList{u"submit"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--provider"_s,
                    u"openai"_s, u"--model"_s, u"gpt-4.1-mini"_s, u"--mode"_s, u"realtime"_s,
                    u"--base-url"_s, provider.openAiBaseUrl(), u"--db"_s, db, u"--json"_s} +
        more);
    if (submitted.exitCode != 0) {
        qWarning("%s", qPrintable(submitted.describe()));
        return 0;
    }
    return submitted.json().value(u"job"_s).toInteger();
}

std::unique_ptr<QProcess> TestWorkers::startWorker(const QString &db, int concurrency,
                                                   const QStringList &more)
{
    auto process = std::make_unique<QProcess>();
    process->setProcessEnvironment(m_env);
    process->setWorkingDirectory(m_dir.path());
    process->start(QStringLiteral(BATCHCTL_PATH),
                   QStringList{u"worker"_s, u"--db"_s, db, u"--concurrency"_s,
                               QString::number(concurrency), u"--lease-ms"_s,
                               QString::number(kLeaseMs), u"--heartbeat-ms"_s,
                               QString::number(kHeartbeatMs), u"--json"_s} +
                       more);
    if (!process->waitForStarted(10'000))
        return nullptr;
    return process;
}

TestWorkers::Workers TestWorkers::startWorkers(const QString &db, int count, int concurrency)
{
    Workers workers;
    for (int i = 0; i < count; ++i) {
        workers.push_back(startWorker(db, concurrency));
        if (!workers.back()) {
            qWarning("worker %d of %d did not start", i + 1, count);
            return {};
        }
    }
    return workers;
}

bool TestWorkers::stopWorkers(const Workers &workers)
{
    bool clean = true;
    for (const auto &worker : workers) {
        if (worker->state() == QProcess::NotRunning)
            continue;
        worker->terminate();
        if (!worker->waitForFinished(60'000) || worker->exitStatus() != QProcess::NormalExit ||
            worker->exitCode() != 0) {
            qWarning("worker %lld did not stop cleanly: %s", qint64(worker->processId()),
                     worker->readAllStandardError().constData());
            clean = false;
        }
    }
    return clean;
}

std::unique_ptr<bd::testing::FakeProvider> TestWorkers::startProvider(int latencyMs)
{
    auto provider = std::make_unique<bd::testing::FakeProvider>();
    if (!provider->listen()) {
        qWarning("the loopback provider cannot listen");
        return nullptr;
    }
    provider->options().requiredKey = kProviderKey;
    provider->options().latencyMs = latencyMs;
    return provider;
}

qint64 TestWorkers::scalar(const QString &db, const QString &sql)
{
    static int connections = 0;
    const QString name = u"test-workers-%1"_s.arg(++connections);
    qint64 value = -1;
    {
        QSqlDatabase connection;
        if (db.startsWith(u"postgresql://"_s)) {
            const QUrl url(db);
            connection = QSqlDatabase::addDatabase(u"QPSQL"_s, name);
            connection.setHostName(url.host());
            connection.setPort(url.port());
            connection.setUserName(url.userName());
            connection.setDatabaseName(url.path().mid(1));
        } else {
            connection = QSqlDatabase::addDatabase(u"QSQLITE"_s, name);
            connection.setDatabaseName(db);
            connection.setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=5000"_s);
        }
        if (connection.open()) {
            QSqlQuery query(connection);
            if (query.exec(sql) && !query.isSelect())
                value = 0; // a statement with no rows ran
            else if (query.isActive() && query.next())
                value = query.value(0).toLongLong();
            else
                qWarning("%s: %s", qPrintable(sql), qPrintable(query.lastError().text()));
        }
        connection.close();
    }
    QSqlDatabase::removeDatabase(name);
    return value;
}

qint64 TestWorkers::submitSimulated(const QString &db, const QString &name, int rows, int latencyMs,
                                    const QStringList &more)
{
    const BatchctlRun submitted = batchctl(
        QStringList{u"submit"_s, writeCsv(name, rows), u"--template"_s,
                    u"Say {{text}} (%1)"_s.arg(name), u"--provider"_s, u"simulator"_s,
                    u"--sim-latency-ms"_s, QString::number(latencyMs), u"--db"_s, db, u"--json"_s} +
        more);
    if (submitted.exitCode != 0) {
        qWarning("%s", qPrintable(submitted.describe()));
        return 0;
    }
    return submitted.json().value(u"job"_s).toInteger();
}

bool TestWorkers::waitUntilUp(QProcess *worker)
{
    if (!worker) {
        qWarning("the worker did not start");
        return false;
    }
    QByteArray said;
    QDeadlineTimer deadline(30'000);
    while (!deadline.hasExpired()) {
        said += worker->readAllStandardError();
        if (said.contains(", lanes "))
            return true;
        worker->waitForReadyRead(200);
    }
    qWarning("the worker did not come up: %s", said.constData());
    return false;
}

int TestWorkers::workingOf(const QJsonObject &status, const QSet<qint64> &pids)
{
    int working = 0;
    for (const QJsonValue &value : status.value(u"workers"_s).toArray()) {
        const QJsonObject worker = value.toObject();
        if (pids.contains(worker.value(u"pid"_s).toInteger()) &&
            worker.value(u"completed"_s).toInteger() > 0)
            ++working;
    }
    return working;
}

QJsonObject TestWorkers::statusWhen(const QString &db,
                                    const std::function<bool(const QJsonObject &)> &pred,
                                    int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    QJsonObject last;
    while (!deadline.hasExpired()) {
        const BatchctlRun status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
        if (status.exitCode == 0) {
            last = status.json();
            if (pred(last))
                return last;
        }
        QTest::qWait(200);
    }
    return last;
}

void TestWorkers::threeWorkersDrainOneJobWhileOneIsKilled_data()
{
    addBackends();
}

void TestWorkers::threeWorkersDrainOneJobWhileOneIsKilled()
{
    WORKERS_DATABASE();
    constexpr int kRows = 600;
    const QString csv = writeCsv(u"drain-%1.csv"_s.arg(backend), kRows);
    const QStringList submitArgs = {u"submit"_s,
                                    csv,
                                    u"--template"_s,
                                    u"Say {{text}}"_s,
                                    u"--provider"_s,
                                    u"simulator"_s,
                                    u"--sim-latency-ms"_s,
                                    u"150"_s,
                                    u"--db"_s,
                                    db,
                                    u"--json"_s};
    const BatchctlRun submitted = batchctl(submitArgs);
    QVERIFY2(submitted.exitCode == 0, qPrintable(submitted.describe()));
    const qint64 job = submitted.json().value(u"job"_s).toInteger();
    QVERIFY(job > 0);
    QCOMPARE(submitted.json().value(u"tasks"_s).toInteger(), kRows);
    QCOMPARE(submitted.json().value(u"state"_s).toString(), u"paused"_s);
    // The same input again is the same job, not a second import.
    const BatchctlRun again = batchctl(submitArgs);
    QVERIFY2(again.exitCode == 0, qPrintable(again.describe()));
    QCOMPARE(again.json().value(u"job"_s).toInteger(), job);
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM tasks"_s), kRows);

    const Workers workers = startWorkers(db, 3, 4);
    QVERIFY(!workers.empty());
    const auto pidOf = [](const QJsonObject &worker) { return worker.value(u"pid"_s).toInteger(); };
    const QSet<qint64> pids = pidsOf(workers);
    // Mid-run: every worker has a heartbeat and has completed something, the job is not
    // half done.
    const auto allWorking = [&](const QJsonObject &status) { return workingOf(status, pids) == 3; };
    const QJsonObject during = statusWhen(db, allWorking, 60'000);
    QVERIFY2(allWorking(during), QJsonDocument(during).toJson().constData());
    QString deadId;
    for (const QJsonValue &value : during.value(u"workers"_s).toArray()) {
        const QJsonObject worker = value.toObject();
        QVERIFY(worker.contains(u"id"_s) && worker.contains(u"host"_s) &&
                worker.contains(u"last_seen"_s));
        if (pidOf(worker) == workers.front()->processId())
            deadId = worker.value(u"id"_s).toString();
    }
    QVERIFY(!deadId.isEmpty());
    const qint64 completedAtKill =
        scalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 2 AND job_id = %1"_s.arg(job));
    QVERIFY2(completedAtKill < kRows, "the job finished before a worker could be killed");

    // SIGKILL: no word to anyone; its leased tasks stay leased until the lease runs out.
    workers.front()->kill();
    QVERIFY(workers.front()->waitForFinished(10'000));
    const QString deadLeases =
        u"SELECT COUNT(*) FROM tasks WHERE state = 1 AND lease_owner = '%1'"_s.arg(deadId);
    // Back to the others within the lease (renewed every third of it, so at most a lease
    // after the kill), with room for a loaded machine's rescuer tick.
    QTRY_COMPARE_WITH_TIMEOUT(scalar(db, deadLeases), 0, kLeaseMs + 4 * kHeartbeatMs + 5'000);

    const BatchctlRun waited = batchctl(
        {u"wait"_s, QString::number(job), u"--db"_s, db, u"--timeout"_s, u"120"_s, u"--json"_s},
        150'000);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(waited.json().value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(waited.json().value(u"completed"_s).toInteger(), kRows);

    // Every row completed, each with its answer: a task's row moves to completed once, by
    // the lease holder only (a late answer of the dead worker's could not be stored).
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 2"_s), kRows);
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM tasks WHERE output IS NULL OR output = ''"_s), 0);
    QCOMPARE(scalar(db, u"SELECT COUNT(DISTINCT row_no) FROM tasks"_s), kRows);

    // The survivors stop cleanly; the worker list has all three.
    QVERIFY(stopWorkers(workers)); // the dead one is passed over
    for (size_t i = 1; i < workers.size(); ++i) {
        const QJsonObject said =
            QJsonDocument::fromJson(workers[i]->readAllStandardOutput()).object();
        QVERIFY(said.value(u"jobs"_s).toArray().contains(job));
    }
    const BatchctlRun status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    qint64 completedByWorkers = 0;
    QSet<qint64> listed;
    for (const QJsonValue &value : status.json().value(u"workers"_s).toArray()) {
        const QJsonObject worker = value.toObject();
        if (!pids.contains(pidOf(worker)))
            continue; // submit's and status's own engines
        listed.insert(pidOf(worker));
        completedByWorkers += worker.value(u"completed"_s).toInteger();
    }
    QCOMPARE(listed, pids);
    // The dead worker's last heartbeat may lag what it completed: never more than all rows.
    QVERIFY2(completedByWorkers <= kRows && completedByWorkers > kRows / 2,
             qPrintable(QString::number(completedByWorkers)));
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 1"_s), 0);
}

void TestWorkers::sigtermHandsEverythingBack_data()
{
    addBackends();
}

void TestWorkers::sigtermHandsEverythingBack()
{
    WORKERS_DATABASE();
    constexpr int kRows = 40;
    const QString csv = writeCsv(u"term-%1.csv"_s.arg(backend), kRows);
    // Slow answers: the worker holds leases when it is told to stop.
    const BatchctlRun submitted =
        batchctl({u"submit"_s, csv, u"--template"_s, u"Say {{text}}"_s, u"--provider"_s,
                  u"simulator"_s, u"--sim-latency-ms"_s, u"20000"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(submitted.exitCode == 0, qPrintable(submitted.describe()));
    const qint64 job = submitted.json().value(u"job"_s).toInteger();

    auto worker = startWorker(db, 8);
    QVERIFY(worker);
    QTRY_VERIFY_WITH_TIMEOUT(scalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 1"_s) > 0,
                             60'000);
    worker->terminate();
    QVERIFY(worker->waitForFinished(60'000));
    QCOMPARE(worker->exitStatus(), QProcess::NormalExit);
    QVERIFY2(worker->exitCode() == 0, worker->readAllStandardError().constData());
    // Nothing left leased, nothing lost: every task pending again, none completed or dead.
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 1 OR lease_owner IS NOT NULL"_s),
             0);
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 0"_s), kRows);
    // Handed back, the job waits for another worker: wait times out (exit 1).
    const BatchctlRun waited = batchctl(
        {u"wait"_s, QString::number(job), u"--db"_s, db, u"--timeout"_s, u"1"_s, u"--json"_s});
    QVERIFY2(waited.exitCode == 1, qPrintable(waited.describe()));
    QCOMPARE(waited.json().value(u"pending"_s).toInteger(), kRows);
    // An unknown job is a usage error.
    const BatchctlRun unknown =
        batchctl({u"wait"_s, u"999"_s, u"--db"_s, db, u"--timeout"_s, u"1"_s});
    QVERIFY2(unknown.exitCode == 2, qPrintable(unknown.describe()));
}

void TestWorkers::providerBatchIsAdoptedNotResubmitted_data()
{
    addBackends();
}

void TestWorkers::providerBatchIsAdoptedNotResubmitted()
{
    // Worker A submits the job's provider batches and is killed while the provider holds
    // them; worker B, running the same job, leaves them alone while A lives, adopts them once
    // A's heartbeat is stale, and collects their results: nothing is submitted twice.
    WORKERS_DATABASE();
    const auto provider = startProvider(0);
    QVERIFY(provider);
    provider->options().holdBatches = true;
    const auto restore = useProviderKey();
    constexpr int kRows = 250;
    constexpr int kBatches = 3; // 100 + 100 + 50
    const QString csv = writeCsv(u"batches-%1.csv"_s.arg(backend), kRows);
    const BatchctlRun submitted = batchctl({u"submit"_s,
                                            csv,
                                            u"--template"_s,
                                            u"Classify: {{text}}"_s,
                                            u"--provider"_s,
                                            u"openai"_s,
                                            u"--model"_s,
                                            u"gpt-4.1-mini"_s,
                                            u"--priority"_s,
                                            u"3"_s,
                                            u"--mode"_s,
                                            u"batch-api"_s,
                                            u"--base-url"_s,
                                            provider->openAiBaseUrl(),
                                            u"--batch-size"_s,
                                            u"100"_s,
                                            u"--batch-poll-ms"_s,
                                            u"100"_s,
                                            u"--batch-max-wait-ms"_s,
                                            u"0"_s,
                                            u"--db"_s,
                                            db,
                                            u"--json"_s});
    QVERIFY2(submitted.exitCode == 0, qPrintable(submitted.describe()));
    const qint64 job = submitted.json().value(u"job"_s).toInteger();

    const QString storedIds =
        u"SELECT COUNT(*) FROM provider_batches WHERE provider_batch_id IS NOT NULL"_s;
    auto first = startWorker(db, 4, {u"--lanes"_s, u"3"_s});
    QVERIFY(first);
    QTRY_COMPARE_WITH_TIMEOUT(scalar(db, storedIds), kBatches, 60'000);
    QCOMPARE(provider->batchesCreated(), kBatches);
    auto second = startWorker(db, 4, {u"--lanes"_s, u"3"_s});
    QVERIFY(second);
    // B runs the job too (it says so) but polls none of A's batches while A is alive.
    QByteArray said;
    const auto saysWorking = [&] {
        said += second->readAllStandardError();
        return said.contains("working on job");
    };
    QTRY_VERIFY2_WITH_TIMEOUT(saysWorking(), said.constData(), 30'000);
    QTest::qWait(2 * kLeaseMs / 3);
    const QString ownedByOthers =
        u"SELECT COUNT(*) FROM provider_batches b WHERE b.owner <> '' AND b.owner NOT IN "
        "(SELECT id FROM workers w WHERE w.pid = %1)"_s.arg(first->processId());
    QCOMPARE(scalar(db, ownedByOthers), 0);

    first->kill();
    QVERIFY(first->waitForFinished(10'000));
    provider->options().holdBatches = false;
    const BatchctlRun waited = batchctl(
        {u"wait"_s, QString::number(job), u"--db"_s, db, u"--timeout"_s, u"120"_s, u"--json"_s},
        150'000);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(waited.json().value(u"completed"_s).toInteger(), kRows);
    // Adopted, not resubmitted: the provider saw three batches and each line once.
    QCOMPARE(provider->batchesCreated(), kBatches);
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM provider_batches b JOIN workers w ON w.id = "
                        "b.owner WHERE w.pid = %1"_s.arg(second->processId())),
             kBatches);
    for (qint64 task = 1; task <= kRows; ++task)
        QCOMPARE(provider->batchLinesFor(QString::number(task)), 1);
    second->terminate();
    QVERIFY(second->waitForFinished(60'000));
    QCOMPARE(second->exitCode(), 0);
}

void TestWorkers::aKilledWorkerIsBilledTwiceAtMostItsInFlight_data()
{
    addBackends();
}

void TestWorkers::aKilledWorkerIsBilledTwiceAtMostItsInFlight()
{
    // The "rows billed twice at most the dead worker's in-flight": three workers of
    // concurrency 4 against a loopback provider (300 ms answers), one SIGKILLed mid-run.
    // The provider answered (billed) some rows twice: the dead worker's requests that were
    // out when it died, answered to nobody, then sent again by a survivor once its leases
    // ran out. Never more than it had in flight, every row completed once in the database.
    WORKERS_DATABASE_AND_PROVIDER(300);
    constexpr int kRows = 300;
    constexpr int kConcurrency = 4;
    const QString csv = writeCsv(u"billed-%1.csv"_s.arg(backend), kRows);
    const qint64 job = submitToProvider(db, *provider, csv, {});
    QVERIFY(job > 0);
    const Workers workers = startWorkers(db, 3, kConcurrency);
    QVERIFY(!workers.empty());
    const QString completed = u"SELECT COUNT(*) FROM tasks WHERE state = 2"_s;
    QTRY_VERIFY_WITH_TIMEOUT(scalar(db, completed) >= kRows / 4, 60'000);
    const qint64 deadPid = workers.front()->processId();
    const int inFlightBefore = provider->inFlight();
    workers.front()->kill();
    QVERIFY(workers.front()->waitForFinished(10'000));
    QVERIFY(inFlightBefore > 0);
    const BatchctlRun waited = batchctl(
        {u"wait"_s, QString::number(job), u"--db"_s, db, u"--timeout"_s, u"120"_s, u"--json"_s},
        150'000);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(scalar(db, completed), kRows);
    int billedTwice = 0;
    int billedMore = 0;
    for (int row = 1; row <= kRows; ++row) {
        const int answers = provider->successesFor(u"Say row %1"_s.arg(row));
        QVERIFY2(answers >= 1, qPrintable(u"row %1 never answered"_s.arg(row)));
        billedTwice += answers == 2 ? 1 : 0;
        billedMore += answers > 2 ? 1 : 0;
    }
    qInfo("%s: worker %lld killed with requests out; rows answered twice: %d (its concurrency: "
          "%d), more than twice: %d",
          qPrintable(backend), deadPid, billedTwice, kConcurrency, billedMore);
    QVERIFY2(billedTwice <= kConcurrency, qPrintable(QString::number(billedTwice)));
    QCOMPARE(billedMore, 0);
    QVERIFY(stopWorkers(workers));
}

void TestWorkers::aJobBudgetCountsOtherWorkersReservations_data()
{
    addBackends();
}

void TestWorkers::aJobBudgetCountsOtherWorkersReservations()
{
    // A job budget of $0.002 leaves room for four requests at their worst case (gpt-4.1-mini,
    // 256 output tokens: about $0.00041 each). Worker A, alone, keeps four in flight; worker
    // B, started beside it, sees A's reservations in the database and sends nothing more
    // while they stand (per process, it would send four of its own). The job still
    // finishes, within its budget.
    WORKERS_DATABASE_AND_PROVIDER(1'500);
    constexpr int kRows = 32;
    constexpr double kBudget = 0.002;
    const QString csv = writeCsv(u"budget-%1.csv"_s.arg(backend), kRows);
    const qint64 job =
        submitToProvider(db, *provider, csv, {u"--budget"_s, QString::number(kBudget)});
    QVERIFY(job > 0);
    auto first = startWorker(db, 8);
    QVERIFY(first);
    QTRY_COMPARE_WITH_TIMEOUT(provider->inFlight(), 4, 30'000);
    QTest::qWait(1'500); // A's reservations are in the database (a tick)
    provider->resetCounters();
    auto second = startWorker(db, 8);
    QVERIFY(second);
    QByteArray said;
    QTRY_VERIFY_WITH_TIMEOUT((said += second->readAllStandardError()).contains("working on job"),
                             30'000);
    QTest::qWait(4'000);
    QVERIFY2(provider->maxInFlight() <= 4, qPrintable(QString::number(provider->maxInFlight())));
    const BatchctlRun waited = batchctl(
        {u"wait"_s, QString::number(job), u"--db"_s, db, u"--timeout"_s, u"120"_s, u"--json"_s},
        150'000);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(waited.json().value(u"completed"_s).toInteger(), kRows);
    const qint64 spentMicros =
        scalar(db, u"SELECT CAST(SUM(cost_usd) * 1000000 AS INTEGER) FROM tasks"_s);
    qInfo("%s: spent $%.6f of $%.4f", qPrintable(backend), double(spentMicros) / 1e6, kBudget);
    QVERIFY(spentMicros > 0 && spentMicros <= qint64(kBudget * 1e6));
    Workers both;
    both.push_back(std::move(first));
    both.push_back(std::move(second));
    QVERIFY(stopWorkers(both));
}

void TestWorkers::threeWorkersShareOneRateLimit_data()
{
    addBackends();
}

void TestWorkers::threeWorkersShareOneRateLimit()
{
    // A job's --rpm 1800 is one limit for all its workers: three `batchctl worker` processes,
    // each able to send four times that (concurrency 8, 150 ms answers), against a loopback
    // server that enforces 1,800 a minute as 300 in any 10 s (sliding, so a burst anywhere
    // counts): together they use most of it and almost nothing is refused. The issue's
    // figures (>= 95 % used, <= 1 % refused) are measured by tests/bench/workers-ratelimit.sh;
    // the bounds here leave room for a loaded machine.
    WORKERS_DATABASE();
    const auto provider = startProvider(150);
    QVERIFY(provider);
    provider->options().enforceRequests = 300;
    provider->options().enforceWindowMs = 10'000;
    provider->options().slidingWindow = true;
    QElapsedTimer clock;
    clock.start();
    QList<qint64> arrivals;
    connect(provider.get(), &bd::testing::FakeProvider::chatReceived, this,
            [&] { arrivals.append(clock.elapsed()); });
    const auto restore = useProviderKey();
    constexpr int kRows = 600;
    const QString csv = writeCsv(u"rpm-%1.csv"_s.arg(backend), kRows);
    const qint64 job = submitToProvider(db, *provider, csv, {u"--rpm"_s, u"1800"_s});
    QVERIFY(job > 0);

    const Workers workers = startWorkers(db, 3, 8);
    QVERIFY(!workers.empty());
    const QSet<qint64> pids = pidsOf(workers);
    const BatchctlRun waited = batchctl(
        {u"wait"_s, QString::number(job), u"--db"_s, db, u"--timeout"_s, u"180"_s, u"--json"_s},
        200'000);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(waited.json().value(u"completed"_s).toInteger(), kRows);

    const int accepted = provider->chatSuccessCount();
    const int refused = provider->rateLimitedCount();
    QVERIFY(arrivals.size() >= kRows);
    // The pace over the run: from the first arrival to the last, once all workers were up.
    const double seconds = double(arrivals.constLast() - arrivals.constFirst()) / 1000.0;
    const double perMinute = double(arrivals.size() - 1) / seconds * 60.0;
    const double refusedShare = double(refused) / double(accepted + refused);
    qInfo("%s: %d answered, %d refused (%.2f %%), %.0f requests a minute (%.1f %% of 1,800) "
          "over %.1f s",
          qPrintable(backend), accepted, refused, 100.0 * refusedShare, perMinute,
          perMinute / 18.0, seconds);
    QCOMPARE(accepted, kRows);
    // The limit holds: what the server refused is a sliver, and the pace is under 1,800.
    QVERIFY2(refusedShare <= 0.03, qPrintable(QString::number(refusedShare)));
    QVERIFY2(perMinute <= 1'800.0 * 1.01, qPrintable(QString::number(perMinute)));
    // And is used: one worker alone could not tell, three together reach most of it.
    QVERIFY2(perMinute >= 1'800.0 * 0.8, qPrintable(QString::number(perMinute)));

    // All three worked on it (their last heartbeat, at SIGTERM, says how much).
    QVERIFY(stopWorkers(workers));
    QStringList pidList;
    for (const qint64 pid : std::as_const(pids))
        pidList.append(QString::number(pid));
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM workers WHERE completed > 0 AND pid IN (%1)"_s.arg(
                            pidList.join(u", "_s))),
             3);
}

void TestWorkers::theGlobalCapHoldsAcrossWorkers_data()
{
    addBackends();
}

void TestWorkers::theGlobalCapHoldsAcrossWorkers()
{
    // The global budget's cap with three `batchctl worker` processes of concurrency 4 on two
    // jobs (8 requests in flight per worker, 1 s answers cut at 16 output tokens, so each
    // costs about its worst case and any overshoot shows). Each worker claims its share of
    // the cap in the database before it sends a request its claim does not cover (published
    // first, then the others' claims and the spend read: dispatch/capledger.h), and a claim
    // covers the answers it settled until they are written. So with every worker alive the
    // cap holds (the README's bound: nothing beyond what answers cost over their worst-case
    // estimate, which these do not). The jobs end paused ("global budget reached"), wait
    // exits 3, the ledger equals the answers' cost, and the cap is used.
    WORKERS_DATABASE_AND_PROVIDER(1'000);
    constexpr int kWorkers = 3;
    constexpr int kConcurrency = 4;
    constexpr int kPad = 300;
    constexpr qint64 kMaxOutput = 16;
    constexpr double kCap = 0.004;
    QList<qint64> jobs;
    for (const int rows : {150, 151}) { // two inputs, two jobs
        const QString csv = writeCsv(u"cap-%1-%2.csv"_s.arg(backend).arg(rows), rows, kPad);
        jobs.append(submitToProvider(db, *provider, csv,
                                     {u"--max-output-tokens"_s, QString::number(kMaxOutput)}));
        QVERIFY(jobs.last() > 0 && jobs.count(jobs.last()) == 1);
    }
    const BatchctlRun capped = batchctl({u"budget"_s, u"--set"_s, QString::number(kCap),
                                         u"--period"_s, u"all"_s, u"--db"_s, db});
    QVERIFY2(capped.exitCode == 0, qPrintable(capped.describe()));
    // The engine's worst case of one request (gpt-4.1-mini: $0.40 / $1.60 a million tokens
    // in / out; the prompt counted as its characters / 4).
    const qint64 promptChars = QStringLiteral("Say row 151").size() + kPad;
    const double worstUsd = double((promptChars + 3) / 4) * 0.40e-6 + double(kMaxOutput) * 1.60e-6;

    const Workers workers = startWorkers(db, kWorkers, kConcurrency);
    QVERIFY(!workers.empty());
    for (const qint64 job : std::as_const(jobs)) {
        const BatchctlRun waited = batchctl({u"wait"_s, QString::number(job), u"--db"_s, db,
                                             u"--timeout"_s, u"120"_s, u"--json"_s},
                                            150'000);
        QVERIFY2(waited.exitCode == 3, qPrintable(waited.describe()));
        QCOMPARE(waited.json().value(u"state"_s).toString(), u"paused"_s);
    }
    // Answers still out when the jobs paused are stored (and billed) as they come.
    QTRY_COMPARE_WITH_TIMEOUT(provider->inFlight(), 0, 30'000);
    QTRY_COMPARE_WITH_TIMEOUT(scalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 1"_s), 0,
                              30'000);
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM jobs WHERE state_reason = 'global budget reached'"_s),
             2);
    QVERIFY(stopWorkers(workers));
    QVERIFY(scalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 0"_s) > 0); // stopped early

    const qint64 spentMicros =
        scalar(db, u"SELECT CAST(SUM(usd) * 1000000 AS INTEGER) FROM spend_days"_s);
    const qint64 taskMicros =
        scalar(db, u"SELECT CAST(SUM(cost_usd) * 1000000 AS INTEGER) FROM tasks"_s);
    const double spent = double(spentMicros) / 1e6;
    qInfo("%s: spent $%.6f under a cap of $%.4f (overshoot $%.6f = %.1f worst-case requests), "
          "%lld answers",
          qPrintable(backend), spent, kCap, qMax(0.0, spent - kCap),
          qMax(0.0, spent - kCap) / worstUsd,
          scalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 2"_s));
    QVERIFY(qAbs(spentMicros - taskMicros) <= 1); // the ledger is the answers' sum
    QVERIFY2(spentMicros <= qint64(kCap * 1e6) + 1, qPrintable(QString::number(spent, 'f', 6)));
    // And the cap is used: stopped only when the next worst case no longer fitted.
    QVERIFY2(spent >= kCap - kWorkers * kConcurrency * worstUsd,
             qPrintable(QString::number(spent, 'f', 6)));
}

void TestWorkers::aWorkerTakesOnlyOptionsThatAct()
{
    // `worker --rpm 100` used to be accepted and ignored (the parser knows every command's
    // options): a job's limits are the job's, set with submit. What worker takes acts:
    // --lanes 1 leaves a priority-2 job alone, --lanes 2 runs it. One backend is enough.
    // And submit, which runs nothing, is not listed as a worker.
    const QString db = database(u"sqlite"_s);
    for (const QString &option : {u"--rpm"_s, u"--tpm"_s, u"--budget"_s, u"--priority"_s}) {
        const BatchctlRun refused =
            batchctl({u"worker"_s, u"--db"_s, db, option, u"2"_s}, 30'000);
        QVERIFY2(refused.exitCode == 2, qPrintable(refused.describe()));
        QVERIFY2(refused.err.contains(option.toUtf8()), qPrintable(refused.describe()));
    }
    const QString csv = writeCsv(u"lanes.csv"_s, 5);
    const BatchctlRun submitted = batchctl({u"submit"_s, csv, u"--template"_s, u"Say {{text}}"_s,
                                            u"--priority"_s, u"2"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(submitted.exitCode == 0, qPrintable(submitted.describe()));
    const qint64 job = submitted.json().value(u"job"_s).toInteger();
    // submit runs nothing: it is no worker in the list (the Workers view showed each one
    // as a worker gone quiet).
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM workers"_s), 0);
    Workers elsewhere;
    elsewhere.push_back(startWorker(db, 4, {u"--lanes"_s, u"1"_s}));
    QVERIFY(elsewhere.back());
    QByteArray said;
    QTRY_VERIFY_WITH_TIMEOUT((said += elsewhere.back()->readAllStandardError()).contains("lanes 1"),
                             30'000);
    QTest::qWait(3'000); // more than a look for work (every 2 s)
    said += elsewhere.back()->readAllStandardError();
    QVERIFY2(!said.contains("working on job"), said.constData());
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM tasks WHERE state = 2"_s), 0);
    QVERIFY(stopWorkers(elsewhere));
    Workers serving;
    serving.push_back(startWorker(db, 4, {u"--lanes"_s, u"2"_s}));
    QVERIFY(serving.back());
    const BatchctlRun waited = batchctl(
        {u"wait"_s, QString::number(job), u"--db"_s, db, u"--timeout"_s, u"60"_s, u"--json"_s},
        90'000);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(waited.json().value(u"completed"_s).toInteger(), 5);
    QVERIFY(stopWorkers(serving));
}

void TestWorkers::aSubmittedJobWakesAnIdleWorker()
{
    // LISTEN/NOTIFY (PostgreSQL): a worker that looks for new jobs only every 10 minutes
    // (--poll-ms) starts a job submitted while it idles within seconds, because the jobs
    // table's trigger notifies it. With the notifications lost (the triggers disabled, as
    // for a listener whose connection dropped) that worker stays idle, and a worker polling
    // every second still finds the next job: the fallback. Bounds are counts and generous
    // timeouts, far below the poll interval that would otherwise have found the job.
    POSTGRES_DATABASE();
    constexpr int kRows = 5;
    const QString longPoll = u"600000"_s;
    Workers idle;
    idle.push_back(startWorker(db, 4, {u"--poll-ms"_s, longPoll}));
    QVERIFY(waitUntilUp(idle.back().get()));

    QElapsedTimer sinceSubmit;
    sinceSubmit.start();
    const qint64 woken = submitSimulated(db, u"wake-1.csv"_s, kRows, 0);
    QVERIFY(woken > 0);
    const BatchctlRun waited = waitFor(db, woken, 30);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(waited.json().value(u"completed"_s).toInteger(), kRows);
    qInfo("woken by NOTIFY: the job finished %lld ms after submit began (poll interval %s ms)",
          sinceSubmit.elapsed(), qPrintable(longPoll));

    // Notifications lost: the same worker is not woken (the control: nothing but NOTIFY
    // started the first job) ...
    QCOMPARE(scalar(db, u"DO $$ BEGIN ALTER TABLE jobs DISABLE TRIGGER jobs_notify_new; "
                        "ALTER TABLE jobs DISABLE TRIGGER jobs_notify_state; END $$"_s),
             0);
    const qint64 unheard = submitSimulated(db, u"wake-2.csv"_s, kRows, 0);
    QVERIFY(unheard > 0);
    QTest::qWait(4'000);
    QCOMPARE(tasksIn(db, unheard, 2), 0);
    QVERIFY(stopWorkers(idle));
    // ... and one that polls every second finds a job submitted while it idles.
    Workers polling;
    polling.push_back(startWorker(db, 4, {u"--poll-ms"_s, u"1000"_s}));
    QVERIFY(waitUntilUp(polling.back().get()));
    const BatchctlRun first = waitFor(db, unheard, 30);
    QVERIFY2(first.exitCode == 0, qPrintable(first.describe())); // found when it started
    const qint64 polled = submitSimulated(db, u"wake-3.csv"_s, kRows, 0);
    QVERIFY(polled > 0);
    const BatchctlRun found = waitFor(db, polled, 30);
    QVERIFY2(found.exitCode == 0, qPrintable(found.describe()));
    QCOMPARE(found.json().value(u"completed"_s).toInteger(), kRows);
    QVERIFY(stopWorkers(polling));
}

void TestWorkers::aPriorityOneJobPreemptsOtherWorkersBacklog()
{
    // Priority-1 preemption across processes: worker A serves every lane, worker B only
    // lane 2, and both drain a paced priority-2 backlog. A priority-1 job submitted by a
    // third process is run by A alone; B holds its own share of the backlog because it sees
    // A's priority-1 tasks leased in the database (EngineWorker::updatePreemption), and A
    // holds its own. So the urgent job is answered while most of the backlog still waits,
    // and the backlog moved by far less than the urgent job did meanwhile (unheld, at the
    // same concurrency and latency, it would have moved about twice as much).
    POSTGRES_DATABASE();
    constexpr int kBacklog = 2'000;
    constexpr int kUrgent = 200;
    constexpr int kLatencyMs = 200;
    const qint64 backlog =
        submitSimulated(db, u"backlog.csv"_s, kBacklog, kLatencyMs, {u"--priority"_s, u"2"_s});
    QVERIFY(backlog > 0);
    Workers workers;
    workers.push_back(startWorker(db, 4));                         // A: lanes 1, 2, 3
    workers.push_back(startWorker(db, 4, {u"--lanes"_s, u"2"_s})); // B: lane 2 only
    QVERIFY(workers[0] && workers[1]);
    // Both draining it: each has completed some (their heartbeats say).
    const QSet<qint64> pids = {workers[0]->processId(), workers[1]->processId()};
    const auto bothWorking = [&](const QJsonObject &status) {
        return workingOf(status, pids) == 2;
    };
    QVERIFY(bothWorking(statusWhen(db, bothWorking, 60'000)));

    const qint64 backlogBefore = tasksIn(db, backlog, 2);
    const qint64 urgent =
        submitSimulated(db, u"urgent.csv"_s, kUrgent, kLatencyMs, {u"--priority"_s, u"1"_s});
    QVERIFY(urgent > 0);
    const BatchctlRun waited = waitFor(db, urgent, 120);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(waited.json().value(u"completed"_s).toInteger(), kUrgent);
    const qint64 backlogAfter = tasksIn(db, backlog, 2);
    qInfo("backlog completed: %lld before the urgent job, %lld when its %d tasks were done "
          "(%lld meanwhile)",
          backlogBefore, backlogAfter, kUrgent, backlogAfter - backlogBefore);
    QVERIFY2(backlogAfter - backlogBefore < kUrgent / 2,
             qPrintable(QString::number(backlogAfter - backlogBefore)));
    QVERIFY2(backlogAfter < kBacklog / 2, qPrintable(QString::number(backlogAfter)));
    // And the backlog goes on once the urgent job is done.
    QTRY_VERIFY_WITH_TIMEOUT(tasksIn(db, backlog, 2) > backlogAfter + 40, 30'000);
    QVERIFY(stopWorkers(workers));
}

void TestWorkers::theWorkerCountOfARunningJobIsSteady_data()
{
    addBackends();
}

void TestWorkers::theWorkerCountOfARunningJobIsSteady()
{
    // The console's "running · N workers" comes from the engine's snapshot (JobLimit::workers).
    // Two workers on a job paced at 2 requests a second with 50 ms answers have no request in
    // flight most of the time; counted by requests in flight, the figure flipped between 0, 1
    // and 2 from one snapshot to the next. Counted by workers running the job (alive within a
    // lease), every snapshot of an engine beside them says 2.
    WORKERS_DATABASE();
    const qint64 job =
        submitSimulated(db, u"steady-%1.csv"_s.arg(backend), 400, 50, {u"--rpm"_s, u"120"_s});
    QVERIFY(job > 0);
    const Workers workers = startWorkers(db, 2, 4);
    QVERIFY(!workers.empty());
    QTRY_VERIFY_WITH_TIMEOUT(tasksIn(db, job, 2) >= 6, 60'000);

    bd::EngineOptions options;
    options.database = db;
    options.listedAsWorker = false;
    const std::unique_ptr<bd::Engine> engine = bd::createEngine(options);
    QSignalSpy opened(engine.get(), &bd::Engine::opened);
    engine->open();
    QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, 30'000);
    QVERIFY2(opened.at(0).at(0).toBool(), qPrintable(opened.at(0).at(1).toString()));
    QList<int> counts;
    connect(engine.get(), &bd::Engine::snapshotTaken, this,
            [&](const bd::EngineSnapshot &snapshot) {
                for (const bd::JobSnapshot &js : snapshot.jobs) {
                    if (js.jobId == job && js.state == bd::JobState::Running)
                        counts.append(js.limit.workers);
                }
            });
    QTRY_VERIFY_WITH_TIMEOUT(counts.size() >= 10, 60'000);
    qInfo("%s: workers per snapshot: %s", qPrintable(backend), qPrintable([&] {
              QStringList parts;
              for (const int count : std::as_const(counts))
                  parts.append(QString::number(count));
              return parts.join(u' ');
          }()));
    // The first snapshot may come before the engine's first read of the shares.
    QCOMPARE(counts.mid(1), QList<int>(counts.size() - 1, 2));
    QVERIFY(tasksIn(db, job, 2) < 400); // still running throughout
    QVERIFY(stopWorkers(workers));
}

void TestWorkers::aJobsConcurrencyHoldsAcrossWorkers_data()
{
    addBackends();
}

void TestWorkers::aJobsConcurrencyHoldsAcrossWorkers()
{
    // A job's --concurrency is one ceiling for all its workers (each keeps to the ceiling
    // less the others' requests in flight, never below its fair share): three workers that
    // could each keep 8 out hold 6 together, once each has read the others' counts (a worker
    // that joins may pass it by its share for about a second, the README says).
    WORKERS_DATABASE_AND_PROVIDER(300);
    constexpr int kCeiling = 6;
    const QString csv = writeCsv(u"ceiling-%1.csv"_s.arg(backend), 400);
    const qint64 job =
        submitToProvider(db, *provider, csv, {u"--concurrency"_s, QString::number(kCeiling)});
    QVERIFY(job > 0);
    const Workers workers = startWorkers(db, 3, 8);
    QVERIFY(!workers.empty());
    const QSet<qint64> pids = pidsOf(workers);
    const auto allWorking = [&](const QJsonObject &status) { return workingOf(status, pids) == 3; };
    QVERIFY(allWorking(statusWhen(db, allWorking, 60'000)));
    QTest::qWait(1'500); // each has read the others' counts
    provider->resetCounters();
    QTest::qWait(4'000);
    qInfo("%s: at most %d requests in flight at the provider (ceiling %d, three workers of 8)",
          qPrintable(backend), provider->maxInFlight(), kCeiling);
    QVERIFY2(provider->maxInFlight() <= kCeiling,
             qPrintable(QString::number(provider->maxInFlight())));
    QVERIFY2(provider->maxInFlight() >= kCeiling - 2,
             qPrintable(QString::number(provider->maxInFlight())));
    QVERIFY(stopWorkers(workers));
}

// The lines a worker prints that no run should: QPSQL freeing a statement on a session that
// is gone (a query object outliving its session), queries sent on a closed one, and a watch
// left on the socket of a session that ended ("QSocketNotifier: Invalid socket N").
static QStringList noiseIn(const QString &said)
{
    QStringList noise;
    for (const QString &line : said.split(u'\n')) {
        if (line.contains(u"Unable to free statement"_s) || line.contains(u"database not open"_s) ||
            line.contains(u"QSocketNotifier"_s))
            noise.append(line);
    }
    return noise;
}

std::unique_ptr<bd::storetest::PrivatePostgres> TestWorkers::startOwnServer()
{
    auto server = std::make_unique<bd::storetest::PrivatePostgres>();
    if (!server->start(bd::storetest::PrivatePostgres::Server::Own)) {
        qWarning("%s", qPrintable(server->errorString()));
        return nullptr;
    }
    return server;
}

// The server restarted under a draining worker (pg_ctl stop -m fast, 3 s down, start): the
// worker says once that it lost the database and once that it is back, claims nothing
// meanwhile, stores the answers that came in, and finishes the job without exiting; every
// row is completed exactly once, and nothing on its stderr is QPSQL's noise.
void TestWorkers::aWorkerSurvivesARestartOfItsServer()
{
    if (bd::storetest::PrivatePostgres::binDir().isEmpty())
        QSKIP("PostgreSQL's server (initdb, pg_ctl) is not installed (Debian: postgresql)");
    const auto server = startOwnServer(); // restarting the suite's would disturb other tests
    QVERIFY(server);
    const QString db = server->url(u"restart"_s);
    constexpr int kRows = 120;
    const qint64 job = submitSimulated(db, u"restart.csv"_s, kRows, 400);
    QVERIFY(job > 0);
    auto worker = startWorker(db, 8);
    QVERIFY(waitUntilUp(worker.get()));
    QTRY_VERIFY_WITH_TIMEOUT(tasksIn(db, job, 2) >= 16, 60'000);

    QVERIFY2(server->stopServer(), qPrintable(server->errorString()));
    QTest::qWait(3'000);
    QCOMPARE(worker->state(), QProcess::Running);
    QVERIFY2(server->startServer(), qPrintable(server->errorString()));

    const BatchctlRun waited = waitFor(db, job, 120);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(waited.json().value(u"completed"_s).toInteger(), kRows);
    QCOMPARE(tasksIn(db, job, 2), kRows);
    QCOMPARE(scalar(db, u"SELECT COUNT(*) FROM tasks WHERE job_id = %1"_s.arg(job)), kRows);
    QCOMPARE(scalar(db, u"SELECT COUNT(DISTINCT row_no) FROM tasks WHERE job_id = %1"_s.arg(job)),
             kRows);
    QCOMPARE(worker->state(), QProcess::Running); // it never exited

    worker->terminate();
    QVERIFY(worker->waitForFinished(60'000));
    QCOMPARE(worker->exitCode(), 0);
    const QString said = QString::fromUtf8(worker->readAllStandardError());
    QVERIFY2(said.count(u"unreachable"_s) == 1, qPrintable(said));
    QVERIFY2(said.count(u"reachable again"_s) == 1, qPrintable(said));
    QVERIFY2(said.contains(bd::databaseWithoutPassword(db)), qPrintable(said));
    QVERIFY2(noiseIn(said).isEmpty(), qPrintable(noiseIn(said).join(u'\n')));
    // Its row says how much it did: every completion it stored counted once.
    QCOMPARE(scalar(db, u"SELECT SUM(completed) FROM workers"_s), kRows);
}

// Its sessions ended by the server (pg_terminate_backend, as a network blip would), a worker
// reconnects at once and goes on; the tasks it held are completed once.
void TestWorkers::aWorkerWhoseSessionsAreTerminatedGoesOn()
{
    POSTGRES_DATABASE();
    constexpr int kRows = 40;
    // Slow answers: the worker holds leases when its connections go.
    const qint64 job = submitSimulated(db, u"terminated.csv"_s, kRows, 1'500);
    QVERIFY(job > 0);
    auto worker = startWorker(db, 8);
    QVERIFY(waitUntilUp(worker.get()));
    QTRY_VERIFY_WITH_TIMEOUT(tasksIn(db, job, 1) > 0, 60'000);
    const qint64 terminated =
        scalar(db, u"SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                   "WHERE datname = current_database() AND pid <> pg_backend_pid()"_s);
    QVERIFY2(terminated > 0, qPrintable(QString::number(terminated)));

    const BatchctlRun waited = waitFor(db, job, 120);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(tasksIn(db, job, 2), kRows);
    QCOMPARE(scalar(db, u"SELECT COUNT(DISTINCT row_no) FROM tasks WHERE job_id = %1"_s.arg(job)),
             kRows);
    QCOMPARE(worker->state(), QProcess::Running);
    worker->terminate();
    QVERIFY(worker->waitForFinished(60'000));
    QCOMPARE(worker->exitCode(), 0);
    const QString said = QString::fromUtf8(worker->readAllStandardError());
    QVERIFY2(said.count(u"reachable again"_s) == 1, qPrintable(said));
    QVERIFY2(noiseIn(said).isEmpty(), qPrintable(noiseIn(said).join(u'\n')));
}

// A database that stays away past --db-wait: the worker says so and exits 1 for its service
// manager to restart it; once the server is back, another worker does its tasks, each once.
void TestWorkers::aWorkerWhoseDatabaseStaysAwayExits1()
{
    if (bd::storetest::PrivatePostgres::binDir().isEmpty())
        QSKIP("PostgreSQL's server (initdb, pg_ctl) is not installed (Debian: postgresql)");
    const auto server = startOwnServer();
    QVERIFY(server);
    const QString db = server->url(u"away"_s);
    constexpr int kRows = 40;
    constexpr int kWaitS = 2;
    const qint64 job = submitSimulated(db, u"away.csv"_s, kRows, 2'000);
    QVERIFY(job > 0);
    auto worker = startWorker(db, 8, {u"--db-wait"_s, QString::number(kWaitS)});
    QVERIFY(waitUntilUp(worker.get()));
    QTRY_VERIFY_WITH_TIMEOUT(tasksIn(db, job, 1) > 0, 60'000);
    QVERIFY2(server->stopServer(), qPrintable(server->errorString()));
    QElapsedTimer sinceStopped;
    sinceStopped.start();
    // Noticed at the next heartbeat or store call, then --db-wait and one backoff at most.
    QVERIFY(worker->waitForFinished(kWaitS * 1000 + 4 * kHeartbeatMs + 8'000 + 10'000));
    const QString said = QString::fromUtf8(worker->readAllStandardError());
    QCOMPARE(worker->exitStatus(), QProcess::NormalExit);
    QVERIFY2(worker->exitCode() == 1, qPrintable(said));
    QVERIFY2(said.contains(u"lost"_s) && said.contains(bd::databaseWithoutPassword(db)),
             qPrintable(said));
    QVERIFY2(said.count(u"unreachable"_s) == 1, qPrintable(said));
    QVERIFY2(noiseIn(said).isEmpty(), qPrintable(noiseIn(said).join(u'\n')));
    qInfo("exited 1 after %lld ms without its server: %s", sinceStopped.elapsed(),
          qPrintable(said.trimmed().split(u'\n').constLast()));

    QVERIFY2(server->startServer(), qPrintable(server->errorString()));
    auto other = startWorker(db, 8);
    QVERIFY(other);
    const BatchctlRun waited = waitFor(db, job, 120);
    QVERIFY2(waited.exitCode == 0, qPrintable(waited.describe()));
    QCOMPARE(tasksIn(db, job, 2), kRows);
    QCOMPARE(scalar(db, u"SELECT COUNT(DISTINCT row_no) FROM tasks WHERE job_id = %1"_s.arg(job)),
             kRows);
    other->terminate();
    QVERIFY(other->waitForFinished(60'000));
    QCOMPARE(other->exitCode(), 0);
}

QTEST_GUILESS_MAIN(TestWorkers)
#include "test_workers.moc"
