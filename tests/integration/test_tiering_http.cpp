// Model tiering end to end: `batchctl run --model auto --tiering FILE` against the loopback
// OpenAI-style server. Checked: every row's request reached the server with its tier's
// model and was answered by it, the route is stored per task and exported (a "tier"
// column after the contract's columns), `status` (JSON and human)
// shows tasks and spend per tier and what tiering saved against the top tier's model, and
// a bad tiering file is a usage error (exit 2) naming the file and field before anything
// is imported or sent.

#include "batchctlrun.h"
#include "cost/pricetable.h"
#include "fakeprovider.h"

#include <cmath>
#include <memory>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;
using bd::testing::FakeProvider;

namespace {

const QString kKey = u"sk-tiering-TEST-0123456789abcdef"_s;
const QString kTemplate = u"Q: {{text}}"_s;

const char kTiers[] = R"({
  "tiers": {"simple": "gpt-4.1-nano", "standard": "gpt-4.1-mini", "complex": "gpt-4.1"},
  "default": "standard",
  "rules": [
    {"tier": "complex", "column": "category", "in": ["legal", "medical"]},
    {"tier": "simple", "prompt_chars": {"<": 20}}
  ]
})";

QString expectedModel(const QString &category, const QString &text)
{
    if (category == u"legal"_s || category == u"medical"_s)
        return u"gpt-4.1"_s;
    return QString(u"Q: "_s + text).size() < 20 ? u"gpt-4.1-nano"_s : u"gpt-4.1-mini"_s;
}

} // namespace

class TestTieringHttp : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void rowsGoToTheirTiersModels();
    void classifierRoutesByItsLabel();
    void badTieringFileIsAUsageError_data();
    void badTieringFileIsAUsageError();

private:
    QString write(const QString &name, const QByteArray &content);
    QProcessEnvironment environment() const;
    BatchctlRun batchctl(const QStringList &arguments);

    std::unique_ptr<FakeProvider> m_server;
    std::unique_ptr<QTemporaryDir> m_dir;
    QList<QStringList> m_rows; // category, text
};

void TestTieringHttp::init()
{
    m_server = std::make_unique<FakeProvider>();
    QVERIFY(m_server->listen());
    m_server->options().requiredKey = kKey;
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_rows.clear();
    QByteArray csv = "id,category,text\r\n";
    for (int i = 1; i <= 45; ++i) {
        const QString category = i % 3 == 0 ? (i % 2 ? u"legal"_s : u"medical"_s) : u"chat"_s;
        const QString text =
            i % 2 ? u"hi %1"_s.arg(i) : u"please explain item %1 in detail"_s.arg(i);
        m_rows.append({category, text});
        csv += QByteArray::number(i) + ',' + category.toUtf8() + ',' + text.toUtf8() + "\r\n";
    }
    write(u"rows.csv"_s, csv);
    write(u"tiers.json"_s, kTiers);
}

void TestTieringHttp::cleanup()
{
    m_server.reset();
    m_dir.reset();
}

QString TestTieringHttp::write(const QString &name, const QByteArray &content)
{
    const QString path = m_dir->filePath(name);
    QFile file(path);
    if (file.open(QIODevice::WriteOnly))
        file.write(content);
    return path;
}

QProcessEnvironment TestTieringHttp::environment() const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, m_dir->filePath(u"config"_s));
    env.insert(u"XDG_DATA_HOME"_s, m_dir->filePath(u"data"_s));
    env.insert(u"HOME"_s, m_dir->path());
    env.remove(u"OPENAI_BASE_URL"_s);
    env.insert(u"OPENAI_API_KEY"_s, kKey);
    return env;
}

BatchctlRun TestTieringHttp::batchctl(const QStringList &arguments)
{
    return runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, environment(), m_dir->path(),
                       60'000);
}

void TestTieringHttp::rowsGoToTheirTiersModels()
{
    const QString db = m_dir->filePath(u"jobs.sqlite"_s);
    const BatchctlRun run =
        batchctl({u"run"_s, m_dir->filePath(u"rows.csv"_s), u"--template"_s, kTemplate,
                  u"--provider"_s, u"openai"_s, u"--base-url"_s, m_server->openAiBaseUrl(),
                  u"--model"_s, u"auto"_s, u"--tiering"_s, m_dir->filePath(u"tiers.json"_s),
                  u"--db"_s, db, u"--json"_s, u"--export"_s, m_dir->filePath(u"out.csv"_s)});
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 0, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), 45);
    QCOMPARE(run.json().value(u"model"_s).toString(), u"auto"_s);

    // What the server was asked: each row's prompt, once, with its tier's model.
    QHash<QString, QString> modelOfPrompt;
    for (const FakeProvider::ReceivedRequest &request : m_server->received()) {
        if (request.path != "/v1/chat/completions")
            continue;
        const QJsonObject body = QJsonDocument::fromJson(request.body).object();
        const QJsonArray messages = body.value(u"messages"_s).toArray();
        const QString prompt = messages.last()[u"content"_s].toString();
        QVERIFY2(!modelOfPrompt.contains(prompt), qPrintable(prompt));
        modelOfPrompt.insert(prompt, body.value(u"model"_s).toString());
    }
    QCOMPARE(modelOfPrompt.size(), 45);
    QHash<QString, int> rowsPerModel;
    for (const QStringList &row : std::as_const(m_rows)) {
        const QString expected = expectedModel(row.at(0), row.at(1));
        QCOMPARE(modelOfPrompt.value(u"Q: "_s + row.at(1)), expected);
        ++rowsPerModel[expected];
    }
    QCOMPARE(rowsPerModel.size(), 3);

    // Stored per task: the tier, the routed model, the answering model; and the cost of the
    // same usage on the top tier's model (gpt-4.1), which tiering is measured against.
    const bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    double onTop = 0;
    double spent = 0;
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"tiering-http"_s);
        database.setDatabaseName(db);
        QVERIFY(database.open());
        QSqlQuery query(database);
        QVERIFY(
            query.exec(u"SELECT row_no, tier, routed_model, model, input_tokens, output_tokens, "
                       "cached_tokens, cost_usd, output FROM tasks ORDER BY row_no"_s));
        int rows = 0;
        while (query.next()) {
            const QStringList &row = m_rows.at(query.value(0).toInt() - 1);
            const QString expected = expectedModel(row.at(0), row.at(1));
            const QString tier = expected == u"gpt-4.1"_s        ? u"complex"_s
                                 : expected == u"gpt-4.1-nano"_s ? u"simple"_s
                                                                 : u"standard"_s;
            QCOMPARE(query.value(1).toString(), tier);
            QCOMPARE(query.value(2).toString(), expected);
            QCOMPARE(query.value(3).toString(), expected); // the server answered as that model
            QCOMPARE(query.value(8).toString(),
                     FakeProvider::answerFor(QString(), u"Q: "_s + row.at(1)));
            bd::Usage usage;
            usage.inputTokens = query.value(4).toLongLong();
            usage.outputTokens = query.value(5).toLongLong();
            usage.cachedTokens = query.value(6).toLongLong();
            QVERIFY(std::fabs(query.value(7).toDouble() - *prices.cost(expected, usage, false)) <
                    1e-12);
            onTop += *prices.cost(u"gpt-4.1"_s, usage, false);
            spent += query.value(7).toDouble();
            ++rows;
        }
        QCOMPARE(rows, 45);
        database.close();
    }
    QSqlDatabase::removeDatabase(u"tiering-http"_s);

    // The export adds the tier after the contract's columns.
    QFile exported(m_dir->filePath(u"out.csv"_s));
    QVERIFY(exported.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = exported.readAll().split('\n');
    QVERIFY2(lines.at(0).endsWith(",cost_usd,attempts,task_id,tier\r"), lines.at(0).constData());
    for (int i = 0; i < m_rows.size(); ++i) {
        const QString model = expectedModel(m_rows.at(i).at(0), m_rows.at(i).at(1));
        const QByteArray tier = model == u"gpt-4.1"_s        ? "complex"
                                : model == u"gpt-4.1-nano"_s ? "simple"
                                                             : "standard";
        QVERIFY2(lines.at(i + 1).endsWith(QByteArray(',' + tier + '\r')),
                 lines.at(i + 1).constData());
    }

    const BatchctlRun status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY2(status.exitCode == 0, qPrintable(status.describe()));
    const QJsonObject cost = status.json().value(u"jobs"_s).toArray().at(0)[u"cost"_s].toObject();
    const QJsonObject byTier = cost.value(u"by_tier"_s).toObject();
    QCOMPARE(byTier.value(u"complex"_s)[u"model"_s].toString(), u"gpt-4.1"_s);
    QCOMPARE(byTier.value(u"complex"_s)[u"tasks"_s].toInt(), rowsPerModel.value(u"gpt-4.1"_s));
    QCOMPARE(byTier.value(u"simple"_s)[u"tasks"_s].toInt(), rowsPerModel.value(u"gpt-4.1-nano"_s));
    QCOMPARE(byTier.value(u"standard"_s)[u"tasks"_s].toInt(),
             rowsPerModel.value(u"gpt-4.1-mini"_s));
    const QJsonObject byModel = cost.value(u"by_model"_s).toObject();
    QCOMPARE(byModel.size(), 3);
    const QJsonObject tiering = cost.value(u"tiering"_s).toObject();
    QCOMPARE(tiering.value(u"top_model"_s).toString(), u"gpt-4.1"_s);
    QVERIFY(std::fabs(tiering.value(u"top_model_cost_usd"_s).toDouble() - onTop) < 1e-8);
    QVERIFY(std::fabs(tiering.value(u"savings_usd"_s).toDouble() - (onTop - spent)) < 1e-8);
    QVERIFY(tiering.value(u"savings_usd"_s).toDouble() > 0);
    // The naive run is every row on the top tier's model too, realtime, list price.
    QVERIFY(cost.value(u"naive_cost_usd"_s).toDouble() >= onTop - 1e-9);

    const BatchctlRun human = batchctl({u"status"_s, u"--db"_s, db});
    QVERIFY2(human.out.contains("tiers: simple (gpt-4.1-nano)"), qPrintable(human.describe()));
    QVERIFY2(human.out.contains("tiering saved $"), qPrintable(human.describe()));
    QVERIFY(!human.out.contains(kKey.toUtf8()) && !run.err.contains(kKey.toUtf8()));
}

// The server echoes the prompt in its answer (after a 19-character prefix, hence room for
// 16 tokens), so a row that says "simple" or "complex" gets that label from the classifier
// call; the rest get the default tier.
void TestTieringHttp::classifierRoutesByItsLabel()
{
    write(u"classify.json"_s,
          R"({"tiers": {"simple": "gpt-4.1-nano", "standard": "gpt-4.1-mini", "complex": "gpt-4.1"},
                                 "default": "standard",
                                 "classifier": {"model": "gpt-4.1-nano", "max_tokens": 16}})");
    write(u"labels.csv"_s,
          "id,text\r\n1,a simple one\r\n2,a complex one\r\n3,unsure\r\n4,Simple too\r\n");
    const QString db = m_dir->filePath(u"classify.sqlite"_s);
    const BatchctlRun run = batchctl(
        {u"run"_s, m_dir->filePath(u"labels.csv"_s), u"--template"_s, kTemplate, u"--provider"_s,
         u"openai"_s, u"--base-url"_s, m_server->openAiBaseUrl(), u"--model"_s, u"auto"_s,
         u"--tiering"_s, m_dir->filePath(u"classify.json"_s), u"--db"_s, db, u"--json"_s});
    QVERIFY2(run.exitCode == 0, qPrintable(run.describe()));
    const QHash<QString, QString> expected{{u"Q: a simple one"_s, u"gpt-4.1-nano"_s},
                                           {u"Q: a complex one"_s, u"gpt-4.1"_s},
                                           {u"Q: unsure"_s, u"gpt-4.1-mini"_s},
                                           {u"Q: Simple too"_s, u"gpt-4.1-nano"_s}};
    int classifications = 0;
    int answers = 0;
    for (const FakeProvider::ReceivedRequest &request : m_server->received()) {
        if (request.path != "/v1/chat/completions")
            continue;
        const QJsonObject body = QJsonDocument::fromJson(request.body).object();
        const QJsonArray messages = body.value(u"messages"_s).toArray();
        const QString prompt = messages.last()[u"content"_s].toString();
        QVERIFY2(expected.contains(prompt), qPrintable(prompt));
        if (messages.size() == 2) { // the instruction, then the row
            ++classifications;
            QCOMPARE(body.value(u"model"_s).toString(), u"gpt-4.1-nano"_s);
            QCOMPARE(body.value(u"max_completion_tokens"_s).toInt(), 16);
            QVERIFY(messages.first()[u"content"_s].toString().contains(
                u"simple, standard or complex"_s));
        } else {
            ++answers;
            QCOMPARE(body.value(u"model"_s).toString(), expected.value(prompt));
        }
    }
    QCOMPARE(classifications, 4);
    QCOMPARE(answers, 4);

    // The job's cost includes the classifications; status shows them apart.
    const BatchctlRun status = batchctl({u"status"_s, u"--db"_s, db, u"--json"_s});
    const QJsonObject job = status.json().value(u"jobs"_s).toArray().at(0).toObject();
    const QJsonObject classification = job[u"cost"_s][u"classification"_s].toObject();
    QCOMPARE(classification.value(u"model"_s).toString(), u"gpt-4.1-nano"_s);
    QVERIFY(classification.value(u"input_tokens"_s).toInt() > 0);
    QVERIFY(classification.value(u"cost_usd"_s).toDouble() > 0);
    QVERIFY(job.value(u"cost_usd"_s).toDouble() > classification.value(u"cost_usd"_s).toDouble());
    QCOMPARE(job[u"cost"_s][u"by_tier"_s][u"simple"_s][u"tasks"_s].toInt(), 2);

    // The batch API cannot wait for a classification per row: refused before anything runs.
    const BatchctlRun batch =
        batchctl({u"run"_s, m_dir->filePath(u"labels.csv"_s), u"--template"_s, kTemplate,
                  u"--provider"_s, u"openai"_s, u"--base-url"_s, m_server->openAiBaseUrl(),
                  u"--model"_s, u"auto"_s, u"--tiering"_s, m_dir->filePath(u"classify.json"_s),
                  u"--priority"_s, u"3"_s, u"--db"_s, m_dir->filePath(u"batch.sqlite"_s)});
    QCOMPARE(batch.exitCode, 2);
    QVERIFY2(batch.err.contains("classify.json: classifier: a classifier needs a sync lane"),
             qPrintable(batch.describe()));
}

void TestTieringHttp::badTieringFileIsAUsageError_data()
{
    QTest::addColumn<QStringList>("flags");
    QTest::addColumn<QByteArray>("file");
    QTest::addColumn<QString>("message");
    const QStringList autoModel{u"--model"_s, u"auto"_s, u"--tiering"_s, u"@"_s};
    QTest::newRow("unknown model in a tier")
        << autoModel
        << QByteArray(
               R"({"tiers": {"simple": "gpt-4.1-nano", "standard": "gpt-5-turbo", "complex": "gpt-4.1"}})")
        << u"bad.json: tiers.standard: unknown model 'gpt-5-turbo'"_s;
    QTest::newRow("unknown column")
        << autoModel
        << QByteArray(
               R"({"tiers": {"simple": "gpt-4.1-nano", "standard": "gpt-4.1-mini", "complex": "gpt-4.1"},
                          "rules": [{"tier": "simple", "column": "colour", "equals": "red"}]})")
        << u"bad.json: rules[0].column: no column 'colour'"_s;
    QTest::newRow("bad regex")
        << autoModel
        << QByteArray(
               R"({"tiers": {"simple": "gpt-4.1-nano", "standard": "gpt-4.1-mini", "complex": "gpt-4.1"},
                          "rules": [{"tier": "simple", "prompt_chars": {"<": 5}},
                                    {"tier": "complex", "column": "text", "regex": "(unclosed"}]})")
        << u"bad.json: rules[1].regex: bad regular expression"_s;
    QTest::newRow("not JSON") << autoModel << QByteArray("{tiers:")
                              << u"bad.json: not valid JSON"_s;
    QTest::newRow("auto without a file") << QStringList{u"--model"_s, u"auto"_s} << QByteArray()
                                         << u"--model auto needs --tiering"_s;
    QTest::newRow("a file without auto")
        << QStringList{u"--model"_s, u"gpt-4.1"_s, u"--tiering"_s, u"@"_s} << QByteArray(kTiers)
        << u"--tiering needs --model auto"_s;
}

void TestTieringHttp::badTieringFileIsAUsageError()
{
    QFETCH(QStringList, flags);
    QFETCH(QByteArray, file);
    QFETCH(QString, message);
    const QString path = write(u"bad.json"_s, file);
    flags.replaceInStrings(u"@"_s, path);
    const QString db = m_dir->filePath(u"never.sqlite"_s);
    const BatchctlRun run =
        batchctl(QStringList{u"run"_s, m_dir->filePath(u"rows.csv"_s), u"--template"_s, kTemplate,
                             u"--provider"_s, u"openai"_s, u"--base-url"_s,
                             m_server->openAiBaseUrl(), u"--db"_s, db} +
                 flags);
    QVERIFY2(run.exitCode == 2, qPrintable(run.describe()));
    QVERIFY2(QString::fromUtf8(run.err).contains(message), qPrintable(run.describe()));
    // Reported before anything was imported or sent.
    QVERIFY(!QFileInfo::exists(db));
    QCOMPARE(m_server->requestCount(), 0);
}

QTEST_GUILESS_MAIN(TestTieringHttp)
#include "test_tiering_http.moc"
