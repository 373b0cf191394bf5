// The dispatch engine under fault mixes: batchctl (the real binary, sync lane, concurrency
// 16) against the loopback OpenAI-compatible server with
//   - 10% 5xx (500, 503, 529), 5% malformed replies, 1% rows that are always malformed,
//     2% invalid rows (400), and two 429 storms with retry-after in the middle of the run;
//   - an outage (connection refused) in the middle of the run: the circuit opens (alert
//     circuit_open in `status --json`), nothing is sent until a half-open probe succeeds,
//     and failures while it is open are not charged;
//   - quota exhaustion: the job pauses (exit 3) and `resume` finishes it once the quota is
//     back.
// Checked every time: each valid row completes exactly once with its own answer, each
// invalid row is dead-lettered with the provider's message after one attempt, 429s are
// never charged, and no task has more than 1 + --max-retries attempts.

#include "batchctlrun.h"
#include "fakeprovider.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;
using bd::testing::FakeProvider;

namespace {

const QString kSystem = u"Answer in one short line."_s;
const QString kTemplate = u"Classify: {{text}}"_s;
constexpr int kMaxRetries = 3;

enum class Kind
{
    Plain,
    Invalid,         // 400: dead at once, attempts 1
    ServerErrorOnce, // 500 once
    UnavailableOnce, // 503 once
    OverloadedTwice, // 529 twice
    MalformedOnce,   // 200 with a broken body once
    AlwaysMalformed, // never a readable answer: dead after 1 + kMaxRetries attempts
};

Kind kindOf(int row, bool withFaults)
{
    if (!withFaults)
        return Kind::Plain;
    if (row % 50 == 13)
        return Kind::Invalid; // 2%
    if (row % 100 == 37)
        return Kind::AlwaysMalformed; // 1%
    if (row % 10 == 1) {          // 10% 5xx
        switch ((row / 10) % 3) {
        case 0:
            return Kind::ServerErrorOnce;
        case 1:
            return Kind::UnavailableOnce;
        default:
            return Kind::OverloadedTwice;
        }
    }
    if (row % 20 == 7)
        return Kind::MalformedOnce; // 5%
    return Kind::Plain;
}

// Failed tries before the answer (the row's marker), or -1 for rows that never succeed.
int failuresOf(Kind kind)
{
    switch (kind) {
    case Kind::Plain:
        return 0;
    case Kind::ServerErrorOnce:
    case Kind::UnavailableOnce:
    case Kind::MalformedOnce:
        return 1;
    case Kind::OverloadedTwice:
        return 2;
    case Kind::Invalid:
    case Kind::AlwaysMalformed:
        return -1;
    }
    return 0;
}

QString textOf(int row, Kind kind)
{
    QString text = u"ticket %1 about order %2"_s.arg(row).arg(1000 + row * 7);
    switch (kind) {
    case Kind::Plain:
        break;
    case Kind::Invalid:
        text += u" [[fake:400]]"_s;
        break;
    case Kind::ServerErrorOnce:
        text += u" [[fake:500*1]]"_s;
        break;
    case Kind::UnavailableOnce:
        text += u" [[fake:503*1]]"_s;
        break;
    case Kind::OverloadedTwice:
        text += u" [[fake:529*2]]"_s;
        break;
    case Kind::MalformedOnce:
        text += u" [[fake:malformed*1]]"_s;
        break;
    case Kind::AlwaysMalformed:
        text += u" [[fake:malformed]]"_s;
        break;
    }
    return text;
}

using Run = BatchctlRun;

// One task as the database has it, with its attempt history.
struct TaskRow
{
    qint64 id = 0;
    int row = 0;
    int state = -1; // 2 completed, 3 dead
    QString output;
    int attempts = 0;
    QString errorClass;
    QString errorMessage;
    int chargedFailures = 0;
    int unchargedFailures = 0; // not counting 429s
    int rateLimited = 0;
    int chargedRateLimited = 0;
    int chargedNetwork = 0;
    int unchargedNetwork = 0;
};

} // namespace

class TestDispatchFaults : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void faultMixCompletesEveryValidRowOnce();
    void rateLimitStormIsHonouredAndNotCharged();
    void outageOpensTheCircuitAndIsNotCharged();
    void quotaExhaustionPausesAndResumeFinishes();

private:
    QString writeCsv(int rows, bool withFaults, QStringList *texts);
    QProcessEnvironment environment() const;
    QStringList runArguments(const QString &csv, const QStringList &extra = {}) const;
    Run batchctl(const QStringList &arguments, int timeoutMs = 60'000);
    QList<TaskRow> tasks();
    QJsonObject status();
    // The checks every scenario shares. circuitOpened: charged attempts may then be fewer
    // than the server's failed tries (failures while the provider is down are free).
    void checkRows(const QList<TaskRow> &rows, const QStringList &texts, bool withFaults,
                   bool circuitOpened, int maxSuccessesPerPrompt);

    std::unique_ptr<FakeProvider> m_server;
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_db;
    int m_connections = 0;
};

void TestDispatchFaults::init()
{
    m_server = std::make_unique<FakeProvider>();
    QVERIFY(m_server->listen());
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_db = m_dir->filePath(u"jobs.sqlite"_s);
}

void TestDispatchFaults::cleanup()
{
    m_server.reset();
    m_dir.reset();
}

QString TestDispatchFaults::writeCsv(int rows, bool withFaults, QStringList *texts)
{
    const QString path = m_dir->filePath(u"rows.csv"_s);
    QFile csv(path);
    if (!csv.open(QIODevice::WriteOnly))
        return {};
    csv.write("id,text\r\n");
    for (int row = 1; row <= rows; ++row) {
        const QString text = textOf(row, kindOf(row, withFaults));
        texts->append(text);
        csv.write(QByteArray::number(row) + ',' + text.toUtf8() + "\r\n");
    }
    return path;
}

QProcessEnvironment TestDispatchFaults::environment() const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, m_dir->filePath(u"config"_s));
    env.insert(u"XDG_DATA_HOME"_s, m_dir->filePath(u"data"_s));
    env.insert(u"HOME"_s, m_dir->path());
    env.remove(u"OPENAI_BASE_URL"_s);
    env.remove(u"OPENAI_API_KEY"_s);
    return env;
}

QStringList TestDispatchFaults::runArguments(const QString &csv, const QStringList &extra) const
{
    return QStringList{u"run"_s,           csv,
                       u"--template"_s,    kTemplate,
                       u"--system"_s,      kSystem,
                       u"--provider"_s,    u"openai-compatible"_s,
                       u"--base-url"_s,    m_server->openAiBaseUrl(),
                       u"--model"_s,       u"fake-model-1"_s,
                       u"--concurrency"_s, u"16"_s,
                       u"--max-retries"_s, QString::number(kMaxRetries),
                       u"--db"_s,          m_db,
                       u"--json"_s}
           + extra;
}

Run TestDispatchFaults::batchctl(const QStringList &arguments, int timeoutMs)
{
    return runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, environment(), m_dir->path(), timeoutMs);
}

QJsonObject TestDispatchFaults::status()
{
    const Run run = batchctl({u"status"_s, u"--db"_s, m_db, u"--json"_s}, 15'000);
    if (run.exitCode != 0)
        qWarning("status: %s", qPrintable(run.describe()));
    return run.json();
}

QList<TaskRow> TestDispatchFaults::tasks()
{
    QList<TaskRow> rows;
    const QString name = u"faults-%1"_s.arg(++m_connections);
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, name);
        database.setDatabaseName(m_db);
        database.setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=2000"_s);
        if (database.open()) {
            QSqlQuery query(database);
            query.exec(
                u"SELECT t.id, t.row_no, t.state, t.output, t.attempts, t.error_class, "
                "t.error_message, "
                "SUM(CASE WHEN a.charged = 1 THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN a.charged = 0 AND a.outcome <> 'rate_limited' THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN a.outcome = 'rate_limited' THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN a.outcome = 'rate_limited' AND a.charged = 1 THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN a.outcome = 'network' AND a.charged = 1 THEN 1 ELSE 0 END), "
                "SUM(CASE WHEN a.outcome = 'network' AND a.charged = 0 THEN 1 ELSE 0 END) "
                "FROM tasks t LEFT JOIN attempts a ON a.task_id = t.id "
                "GROUP BY t.id ORDER BY t.row_no"_s);
            while (query.next()) {
                TaskRow row;
                row.id = query.value(0).toLongLong();
                row.row = query.value(1).toInt();
                row.state = query.value(2).toInt();
                row.output = query.value(3).toString();
                row.attempts = query.value(4).toInt();
                row.errorClass = query.value(5).toString();
                row.errorMessage = query.value(6).toString();
                row.chargedFailures = query.value(7).toInt();
                row.unchargedFailures = query.value(8).toInt();
                row.rateLimited = query.value(9).toInt();
                row.chargedRateLimited = query.value(10).toInt();
                row.chargedNetwork = query.value(11).toInt();
                row.unchargedNetwork = query.value(12).toInt();
                rows.append(row);
            }
        } else {
            qWarning("cannot open %s", qPrintable(m_db));
        }
        database.close();
    }
    QSqlDatabase::removeDatabase(name);
    return rows;
}

void TestDispatchFaults::checkRows(const QList<TaskRow> &rows, const QStringList &texts,
                                   bool withFaults, bool circuitOpened,
                                   int maxSuccessesPerPrompt)
{
    QCOMPARE(rows.size(), texts.size());
    for (const TaskRow &task : rows) {
        const Kind kind = kindOf(task.row, withFaults);
        const QString prompt = u"Classify: "_s + texts.at(task.row - 1);
        const QString where =
            u"row %1 task %2 (%3): state %4 attempts %5 charged %6 uncharged %7 429 %8 "
            "server tries %9, %10: %11"_s.arg(task.row)
                .arg(task.id)
                .arg(prompt)
                .arg(task.state)
                .arg(task.attempts)
                .arg(task.chargedFailures)
                .arg(task.unchargedFailures)
                .arg(task.rateLimited)
                .arg(m_server->attemptsFor(prompt))
                .arg(task.errorClass, task.errorMessage);
        // Never more than 1 + --max-retries attempts; 429s never charged.
        QVERIFY2(task.attempts <= 1 + kMaxRetries, qPrintable(where));
        QVERIFY2(task.chargedRateLimited == 0, qPrintable(where));
        if (kind == Kind::Invalid) {
            QVERIFY2(task.state == 3 && task.attempts == 1, qPrintable(where));
            QCOMPARE(task.errorClass, u"invalid_request"_s);
            QVERIFY2(task.errorMessage.contains(u"HTTP 400"_s) &&
                         task.errorMessage.contains(u"Invalid request (fake)"_s),
                     qPrintable(where));
            QVERIFY2(m_server->attemptsFor(prompt) == 1, qPrintable(where));
            continue;
        }
        if (kind == Kind::AlwaysMalformed) {
            // Spent its attempts: dead with its full history.
            QVERIFY2(task.state == 3 && task.attempts == 1 + kMaxRetries &&
                         task.chargedFailures == 1 + kMaxRetries,
                     qPrintable(where));
            QCOMPARE(task.errorClass, u"malformed_reply"_s);
            continue;
        }
        // A valid row: completed exactly once, with the server's answer to its own prompt.
        QVERIFY2(task.state == 2, qPrintable(where));
        QVERIFY2(task.output == FakeProvider::answerFor(kSystem, prompt), qPrintable(where));
        const int successes = m_server->successesFor(prompt);
        QVERIFY2(successes >= 1 && successes <= maxSuccessesPerPrompt, qPrintable(where));
        // The bookkeeping adds up: one charge per charged failure, plus the answer.
        QVERIFY2(task.attempts == 1 + task.chargedFailures, qPrintable(where));
        const int failures = failuresOf(kind);
        if (withFaults) {
            // The server failed this prompt exactly as its marker says.
            QVERIFY2(m_server->attemptsFor(prompt) == failures + 1, qPrintable(where));
            if (circuitOpened)
                QVERIFY2(task.attempts <= failures + 1, qPrintable(where));
            else
                QVERIFY2(task.attempts == failures + 1 && task.unchargedFailures == 0,
                         qPrintable(where));
        }
    }
}

// --------------------------------------------------------------------------------------

void TestDispatchFaults::faultMixCompletesEveryValidRowOnce()
{
    constexpr int kRows = 600;
    QStringList texts;
    const QString csv = writeCsv(kRows, true, &texts);
    m_server->options().latencyMs = 10;

    // Two 429 storms: for a second the server answers every request 429 with retry-after
    // (refused before the model: no marker fires, no try of the prompt counts).
    m_server->options().retryAfterMs = 1'000;
    int arrivals = 0;
    int storms = 0;
    connect(m_server.get(), &FakeProvider::chatReceived, this, [&](const QString &) {
        ++arrivals;
        if ((arrivals == 150 || arrivals == 400) && !m_server->options().rateLimitStorm) {
            ++storms;
            m_server->options().rateLimitStorm = true;
            QTimer::singleShot(1'000, m_server.get(),
                               [this] { m_server->options().rateLimitStorm = false; });
        }
    });

    QElapsedTimer timer;
    timer.start();
    const QString exportPath = m_dir->filePath(u"out.jsonl"_s);
    const Run run = batchctl(runArguments(csv, {u"--export"_s, exportPath}), 80'000);
    qInfo("fault mix: %lld ms, %d chat requests, %d answered 429, %d storms", timer.elapsed(),
          m_server->requestCount("/v1/chat/completions"), m_server->rateLimitedCount(), storms);
    disconnect(m_server.get(), &FakeProvider::chatReceived, this, nullptr);

    // Some rows are dead: exit 4.
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 4, qPrintable(run.describe()));
    QCOMPARE(storms, 2);
    QVERIFY2(m_server->rateLimitedCount() > 0, "the storms refused nothing");
    int invalid = 0;
    int hopeless = 0;
    for (int row = 1; row <= kRows; ++row) {
        invalid += kindOf(row, true) == Kind::Invalid ? 1 : 0;
        hopeless += kindOf(row, true) == Kind::AlwaysMalformed ? 1 : 0;
    }
    const QJsonObject summary = run.json();
    QCOMPARE(summary.value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(summary.value(u"completed"_s).toInt(), kRows - invalid - hopeless);
    QCOMPARE(summary.value(u"dead"_s).toInt(), invalid + hopeless);

    const QJsonObject state = status();
    bool circuitOpened = false;
    for (const QJsonValue &alert : state.value(u"alerts"_s).toArray())
        circuitOpened = circuitOpened || alert.toObject().value(u"kind"_s).toString() == u"circuit_open"_s;
    if (circuitOpened)
        qInfo("the circuit opened during the fault mix (a run of 5xx): charges may be fewer");

    const QList<TaskRow> rows = tasks();
    checkRows(rows, texts, true, circuitOpened, 1);
    int refused = 0;
    for (const TaskRow &task : rows)
        refused += task.rateLimited;
    QVERIFY2(refused > 0, "no task saw a 429");
    qInfo("%d tasks were answered 429 at least once, none charged for it", refused);

    // The export agrees with the store row by row.
    QFile exported(exportPath);
    QVERIFY(exported.open(QIODevice::ReadOnly));
    int row = 0;
    while (!exported.atEnd()) {
        const QByteArray line = exported.readLine().trimmed();
        if (line.isEmpty())
            continue;
        const QJsonObject object = QJsonDocument::fromJson(line).object();
        const TaskRow &task = rows.at(row++);
        QCOMPARE(object.value(u"task_id"_s).toInteger(), task.id);
        QCOMPARE(object.value(u"text"_s).toString(), texts.at(task.row - 1));
        QCOMPARE(object.value(u"attempts"_s).toInt(), task.attempts);
        QCOMPARE(object.value(u"status"_s).toString(),
                 task.state == 2 ? u"completed"_s : u"dead"_s);
        if (task.state == 2)
            QCOMPARE(object.value(u"output"_s).toString(), task.output);
    }
    QCOMPARE(row, kRows);

    // The dead-letter queue names the provider's reason for each invalid row.
    const Run dlq = batchctl({u"dlq"_s, u"list"_s, u"--db"_s, m_db, u"--json"_s}, 15'000);
    QVERIFY2(dlq.status == QProcess::NormalExit && dlq.exitCode == 0,
             qPrintable(u"dlq list: "_s + dlq.describe()));
    int deadInvalid = 0;
    for (const QJsonValue &value : dlq.json().value(u"dead"_s).toArray()) {
        const QJsonObject dead = value.toObject();
        const int deadRow = dead.value(u"row"_s).toInt();
        const Kind kind = kindOf(deadRow, true);
        QVERIFY2(kind == Kind::Invalid || kind == Kind::AlwaysMalformed,
                 qPrintable(QString::number(deadRow)));
        if (kind == Kind::Invalid) {
            ++deadInvalid;
            QCOMPARE(dead.value(u"attempts"_s).toInt(), 1);
            QCOMPARE(dead.value(u"error_class"_s).toString(), u"invalid_request"_s);
            QVERIFY(dead.value(u"error"_s).toString().contains(u"Invalid request (fake)"_s));
        } else {
            QCOMPARE(dead.value(u"attempts"_s).toInt(), 1 + kMaxRetries);
        }
    }
    QCOMPARE(deadInvalid, invalid);
}

// --------------------------------------------------------------------------------------

void TestDispatchFaults::rateLimitStormIsHonouredAndNotCharged()
{
    constexpr int kRows = 200;
    constexpr int kStormMs = 1'600;
    QStringList texts;
    const QString csv = writeCsv(kRows, false, &texts);
    m_server->options().latencyMs = 50;
    m_server->options().retryAfterMs = 500;
    int arrivals = 0;
    connect(m_server.get(), &FakeProvider::chatReceived, this, [&](const QString &) {
        if (++arrivals == 60) {
            m_server->options().rateLimitStorm = true;
            QTimer::singleShot(kStormMs, m_server.get(),
                               [this] { m_server->options().rateLimitStorm = false; });
        }
    });
    QElapsedTimer timer;
    timer.start();
    const Run run = batchctl(runArguments(csv), 60'000);
    disconnect(m_server.get(), &FakeProvider::chatReceived, this, nullptr);
    const int refused = m_server->rateLimitedCount();
    qInfo("429 storm of %d ms (retry-after %d ms): %d requests answered 429, run %lld ms",
          kStormMs, m_server->options().retryAfterMs, refused, timer.elapsed());
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 0, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), kRows);
    // A storm, and a client that waits what it is told: not one 429 per 50 ms per slot
    // (16 slots would make several hundred), only the few sent before each refusal came
    // back, about one round per retry-after.
    QVERIFY2(refused >= kStormMs / m_server->options().retryAfterMs - 1,
             qPrintable(QString::number(refused)));
    QVERIFY2(refused < 100, qPrintable(QString::number(refused)));

    const QList<TaskRow> rows = tasks();
    checkRows(rows, texts, false, false, 1);
    int recorded = 0;
    for (const TaskRow &task : rows) {
        recorded += task.rateLimited;
        // Refused before the model: one real try, one charged attempt.
        QVERIFY2(task.attempts == 1 && task.chargedFailures == 0,
                 qPrintable(QString::number(task.row)));
        QVERIFY2(m_server->attemptsFor(u"Classify: "_s + texts.at(task.row - 1)) == 1,
                 qPrintable(QString::number(task.row)));
    }
    QCOMPARE(recorded, refused); // each 429 is in the history, none charged
}

// --------------------------------------------------------------------------------------

void TestDispatchFaults::outageOpensTheCircuitAndIsNotCharged()
{
    constexpr int kRows = 400;
    constexpr int kOutageMs = 3'000;
    QStringList texts;
    const QString csv = writeCsv(kRows, false, &texts);
    m_server->options().latencyMs = 30;

    QElapsedTimer clock;
    clock.start();
    QList<qint64> arrivals; // chat requests, ms on `clock`
    connect(m_server.get(), &FakeProvider::chatReceived, this,
            [&](const QString &) { arrivals.append(clock.elapsed()); });

    QProcess process;
    process.setProcessEnvironment(environment());
    process.setWorkingDirectory(m_dir->path());
    QSignalSpy finished(&process, &QProcess::finished);
    process.start(QStringLiteral(BATCHCTL_PATH), runArguments(csv));
    QVERIFY(process.waitForStarted(10'000));

    // Mid-run, the provider goes away: connections are refused and dropped.
    while (m_server->chatSuccessCount() < 150 && process.state() == QProcess::Running &&
           clock.elapsed() < 30'000)
        QTest::qWait(5);
    QVERIFY2(process.state() == QProcess::Running, "the run ended before the outage");
    const qint64 outageAt = clock.elapsed();
    const int sentBeforeOutage = int(arrivals.size());
    m_server->startOutage(kOutageMs);

    // While it lasts, `status --json` shows the circuit_open alert, not yet cleared.
    bool seenOpen = false;
    while (!seenOpen && clock.elapsed() < outageAt + kOutageMs) {
        for (const QJsonValue &value : status().value(u"alerts"_s).toArray()) {
            const QJsonObject alert = value.toObject();
            if (alert.value(u"kind"_s).toString() == u"circuit_open"_s &&
                alert.value(u"cleared_at"_s).isNull()) {
                seenOpen = true;
                QVERIFY(alert.value(u"message"_s).toString().contains(u"looks down"_s));
            }
        }
        if (!seenOpen)
            QTest::qWait(100);
    }
    QVERIFY2(seenOpen, "no open circuit_open alert during the outage");

    QVERIFY2(finished.wait(60'000), "batchctl did not finish");
    const Run run{process.exitCode(), process.exitStatus(), process.readAllStandardOutput(),
                  process.readAllStandardError()};
    disconnect(m_server.get(), &FakeProvider::chatReceived, this, nullptr);
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 0, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), kRows);

    // After the outage: nothing went out until the breaker's cool-down ended, then one probe
    // alone; the rest followed only once it had succeeded.
    QVERIFY(arrivals.size() > sentBeforeOutage + 1);
    const qint64 firstAfter = arrivals.at(sentBeforeOutage);
    const qint64 secondAfter = arrivals.at(sentBeforeOutage + 1);
    qInfo("outage at %lld ms for %d ms; first request after it at +%lld ms, second at +%lld ms",
          outageAt, kOutageMs, firstAfter - outageAt, secondAfter - outageAt);
    QVERIFY2(firstAfter - outageAt >= kOutageMs, "a request arrived during the outage");
    QVERIFY2(secondAfter - firstAfter >= m_server->options().latencyMs - 5,
             "more than one request went out while the breaker was half-open");

    // The alert was raised, then cleared when the provider answered again.
    bool cleared = false;
    for (const QJsonValue &value : status().value(u"alerts"_s).toArray()) {
        const QJsonObject alert = value.toObject();
        if (alert.value(u"kind"_s).toString() == u"circuit_open"_s)
            cleared = !alert.value(u"cleared_at"_s).isNull();
    }
    QVERIFY2(cleared, "circuit_open was never cleared");

    // Failures once the breaker was open were not charged: only the few before it opened.
    const QList<TaskRow> rows = tasks();
    checkRows(rows, texts, false, true, 2);
    int chargedNetwork = 0;
    int unchargedNetwork = 0;
    int duplicates = 0;
    for (const TaskRow &task : rows) {
        chargedNetwork += task.chargedNetwork;
        unchargedNetwork += task.unchargedNetwork;
        QVERIFY2(task.attempts == 1 + task.chargedNetwork, qPrintable(QString::number(task.row)));
        duplicates +=
            m_server->successesFor(u"Classify: "_s + texts.at(task.row - 1)) > 1 ? 1 : 0;
    }
    qInfo("network failures: %d charged (before the breaker opened), %d not charged; %d answers "
          "written just before the outage dropped them were sent again",
          chargedNetwork, unchargedNetwork, duplicates);
    QVERIFY2(chargedNetwork <= 4, "more failures charged than it takes to open the breaker (5)");
    QVERIFY2(unchargedNetwork > 0, "no failure was released uncharged");
}

// --------------------------------------------------------------------------------------

void TestDispatchFaults::quotaExhaustionPausesAndResumeFinishes()
{
    constexpr int kRows = 300;
    QStringList texts;
    const QString csv = writeCsv(kRows, false, &texts);
    m_server->options().latencyMs = 10;
    m_server->options().quotaAfterRequests = 120; // then 429 insufficient_quota

    const Run run = batchctl(runArguments(csv), 60'000);
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 3, qPrintable(run.describe()));
    QJsonObject summary = run.json();
    QCOMPARE(summary.value(u"state"_s).toString(), u"paused"_s);
    QVERIFY2(summary.value(u"reason"_s).toString().contains(u"quota"_s), qPrintable(run.describe()));
    const int completedBefore = summary.value(u"completed"_s).toInt();
    QVERIFY2(completedBefore >= 100 && completedBefore <= 120,
             qPrintable(QString::number(completedBefore)));
    QCOMPARE(summary.value(u"pending"_s).toInt(), kRows - completedBefore);
    QCOMPARE(summary.value(u"dead"_s).toInt(), 0);
    // The requests refused for quota were not the tasks' fault.
    for (const TaskRow &task : tasks()) {
        QVERIFY2(task.chargedFailures == 0 && task.attempts == (task.state == 2 ? 1 : 0),
                 qPrintable(QString::number(task.row)));
        QVERIFY(task.state == 2 || task.state == 0);
    }
    bool alerted = false;
    for (const QJsonValue &value : status().value(u"alerts"_s).toArray())
        alerted = alerted || value.toObject().value(u"kind"_s).toString() == u"quota_exhausted"_s;
    QVERIFY(alerted);
    const int refusedForQuota = m_server->requestCount("/v1/chat/completions") - 120;
    QVERIFY(refusedForQuota >= 1 && refusedForQuota <= 16); // what was in flight, no more

    // Topped up: resume finishes the job.
    m_server->options().quotaAfterRequests = -1;
    const Run resumed = batchctl({u"resume"_s, u"--db"_s, m_db, u"--json"_s}, 60'000);
    QVERIFY2(resumed.status == QProcess::NormalExit && resumed.exitCode == 0,
             qPrintable(resumed.describe()));
    summary = resumed.json();
    QCOMPARE(summary.value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(summary.value(u"completed"_s).toInt(), kRows);
    const QList<TaskRow> rows = tasks();
    checkRows(rows, texts, false, false, 1);
    for (const TaskRow &task : rows)
        QVERIFY2(task.attempts == 1, qPrintable(QString::number(task.row)));
}

QTEST_GUILESS_MAIN(TestDispatchFaults)
#include "test_dispatch_faults.moc"
