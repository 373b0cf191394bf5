// The cost engine: each pricing rule (OpenAI cached input, Anthropic cache reads and
// writes with their TTLs, batch price, unknown model, user overrides), the response cache
// key, and the response cache in JobRunner (duplicates sent once within a job and across
// jobs, in the sync and the batch-API lane, the per-job off switch, failures never cached),
// plus the simulator's prompt-cache reporting.

#include "core/clock.h"
#include "cost/pricetable.h"
#include "cost/responsecache.h"
#include "dispatch/jobrunner.h"
#include "ingest/exportwriter.h"
#include "providers/simulatorprovider.h"
#include "store/sqlite/sqlitestore.h"

#include <QJsonArray>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace Qt::StringLiterals;
using bd::JobState;
using bd::Usage;
using bd::cost::CacheTtl;
using bd::cost::PriceTable;
using bd::dispatch::JobRunner;
using bd::providers::ChatReply;
using bd::providers::ChatRequest;
using bd::providers::SimulatorProvider;

Q_DECLARE_METATYPE(bd::JobState)

namespace {

bool near(double a, double b)
{
    return qAbs(a - b) < 1e-12;
}

Usage usage(qint64 input, qint64 output, qint64 cached = 0, qint64 writes = 0)
{
    Usage u;
    u.inputTokens = input;
    u.outputTokens = output;
    u.cachedTokens = cached;
    u.cacheWriteTokens = writes;
    return u;
}

// The simulator with counters: requests sent one by one and lines sent in batches.
class CountingProvider final : public bd::providers::Provider
{
public:
    CountingProvider(const bd::ProviderConfig &config, bd::Clock *clock, int *sends,
                     int *batchLines)
        : m_inner(config, clock)
        , m_sends(sends)
        , m_batchLines(batchLines)
    {
        using P = bd::providers::Provider;
        connect(&m_inner, &P::replied, this, &P::replied);
        connect(&m_inner, &P::batchSubmitted, this, &P::batchSubmitted);
        connect(&m_inner, &P::batchPolled, this, &P::batchPolled);
        connect(&m_inner, &P::batchResultsFetched, this, &P::batchResultsFetched);
        connect(&m_inner, &P::batchCancelRequested, this, &P::batchCancelRequested);
    }
    QString id() const override { return m_inner.id(); }
    QString displayName() const override { return m_inner.displayName(); }
    bool isSimulated() const override { return true; }
    bool hasBatchApi() const override { return true; }
    QString defaultModel() const override { return m_inner.defaultModel(); }
    QStringList knownModels() const override { return m_inner.knownModels(); }
    int inFlight() const override { return m_inner.inFlight(); }
    void cancelAll() override { m_inner.cancelAll(); }
    void send(const ChatRequest &request) override
    {
        ++*m_sends;
        m_inner.send(request);
    }
    bd::providers::BatchLimits batchLimits() const override { return m_inner.batchLimits(); }
    void submitBatch(const QString &reference, const QList<ChatRequest> &requests) override
    {
        *m_batchLines += int(requests.size());
        m_inner.submitBatch(reference, requests);
    }
    void pollBatch(const QString &batchId) override { m_inner.pollBatch(batchId); }
    void fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds) override
    {
        m_inner.fetchBatchResults(batchId, taskIds);
    }
    void cancelBatch(const QString &batchId) override { m_inner.cancelBatch(batchId); }

private:
    SimulatorProvider m_inner;
    int *m_sends;
    int *m_batchLines;
};

const QString kTemplate = u"Label this: {{text}}"_s;

// Rows "item i" with every tenth row repeating an earlier one (10% duplicates).
QStringList rowsWithDuplicates(int n, const QString &marker = {})
{
    QStringList texts;
    for (int i = 0; i < n; ++i)
        texts.append(i % 10 == 9 ? texts.at(i / 2) : u"item %1%2"_s.arg(i).arg(marker));
    return texts;
}

int distinct(const QStringList &texts)
{
    return int(QSet<QString>(texts.cbegin(), texts.cend()).size());
}

// Jobs on one database; each runs to its end with a counting simulator.
class Harness
{
public:
    Harness()
    {
        m_store = std::make_unique<bd::store::SqliteStore>(m_dir.filePath(u"cost.sqlite"_s));
        prices = PriceTable::builtIn();
    }
    bool ok() const { return m_store->isOpen(); }
    bd::store::SqliteStore &store() { return *m_store; }

    qint64 addJob(const QStringList &texts, const QJsonObject &settings = {},
                  const QString &mode = u"grouped"_s, const QString &model = u"sim-1"_s)
    {
        bd::JobSpec spec;
        spec.sourcePath = u"rows-%1.csv"_s.arg(texts.size());
        spec.sourceSha256 = QByteArray::number(++m_jobs);
        spec.templateText = kTemplate;
        spec.systemPrompt = u"You label things."_s;
        spec.model = model;
        spec.priority = mode == u"batch-api"_s ? 3 : 2;
        spec.mode = mode;
        spec.settings = settings;
        const qint64 jobId = m_store->createJob(spec, {u"text"_s}, clock.nowMs());
        QList<QStringList> values;
        for (const QString &text : texts)
            values.append({text});
        m_store->appendTasks(jobId, 1, values, spec.priority, clock.nowMs());
        m_store->setJobState(jobId, JobState::Paused, QString(), clock.nowMs());
        return jobId;
    }

    // Runs the job to its end; false on timeout or failure.
    bool run(qint64 jobId)
    {
        JobRunner::Options options;
        options.concurrency = 8;
        options.claimBatch = 16;
        options.flushIntervalMs = 5;
        options.progressIntervalMs = 20;
        options.idlePollMs = 5;
        options.batchPollFirstMs = 5;
        options.maxBatchSize = 40;
        bd::ProviderConfig config;
        config.settings = QJsonObject{{u"sim_batch_ms"_s, 0}};
        auto provider = std::make_unique<CountingProvider>(config, &clock, &sends, &batchLines);
        JobRunner runner(m_store.get(), std::move(provider), *m_store->job(jobId), prices, &clock,
                         u"localhost:1:cost%1"_s.arg(jobId), options);
        QSignalSpy finished(&runner, &JobRunner::finished);
        QSignalSpy failed(&runner, &JobRunner::failed);
        runner.start();
        if (!QTest::qWaitFor([&] { return finished.count() > 0 || failed.count() > 0; }, 30'000))
            return false;
        return failed.isEmpty();
    }

    QList<bd::ingest::ExportRow> exportRows(qint64 jobId)
    {
        QList<bd::ingest::ExportRow> rows;
        m_store->forEachExportRow(jobId, [&](const bd::ingest::ExportRow &row) {
            rows.append(row);
            return true;
        });
        return rows;
    }

    bd::FakeClock clock;
    PriceTable prices;
    int sends = 0;
    int batchLines = 0;

private:
    QTemporaryDir m_dir;
    std::unique_ptr<bd::store::SqliteStore> m_store;
    int m_jobs = 0;
};

} // namespace

class TestCost : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    // pricing rules
    void builtInTableHasEveryKindAndADate();
    void openAiCachedInputIsCheaper();
    void anthropicCacheReadsAndWritesAreSeparate();
    void batchLanePaysTheBatchPrice();
    void unknownModelHasNoCost();
    void naiveAndWorstCase();
    void overrideMergesEntryByEntry();
    void badOverrideChangesNothing();
    // response cache key
    void cacheKeyIsCanonical();
    void cacheKeysForManyPromptsMatchTheCanonicalKey();
    void cacheKeysAreTheOnesAlreadyStored();
    // response cache in dispatch
    void duplicatesAreSentOnceWithinAJob();
    void secondJobWithTheSameRowsSendsNothing();
    void responseCacheCanBeSwitchedOff();
    void batchLaneSendsEachDistinctPromptOnce();
    void failuresAreNeverCached();
    void unknownModelCostStaysUnknown();
    void costLinesSplitByLane();
    // budget
    void budgetReservationHoldsUnderConcurrency();
    // simulator prompt caching
    void simulatorReportsCachedSystemPrompt();
};

void TestCost::initTestCase()
{
    qRegisterMetaType<bd::JobState>();
    qRegisterMetaType<bd::TaskCounts>();
    qRegisterMetaType<bd::Usage>();
    qRegisterMetaType<bd::providers::ChatReply>();
    qRegisterMetaType<bd::providers::BatchStatus>();
}

void TestCost::builtInTableHasEveryKindAndADate()
{
    const PriceTable table = PriceTable::builtIn();
    QVERIFY(!table.effectiveDate().isEmpty());
    const auto sonnet = table.price(u"claude-sonnet-4-5"_s);
    QVERIFY(sonnet);
    QCOMPARE(sonnet->input, 3.00);
    QCOMPARE(sonnet->cachedInput, 0.30);
    QCOMPARE(sonnet->cacheWrite, 3.75);
    QCOMPARE(sonnet->cacheWrite1h, 6.00);
    QCOMPARE(sonnet->output, 15.00);
    QCOMPARE(sonnet->batchDiscount, 0.5);
    QCOMPARE(sonnet->date, table.effectiveDate());
    // OpenAI has no cache-write surcharge: writes cost plain input.
    const auto mini = table.price(u"gpt-4.1-mini"_s);
    QVERIFY(mini);
    QCOMPARE(mini->cacheWrite, mini->input);
    QCOMPARE(mini->cacheWrite1h, mini->input);
    QCOMPARE(mini->cachedInput, 0.10);
    QVERIFY(table.price(u"sim-1"_s)->simulated);
}

void TestCost::openAiCachedInputIsCheaper()
{
    // As the OpenAI parser reports prompt_tokens 1000 with 200 cached: input 800, cached 200.
    const PriceTable table = PriceTable::builtIn();
    const auto cost = table.cost(u"gpt-4.1"_s, usage(800, 100, 200), false);
    QVERIFY(cost);
    QVERIFY(near(*cost, (800 * 2.00 + 200 * 0.50 + 100 * 8.00) / 1e6));
    const auto parts = table.breakdown(u"gpt-4.1"_s, usage(800, 100, 200), false);
    QVERIFY(near(parts->input, 800 * 2.00 / 1e6));
    QVERIFY(near(parts->cachedInput, 200 * 0.50 / 1e6));
    QVERIFY(near(parts->cacheWrite, 0));
    QVERIFY(near(parts->output, 100 * 8.00 / 1e6));
    QVERIFY(near(parts->total(), *cost));
    // The same prompt without the cache costs more.
    QVERIFY(*table.cost(u"gpt-4.1"_s, usage(1000, 100), false) > *cost);
}

void TestCost::anthropicCacheReadsAndWritesAreSeparate()
{
    const PriceTable table = PriceTable::builtIn();
    // input_tokens 100, cache_read 1000, cache_creation 2000: each at its own price.
    const Usage u = usage(100, 50, 1000, 2000);
    const auto fiveMinutes = table.cost(u"claude-sonnet-4-5"_s, u, false);
    QVERIFY(near(*fiveMinutes, (100 * 3.00 + 1000 * 0.30 + 2000 * 3.75 + 50 * 15.00) / 1e6));
    const auto oneHour = table.cost(u"claude-sonnet-4-5"_s, u, false, CacheTtl::OneHour);
    QVERIFY(near(*oneHour, (100 * 3.00 + 1000 * 0.30 + 2000 * 6.00 + 50 * 15.00) / 1e6));
    const auto parts = table.breakdown(u"claude-haiku-4-5"_s, u, false);
    QVERIFY(near(parts->cachedInput, 1000 * 0.10 / 1e6));
    QVERIFY(near(parts->cacheWrite, 2000 * 1.25 / 1e6));
}

void TestCost::batchLanePaysTheBatchPrice()
{
    const PriceTable table = PriceTable::builtIn();
    const Usage u = usage(1000, 200, 500, 100);
    for (const QString &model : {u"gpt-4o"_s, u"claude-opus-4-1"_s, u"sim-1"_s}) {
        const double list = *table.cost(model, u, false);
        const double batch = *table.cost(model, u, true);
        QVERIFY2(near(batch, list * 0.5), qPrintable(model));
    }
    // The table's batch prices: gpt-4o 1.25 / 5.00 per 1M.
    QVERIFY(near(*table.cost(u"gpt-4o"_s, usage(1'000'000, 1'000'000), true), 1.25 + 5.00));
    QVERIFY(near(table.breakdown(u"gpt-4o"_s, usage(0, 0, 1'000'000), true)->cachedInput, 0.625));
}

void TestCost::unknownModelHasNoCost()
{
    const PriceTable table = PriceTable::builtIn();
    QVERIFY(!table.price(u"gpt-9-ultra"_s));
    QVERIFY(!table.cost(u"gpt-9-ultra"_s, usage(10, 10), false));
    QVERIFY(!table.cost(u"gpt-9-ultra"_s, usage(0, 0), true));
    QVERIFY(!table.breakdown(u"gpt-9-ultra"_s, usage(10, 10), false));
    QVERIFY(!table.naiveCost(u"gpt-9-ultra"_s, usage(10, 10)));
    QVERIFY(!table.maxCost(u"gpt-9-ultra"_s, 10, 10, false));
    // A known model with zero usage costs exactly zero (not unknown).
    QCOMPARE(*table.cost(u"gpt-4o"_s, usage(0, 0), false), 0.0);
}

void TestCost::naiveAndWorstCase()
{
    const PriceTable table = PriceTable::builtIn();
    // Naive: every input token (cached or written too) at list input price, realtime.
    QVERIFY(near(*table.naiveCost(u"claude-sonnet-4-5"_s, usage(100, 50, 1000, 2000)),
                 (3100 * 3.00 + 50 * 15.00) / 1e6));
    // Worst case for a reservation: input at the dearest input kind (1 h cache write).
    QVERIFY(near(*table.maxCost(u"claude-sonnet-4-5"_s, 1000, 100, false),
                 (1000 * 6.00 + 100 * 15.00) / 1e6));
    QVERIFY(near(*table.maxCost(u"gpt-4o"_s, 1000, 100, true), (1000 * 2.50 + 100 * 10.00) / 1e6 / 2));
}

void TestCost::overrideMergesEntryByEntry()
{
    PriceTable table = PriceTable::builtIn();
    const double haikuBefore = table.price(u"claude-haiku-4-5"_s)->input;
    QString error;
    const QByteArray override = R"({"date": "2027-01-15", "models": {
        "gpt-4o": {"input": 2.00, "output": 8.00},
        "claude-sonnet-4-5": {"merge": true, "output": 12.00, "date": "2027-02-01"},
        "my-local-llama": {"input": 0, "output": 0, "batch_discount": 1.0}
    }})";
    QVERIFY2(table.mergeJson(override, u"user.json"_s, &error), qPrintable(error));
    QCOMPARE(table.effectiveDate(), u"2027-01-15"_s);
    // A whole entry replaces the model's price; unspecified kinds fall back to input.
    const auto gpt = table.price(u"gpt-4o"_s);
    QCOMPARE(gpt->input, 2.00);
    QCOMPARE(gpt->cachedInput, 2.00);
    QCOMPARE(gpt->source, u"user.json"_s);
    QCOMPARE(gpt->date, u"2027-01-15"_s);
    // "merge": true changes only what it names.
    const auto sonnet = table.price(u"claude-sonnet-4-5"_s);
    QCOMPARE(sonnet->output, 12.00);
    QCOMPARE(sonnet->input, 3.00);
    QCOMPARE(sonnet->cacheWrite1h, 6.00);
    QCOMPARE(sonnet->date, u"2027-02-01"_s);
    // Models the override does not name keep their built-in price.
    QCOMPARE(table.price(u"claude-haiku-4-5"_s)->input, haikuBefore);
    // A free local model has a known cost of zero.
    QCOMPARE(*table.cost(u"my-local-llama"_s, usage(100, 100), false), 0.0);
}

void TestCost::badOverrideChangesNothing()
{
    PriceTable table = PriceTable::builtIn();
    QString error;
    QVERIFY(!table.mergeJson("{not json", u"broken.json"_s, &error));
    QVERIFY(error.contains(u"broken.json"_s));
    const QByteArray halfBad = R"({"models": {"gpt-4o": {"input": 9, "output": 9},
                                               "gpt-4.1": {"input": -1, "output": 8}}})";
    QVERIFY(!table.mergeJson(halfBad, u"bad.json"_s, &error));
    QVERIFY(error.contains(u"gpt-4.1"_s));
    QCOMPARE(table.price(u"gpt-4o"_s)->input, 2.50); // untouched: all or nothing
    QVERIFY(!table.mergeJson(R"({"models": {"x": {"input": 1}}})", u"c.json"_s, &error));
    QVERIFY(!table.mergeJson(R"({"models": {"x": {"input": 1, "output": 1, "batch_discount": 2}}})",
                             u"d.json"_s, &error));
    QVERIFY(!table.mergeFile(u"/nonexistent/prices.json"_s, &error));
}

void TestCost::cacheKeysForManyPromptsMatchTheCanonicalKey()
{
    // The job-shaped encoder must give byte for byte the key of responseCacheKey, or every
    // stored answer would stop being found.
    bd::JobSpec spec;
    spec.provider = u"openai-compatible"_s;
    spec.baseUrl = u"http://127.0.0.1:8080/v1"_s;
    spec.systemPrompt = u"You are \"careful\".\nAnswer in one word: \\ é 日本"_s;
    spec.maxOutputTokens = 321;
    spec.settings = QJsonObject{{u"temperature"_s, 0.2}, {u"seed"_s, 7}, {u"stop"_s, QJsonArray{u"\n"_s}},
                                {u"concurrency"_s, 4}};
    const QStringList prompts{
        u""_s,
        u"plain text"_s,
        u"quotes \" and backslash \\ and slash /"_s,
        u"control \t\r\n\b\f and \u0001 \u001f"_s,
        u"emoji 😀 and accents café, CJK 漢字, RTL שלום"_s,
        u"accents café, CJK 漢字, RTL שלום, no emoji"_s, // encoded without Qt's writer
        u"edges \u007f \u0080 \u07ff \u0800 \ufffd \uffff"_s,
        u"lone surrogate "_s + QChar(0xD800),
        QString(5000, u'x'),
    };
    bd::cost::ResponseCacheKeys keys;
    for (const QString &model : {u"m1"_s, u"m2"_s}) {
        for (const QString &system : {spec.systemPrompt, u"edited system"_s}) {
            for (const QString &prompt : prompts) {
                bd::cost::RequestIdentity identity = bd::cost::requestIdentity(spec, model, prompt);
                identity.systemPrompt = system;
                QCOMPARE(keys.keyFor(spec, model, system, prompt),
                         bd::cost::responseCacheKey(identity));
            }
        }
    }
    // A changed answer-affecting setting changes the key; the encoder notices.
    const QByteArray before = keys.keyFor(spec, u"m1"_s, spec.systemPrompt, u"x"_s);
    spec.settings.insert(u"temperature"_s, 0.9);
    const QByteArray after = keys.keyFor(spec, u"m1"_s, spec.systemPrompt, u"x"_s);
    QVERIFY(before != after);
    QCOMPARE(after, bd::cost::responseCacheKey(bd::cost::requestIdentity(spec, u"m1"_s, u"x"_s)));
    spec.maxOutputTokens = 5;
    QCOMPARE(keys.keyFor(spec, u"m1"_s, spec.systemPrompt, u"x"_s),
             bd::cost::responseCacheKey(bd::cost::requestIdentity(spec, u"m1"_s, u"x"_s)));
}

void TestCost::cacheKeysAreTheOnesAlreadyStored()
{
    // Keys made by the Qt-hashed code of session 11 (main at 2cff3c9) for three requests:
    // the cache holds keys like these, so a new SHA-256 or encoder must give the same bytes.
    bd::JobSpec bench;
    bench.provider = u"simulator"_s;
    bench.maxOutputTokens = 256;
    bd::JobSpec local;
    local.provider = u"openai-compatible"_s;
    local.baseUrl = u"http://127.0.0.1:8080/v1"_s;
    local.systemPrompt = u"You are \"careful\".\nAnswer in one word: \\ é 日本"_s;
    local.maxOutputTokens = 321;
    local.settings = QJsonObject{{u"temperature"_s, 0.2},
                                 {u"seed"_s, 7},
                                 {u"stop"_s, QJsonArray{u"\n"_s}},
                                 {u"concurrency"_s, 4}};
    const struct
    {
        const bd::JobSpec &spec;
        QString model;
        QString prompt;
        QByteArray key;
    } stored[] = {
        {bench, u"sim-1"_s,
         u"Rate this kettle review from 1 to 5: The kettle is sturdy, quiet and worth the "
         "money, though the cable is short. Order 7919."_s,
         "26b25ad00a30684cc75b8ef538a1d160b559da9321d4e98327e6845bb584b742"},
        {local, u"m1"_s, u"control \t\r\n and \u0001, emoji 😀, café, \"quoted\" \\"_s,
         "fd5e37b1b205319fa673816b5a5e5979af766195aee2ea5d5f5540700822e94b"},
        {local, u"m2"_s, QString(),
         "439726882cb2163b7dfb4d50a7326b168f6370cba0a94fcfe41354afc9044c0c"},
    };
    bd::cost::ResponseCacheKeys keys;
    for (const auto &request : stored) {
        QCOMPARE(bd::cost::responseCacheKey(
                     bd::cost::requestIdentity(request.spec, request.model, request.prompt)),
                 request.key);
        QCOMPARE(
            keys.keyFor(request.spec, request.model, request.spec.systemPrompt, request.prompt),
            request.key);
    }
}

void TestCost::cacheKeyIsCanonical()
{
    bd::JobSpec spec;
    spec.provider = u"openai"_s;
    spec.systemPrompt = u"sys"_s;
    spec.maxOutputTokens = 100;
    spec.settings = QJsonObject{{u"temperature"_s, 0.2}, {u"concurrency"_s, 4}};
    const auto key = [](const bd::JobSpec &s, const QString &prompt, const QString &model = u"gpt-4o"_s) {
        return bd::cost::responseCacheKey(bd::cost::requestIdentity(s, model, prompt));
    };
    const QByteArray base = key(spec, u"hello"_s);
    QCOMPARE(base.size(), 64);
    QCOMPARE(key(spec, u"hello"_s), base);
    // Settings that do not change the answer do not change the key.
    bd::JobSpec other = spec;
    other.settings.insert(u"concurrency"_s, 64);
    other.settings.insert(u"budget_usd"_s, 5);
    other.priority = 3;
    other.mode = u"batch-api"_s;
    QCOMPARE(key(other, u"hello"_s), base);
    // Everything that does, does.
    QVERIFY(key(spec, u"hello "_s) != base);
    QVERIFY(key(spec, u"hello"_s, u"gpt-4o-mini"_s) != base);
    other = spec;
    other.systemPrompt = u"sys2"_s;
    QVERIFY(key(other, u"hello"_s) != base);
    other = spec;
    other.maxOutputTokens = 101;
    QVERIFY(key(other, u"hello"_s) != base);
    other = spec;
    other.settings.insert(u"temperature"_s, 0.3);
    QVERIFY(key(other, u"hello"_s) != base);
    other = spec;
    other.provider = u"anthropic"_s;
    QVERIFY(key(other, u"hello"_s) != base);
    // Two OpenAI-compatible servers are two families.
    other = spec;
    other.provider = u"openai-compatible"_s;
    other.baseUrl = u"http://127.0.0.1:8080/v1"_s;
    bd::JobSpec third = other;
    third.baseUrl = u"http://127.0.0.1:11434/v1"_s;
    QVERIFY(key(other, u"hello"_s) != key(third, u"hello"_s));
    // Field boundaries cannot be shifted: ("ab","c") differs from ("a","bc").
    other = spec;
    other.systemPrompt = u"sysh"_s;
    QVERIFY(key(other, u"ello"_s) != base);
    // On by default, off per job.
    QVERIFY(bd::cost::responseCacheEnabled({}));
    QVERIFY(!bd::cost::responseCacheEnabled(QJsonObject{{u"response_cache"_s, false}}));
}

void TestCost::duplicatesAreSentOnceWithinAJob()
{
    Harness h;
    QVERIFY(h.ok());
    const QStringList texts = rowsWithDuplicates(300);
    const int unique = distinct(texts);
    QCOMPARE(unique, 270);
    const qint64 job = h.addJob(texts);
    QVERIFY(h.run(job));
    QCOMPARE(h.sends, unique);
    QCOMPARE(h.store().taskCounts(job).completed, 300);
    QCOMPARE(h.store().cachedResponseCount(), unique);

    int hits = 0;
    const QList<bd::ingest::ExportRow> rows = h.exportRows(job);
    QCOMPARE(rows.size(), 300);
    double cost = 0;
    for (int i = 0; i < rows.size(); ++i) {
        const auto &row = rows.at(i);
        QCOMPARE(row.status, u"completed"_s);
        QCOMPARE(row.output, SimulatorProvider::answerFor(u"You label things."_s,
                                                          u"Label this: "_s + texts.at(i)));
        if (row.attempts == 0) {
            ++hits;
            QCOMPARE(row.inputTokens, 0);
            QCOMPARE(row.outputTokens, 0);
            QCOMPARE(row.cachedTokens, 0);
            QVERIFY(row.costUsd.has_value());
            QCOMPARE(*row.costUsd, 0.0);
        } else {
            QCOMPARE(row.attempts, 1);
            QVERIFY(*row.costUsd > 0);
        }
        cost += *row.costUsd;
    }
    QCOMPARE(hits, 300 - unique);
    QVERIFY(qAbs(h.store().job(job)->costUsd - cost) < 1e-12);
}

void TestCost::secondJobWithTheSameRowsSendsNothing()
{
    Harness h;
    QVERIFY(h.ok());
    const QStringList texts = rowsWithDuplicates(100);
    QVERIFY(h.run(h.addJob(texts)));
    const int firstSends = h.sends;
    QCOMPARE(firstSends, distinct(texts));
    // Same rows in another order: another job, same requests.
    QStringList reversed(texts.crbegin(), texts.crend());
    const qint64 second = h.addJob(reversed);
    QVERIFY(h.run(second));
    QCOMPARE(h.sends, firstSends);
    QCOMPARE(h.store().taskCounts(second).completed, 100);
    const auto info = h.store().job(second);
    QCOMPARE(info->costUsd, 0.0);
    QCOMPARE(info->usage.inputTokens, 0);
    const QList<bd::store::CostLine> lines = h.store().costLines(second);
    QCOMPARE(lines.size(), 1);
    QCOMPARE(lines.at(0).lane, u"response-cache"_s);
    QCOMPARE(lines.at(0).tasks, 100);
    // A different model is a different request: sent again.
    const qint64 third = h.addJob(texts, {}, u"grouped"_s, u"sim-1-mini"_s);
    QVERIFY(h.run(third));
    QCOMPARE(h.sends, firstSends * 2);
}

void TestCost::responseCacheCanBeSwitchedOff()
{
    Harness h;
    QVERIFY(h.ok());
    const QStringList texts = rowsWithDuplicates(100);
    const QJsonObject off{{u"response_cache"_s, false}};
    QVERIFY(h.run(h.addJob(texts, off)));
    QCOMPARE(h.sends, 100);
    QCOMPARE(h.store().cachedResponseCount(), 0);
    QVERIFY(h.run(h.addJob(texts, off)));
    QCOMPARE(h.sends, 200);
    // Switched on again, the first run fills the cache and the second reads it.
    QVERIFY(h.run(h.addJob(texts)));
    QCOMPARE(h.sends, 200 + distinct(texts));
    QVERIFY(h.run(h.addJob(texts)));
    QCOMPARE(h.sends, 200 + distinct(texts));
}

void TestCost::batchLaneSendsEachDistinctPromptOnce()
{
    Harness h;
    QVERIFY(h.ok());
    const QStringList texts = rowsWithDuplicates(200);
    const qint64 job = h.addJob(texts, {}, u"batch-api"_s);
    QVERIFY(h.run(job));
    QCOMPARE(h.sends, 0);
    QCOMPARE(h.batchLines, distinct(texts));
    QCOMPARE(h.store().taskCounts(job).completed, 200);
    int hits = 0;
    for (const auto &row : h.exportRows(job)) {
        QCOMPARE(row.status, u"completed"_s);
        hits += row.attempts == 0 ? 1 : 0;
    }
    QCOMPARE(hits, 200 - distinct(texts));
    // Billed at the batch price: half of what the same tokens cost realtime.
    const auto info = h.store().job(job);
    QVERIFY(near(info->costUsd, *h.prices.cost(u"sim-1"_s, info->usage, false) * 0.5));
    // A second batch job with the same rows submits nothing.
    const qint64 again = h.addJob(texts, {}, u"batch-api"_s);
    QVERIFY(h.run(again));
    QCOMPARE(h.batchLines, distinct(texts));
    QCOMPARE(h.store().taskCounts(again).completed, 200);
}

void TestCost::failuresAreNeverCached()
{
    Harness h;
    QVERIFY(h.ok());
    // Duplicated invalid rows: each copy is tried itself (an error is not an answer).
    QStringList texts = rowsWithDuplicates(20, u" [[sim:invalid]]"_s);
    const qint64 job = h.addJob(texts);
    QVERIFY(h.run(job));
    QCOMPARE(h.store().taskCounts(job).dead, 20);
    QCOMPARE(h.sends, 20);
    QCOMPARE(h.store().cachedResponseCount(), 0);
}

void TestCost::unknownModelCostStaysUnknown()
{
    Harness h;
    QVERIFY(h.ok());
    const qint64 job = h.addJob(rowsWithDuplicates(20), {}, u"grouped"_s, u"sim-unpriced"_s);
    QVERIFY(h.run(job));
    QCOMPARE(h.store().taskCounts(job).completed, 20);
    qint64 billed = -1;
    QVERIFY(h.store().jobTotals(job, nullptr, nullptr, &billed));
    // Only the cache hits (free, so known) have a cost; the sent rows' cost is unknown.
    for (const auto &row : h.exportRows(job))
        QCOMPARE(row.costUsd.has_value(), row.attempts == 0);
    QCOMPARE(billed, 2);
    const auto lines = h.store().costLines(job);
    qint64 unpriced = 0;
    for (const auto &line : lines)
        unpriced += line.unpricedTasks;
    QCOMPARE(unpriced, 18);
}

void TestCost::costLinesSplitByLane()
{
    Harness h;
    QVERIFY(h.ok());
    const QStringList texts = rowsWithDuplicates(50);
    const qint64 job = h.addJob(texts, {}, u"batch-api"_s);
    QVERIFY(h.run(job));
    const auto lines = h.store().costLines(job);
    QHash<QString, bd::store::CostLine> byLane;
    for (const auto &line : lines) {
        QCOMPARE(line.model, u"sim-1"_s);
        QVERIFY(!line.day.isEmpty());
        byLane.insert(line.lane, line);
    }
    QCOMPARE(byLane.value(u"batch-api"_s).tasks, distinct(texts));
    QCOMPARE(byLane.value(u"response-cache"_s).tasks, 50 - distinct(texts));
    QCOMPARE(byLane.value(u"response-cache"_s).costUsd, 0.0);
    QVERIFY(near(byLane.value(u"batch-api"_s).costUsd, h.store().job(job)->costUsd));
}

// Eight requests go out at once; each reserves the most it can cost before it is sent, so
// the job stops short of the cap instead of overshooting it, raises the 80% alert, pauses
// with budget_exhausted, and a raised cap lets it finish.
void TestCost::budgetReservationHoldsUnderConcurrency()
{
    Harness h;
    QVERIFY(h.ok());
    QStringList texts;
    for (int i = 0; i < 200; ++i)
        texts.append(u"item %1"_s.arg(i));
    constexpr double kBudget = 0.0015;
    const qint64 job = h.addJob(texts, QJsonObject{{u"budget_usd"_s, kBudget}});
    // The worst case of one request: ~10 prompt tokens at the dearest input kind, 256 out.
    const double worst = *h.prices.maxCost(u"sim-1"_s, 10, 256, false);
    QVERIFY(worst * 8 < kBudget); // room for all eight in flight at first

    const auto runOnce = [&](const bd::JobInfo &info, QStringList *alerts, int *maxInFlight) {
        JobRunner::Options options;
        options.concurrency = 8;
        options.claimBatch = 16;
        options.flushIntervalMs = 5;
        options.idlePollMs = 5;
        auto provider = std::make_unique<CountingProvider>(bd::ProviderConfig{}, &h.clock,
                                                           &h.sends, &h.batchLines);
        CountingProvider *raw = provider.get();
        JobRunner runner(&h.store(), std::move(provider), info, h.prices, &h.clock,
                         u"localhost:1:budget"_s, options);
        // Seen after the runner has handled the answer (and sent the next request, if any).
        connect(raw, &bd::providers::Provider::replied, this,
                [&, raw] { *maxInFlight = qMax(*maxInFlight, raw->inFlight()); });
        connect(&runner, &JobRunner::alertRaised, this,
                [&](qint64, const QString &kind) { alerts->append(kind); });
        QSignalSpy finished(&runner, &JobRunner::finished);
        runner.start();
        if (!QTest::qWaitFor([&] { return !finished.isEmpty(); }, 30'000))
            return JobState::Importing;
        return finished.first().at(1).value<JobState>();
    };

    QStringList alerts;
    int maxInFlight = 0;
    QCOMPARE(runOnce(*h.store().job(job), &alerts, &maxInFlight), JobState::Paused);
    const bd::JobInfo paused = *h.store().job(job);
    QVERIFY2(paused.costUsd <= kBudget, qPrintable(QString::number(paused.costUsd)));
    // It went up to the cap, less the reservation of what could not go any more.
    QVERIFY2(paused.costUsd > kBudget - 2 * worst, qPrintable(QString::number(paused.costUsd)));
    QVERIFY(paused.counts.completed > 8 && paused.counts.completed < 200);
    QCOMPARE(h.sends, int(paused.counts.completed));
    QCOMPARE(maxInFlight, 8); // the requests really were concurrent
    QVERIFY(alerts.contains(u"budget_80"_s));
    QVERIFY(alerts.contains(u"budget_exhausted"_s));
    QCOMPARE(paused.state, JobState::Paused);

    // A raised cap: the job resumes and finishes.
    bd::JobInfo raised = paused;
    raised.spec.settings.insert(u"budget_usd"_s, 1.0);
    alerts.clear();
    QCOMPARE(runOnce(raised, &alerts, &maxInFlight), JobState::Finished);
    QCOMPARE(h.store().taskCounts(job).completed, 200);
    QCOMPARE(h.sends, 200);
}

void TestCost::simulatorReportsCachedSystemPrompt()
{
    bd::FakeClock clock;
    SimulatorProvider sim({}, &clock);
    QList<ChatReply> replies;
    connect(&sim, &SimulatorProvider::replied, this, [&](const ChatReply &r) { replies.append(r); });
    ChatRequest request;
    request.model = u"sim-1"_s;
    request.systemPrompt = QString(5000, u'x'); // 1250 tokens
    request.prompt = u"abcdefgh"_s;             // 2 tokens
    for (int i = 0; i < 2; ++i) {
        request.taskId = i + 1;
        sim.send(request);
        QTRY_COMPARE(replies.size(), i + 1);
    }
    QCOMPARE(replies.at(0).usage.cachedTokens, 0);
    QCOMPARE(replies.at(0).usage.inputTokens, 1252);
    QCOMPARE(replies.at(1).usage.cachedTokens, 1152); // 9 steps of 128
    QCOMPARE(replies.at(1).usage.inputTokens, 1252 - 1152);
    // Gone after 5 minutes without use.
    clock.advance(5 * 60'000 + 1);
    request.taskId = 3;
    sim.send(request);
    QTRY_COMPARE(replies.size(), 3);
    QCOMPARE(replies.at(2).usage.cachedTokens, 0);
    // Short system prompts are never cached.
    request.systemPrompt = QString(400, u'y');
    for (int i = 0; i < 2; ++i) {
        request.taskId = 10 + i;
        sim.send(request);
    }
    QTRY_COMPARE(replies.size(), 5);
    QCOMPARE(replies.at(4).usage.cachedTokens, 0);
}

QTEST_GUILESS_MAIN(TestCost)
#include "test_cost.moc"
