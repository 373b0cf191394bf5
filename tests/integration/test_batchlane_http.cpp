// The batch-API lane end to end: `batchctl run --mode batch-api` against the loopback
// server speaking the OpenAI Batch API (Files + Batches) and Anthropic Message Batches,
// over a few hundred rows of which some the server refuses (400), fails once (500),
// expires once or cancels once, line by line. Checked: the exit code (CLI.md), each row's
// output is the server's answer to that row's prompt, errored / expired lines come back as
// new attempts and cancelled ones without a charge, costs are the batch price (half the
// list price of resources/prices.json), provider_batches records ids and sizes, and a
// batchctl killed with SIGKILL after its batch ids are stored polls them on `resume`
// instead of submitting the same custom_ids again.

#include "batchctlrun.h"
#include "cost/pricetable.h"
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

#include <cmath>
#include <memory>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;
using bd::testing::FakeProvider;

namespace {

const QString kKey = u"sk-batchlane-TEST-0123456789abcdef"_s;
const QString kSystem = u"Label the review in one word."_s;
const QString kTemplate = u"Classify: {{text}}"_s;

// What the server does with a row's lines.
enum class Kind
{
    Plain,      // answered at once
    Invalid,    // 400: dead-lettered with the provider's message after one attempt
    ErrorOnce,  // 500 the first time: a charged retry, then answered
    ExpireOnce, // expired the first time: the provider's doing, sent again uncharged
    CancelOnce, // cancelled the first time: back to the queue without a charge, then answered
};

Kind kindOf(int row, bool withFaults)
{
    if (!withFaults)
        return Kind::Plain;
    if (row % 50 == 7)
        return Kind::Invalid;
    if (row % 25 == 3)
        return Kind::ErrorOnce;
    if (row % 30 == 11)
        return Kind::ExpireOnce;
    if (row % 40 == 19)
        return Kind::CancelOnce;
    return Kind::Plain;
}

QString textOf(int row, Kind kind)
{
    QString text = u"review %1: the parcel arrived %2"_s.arg(row).arg(
        row % 3 ? u"late but intact"_s : u"early, box crushed"_s);
    switch (kind) {
    case Kind::Plain:
        break;
    case Kind::Invalid:
        text += u" [[fake:400]]"_s;
        break;
    case Kind::ErrorOnce:
        text += u" [[fake:500*1]]"_s;
        break;
    case Kind::ExpireOnce:
        text += u" [[fake:expire*1]]"_s;
        break;
    case Kind::CancelOnce:
        text += u" [[fake:cancel*1]]"_s;
        break;
    }
    return text;
}

using Run = BatchctlRun;

struct Provider
{
    QString id;
    QString model;
    bool baseUrlFromEnvironment = false;
};

} // namespace

class TestBatchLaneHttp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void batchRunWithFaults_data();
    void batchRunWithFaults();
    void killedAfterBatchIdsStoredResumesWithoutResubmitting_data();
    void killedAfterBatchIdsStoredResumesWithoutResubmitting();
    void anthropicBatchLinesCacheForAnHour();

private:
    void providers();
    Provider provider() const;
    QString writeCsv(int rows, bool withFaults, QStringList *texts);
    QProcessEnvironment environment(const Provider &p) const;
    QStringList runArguments(const Provider &p, const QString &csv, const QString &db,
                             const QStringList &extra) const;
    Run batchctl(const QStringList &arguments, const QProcessEnvironment &env,
                 int timeoutMs = 60'000);
    // The database as batchctl left it (read-only connection, closed again at once).
    template<typename F> void withDatabase(const QString &db, F body);

    std::unique_ptr<FakeProvider> m_server;
    std::unique_ptr<QTemporaryDir> m_dir;
    int m_connections = 0;
};

void TestBatchLaneHttp::init()
{
    m_server = std::make_unique<FakeProvider>();
    QVERIFY(m_server->listen());
    m_server->options().requiredKey = kKey;
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

void TestBatchLaneHttp::cleanup()
{
    m_server.reset();
    m_dir.reset();
}

void TestBatchLaneHttp::providers()
{
    QTest::addColumn<QString>("providerId");
    QTest::addColumn<QString>("model");
    QTest::addColumn<bool>("baseUrlFromEnvironment");
    QTest::newRow("openai --base-url") << u"openai"_s << u"gpt-4.1-mini"_s << false;
    QTest::newRow("anthropic ANTHROPIC_BASE_URL") << u"anthropic"_s << u"claude-haiku-4-5"_s << true;
}

Provider TestBatchLaneHttp::provider() const
{
    QFETCH(QString, providerId);
    QFETCH(QString, model);
    QFETCH(bool, baseUrlFromEnvironment);
    return Provider{providerId, model, baseUrlFromEnvironment};
}

QString TestBatchLaneHttp::writeCsv(int rows, bool withFaults, QStringList *texts)
{
    const QString path = m_dir->filePath(u"rows.csv"_s);
    QFile csv(path);
    if (!csv.open(QIODevice::WriteOnly))
        return {};
    csv.write("id,text\r\n");
    for (int row = 1; row <= rows; ++row) {
        const QString text = textOf(row, kindOf(row, withFaults));
        texts->append(text);
        csv.write(QByteArray::number(row) + ",\"" + text.toUtf8() + "\"\r\n");
    }
    return path;
}

QProcessEnvironment TestBatchLaneHttp::environment(const Provider &p) const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, m_dir->filePath(u"config"_s));
    env.insert(u"XDG_DATA_HOME"_s, m_dir->filePath(u"data"_s));
    env.insert(u"HOME"_s, m_dir->path());
    env.remove(u"OPENAI_BASE_URL"_s);
    env.remove(u"ANTHROPIC_BASE_URL"_s);
    env.remove(u"OPENAI_API_KEY"_s);
    env.remove(u"ANTHROPIC_API_KEY"_s);
    if (p.id == u"anthropic"_s) {
        env.insert(u"ANTHROPIC_API_KEY"_s, kKey);
        if (p.baseUrlFromEnvironment)
            env.insert(u"ANTHROPIC_BASE_URL"_s, m_server->anthropicBaseUrl());
    } else {
        env.insert(u"OPENAI_API_KEY"_s, kKey);
        if (p.baseUrlFromEnvironment)
            env.insert(u"OPENAI_BASE_URL"_s, m_server->openAiBaseUrl());
    }
    return env;
}

QStringList TestBatchLaneHttp::runArguments(const Provider &p, const QString &csv,
                                            const QString &db, const QStringList &extra) const
{
    QStringList arguments{u"run"_s,      csv,     u"--template"_s, kTemplate, u"--system"_s,
                          kSystem,       u"--provider"_s, p.id,    u"--model"_s, p.model,
                          u"--mode"_s,   u"batch-api"_s,  u"--db"_s, db,        u"--json"_s};
    if (!p.baseUrlFromEnvironment)
        arguments << u"--base-url"_s
                  << (p.id == u"anthropic"_s ? m_server->anthropicBaseUrl()
                                             : m_server->openAiBaseUrl());
    return arguments + extra;
}

Run TestBatchLaneHttp::batchctl(const QStringList &arguments, const QProcessEnvironment &env,
                                int timeoutMs)
{
    return runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, env, m_dir->path(), timeoutMs);
}

template<typename F> void TestBatchLaneHttp::withDatabase(const QString &db, F body)
{
    const QString name = u"batchlane-%1"_s.arg(++m_connections);
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, name);
        database.setDatabaseName(db);
        database.setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=2000"_s);
        if (database.open())
            body(database);
        else
            qWarning("cannot open %s", qPrintable(db));
        database.close();
    }
    QSqlDatabase::removeDatabase(name);
}

// --------------------------------------------------------------------------------------

// Batch lines mark the system prompt with the 1 h TTL (a batch can take longer than five
// minutes from one line to the next), and the cache writes they report are priced at the
// 1 h write price of the table, at the batch discount.
void TestBatchLaneHttp::anthropicBatchLinesCacheForAnHour()
{
    const Provider p{u"anthropic"_s, u"claude-haiku-4-5"_s, false};
    constexpr qint64 kWrites = 2'000;
    QStringList texts;
    const QString csv = m_dir->filePath(u"cachewrites.csv"_s);
    {
        QFile file(csv);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("id,text\r\n");
        for (int row = 1; row <= 6; ++row) {
            texts.append(u"review %1 [[fake:cachewrite=%2]]"_s.arg(row).arg(kWrites));
            file.write(QByteArray::number(row) + ",\"" + texts.constLast().toUtf8() + "\"\r\n");
        }
    }
    const QString db = m_dir->filePath(u"cachewrites.sqlite"_s);
    const Run run = batchctl(runArguments(p, csv, db, {u"--batch-poll-ms"_s, u"100"_s}),
                             environment(p));
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 0, qPrintable(run.describe()));

    bool sawCreate = false;
    for (const FakeProvider::ReceivedRequest &request : m_server->received()) {
        if (request.method != "POST" || request.path != "/v1/messages/batches")
            continue;
        sawCreate = true;
        QCOMPARE(request.header("anthropic-beta"), "extended-cache-ttl-2025-04-11"_ba);
        const QJsonArray lines =
            QJsonDocument::fromJson(request.body).object().value(u"requests"_s).toArray();
        QVERIFY(!lines.isEmpty());
        for (const QJsonValue &line : lines) {
            const QJsonObject cacheControl = line[u"params"_s][u"system"_s][0][u"cache_control"_s].toObject();
            QCOMPARE(cacheControl, (QJsonObject{{u"type"_s, u"ephemeral"_s}, {u"ttl"_s, u"1h"_s}}));
        }
    }
    QVERIFY(sawCreate);

    const bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    int checked = 0;
    withDatabase(db, [&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT row_no, input_tokens, output_tokens, cache_write_tokens, "
                           "cost_usd FROM tasks ORDER BY row_no"_s));
        while (query.next()) {
            const QString prompt = u"Classify: "_s + texts.at(query.value(0).toInt() - 1);
            bd::Usage usage;
            usage.inputTokens = FakeProvider::tokensFor(kSystem) + FakeProvider::tokensFor(prompt);
            usage.outputTokens = FakeProvider::tokensFor(FakeProvider::answerFor(kSystem, prompt));
            usage.cacheWriteTokens = kWrites;
            QCOMPARE(query.value(1).toLongLong(), usage.inputTokens);
            QCOMPARE(query.value(3).toLongLong(), kWrites);
            // haiku: input 1.00, 1 h write 2.00, output 5.00 per 1M; batch half of that.
            const double expected = (double(usage.inputTokens) * 1.00 + double(kWrites) * 2.00
                                     + double(usage.outputTokens) * 5.00) / 1e6 * 0.5;
            QVERIFY(std::fabs(*prices.cost(p.model, usage, true, bd::cost::CacheTtl::OneHour)
                              - expected) < 1e-12);
            QVERIFY2(std::fabs(query.value(4).toDouble() - expected) < 1e-12,
                     qPrintable(u"row %1: cost %2, expected %3"_s.arg(query.value(0).toInt())
                                    .arg(query.value(4).toDouble()).arg(expected)));
            ++checked;
        }
    });
    QCOMPARE(checked, 6);
}

void TestBatchLaneHttp::batchRunWithFaults_data()
{
    providers();
}

void TestBatchLaneHttp::batchRunWithFaults()
{
    const Provider p = provider();
    constexpr int kRows = 300;
    constexpr int kBatchSize = 100;
    QStringList texts;
    const QString csv = writeCsv(kRows, true, &texts);
    QVERIFY(!csv.isEmpty());
    const QString db = m_dir->filePath(u"jobs.sqlite"_s);
    const QString exportPath = m_dir->filePath(u"out.jsonl"_s);

    QElapsedTimer timer;
    timer.start();
    const Run run = batchctl(runArguments(p, csv, db,
                                          {u"--export"_s, exportPath, u"--batch-size"_s,
                                           QString::number(kBatchSize), u"--batch-poll-ms"_s,
                                           u"100"_s, u"--batch-max-wait-ms"_s, u"200"_s}),
                             environment(p));
    qInfo("%s: batchctl run took %lld ms, %d batches created", qPrintable(p.id),
          timer.elapsed(), m_server->batchesCreated());

    // Dead letters among finished tasks: exit 4 (CLI.md).
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 4, qPrintable(run.describe()));
    QVERIFY2(!run.out.contains(kKey.toUtf8()) && !run.err.contains(kKey.toUtf8()),
             qPrintable(run.describe()));
    int expectedDead = 0;
    for (int row = 1; row <= kRows; ++row)
        expectedDead += kindOf(row, true) == Kind::Invalid ? 1 : 0;
    const QJsonObject summary = run.json();
    QCOMPARE(summary.value(u"state"_s).toString(), u"finished"_s);
    QCOMPARE(summary.value(u"tasks"_s).toInt(), kRows);
    QCOMPARE(summary.value(u"completed"_s).toInt(), kRows - expectedDead);
    QCOMPARE(summary.value(u"dead"_s).toInt(), expectedDead);
    QCOMPARE(summary.value(u"pending"_s).toInt(), 0);
    // Nothing went to the realtime endpoints: every line travelled in a provider batch.
    QCOMPARE(m_server->requestCount("/v1/chat/completions"), 0);
    QCOMPARE(m_server->requestCount("/v1/messages"), 0);

    // Each row, from the export (output, status, attempts) and the database (usage, cost).
    struct Stored
    {
        qint64 input = 0;
        qint64 output = 0;
        qint64 cached = 0;
        double cost = -1;
        int attempts = 0;
        int chargedFailures = 0;
        QString errorClass;
    };
    QHash<qint64, Stored> stored;
    double jobCost = 0;
    struct BatchRow
    {
        QString providerBatchId;
        QString lane;
        QString provider;
        QString state;
        int size = 0;
        int maxSize = 0;
    };
    QList<BatchRow> batchRows;
    withDatabase(db, [&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT id, input_tokens, output_tokens, cached_tokens, cost_usd, "
                           "attempts, error_class, (SELECT COUNT(*) FROM attempts a WHERE "
                           "a.task_id = t.id AND a.charged = 1) FROM tasks t"_s));
        while (query.next()) {
            Stored s;
            s.input = query.value(1).toLongLong();
            s.output = query.value(2).toLongLong();
            s.cached = query.value(3).toLongLong();
            s.cost = query.value(4).isNull() ? -1 : query.value(4).toDouble();
            s.attempts = query.value(5).toInt();
            s.errorClass = query.value(6).toString();
            s.chargedFailures = query.value(7).toInt();
            if (s.cost > 0)
                jobCost += s.cost;
            stored.insert(query.value(0).toLongLong(), s);
        }
        QVERIFY(query.exec(u"SELECT provider_batch_id, lane, provider, state, size, max_size "
                           "FROM provider_batches ORDER BY id"_s));
        while (query.next())
            batchRows.append({query.value(0).toString(), query.value(1).toString(),
                              query.value(2).toString(), query.value(3).toString(),
                              query.value(4).toInt(), query.value(5).toInt()});
    });
    QCOMPARE(stored.size(), qsizetype(kRows));

    const bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    QVERIFY(prices.price(p.model));
    QFile exported(exportPath);
    QVERIFY(exported.open(QIODevice::ReadOnly));
    int row = 0;
    qint64 expectedLines = 0;
    QHash<int, int> seenKinds;
    while (!exported.atEnd()) {
        const QByteArray line = exported.readLine().trimmed();
        if (line.isEmpty())
            continue;
        const QJsonObject object = QJsonDocument::fromJson(line).object();
        ++row;
        const Kind kind = kindOf(row, true);
        seenKinds[int(kind)] += 1;
        const QString text = texts.at(row - 1);
        const QString prompt = u"Classify: "_s + text;
        const qint64 taskId = object.value(u"task_id"_s).toInteger();
        const QString where = u"row %1 (task %2, %3): %4"_s.arg(row).arg(taskId).arg(text,
            QString::fromUtf8(line.left(400)));
        QCOMPARE(object.value(u"id"_s).toString(), QString::number(row));
        QCOMPARE(object.value(u"text"_s).toString(), text);
        QVERIFY2(stored.contains(taskId), qPrintable(where));
        const Stored &s = stored.value(taskId);
        const int attempts = object.value(u"attempts"_s).toInt();
        QCOMPARE(attempts, s.attempts);
        // How often the server saw this custom_id in a batch.
        const int submissions = m_server->batchLinesFor(QString::number(taskId));
        expectedLines += submissions;
        if (kind == Kind::Invalid) {
            QVERIFY2(object.value(u"status"_s).toString() == u"dead"_s, qPrintable(where));
            QVERIFY2(object.value(u"error"_s).toString().contains(u"Invalid request (fake)"_s),
                     qPrintable(where));
            QCOMPARE(s.errorClass, u"invalid_request"_s);
            QVERIFY2(attempts == 1, qPrintable(where));
            QVERIFY2(submissions == 1, qPrintable(where));
            QVERIFY2(s.cost <= 0, qPrintable(where)); // refused lines are not billed
            continue;
        }
        QVERIFY2(object.value(u"status"_s).toString() == u"completed"_s, qPrintable(where));
        // The output is the server's answer to this row's own prompt.
        QVERIFY2(object.value(u"output"_s).toString() == FakeProvider::answerFor(kSystem, prompt),
                 qPrintable(where));
        QVERIFY2(m_server->successesFor(prompt) == 1, qPrintable(where));
        QVERIFY2(object.value(u"error"_s).toString().isEmpty(), qPrintable(where));
        switch (kind) {
        case Kind::Plain:
            QVERIFY2(attempts == 1 && submissions == 1, qPrintable(where));
            break;
        case Kind::ErrorOnce:
            // One charged failure, then the answer: sent twice, two attempts.
            QVERIFY2(attempts == 2 && submissions == 2 && s.chargedFailures == 1,
                     qPrintable(where));
            break;
        case Kind::ExpireOnce:
        case Kind::CancelOnce:
            // Expired or cancelled by the provider: not the task's fault, sent again
            // without a charge.
            QVERIFY2(attempts == 1 && submissions == 2 && s.chargedFailures == 0,
                     qPrintable(where));
            break;
        case Kind::Invalid:
            break;
        }
        // Usage as the server reported it, and the batch price: half the list price.
        bd::Usage usage;
        usage.inputTokens = FakeProvider::tokensFor(kSystem) + FakeProvider::tokensFor(prompt);
        usage.outputTokens = FakeProvider::tokensFor(FakeProvider::answerFor(kSystem, prompt));
        QVERIFY2(s.input == usage.inputTokens && s.output == usage.outputTokens && s.cached == 0,
                 qPrintable(where));
        const double batchCost = *prices.cost(p.model, usage, true);
        const double listCost = *prices.cost(p.model, usage, false);
        QVERIFY2(std::fabs(batchCost - 0.5 * listCost) <= 1e-15, qPrintable(where));
        QVERIFY2(std::fabs(s.cost - batchCost) <= 1e-12 * std::max(1.0, batchCost),
                 qPrintable(where + u" cost %1 expected %2"_s.arg(s.cost).arg(batchCost)));
        QVERIFY2(std::fabs(object.value(u"cost_usd"_s).toDouble() - batchCost) <= 1e-10,
                 qPrintable(where));
    }
    QCOMPARE(row, kRows);
    for (Kind kind : {Kind::Plain, Kind::Invalid, Kind::ErrorOnce, Kind::ExpireOnce,
                      Kind::CancelOnce})
        QVERIFY(seenKinds.value(int(kind)) > 0);
    QVERIFY(std::fabs(summary.value(u"cost_usd"_s).toDouble() - jobCost) <= 1e-9);

    // provider_batches: one row per provider batch with its id and size, all ended.
    QCOMPARE(batchRows.size(), qsizetype(m_server->batchesCreated()));
    QVERIFY(batchRows.size() >= kRows / kBatchSize + 1); // first round, then the retries
    qint64 lines = 0;
    QSet<QString> ids;
    for (qsizetype i = 0; i < batchRows.size(); ++i) {
        const BatchRow &b = batchRows.at(i);
        const QString where = u"batch row %1: %2 %3 %4"_s.arg(i).arg(b.providerBatchId, b.state)
                                  .arg(b.size);
        QVERIFY2(b.providerBatchId.startsWith(p.id == u"anthropic"_s ? u"msgbatch_fake"_s
                                                                     : u"batch_fake"_s),
                 qPrintable(where));
        QVERIFY2(!ids.contains(b.providerBatchId), qPrintable(where));
        ids.insert(b.providerBatchId);
        QCOMPARE(b.lane, u"batch-api"_s);
        QCOMPARE(b.provider, p.id);
        QVERIFY2(b.state == u"ended"_s, qPrintable(where));
        QCOMPARE(b.maxSize, kBatchSize);
        QVERIFY2(b.size > 0 && b.size <= kBatchSize, qPrintable(where));
        if (i < kRows / kBatchSize)
            QVERIFY2(b.size == kBatchSize, qPrintable(where)); // the first round is full
        lines += b.size;
    }
    QCOMPARE(lines, expectedLines); // sizes add up to every line the server received
}

// --------------------------------------------------------------------------------------

void TestBatchLaneHttp::killedAfterBatchIdsStoredResumesWithoutResubmitting_data()
{
    providers();
}

void TestBatchLaneHttp::killedAfterBatchIdsStoredResumesWithoutResubmitting()
{
    const Provider p = provider();
    constexpr int kRows = 300;
    constexpr int kBatchSize = 100;
    constexpr int kBatches = kRows / kBatchSize;
    QStringList texts;
    const QString csv = writeCsv(kRows, false, &texts);
    const QString db = m_dir->filePath(u"jobs.sqlite"_s);
    const QProcessEnvironment env = environment(p);
    // The provider keeps the batches in progress until the crash has happened.
    m_server->options().holdBatches = true;

    QProcess process;
    process.setProcessEnvironment(env);
    process.setWorkingDirectory(m_dir->path());
    process.start(QStringLiteral(BATCHCTL_PATH),
                  runArguments(p, csv, db,
                               {u"--batch-size"_s, QString::number(kBatchSize),
                                u"--batch-poll-ms"_s, u"100"_s, u"--batch-max-wait-ms"_s,
                                u"200"_s}));
    QVERIFY(process.waitForStarted(10'000));

    // Watch the database until every batch id is stored, then pull the plug.
    int stored = 0;
    QElapsedTimer waited;
    waited.start();
    while (waited.elapsed() < 30'000 && process.state() == QProcess::Running) {
        if (QFileInfo::exists(db)) {
            withDatabase(db, [&](QSqlDatabase &database) {
                QSqlQuery query(database);
                if (query.exec(u"SELECT COUNT(*) FROM provider_batches WHERE provider_batch_id "
                               "IS NOT NULL"_s) &&
                    query.next())
                    stored = query.value(0).toInt();
            });
        }
        if (stored >= kBatches)
            break;
        QTest::qWait(25);
    }
    QVERIFY2(process.state() == QProcess::Running,
             qPrintable(u"batchctl ended early: "_s + QString::fromUtf8(process.readAllStandardError())));
    QCOMPARE(stored, kBatches);
    QTest::qWait(300); // a few polls of the held batches go by
    process.kill(); // SIGKILL: no handler, nothing handed back
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(process.exitStatus(), QProcess::CrashExit);
    QCOMPARE(m_server->batchesCreated(), kBatches);

    // After the crash: every task is held by its batch, nothing is pending.
    withDatabase(db, [&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM tasks WHERE state = 1 AND lease_owner LIKE "
                           "'batch:%' AND batch_id IS NOT NULL"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), kRows);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM provider_batches WHERE state = 'submitted'"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), kBatches);
    });

    // The provider finishes the batches; resume polls the stored ids and fetches results.
    m_server->options().holdBatches = false;
    const Run resumed = batchctl({u"resume"_s, u"--db"_s, db, u"--json"_s}, env);
    QVERIFY2(resumed.status == QProcess::NormalExit && resumed.exitCode == 0,
             qPrintable(resumed.describe()));
    const QJsonObject summary = resumed.json();
    QCOMPARE(summary.value(u"completed"_s).toInt(), kRows);
    QCOMPARE(summary.value(u"dead"_s).toInt(), 0);
    QCOMPARE(summary.value(u"pending"_s).toInt(), 0);

    // No second submission of any custom_id; each row answered once, with its own answer.
    QCOMPARE(m_server->batchesCreated(), kBatches);
    QCOMPARE(m_server->requestCount(p.id == u"anthropic"_s ? "/v1/messages/batches"
                                                           : "/v1/batches"),
             kBatches);
    if (p.id != u"anthropic"_s)
        QCOMPARE(m_server->requestCount("/v1/files"), kBatches);
    withDatabase(db, [&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT id, row_no, state, output, attempts FROM tasks ORDER BY row_no"_s));
        int rows = 0;
        while (query.next()) {
            ++rows;
            const qint64 taskId = query.value(0).toLongLong();
            const int rowNo = query.value(1).toInt();
            const QString prompt = u"Classify: "_s + texts.at(rowNo - 1);
            const QString where = u"row %1 task %2"_s.arg(rowNo).arg(taskId);
            QVERIFY2(query.value(2).toInt() == 2, qPrintable(where)); // completed
            QVERIFY2(query.value(3).toString() == FakeProvider::answerFor(kSystem, prompt),
                     qPrintable(where));
            QVERIFY2(query.value(4).toInt() == 1, qPrintable(where));
            QVERIFY2(m_server->batchLinesFor(QString::number(taskId)) == 1, qPrintable(where));
            QVERIFY2(m_server->successesFor(prompt) == 1, qPrintable(where));
        }
        QCOMPARE(rows, kRows);
        QVERIFY(query.exec(u"SELECT COUNT(*), SUM(size) FROM provider_batches WHERE state = "
                           "'ended' AND provider_batch_id IS NOT NULL"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), kBatches);
        QCOMPARE(query.value(1).toInt(), kRows);
    });
}

QTEST_GUILESS_MAIN(TestBatchLaneHttp)
#include "test_batchlane_http.moc"
