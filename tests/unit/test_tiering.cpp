// Model tiering (cost/tiering.h): the config's checks (each naming the field), every rule
// kind, first match wins, the default tier, the top tier; and JobRunner on model "auto"
// with the simulator on a real SQLite store: each row goes to its tier's model in the sync
// and the batch-API lane (one model per provider batch), and the route is stored per task.

#include "core/clock.h"
#include "cost/pricetable.h"
#include "cost/tiering.h"
#include "dispatch/jobrunner.h"
#include "providers/simulatorprovider.h"
#include "store/sqlite/sqlitestore.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::JobState;
using bd::cost::Tier;
using bd::cost::TieringConfig;
using bd::dispatch::JobRunner;
using bd::providers::ChatRequest;

namespace {

const QJsonObject kTiers{
    {u"simple"_s, u"sim-1-mini"_s}, {u"standard"_s, u"sim-1-mini"_s}, {u"complex"_s, u"sim-1"_s}};

QJsonObject config(const QJsonArray &rules, const QString &defaultTier = u"standard"_s)
{
    return QJsonObject{{u"tiers"_s, kTiers}, {u"default"_s, defaultTier}, {u"rules"_s, rules}};
}

QJsonObject parse(const QString &json)
{
    return QJsonDocument::fromJson(json.toUtf8()).object();
}

// Parses and binds to columns (id, category, amount, text); the error when it fails.
QString problemWith(const QJsonObject &json, const QStringList &knownModels = {})
{
    QString error;
    auto tiering = TieringConfig::fromJson(json, u"tiers.json"_s, &error);
    if (tiering &&
        tiering->bind({u"id"_s, u"category"_s, u"amount"_s, u"text"_s}, knownModels, &error))
        return QString();
    return error;
}

// The simulator, remembering the model of each request and of each batch it was handed.
class RecordingProvider final : public bd::providers::Provider
{
public:
    RecordingProvider(bd::Clock *clock, QStringList *sentModels, QList<QSet<QString>> *batchModels)
        : m_inner(bd::ProviderConfig{.settings = QJsonObject{{u"sim_batch_ms"_s, 0}}},
                  clock)
        , m_sentModels(sentModels)
        , m_batchModels(batchModels)
    {
        using P = bd::providers::Provider;
        connect(&m_inner, &P::replied, this, &P::replied);
        connect(&m_inner, &P::batchSubmitted, this, &P::batchSubmitted);
        connect(&m_inner, &P::batchPolled, this, &P::batchPolled);
        connect(&m_inner, &P::batchResultsFetched, this, &P::batchResultsFetched);
    }
    QString id() const override { return m_inner.id(); }
    QString displayName() const override { return m_inner.displayName(); }
    bool isSimulated() const override { return true; }
    bool hasBatchApi() const override { return true; }
    QString defaultModel() const override { return m_inner.defaultModel(); }
    QStringList knownModels() const override { return m_inner.knownModels(); }
    bd::providers::BatchLimits batchLimits() const override { return m_inner.batchLimits(); }
    int inFlight() const override { return m_inner.inFlight(); }
    void cancelAll() override { m_inner.cancelAll(); }
    void send(const ChatRequest &request) override
    {
        m_sentModels->append(request.model);
        if (m_requests)
            m_requests->append(request);
        m_inner.send(request);
    }
    void recordRequests(QList<ChatRequest> *requests) { m_requests = requests; }
    void submitBatch(const QString &reference, const QList<ChatRequest> &requests) override
    {
        QSet<QString> models;
        for (const ChatRequest &request : requests)
            models.insert(request.model);
        m_batchModels->append(models);
        m_inner.submitBatch(reference, requests);
    }
    void pollBatch(const QString &batchId) override { m_inner.pollBatch(batchId); }
    void fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds) override
    {
        m_inner.fetchBatchResults(batchId, taskIds);
    }

private:
    bd::providers::SimulatorProvider m_inner;
    QStringList *m_sentModels;
    QList<QSet<QString>> *m_batchModels;
    QList<ChatRequest> *m_requests = nullptr;
};

struct StoredTask
{
    QString category;
    QString tier;
    QString routedModel;
    QString model;
    double cost = -1;
};

} // namespace

class TestTiering : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void configErrorsNameTheField_data();
    void configErrorsNameTheField();
    void unknownModelOrColumnAtBind();
    void promptLengthRules();
    void columnRules();
    void regexRules();
    void firstMatchWinsElseDefault();
    void topTierIsTheDearestModel();
    void labelParsing_data();
    void labelParsing();
    void runsEachRowOnItsTiersModel_data();
    void runsEachRowOnItsTiersModel();
    void brokenStoredConfigFailsTheJob();
    void classifierLabelsEachRow();
};

void TestTiering::configErrorsNameTheField_data()
{
    QTest::addColumn<QString>("json");
    QTest::addColumn<QString>("message");
    const QString tiers = u"\"tiers\":{\"simple\":\"a\",\"standard\":\"b\",\"complex\":\"c\"}"_s;
    QTest::newRow("no tiers") << u"{}"_s << u"tiers.json: tiers: needs an object"_s;
    QTest::newRow("missing tier") << u"{\"tiers\":{\"simple\":\"a\",\"standard\":\"b\"}}"_s
                                  << u"tiers.json: tiers.complex: missing"_s;
    QTest::newRow("unknown tier")
        << u"{\"tiers\":{\"simple\":\"a\",\"standard\":\"b\",\"complex\":\"c\",\"huge\":\"d\"}}"_s
        << u"tiers.json: tiers.huge: unknown tier"_s;
    QTest::newRow("auto as a tier model")
        << u"{\"tiers\":{\"simple\":\"auto\",\"standard\":\"b\",\"complex\":\"c\"}}"_s
        << u"tiers.json: tiers.simple: a tier needs a real model"_s;
    QTest::newRow("bad default") << u"{%1,\"default\":\"medium\"}"_s.arg(tiers)
                                 << u"tiers.json: default: needs simple"_s;
    QTest::newRow("unknown field")
        << u"{%1,\"rulez\":[]}"_s.arg(tiers) << u"tiers.json: rulez: unknown field"_s;
    QTest::newRow("rule without tier")
        << u"{%1,\"rules\":[{\"prompt_chars\":{\"<\":5}}]}"_s.arg(tiers)
        << u"tiers.json: rules[0].tier: needs simple"_s;
    QTest::newRow("two subjects")
        << u"{%1,\"rules\":[{\"tier\":\"simple\",\"prompt_chars\":{\"<\":5},\"column\":\"id\",\"equals\":\"1\"}]}"_s
               .arg(tiers)
        << u"tiers.json: rules[0]: needs exactly one of"_s;
    QTest::newRow("bad comparison")
        << u"{%1,\"rules\":[{\"tier\":\"simple\",\"prompt_tokens\":{\"~\":5}}]}"_s.arg(tiers)
        << u"tiers.json: rules[0].prompt_tokens.~: unknown comparison"_s;
    QTest::newRow("comparison not a number")
        << u"{%1,\"rules\":[{\"tier\":\"simple\",\"column\":\"amount\",\">\":\"5\"}]}"_s.arg(tiers)
        << u"tiers.json: rules[0].>: needs a number"_s;
    QTest::newRow("rule without subject")
        << u"{%1,\"rules\":[{\"tier\":\"simple\"},{\"tier\":\"complex\",\"column\":\"text\",\"regex\":\"a(b\"}]}"_s
               .arg(tiers)
        << u"tiers.json: rules[0]: needs exactly one of"_s;
    QTest::newRow("bad prompt regex")
        << u"{%1,\"rules\":[{\"tier\":\"complex\",\"prompt_regex\":\"[x\"}]}"_s.arg(tiers)
        << u"tiers.json: rules[0].prompt_regex: bad regular expression"_s;
    QTest::newRow("bad column regex")
        << u"{%1,\"rules\":[{\"tier\":\"complex\",\"column\":\"text\",\"regex\":\"a(b\"}]}"_s.arg(
               tiers)
        << u"tiers.json: rules[0].regex: bad regular expression"_s;
    QTest::newRow("two tests on a column")
        << u"{%1,\"rules\":[{\"tier\":\"complex\",\"column\":\"text\",\"equals\":\"a\",\"in\":[\"b\"]}]}"_s
               .arg(tiers)
        << u"tiers.json: rules[0]: a column rule needs exactly one test"_s;
    QTest::newRow("empty in")
        << u"{%1,\"rules\":[{\"tier\":\"complex\",\"column\":\"text\",\"in\":[]}]}"_s.arg(tiers)
        << u"tiers.json: rules[0].in: needs a non-empty list"_s;
    QTest::newRow("rules and a classifier")
        << u"{%1,\"rules\":[],\"classifier\":{\"model\":\"a\"}}"_s.arg(tiers)
        << u"tiers.json: classifier: give rules or a classifier, not both"_s;
    QTest::newRow("classifier without model")
        << u"{%1,\"classifier\":{}}"_s.arg(tiers)
        << u"tiers.json: classifier.model: needs a model name"_s;
    QTest::newRow("classifier max_tokens")
        << u"{%1,\"classifier\":{\"model\":\"a\",\"max_tokens\":0}}"_s.arg(tiers)
        << u"tiers.json: classifier.max_tokens: needs a whole number from 1 to 64"_s;
    QTest::newRow("classifier field")
        << u"{%1,\"classifier\":{\"model\":\"a\",\"prompt\":\"x\"}}"_s.arg(tiers)
        << u"tiers.json: classifier.prompt: unknown field"_s;
    QTest::newRow("unknown rule field")
        << u"{%1,\"rules\":[{\"tier\":\"complex\",\"column\":\"text\",\"equals\":\"a\",\"colour\":1}]}"_s
               .arg(tiers)
        << u"tiers.json: rules[0].colour: unknown field"_s;
}

void TestTiering::configErrorsNameTheField()
{
    QFETCH(QString, json);
    QFETCH(QString, message);
    const QJsonObject object = parse(json);
    QVERIFY2(!object.isEmpty() || json == u"{}"_s, qPrintable(json));
    const QString error = problemWith(object);
    QVERIFY2(error.startsWith(message), qPrintable(error));
}

void TestTiering::unknownModelOrColumnAtBind()
{
    const QStringList known{u"sim-1"_s, u"sim-1-mini"_s};
    QCOMPARE(problemWith(config({}), known), QString());
    QJsonObject wrongModel = config({});
    wrongModel[u"tiers"_s] = QJsonObject{
        {u"simple"_s, u"sim-1-mini"_s}, {u"standard"_s, u"gpt-9"_s}, {u"complex"_s, u"sim-1"_s}};
    QVERIFY(problemWith(wrongModel, known)
                .startsWith(u"tiers.json: tiers.standard: unknown model 'gpt-9'"_s));
    // An open model list (a local server) takes any name.
    QCOMPARE(problemWith(wrongModel, {}), QString());
    QJsonObject wrongClassifier{{u"tiers"_s, kTiers},
                                {u"classifier"_s, QJsonObject{{u"model"_s, u"gpt-9"_s}}}};
    QVERIFY(problemWith(wrongClassifier, known)
                .startsWith(u"tiers.json: classifier.model: unknown model 'gpt-9'"_s));
    const QJsonObject wrongColumn = config({QJsonObject{
        {u"tier"_s, u"simple"_s}, {u"column"_s, u"colour"_s}, {u"equals"_s, u"red"_s}}});
    QVERIFY(problemWith(wrongColumn, known)
                .startsWith(u"tiers.json: rules[0].column: no column 'colour'"_s));
}

void TestTiering::promptLengthRules()
{
    QString error;
    auto tiering = TieringConfig::fromJson(
        config(
            {QJsonObject{{u"tier"_s, u"simple"_s}, {u"prompt_chars"_s, QJsonObject{{u"<"_s, 10}}}},
             QJsonObject{{u"tier"_s, u"complex"_s},
                         {u"prompt_tokens"_s, QJsonObject{{u">="_s, 100}, {u"<"_s, 200}}}}}),
        u"t"_s, &error);
    QVERIFY2(tiering && tiering->bind({u"text"_s}, {}, &error), qPrintable(error));
    QCOMPARE(tiering->route({}, u"short"_s, 50), Tier::Simple);        // 5 chars
    QCOMPARE(tiering->route({}, u"0123456789"_s, 50), Tier::Standard); // 10 chars: not < 10
    QCOMPARE(tiering->route({}, u"0123456789"_s, 100), Tier::Complex); // in [100, 200)
    QCOMPARE(tiering->route({}, u"0123456789"_s, 199), Tier::Complex);
    QCOMPARE(tiering->route({}, u"0123456789"_s, 200), Tier::Standard);
}

void TestTiering::columnRules()
{
    QString error;
    auto tiering = TieringConfig::fromJson(
        config({QJsonObject{{u"tier"_s, u"complex"_s},
                            {u"column"_s, u"category"_s},
                            {u"in"_s, QJsonArray{u"legal"_s, u"medical"_s}}},
                QJsonObject{{u"tier"_s, u"simple"_s},
                            {u"column"_s, u"category"_s},
                            {u"equals"_s, u"chat"_s}},
                QJsonObject{{u"tier"_s, u"complex"_s}, {u"column"_s, u"amount"_s}, {u">"_s, 1000}},
                QJsonObject{{u"tier"_s, u"simple"_s}, {u"column"_s, u"amount"_s}, {u"=="_s, 0}}}),
        u"t"_s, &error);
    QVERIFY2(tiering && tiering->bind({u"category"_s, u"amount"_s}, {}, &error), qPrintable(error));
    QCOMPARE(tiering->route({u"legal"_s, u"5"_s}, {}, 1), Tier::Complex);
    QCOMPARE(tiering->route({u"medical"_s, u"5"_s}, {}, 1), Tier::Complex);
    QCOMPARE(tiering->route({u"Legal"_s, u"5"_s}, {}, 1), Tier::Standard); // exact, case and all
    QCOMPARE(tiering->route({u"chat"_s, u"5000"_s}, {}, 1), Tier::Simple); // earlier rule wins
    QCOMPARE(tiering->route({u"misc"_s, u" 1000.5 "_s}, {}, 1), Tier::Complex);
    QCOMPARE(tiering->route({u"misc"_s, u"1000"_s}, {}, 1), Tier::Standard);
    QCOMPARE(tiering->route({u"misc"_s, u"0"_s}, {}, 1), Tier::Simple);
    // Not a number: numeric comparisons never match (not even == 0).
    QCOMPARE(tiering->route({u"misc"_s, u"lots"_s}, {}, 1), Tier::Standard);
    QCOMPARE(tiering->route({u"misc"_s, QString()}, {}, 1), Tier::Standard);
    // A number in equals compares with the column's text.
    auto numeric = TieringConfig::fromJson(
        config(
            {QJsonObject{{u"tier"_s, u"simple"_s}, {u"column"_s, u"amount"_s}, {u"equals"_s, 3}}}),
        u"t"_s, &error);
    QVERIFY(numeric && numeric->bind({u"category"_s, u"amount"_s}, {}, &error));
    QCOMPARE(numeric->route({u"x"_s, u"3"_s}, {}, 1), Tier::Simple);
}

void TestTiering::regexRules()
{
    QString error;
    auto tiering = TieringConfig::fromJson(
        config({QJsonObject{{u"tier"_s, u"complex"_s},
                            {u"column"_s, u"text"_s},
                            {u"regex"_s, u"(?i)\\bcontract\\b"_s}},
                QJsonObject{{u"tier"_s, u"simple"_s}, {u"prompt_regex"_s, u"^Say hi"_s}}}),
        u"t"_s, &error);
    QVERIFY2(tiering && tiering->bind({u"id"_s, u"text"_s}, {}, &error), qPrintable(error));
    QCOMPARE(tiering->route({u"1"_s, u"Read this CONTRACT now"_s}, u"Say hi"_s, 1), Tier::Complex);
    QCOMPARE(tiering->route({u"1"_s, u"contractor"_s}, u"Say hi to him"_s, 1), Tier::Simple);
    QCOMPARE(tiering->route({u"1"_s, u"contractor"_s}, u"Please say hi"_s, 1), Tier::Standard);
}

void TestTiering::firstMatchWinsElseDefault()
{
    QString error;
    auto tiering = TieringConfig::fromJson(
        config(
            {QJsonObject{{u"tier"_s, u"simple"_s}, {u"prompt_chars"_s, QJsonObject{{u"<"_s, 100}}}},
             QJsonObject{{u"tier"_s, u"complex"_s},
                         {u"prompt_chars"_s, QJsonObject{{u"<"_s, 1000}}}}},
            u"complex"_s),
        u"t"_s, &error);
    QVERIFY(tiering && tiering->bind({}, {}, &error));
    QCOMPARE(tiering->route({}, QString(50, u'x'), 1), Tier::Simple);
    QCOMPARE(tiering->route({}, QString(500, u'x'), 1), Tier::Complex);
    QCOMPARE(tiering->route({}, QString(5000, u'x'), 1), Tier::Complex); // the default
    QCOMPARE(tiering->defaultTier(), Tier::Complex);
    // Without rules everything is the default, which is standard unless set.
    auto plain = TieringConfig::fromJson(QJsonObject{{u"tiers"_s, kTiers}}, u"t"_s, &error);
    QVERIFY(plain && plain->bind({}, {}, &error));
    QCOMPARE(plain->route({}, u"x"_s, 1), Tier::Standard);
    // What is stored in the job reads back the same.
    auto again = TieringConfig::fromJson(tiering->toJson(), u"t"_s, &error);
    QVERIFY(again && again->bind({}, {}, &error));
    QCOMPARE(again->route({}, QString(50, u'x'), 1), Tier::Simple);
}

void TestTiering::topTierIsTheDearestModel()
{
    const bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    const auto output = [&](const QString &model) {
        const auto price = prices.price(model);
        return price ? std::optional<double>(price->output) : std::nullopt;
    };
    QString error;
    // Listed "backwards": the dearest model sits in the simple tier.
    auto tiering = TieringConfig::fromJson(
        parse(
            u"{\"tiers\":{\"simple\":\"gpt-4.1\",\"standard\":\"gpt-4.1-mini\",\"complex\":\"gpt-4.1-nano\"}}"_s),
        u"t"_s, &error);
    QVERIFY(tiering);
    QCOMPARE(tiering->topTier(output), Tier::Simple);
    QCOMPARE(tiering->models(), (QStringList{u"gpt-4.1"_s, u"gpt-4.1-mini"_s, u"gpt-4.1-nano"_s}));
    // Without prices it is the complex tier.
    QCOMPARE(tiering->topTier([](const QString &) { return std::optional<double>(); }),
             Tier::Complex);
}

void TestTiering::labelParsing_data()
{
    QTest::addColumn<QString>("answer");
    QTest::addColumn<QString>("tier"); // empty: no label
    QTest::newRow("bare") << u"simple"_s << u"simple"_s;
    QTest::newRow("capitalised, full stop") << u"Complex."_s << u"complex"_s;
    QTest::newRow("upper case") << u"STANDARD"_s << u"standard"_s;
    QTest::newRow("markdown") << u"**simple**"_s << u"simple"_s;
    QTest::newRow("json") << u"{\"label\": \"complex\"}"_s << u"complex"_s;
    QTest::newRow("sentence") << u"I would say this is standard difficulty."_s << u"standard"_s;
    QTest::newRow("first one wins") << u"complex, not simple"_s << u"complex"_s;
    QTest::newRow("leading whitespace") << u"\n  simple\n"_s << u"simple"_s;
    QTest::newRow("part of a word") << u"simpler"_s << QString();
    QTest::newRow("inside a word") << u"nonstandard"_s << QString();
    QTest::newRow("other words") << u"easy"_s << QString();
    QTest::newRow("empty") << QString() << QString();
}

void TestTiering::labelParsing()
{
    QFETCH(QString, answer);
    QFETCH(QString, tier);
    const auto parsed = bd::cost::parseTierLabel(answer);
    QCOMPARE(parsed ? bd::cost::tierName(*parsed) : QString(), tier);
}

void TestTiering::runsEachRowOnItsTiersModel_data()
{
    QTest::addColumn<QString>("mode");
    QTest::newRow("grouped sync calls") << u"grouped"_s;
    QTest::newRow("batch api") << u"batch-api"_s;
}

void TestTiering::runsEachRowOnItsTiersModel()
{
    QFETCH(QString, mode);
    QTemporaryDir dir;
    const QString path = dir.filePath(u"tiering.sqlite"_s);
    bd::store::SqliteStore store(path);
    QVERIFY2(store.isOpen(), qPrintable(store.errorString()));
    bd::FakeClock clock;

    bd::JobSpec spec;
    spec.sourcePath = u"rows.csv"_s;
    spec.sourceSha256 = "00";
    spec.templateText = u"Answer: {{text}}"_s;
    spec.model = u"auto"_s;
    spec.priority = mode == u"batch-api"_s ? 3 : 2;
    spec.mode = mode;
    spec.settings = QJsonObject{
        {u"tiering"_s, config({QJsonObject{{u"tier"_s, u"complex"_s},
                                           {u"column"_s, u"category"_s},
                                           {u"equals"_s, u"legal"_s}},
                               QJsonObject{{u"tier"_s, u"simple"_s},
                                           {u"prompt_chars"_s, QJsonObject{{u"<"_s, 20}}}}})},
    };
    const qint64 jobId = store.createJob(spec, {u"category"_s, u"text"_s}, clock.nowMs());
    QList<QStringList> rows;
    for (int i = 0; i < 60; ++i) {
        const QString category = i % 3 == 0 ? u"legal"_s : u"chat"_s;
        // chat rows alternate short (simple) and long (standard)
        const QString text = i % 2 ? u"hi %1"_s.arg(i) : u"a longer question, number %1"_s.arg(i);
        rows.append({category, text});
    }
    store.appendTasks(jobId, 1, rows, spec.priority, clock.nowMs());
    store.setJobState(jobId, JobState::Paused, QString(), clock.nowMs());

    JobRunner::Options options;
    options.concurrency = 8;
    options.flushIntervalMs = 5;
    options.idlePollMs = 5;
    options.batchPollFirstMs = 5;
    options.maxBatchSize = 40;
    QStringList sentModels;
    QList<QSet<QString>> batchModels;
    JobRunner runner(&store, std::make_unique<RecordingProvider>(&clock, &sentModels, &batchModels),
                     *store.job(jobId), bd::cost::PriceTable::builtIn(), &clock,
                     u"tierhost:1:"_s + mode, options);
    int lookups = 0;
    runner.setGuardLookup([&](const QString &model) {
        ++lookups;
        Q_UNUSED(model);
        return JobRunner::makeGuard({});
    });
    QSignalSpy finished(&runner, &JobRunner::finished);
    QSignalSpy failed(&runner, &JobRunner::failed);
    runner.start();
    QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty() || !failed.isEmpty(); }, 30'000));
    QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().at(1).toString()));
    QCOMPARE(store.taskCounts(jobId).completed, 60);

    if (mode == u"batch-api"_s) {
        QVERIFY(sentModels.isEmpty());
        QVERIFY(batchModels.size() >= 2); // a batch per model at least
        for (const QSet<QString> &models : std::as_const(batchModels))
            QCOMPARE(models.size(), 1); // never two models in one provider batch
    } else {
        QCOMPARE(sentModels.size(), 60);
        QCOMPARE(QSet<QString>(sentModels.cbegin(), sentModels.cend()),
                 (QSet<QString>{u"sim-1"_s, u"sim-1-mini"_s}));
        QCOMPARE(lookups, 2); // one guard per routed model (sim-1-mini sits in two tiers)
    }

    // The stored route of each row, and its answer came from the routed model.
    QHash<QString, int> perTier;
    double sum = 0;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"tiering-check-"_s + mode);
        db.setDatabaseName(path);
        QVERIFY(db.open());
        QSqlQuery query(db);
        QVERIFY(query.exec(
            u"SELECT row_no, tier, routed_model, model, cost_usd FROM tasks ORDER BY row_no"_s));
        while (query.next()) {
            const QStringList &row = rows.at(query.value(0).toInt() - 1);
            const QString expected = row.at(0) == u"legal"_s ? u"complex"_s
                                     : QString(u"Answer: "_s + row.at(1)).size() < 20
                                         ? u"simple"_s
                                         : u"standard"_s;
            QCOMPARE(query.value(1).toString(), expected);
            const QString model = expected == u"complex"_s ? u"sim-1"_s : u"sim-1-mini"_s;
            QCOMPARE(query.value(2).toString(), model);
            QCOMPARE(query.value(3).toString(), model);
            QVERIFY(query.value(4).toDouble() > 0);
            sum += query.value(4).toDouble();
            ++perTier[expected];
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(u"tiering-check-"_s + mode);
    QCOMPARE(perTier.value(u"complex"_s), 20);
    QCOMPARE(perTier.value(u"simple"_s), 20);
    QCOMPARE(perTier.value(u"standard"_s), 20);

    // Cost lines split by tier, for the report.
    QHash<QString, qint64> tasksPerTier;
    for (const bd::store::CostLine &line : store.costLines(jobId))
        tasksPerTier[line.tier] += line.tasks;
    QCOMPARE(tasksPerTier.value(u"complex"_s), 20);
    QCOMPARE(tasksPerTier.value(u"simple"_s), 20);
    QCOMPARE(tasksPerTier.value(u"standard"_s), 20);
    QVERIFY(qAbs(store.job(jobId)->costUsd - sum) < 1e-12);
}

void TestTiering::brokenStoredConfigFailsTheJob()
{
    QTemporaryDir dir;
    bd::store::SqliteStore store(dir.filePath(u"broken.sqlite"_s));
    bd::FakeClock clock;
    bd::JobSpec spec;
    spec.sourcePath = u"rows.csv"_s;
    spec.sourceSha256 = "00";
    spec.templateText = u"{{text}}"_s;
    spec.model = u"auto"_s;
    spec.mode = u"grouped"_s;
    spec.settings = QJsonObject{{u"tiering"_s, config({QJsonObject{{u"tier"_s, u"simple"_s},
                                                                   {u"column"_s, u"gone"_s},
                                                                   {u"equals"_s, u"x"_s}}})}};
    const qint64 jobId = store.createJob(spec, {u"text"_s}, clock.nowMs());
    store.appendTasks(jobId, 1, {{u"a"_s}}, 2, clock.nowMs());
    store.setJobState(jobId, JobState::Paused, QString(), clock.nowMs());
    QStringList sent;
    QList<QSet<QString>> batches;
    JobRunner runner(&store, std::make_unique<RecordingProvider>(&clock, &sent, &batches),
                     *store.job(jobId), bd::cost::PriceTable::builtIn(), &clock, u"h:1:b"_s, {});
    QSignalSpy failed(&runner, &JobRunner::failed);
    runner.start();
    QCOMPARE(failed.size(), 1);
    QVERIFY2(failed.first().at(1).toString().contains(u"rules[0].column: no column 'gone'"_s),
             qPrintable(failed.first().at(1).toString()));
    QVERIFY(sent.isEmpty());
}

// Classifier tiering on the simulator, which echoes the prompt: a row that says "simple" or
// "complex" is labelled so, one that says neither gets the default tier, and one the
// classifier refuses too. Each classification is billed to its task and the job.
void TestTiering::classifierLabelsEachRow()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(u"classify.sqlite"_s);
    bd::store::SqliteStore store(path);
    QVERIFY(store.isOpen());
    bd::FakeClock clock;
    bd::JobSpec spec;
    spec.sourcePath = u"rows.csv"_s;
    spec.sourceSha256 = "00";
    spec.templateText = u"Task: {{text}}"_s;
    spec.systemPrompt = u"Be brief."_s;
    spec.model = u"auto"_s;
    spec.mode = u"grouped"_s;
    spec.settings = QJsonObject{
        {u"tiering"_s, QJsonObject{{u"tiers"_s, kTiers},
                                   {u"default"_s, u"complex"_s},
                                   {u"classifier"_s, QJsonObject{{u"model"_s, u"sim-1-mini"_s},
                                                                 {u"max_tokens"_s, 4}}}}}};
    const QStringList texts{u"a simple one"_s, u"a COMPLEX one"_s, u"no label here"_s,
                            u"simple, but [[sim:invalid]]"_s};
    const QStringList expectedTier{u"simple"_s, u"complex"_s, u"complex"_s, u"complex"_s};
    const qint64 jobId = store.createJob(spec, {u"text"_s}, clock.nowMs());
    QList<QStringList> rows;
    for (const QString &text : texts)
        rows.append({text});
    store.appendTasks(jobId, 1, rows, 2, clock.nowMs());
    store.setJobState(jobId, JobState::Paused, QString(), clock.nowMs());

    QStringList sentModels;
    QList<QSet<QString>> batchModels;
    QList<ChatRequest> requests;
    auto provider = std::make_unique<RecordingProvider>(&clock, &sentModels, &batchModels);
    provider->recordRequests(&requests);
    JobRunner::Options options;
    options.flushIntervalMs = 5;
    options.idlePollMs = 5;
    JobRunner runner(&store, std::move(provider), *store.job(jobId),
                     bd::cost::PriceTable::builtIn(), &clock, u"tierhost:1:classify"_s, options);
    QSignalSpy finished(&runner, &JobRunner::finished);
    runner.start();
    QVERIFY(QTest::qWaitFor([&] { return !finished.isEmpty(); }, 30'000));
    QCOMPARE(store.taskCounts(jobId).completed, 3);
    QCOMPARE(store.taskCounts(jobId).dead, 1); // the answer was refused as well

    // Each row: one classification (classifier model, fixed instruction, row prompt, small
    // max_tokens), then the answer request on its tier's model with the job's system prompt.
    // The invalid row's classification failed (default tier), its answer was refused.
    const bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    QHash<QString, double> classifyCost;
    QHash<QString, double> answerCost;
    for (const ChatRequest &request : std::as_const(requests)) {
        const QString text = request.prompt.mid(u"Task: "_s.size());
        const int row = int(texts.indexOf(text));
        QVERIFY2(row >= 0, qPrintable(request.prompt));
        if (request.systemPrompt == bd::cost::kClassifierInstruction) {
            QCOMPARE(request.model, u"sim-1-mini"_s);
            QCOMPARE(request.maxOutputTokens, 4);
        } else {
            QCOMPARE(request.systemPrompt, u"Be brief."_s);
            QCOMPARE(request.model,
                     expectedTier.at(row) == u"complex"_s ? u"sim-1"_s : u"sim-1-mini"_s);
        }
    }
    QCOMPARE(requests.size(), 8);

    double taskSum = 0;
    double classifySum = 0;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"classify-check"_s);
        db.setDatabaseName(path);
        QVERIFY(db.open());
        QSqlQuery query(db);
        QVERIFY(query.exec(
            u"SELECT row_no, state, tier, routed_model, cost_usd, classify_input_tokens, "
            "classify_output_tokens, classify_cost_usd, input_tokens, output_tokens "
            "FROM tasks ORDER BY row_no"_s));
        while (query.next()) {
            const int row = query.value(0).toInt() - 1;
            QCOMPARE(query.value(2).toString(), expectedTier.at(row));
            const QString prompt = u"Task: "_s + texts.at(row);
            bd::Usage classify;
            classify.inputTokens =
                (bd::cost::kClassifierInstruction.size() + 3) / 4 + (prompt.size() + 3) / 4;
            if (row < 3) {
                classify.outputTokens =
                    qMin<qint64>(4, (bd::providers::SimulatorProvider::answerFor(
                                         bd::cost::kClassifierInstruction, prompt)
                                         .size() +
                                     3) /
                                        4);
                QCOMPARE(query.value(5).toLongLong(), classify.inputTokens);
                QCOMPARE(query.value(6).toLongLong(), classify.outputTokens);
                const double classifyUsd = *prices.cost(u"sim-1-mini"_s, classify, false);
                QVERIFY(qAbs(query.value(7).toDouble() - classifyUsd) < 1e-15);
                bd::Usage answer;
                answer.inputTokens = query.value(8).toLongLong();
                answer.outputTokens = query.value(9).toLongLong();
                const double answerUsd = *prices.cost(query.value(3).toString(), answer, false);
                // A completed task's cost includes its classification.
                QVERIFY(qAbs(query.value(4).toDouble() - (answerUsd + classifyUsd)) < 1e-15);
                taskSum += query.value(4).toDouble();
            } else {
                QCOMPARE(query.value(1).toInt(), int(bd::TaskState::Dead));
                QCOMPARE(query.value(7).toDouble(), 0.0); // refused: nothing billed
            }
            classifySum += query.value(7).toDouble();
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(u"classify-check"_s);
    QVERIFY(classifySum > 0);
    QVERIFY(qAbs(store.job(jobId)->costUsd - taskSum) < 1e-15);
    double lineClassify = 0;
    for (const bd::store::CostLine &line : store.costLines(jobId))
        lineClassify += line.classifyCostUsd;
    QVERIFY(qAbs(lineClassify - classifySum) < 1e-15);
}

QTEST_GUILESS_MAIN(TestTiering)
#include "test_tiering.moc"
