// Structured answers (CLI.md --schema) against the loopback fakes for every provider kind:
// how each API is asked for JSON of the schema (OpenAI json_schema, an OpenAI-compatible
// server's json_schema or json_object, Anthropic's forced tool, Gemini's responseSchema),
// on the sync lane and in batch lines; whole batchctl runs on both lanes whose answers split
// into one export column per field; answers that are not JSON or do not match fail as
// invalid_output, are retried and then dead-lettered with the reason.
#include "batchctlrun.h"
#include "core/clock.h"
#include "fakegemini.h"
#include "fakeprovider.h"
#include "fakestructured.h"
#include "ingest/outputschema.h"
#include "providers/anthropicprovider.h"
#include "providers/geminiprovider.h"
#include "providers/openaichatprovider.h"
#include "providers/provider.h"

#include <memory>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::ProviderConfig;
using bd::ingest::OutputSchema;
using namespace bd::providers;
using bd::testing::FakeGemini;
using bd::testing::FakeProvider;

namespace {

const QString kKey = u"sk-structured-TEST-0123456789"_s;
// Written in a non-alphabetical order, which the requests must keep.
const QByteArray kSchema = R"({
  "type": "object",
  "properties": {
    "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
    "score": {"type": "number"},
    "urgent": {"type": "boolean"},
    "topics": {"type": "array", "items": {"type": "string"}},
    "summary": {"type": "string"}
  },
  "required": ["sentiment", "score", "urgent", "topics", "summary"],
  "additionalProperties": false
})";
const QStringList kFields{u"sentiment"_s, u"score"_s, u"urgent"_s, u"topics"_s, u"summary"_s};
const int kRows = 12;
const int kNotJsonOnceRow = 3; // not JSON on its first try, then a good answer
const int kMismatchRow = 5;    // never matches: dead-lettered after its retries

OutputSchema schema()
{
    QString error;
    const auto parsed = OutputSchema::parse(kSchema, u"schema.json"_s, &error);
    if (!parsed)
        qFatal("%s", qPrintable(error));
    return *parsed;
}

ChatRequest structuredRequest(const QString &model, const QString &prompt)
{
    ChatRequest request;
    request.taskId = 7;
    request.model = model;
    request.systemPrompt = u"Read the review."_s;
    request.prompt = prompt;
    request.maxOutputTokens = 300;
    request.outputSchema = schema();
    return request;
}

QString rowText(int row)
{
    QString text = u"review %1 was %2"_s.arg(row).arg(row % 2 ? u"positive"_s : u"negative"_s);
    if (row == kNotJsonOnceRow)
        text += u" [[json:notjson*1]]"_s;
    if (row == kMismatchRow)
        text += u" [[json:mismatch]]"_s;
    return text;
}

} // namespace

class TestStructured : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void openAiAsksForJsonSchema();
    void compatibleServerJsonSchemaOrJsonObject();
    void anthropicForcesATool();
    void geminiAsksForResponseSchema();
    void jsonObjectModeAnswersAreStructured();

    void batchctlRuns_data();
    void batchctlRuns();
    void simulatorRefusesSchema();
    void structuredOutputModeIsChecked();
    void estimateCountsTheSchema();
    void badSchemaFileNamesTheLine();

private:
    std::unique_ptr<Provider> makeProvider(const QString &id, const QString &baseUrl,
                                           const QJsonObject &settings = {});
    QString writeFile(const QString &name, const QByteArray &bytes);
    QProcessEnvironment environment() const;
    static QJsonObject fieldsOfRow(int row);

    std::unique_ptr<FakeProvider> m_server;
    std::unique_ptr<FakeGemini> m_gemini;
    std::unique_ptr<QTemporaryDir> m_dir;
};

void TestStructured::init()
{
    m_server = std::make_unique<FakeProvider>();
    QVERIFY(m_server->listen());
    m_gemini = std::make_unique<FakeGemini>();
    QVERIFY(m_gemini->listen());
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

void TestStructured::cleanup()
{
    m_server.reset();
    m_gemini.reset();
    m_dir.reset();
}

std::unique_ptr<Provider> TestStructured::makeProvider(const QString &id, const QString &baseUrl,
                                                       const QJsonObject &settings)
{
    ProviderConfig config;
    config.id = id;
    config.baseUrl = baseUrl;
    config.apiKey = kKey;
    config.settings = settings;
    QString error;
    auto provider = createProvider(config, bd::SystemClock::instance(), &error);
    if (!provider)
        qWarning("%s", qPrintable(error));
    return provider;
}

QString TestStructured::writeFile(const QString &name, const QByteArray &bytes)
{
    const QString path = m_dir->filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size())
        return {};
    return path;
}

QProcessEnvironment TestStructured::environment() const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, m_dir->filePath(u"config"_s));
    env.insert(u"XDG_DATA_HOME"_s, m_dir->filePath(u"data"_s));
    env.insert(u"HOME"_s, m_dir->path());
    env.remove(u"GOOGLE_API_KEY"_s);
    for (const QString &key : {u"OPENAI_API_KEY"_s, u"ANTHROPIC_API_KEY"_s, u"GEMINI_API_KEY"_s})
        env.insert(key, kKey);
    env.insert(u"OPENAI_BASE_URL"_s, m_server->openAiBaseUrl());
    env.insert(u"ANTHROPIC_BASE_URL"_s, m_server->anthropicBaseUrl());
    env.insert(u"GEMINI_BASE_URL"_s, m_gemini->baseUrl());
    return env;
}

void TestStructured::openAiAsksForJsonSchema()
{
    auto provider = makeProvider(u"openai"_s, m_server->openAiBaseUrl());
    auto *openAi = qobject_cast<OpenAiChatProvider *>(provider.get());
    QVERIFY(openAi);
    const ChatRequest request = structuredRequest(u"gpt-4o-mini"_s, u"review 1"_s);
    const QByteArray body = openAi->requestBody(request);
    const QJsonObject format =
        QJsonDocument::fromJson(body).object().value(u"response_format"_s).toObject();
    QCOMPARE(format.value(u"type"_s).toString(), u"json_schema"_s);
    const QJsonObject jsonSchema = format.value(u"json_schema"_s).toObject();
    QCOMPARE(jsonSchema.value(u"name"_s).toString(), u"answer"_s);
    QCOMPARE(jsonSchema.value(u"strict"_s), QJsonValue(true)); // the schema is strict-ready
    QCOMPARE(jsonSchema.value(u"schema"_s).toObject(), schema().json());
    // The fields in the schema's order (models write them in it), not sorted.
    QVERIFY(body.indexOf("\"sentiment\"") < body.indexOf("\"score\""));
    QVERIFY(body.indexOf("\"urgent\"") < body.indexOf("\"topics\""));
    // A batch line carries the same body.
    QVERIFY(openAi->batchLine(request).endsWith(QByteArray(",\"body\":" + body + '}')));
    // Without a schema, no response format.
    ChatRequest plain = request;
    plain.outputSchema.reset();
    QVERIFY(!openAi->requestBody(plain).contains("response_format"));

    // A schema strict mode would refuse is sent with strict: false.
    QString error;
    const auto loose = OutputSchema::parse(R"({"properties":{"b":{"type":"string"},"a":{}}})",
                                           u"loose.json"_s, &error);
    QVERIFY2(loose, qPrintable(error));
    ChatRequest looseRequest = request;
    looseRequest.outputSchema = loose;
    QCOMPARE(QJsonDocument::fromJson(openAi->requestBody(looseRequest))
                 .object()
                 .value(u"response_format"_s)
                 .toObject()
                 .value(u"json_schema"_s)
                 .toObject()
                 .value(u"strict"_s),
             QJsonValue(false));
}

void TestStructured::compatibleServerJsonSchemaOrJsonObject()
{
    const ChatRequest request = structuredRequest(u"llama3"_s, u"review 1"_s);
    auto byDefault = makeProvider(u"openai-compatible"_s, m_server->openAiBaseUrl());
    const QJsonObject schemaBody =
        QJsonDocument::fromJson(
            qobject_cast<OpenAiChatProvider *>(byDefault.get())->requestBody(request))
            .object();
    QCOMPARE(schemaBody.value(u"response_format"_s).toObject().value(u"type"_s).toString(),
             u"json_schema"_s);

    // A server without json_schema: JSON mode, and the schema told in the system message.
    auto jsonMode = makeProvider(u"openai-compatible"_s, m_server->openAiBaseUrl(),
                                 {{u"structured_output"_s, u"json_object"_s}});
    const QJsonObject body =
        QJsonDocument::fromJson(
            qobject_cast<OpenAiChatProvider *>(jsonMode.get())->requestBody(request))
            .object();
    QCOMPARE(body.value(u"response_format"_s).toObject(),
             (QJsonObject{{u"type"_s, u"json_object"_s}}));
    const QJsonObject system = body.value(u"messages"_s).toArray().at(0).toObject();
    QCOMPARE(system.value(u"role"_s).toString(), u"system"_s);
    const QString content = system.value(u"content"_s).toString();
    QVERIFY(content.startsWith(u"Read the review.\n\n"_s));
    QVERIFY(content.endsWith(QString::fromUtf8(schema().text())));
}

void TestStructured::anthropicForcesATool()
{
    auto provider = makeProvider(u"anthropic"_s, m_server->anthropicBaseUrl());
    auto *anthropic = qobject_cast<AnthropicProvider *>(provider.get());
    QVERIFY(anthropic);
    const ChatRequest request = structuredRequest(u"claude-haiku-4-5"_s, u"review 1"_s);
    const QByteArray body = anthropic->requestBody(request);
    const QJsonObject json = QJsonDocument::fromJson(body).object();
    const QJsonArray tools = json.value(u"tools"_s).toArray();
    QCOMPARE(tools.size(), 1);
    QCOMPARE(tools.at(0).toObject().value(u"name"_s).toString(), u"answer"_s);
    QCOMPARE(tools.at(0).toObject().value(u"input_schema"_s).toObject(), schema().json());
    QCOMPARE(json.value(u"tool_choice"_s).toObject(),
             (QJsonObject{{u"type"_s, u"tool"_s}, {u"name"_s, u"answer"_s}}));
    QVERIFY(body.indexOf("\"sentiment\"") < body.indexOf("\"score\""));
    // Batch lines the same, with the 1 h cache of batch lines.
    QVERIFY(anthropic->batchEntry(request).contains(
        anthropic->requestBody(request, AnthropicProvider::CacheLife::OneHour)));
    QVERIFY(anthropic->batchEntry(request).contains("\"tool_choice\""));
}

void TestStructured::geminiAsksForResponseSchema()
{
    auto provider = makeProvider(u"gemini"_s, m_gemini->baseUrl());
    auto *gemini = qobject_cast<GeminiProvider *>(provider.get());
    QVERIFY(gemini);
    const ChatRequest request = structuredRequest(u"gemini-2.5-flash"_s, u"review 1"_s);
    const QJsonObject generation =
        gemini->requestJson(request).value(u"generationConfig"_s).toObject();
    QCOMPARE(generation.value(u"responseMimeType"_s).toString(), u"application/json"_s);
    const QJsonObject responseSchema = generation.value(u"responseSchema"_s).toObject();
    QCOMPARE(responseSchema.value(u"type"_s).toString(), u"OBJECT"_s);
    QCOMPARE(responseSchema.value(u"propertyOrdering"_s).toArray(),
             QJsonArray::fromStringList(kFields));
    QVERIFY(!responseSchema.contains(u"additionalProperties"_s)); // not in Gemini's subset
    QCOMPARE(responseSchema.value(u"required"_s).toArray().size(), kFields.size());
    const QJsonObject properties = responseSchema.value(u"properties"_s).toObject();
    QCOMPARE(properties.value(u"sentiment"_s).toObject(),
             (QJsonObject{{u"type"_s, u"STRING"_s},
                          {u"enum"_s, QJsonArray{u"positive"_s, u"negative"_s, u"neutral"_s}}}));
    QCOMPARE(properties.value(u"topics"_s).toObject().value(u"items"_s).toObject(),
             (QJsonObject{{u"type"_s, u"STRING"_s}}));
    QCOMPARE(properties.value(u"urgent"_s).toObject().value(u"type"_s).toString(), u"BOOLEAN"_s);
    // A JSONL batch line carries the same request.
    const QJsonObject line = QJsonDocument::fromJson(gemini->fileLine(request)).object();
    QCOMPARE(line.value(u"request"_s).toObject().value(u"generationConfig"_s).toObject(),
             generation);
}

void TestStructured::jsonObjectModeAnswersAreStructured()
{
    // The fake answers JSON mode from the schema in the system message; the answer matches.
    auto provider = makeProvider(u"openai-compatible"_s, m_server->openAiBaseUrl(),
                                 {{u"structured_output"_s, u"json_object"_s}});
    QSignalSpy replied(provider.get(), &Provider::replied);
    provider->send(structuredRequest(u"llama3"_s, u"review 9 was negative"_s));
    QVERIFY(replied.wait(10'000));
    const ChatReply reply = replied.at(0).at(0).value<ChatReply>();
    QVERIFY2(reply.ok(), qPrintable(reply.errorMessage));
    QString why;
    QJsonObject answer;
    QVERIFY2(schema().validate(reply.text, &answer, &why), qPrintable(why + u": "_s + reply.text));
    QCOMPARE(answer.value(u"sentiment"_s).toString(), u"negative"_s);
}

// What the fakes answer for a row (fakestructured.h).
QJsonObject TestStructured::fieldsOfRow(int row)
{
    return bd::testing::structuredAnswer(schema().json(), u"Classify: "_s + rowText(row));
}

void TestStructured::batchctlRuns_data()
{
    QTest::addColumn<QString>("provider");
    QTest::addColumn<QString>("model");
    QTest::addColumn<int>("priority");
    QTest::newRow("openai sync") << u"openai"_s << u"gpt-4o-mini"_s << 2;
    QTest::newRow("openai batch-api") << u"openai"_s << u"gpt-4o-mini"_s << 3;
    QTest::newRow("anthropic sync") << u"anthropic"_s << u"claude-haiku-4-5"_s << 2;
    QTest::newRow("anthropic batch-api") << u"anthropic"_s << u"claude-haiku-4-5"_s << 3;
    QTest::newRow("openai-compatible") << u"openai-compatible"_s << u"llama3"_s << 2;
    QTest::newRow("openai-compatible json_object") << u"openai-compatible"_s << u"llama3"_s << 2;
    QTest::newRow("gemini sync") << u"gemini"_s << u"gemini-2.5-flash"_s << 2;
    QTest::newRow("gemini batch-api") << u"gemini"_s << u"gemini-2.5-flash"_s << 3;
}

void TestStructured::batchctlRuns()
{
    QFETCH(QString, provider);
    QFETCH(QString, model);
    QFETCH(int, priority);
    QByteArray csv = "id,text\r\n";
    for (int row = 1; row <= kRows; ++row)
        csv += QByteArray::number(row) + ",\"" + rowText(row).toUtf8() + "\"\r\n";
    const QString input = writeFile(u"reviews.csv"_s, csv);
    const QString schemaFile = writeFile(u"schema.json"_s, kSchema);
    const QString db = m_dir->filePath(u"jobs.sqlite"_s);
    const QString csvOut = m_dir->filePath(u"out.csv"_s);
    QStringList arguments{u"run"_s,
                          input,
                          u"--template"_s,
                          u"Classify: {{text}}"_s,
                          u"--schema"_s,
                          schemaFile,
                          u"--provider"_s,
                          provider,
                          u"--model"_s,
                          model,
                          u"--priority"_s,
                          QString::number(priority),
                          u"--max-retries"_s,
                          u"1"_s,
                          u"--db"_s,
                          db,
                          u"--export"_s,
                          csvOut,
                          u"--batch-size"_s,
                          u"5"_s,
                          u"--batch-poll-ms"_s,
                          u"50"_s,
                          u"--json"_s};
    if (provider == u"openai-compatible"_s)
        arguments << u"--base-url"_s << m_server->openAiBaseUrl();
    const bool jsonObjectMode = QByteArray(QTest::currentDataTag()).endsWith("json_object");
    if (jsonObjectMode)
        arguments << u"--structured-output"_s << u"json_object"_s;
    const BatchctlRun run =
        runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, environment(), m_dir->path(), 90'000);
    // Each request asked as the user said: JSON mode with the schema in the system prompt,
    // or json_schema.
    int chats = 0;
    for (const auto &request : m_server->received()) {
        if (!request.path.endsWith("/chat/completions"))
            continue;
        ++chats;
        const QJsonObject body = QJsonDocument::fromJson(request.body).object();
        const QString format = body.value(u"response_format"_s).toObject().value(u"type"_s).toString();
        QCOMPARE(format, jsonObjectMode ? u"json_object"_s : u"json_schema"_s);
    }
    QVERIFY(chats > 0 || provider != u"openai-compatible"_s);
    // A dead-lettered task makes the run exit 4 (CLI.md).
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 4, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), kRows - 1);
    QCOMPARE(run.json().value(u"dead"_s).toInt(), 1);
    QVERIFY(!run.out.contains(kKey.toUtf8()) && !run.err.contains(kKey.toUtf8()));

    // The store: the not-JSON answer was retried once, the mismatching one dead-lettered
    // as invalid_output after its retry, with the validation message.
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"check"_s);
        database.setDatabaseName(db);
        QVERIFY(database.open());
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT row_no, state, attempts, error_class, error_message FROM tasks "
                           "WHERE row_no IN (%1, %2) ORDER BY row_no"_s.arg(kNotJsonOnceRow)
                               .arg(kMismatchRow)));
        QVERIFY(query.next());
        QCOMPARE(query.value(1).toInt(), int(bd::TaskState::Completed));
        QCOMPARE(query.value(2).toInt(), 2);
        QVERIFY(query.next());
        QCOMPARE(query.value(1).toInt(), int(bd::TaskState::Dead));
        QCOMPARE(query.value(2).toInt(), 2);
        QCOMPARE(query.value(3).toString(), u"invalid_output"_s);
        const QString message = query.value(4).toString();
        QVERIFY2(message.contains(u"does not match the schema"_s) &&
                     message.contains(u"sentiment"_s),
                 qPrintable(message));
        // A server on a loopback address bills nothing: its unpriced model costs 0 and
        // raises no "cost unknown" alert; a hosted provider's models are priced.
        QVERIFY(query.exec(u"SELECT COUNT(*), COUNT(cost_usd), MAX(cost_usd) FROM tasks "
                           "WHERE state = 2"_s) &&
                query.next());
        QCOMPARE(query.value(1).toInt(), query.value(0).toInt());
        QCOMPARE(query.value(2).toDouble() == 0.0, provider == u"openai-compatible"_s);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM alerts WHERE kind = 'model_unpriced'"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), 0);
        QVERIFY(query.exec(u"SELECT outcome FROM attempts a JOIN tasks t ON t.id = a.task_id "
                           "WHERE t.row_no = %1"_s.arg(kNotJsonOnceRow)) &&
                query.next());
        QCOMPARE(query.value(0).toString(), u"invalid_output"_s);
        // Refused answers were billed all the same (the provider charged them): the
        // not-JSON row's first answer and both of the dead row's count in the task's cost,
        // the job's and the spend ledger's.
        if (provider != u"openai-compatible"_s) {
            QVERIFY(query.exec(u"SELECT rejected_cost_usd, rejected_output_tokens, cost_usd FROM "
                               "tasks WHERE row_no IN (%1, %2) ORDER BY row_no"_s.arg(kNotJsonOnceRow)
                                   .arg(kMismatchRow)));
            QVERIFY(query.next());
            const double notJsonRejected = query.value(0).toDouble();
            QVERIFY2(notJsonRejected > 0 && query.value(1).toLongLong() > 0, qPrintable(run.describe()));
            QVERIFY(query.value(2).toDouble() > notJsonRejected); // its answer on top
            QVERIFY(query.next());
            QVERIFY(query.value(0).toDouble() > 0 && query.value(1).toLongLong() > 0);
            QVERIFY(query.exec(u"SELECT TOTAL(CASE WHEN state = 2 THEN cost_usd ELSE rejected_cost_usd END), "
                               "(SELECT TOTAL(usd) FROM job_charges), (SELECT TOTAL(usd) FROM spend_days) "
                               "FROM tasks"_s)
                    && query.next());
            const double billed = query.value(0).toDouble() + query.value(1).toDouble();
            const double jobCost = run.json().value(u"cost_usd"_s).toDouble();
            QVERIFY2(qAbs(billed - jobCost) < 1e-5,
                     qPrintable(u"tasks %1 vs job %2"_s.arg(billed).arg(jobCost)));
            QVERIFY2(qAbs(query.value(2).toDouble() - billed) < 1e-9,
                     qPrintable(u"spend ledger %1 vs billed %2"_s.arg(query.value(2).toDouble()).arg(billed)));
        }
        database.close();
    }
    QSqlDatabase::removeDatabase(u"check"_s);

    // The dead-letter list says why.
    const BatchctlRun dlq = runBatchctl(QStringLiteral(BATCHCTL_PATH),
                                        {u"dlq"_s, u"list"_s, u"--db"_s, db, u"--json"_s},
                                        environment(), m_dir->path(), 30'000);
    QVERIFY2(dlq.exitCode == 0, qPrintable(dlq.describe()));
    QVERIFY2(dlq.out.contains("invalid_output") && dlq.out.contains("does not match the schema"),
             dlq.out.constData());

    // CSV: one column per field right after output, the values the answers hold.
    QFile exported(csvOut);
    QVERIFY(exported.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = exported.readAll().split('\n');
    QVERIFY2(lines.at(0).startsWith("id,text,status,output,sentiment,score,urgent,topics,summary,"
                                    "error,model,"),
             lines.at(0).constData());

    // JSONL through `export`: typed values.
    const QString jsonlOut = m_dir->filePath(u"out.jsonl"_s);
    const BatchctlRun exportRun = runBatchctl(
        QStringLiteral(BATCHCTL_PATH), {u"export"_s, u"1"_s, u"--out"_s, jsonlOut, u"--db"_s, db},
        environment(), m_dir->path(), 30'000);
    QVERIFY2(exportRun.exitCode == 0, qPrintable(exportRun.describe()));
    QFile jsonl(jsonlOut);
    QVERIFY(jsonl.open(QIODevice::ReadOnly));
    int rowsSeen = 0;
    while (!jsonl.atEnd()) {
        const QJsonObject line = QJsonDocument::fromJson(jsonl.readLine()).object();
        const int row = line.value(u"id"_s).toString().toInt();
        ++rowsSeen;
        if (row == kMismatchRow) {
            QCOMPARE(line.value(u"status"_s).toString(), u"dead"_s);
            for (const QString &field : kFields)
                QVERIFY(line.value(field).isNull());
            continue;
        }
        QCOMPARE(line.value(u"status"_s).toString(), u"completed"_s);
        const QJsonObject expected = fieldsOfRow(row);
        for (const QString &field : kFields)
            QVERIFY2(line.value(field) == expected.value(field),
                     qPrintable(u"row %1 field %2: %3"_s.arg(row).arg(field).arg(
                         QString::fromUtf8(QJsonDocument(line).toJson(QJsonDocument::Compact)))));
        QCOMPARE(line.value(u"sentiment"_s).toString(), row % 2 ? u"positive"_s : u"negative"_s);
        QVERIFY(line.value(u"score"_s).isDouble());
        QVERIFY(line.value(u"urgent"_s).isBool());
        // The output column keeps the whole JSON answer.
        QCOMPARE(QJsonDocument::fromJson(line.value(u"output"_s).toString().toUtf8()).object(),
                 expected);
    }
    QCOMPARE(rowsSeen, kRows);
}

void TestStructured::structuredOutputModeIsChecked()
{
    const QString schemaFile = writeFile(u"modes-schema.json"_s, kSchema);
    const QString input = writeFile(u"modes.csv"_s, "text\nhello\n");
    for (const QStringList &extra :
         {QStringList{u"--provider"_s, u"openai"_s, u"--schema"_s, schemaFile,
                      u"--structured-output"_s, u"json_object"_s},
          QStringList{u"--provider"_s, u"openai-compatible"_s, u"--model"_s, u"llama3"_s,
                      u"--base-url"_s, m_server->openAiBaseUrl(), u"--structured-output"_s,
                      u"json_object"_s},
          QStringList{u"--provider"_s, u"openai-compatible"_s, u"--model"_s, u"llama3"_s,
                      u"--base-url"_s, m_server->openAiBaseUrl(), u"--schema"_s, schemaFile,
                      u"--structured-output"_s, u"xml"_s}}) {
        const BatchctlRun refused =
            runBatchctl(QStringLiteral(BATCHCTL_PATH),
                        QStringList{u"run"_s, input, u"--template"_s, u"{{text}}"_s, u"--db"_s,
                                    m_dir->filePath(u"refused.sqlite"_s)} +
                            extra,
                        environment(), m_dir->path(), 30'000);
        QVERIFY2(refused.exitCode == 2 && refused.err.contains("--structured-output"),
                 qPrintable(refused.describe()));
    }
}

void TestStructured::simulatorRefusesSchema()
{
    const QString input = writeFile(u"in.csv"_s, "id,text\r\n1,a\r\n");
    const QString schemaFile = writeFile(u"schema.json"_s, kSchema);
    const BatchctlRun run =
        runBatchctl(QStringLiteral(BATCHCTL_PATH),
                    {u"run"_s, input, u"--template"_s, u"{{text}}"_s, u"--schema"_s, schemaFile,
                     u"--db"_s, m_dir->filePath(u"jobs.sqlite"_s)},
                    environment(), m_dir->path(), 30'000);
    QCOMPARE(run.exitCode, 2); // a usage error
    QVERIFY2(run.err.contains("need a real provider"), qPrintable(run.describe()));
}

void TestStructured::estimateCountsTheSchema()
{
    // The schema goes with every request (a response format, a tool): billed as input.
    const QString input = writeFile(u"in.csv"_s, "id,text\r\n1,a\r\n2,b\r\n");
    const QString schemaFile = writeFile(u"schema.json"_s, kSchema);
    QStringList arguments{u"estimate"_s, input,          u"--template"_s, u"{{text}}"_s,
                          u"--provider"_s, u"openai"_s,  u"--json"_s};
    const BatchctlRun plain = runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, environment(),
                                          m_dir->path(), 30'000);
    arguments << u"--schema"_s << schemaFile;
    const BatchctlRun structured = runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments,
                                               environment(), m_dir->path(), 30'000);
    QVERIFY2(plain.exitCode == 0, qPrintable(plain.describe()));
    QVERIFY2(structured.exitCode == 0, qPrintable(structured.describe()));
    const qint64 schemaTokens = (schema().text().size() + 3) / 4;
    const auto tokens = [](const BatchctlRun &run, const QString &key) {
        return run.json().value(u"input_tokens"_s).toObject().value(key).toInteger();
    };
    QVERIFY2(tokens(structured, u"all_rows"_s) >= tokens(plain, u"all_rows"_s) + 2 * (schemaTokens - 1),
             qPrintable(structured.describe() + u"\n"_s + plain.describe()));
    QVERIFY(tokens(structured, u"system_prompt_per_row"_s) >= schemaTokens - 1);
}

void TestStructured::badSchemaFileNamesTheLine()
{
    const QString input = writeFile(u"in.csv"_s, "id,text\r\n1,a\r\n");
    const QString schemaFile = writeFile(
        u"broken.json"_s, "{\n  \"type\": \"object\",\n  \"properties\": {\n    \"a\": }\n}");
    const BatchctlRun run = runBatchctl(QStringLiteral(BATCHCTL_PATH),
                                        {u"estimate"_s, input, u"--template"_s, u"{{text}}"_s,
                                         u"--schema"_s, schemaFile, u"--provider"_s, u"openai"_s,
                                         u"--db"_s, m_dir->filePath(u"jobs.sqlite"_s)},
                                        environment(), m_dir->path(), 30'000);
    QCOMPARE(run.exitCode, 2); // a usage error
    QVERIFY2(run.err.contains("broken.json line 4: not JSON"), qPrintable(run.describe()));
}

QTEST_GUILESS_MAIN(TestStructured)
#include "test_structured.moc"
