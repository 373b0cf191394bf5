// Reference workload for the cost engine (issue 5): 10,000 rows at priority 3 with a
// 1,200-token shared system prompt and 10% duplicate rows, run through the simulator's
// batch API (job mode batch-api) with the response cache on. Prints the job's cost, the
// naive cost (every row realtime on the same model at list price, no prompt caching, no
// dedupe; from the same price table) and the breakdown. Goal: total <= 0.35 x naive.
//
//   bench_cost [ROWS] [MODEL]     defaults: 10000 sim-1 (any priced model name works: the
//                                 simulator answers under the name it is given)
//   bench_cost [ROWS] auto        model tiering: rows about a damaged box (a third) go to
//                                 sim-1, the rest to sim-1-mini; naive is all on sim-1
//   bench_cost [ROWS] MODEL gemini  the same through GeminiProvider's Batch API against the
//                                 loopback fake Gemini (in this process): inline batches, an
//                                 explicit context cache for the shared system prompt

#include "core/clock.h"
#include "cost/pricetable.h"
#include "cost/tiering.h"
#include "dispatch/jobrunner.h"
#include "fakegemini.h"
#include "providers/provider.h"
#include "providers/simulatorprovider.h"
#include "store/sqlite/sqlitestore.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonArray>
#include <QTemporaryDir>

#include <cstdio>

using namespace Qt::StringLiterals;

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const int rows = argc > 1 ? QString::fromLocal8Bit(argv[1]).toInt() : 10'000;
    const QString model = argc > 2 ? QString::fromLocal8Bit(argv[2]) : u"sim-1"_s;
    const bool gemini = argc > 3 && QString::fromLocal8Bit(argv[3]) == u"gemini"_s;
    bd::testing::FakeGemini fakeGemini;
    if (gemini && !fakeGemini.listen()) {
        std::fprintf(stderr, "cannot listen on 127.0.0.1\n");
        return 1;
    }
    const int maxOutputTokens = 256;

    QTemporaryDir dir;
    bd::store::SqliteStore store(dir.filePath(u"bench.sqlite"_s));
    if (!store.isOpen()) {
        std::fprintf(stderr, "%s\n", qPrintable(store.errorString()));
        return 1;
    }
    // A 1,200-token system prompt (4 characters a token).
    QString system = u"You are a careful analyst. Classify the customer message into one of: "
                     "billing, shipping, product, account, other. Answer with the label only. "_s;
    while (system.size() < 4'800)
        system += u"Guideline %1: read the whole message and weigh the customer's main request. "_s
                      .arg(system.size());
    system.truncate(4'800);

    bd::JobSpec spec;
    spec.sourcePath = u"reference.csv"_s;
    spec.sourceSha256 = "bench";
    spec.templateText = u"Message {{id}}: {{text}}"_s;
    spec.systemPrompt = system;
    spec.model = model;
    spec.priority = 3;
    spec.mode = u"batch-api"_s;
    spec.maxOutputTokens = maxOutputTokens;
    // The model a naive run would use: the job's, or with tiering the top tier's.
    QString naiveModel = model;
    if (model == bd::cost::kAutoModel) {
        spec.settings.insert(u"tiering"_s,
                             QJsonObject{{u"tiers"_s, QJsonObject{{u"simple"_s, u"sim-1-mini"_s},
                                                                  {u"standard"_s, u"sim-1-mini"_s},
                                                                  {u"complex"_s, u"sim-1"_s}}},
                                         {u"default"_s, u"simple"_s},
                                         {u"rules"_s, QJsonArray{QJsonObject{{u"tier"_s, u"complex"_s},
                                                                             {u"column"_s, u"text"_s},
                                                                             {u"regex"_s, u"damaged"_s}}}}});
        naiveModel = u"sim-1"_s;
    }
    bd::SystemClock *clock = bd::SystemClock::instance();
    const qint64 jobId = store.createJob(spec, {u"id"_s, u"text"_s}, clock->nowMs());
    QList<QStringList> values;
    for (int i = 0; i < rows; ++i) {
        if (i % 10 == 9) { // 10% duplicates: the same row again
            values.append(values.at(i / 2));
            continue;
        }
        values.append({u"C%1"_s.arg(i, 6, 10, QLatin1Char('0')),
                       u"Hello, order %1 arrived %2 days late and the box was %3. What now?"_s
                           .arg(100000 + i * 7).arg(i % 9 + 1)
                           .arg(i % 3 == 0 ? u"damaged"_s : u"fine"_s)});
    }
    store.appendTasks(jobId, 1, values, 3, clock->nowMs());
    store.setJobState(jobId, bd::JobState::Paused, QString(), clock->nowMs());

    const bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    if (!prices.price(naiveModel)) {
        std::fprintf(stderr, "model %s has no price\n", qPrintable(model));
        return 1;
    }
    // Naive: every row sent realtime at list price, no prompt cache, no response cache.
    // Token counts as the simulator bills them (4 characters a token).
    double naive = 0.0;
    {
        const auto tokens = [](qsizetype chars) { return (qint64(chars) + 3) / 4; };
        for (const QStringList &row : std::as_const(values)) {
            const QString prompt = u"Message %1: %2"_s.arg(row.at(0), row.at(1));
            bd::Usage usage;
            usage.inputTokens = tokens(system.size()) + tokens(prompt.size());
            const QString answer =
                gemini ? bd::testing::FakeGemini::answerFor(system, prompt)
                       : bd::providers::SimulatorProvider::answerFor(system, prompt);
            usage.outputTokens = qMin<qint64>(maxOutputTokens, tokens(answer.size()));
            naive += *prices.naiveCost(naiveModel, usage);
        }
    }

    bd::dispatch::JobRunner::Options options;
    options.batchPollFirstMs = 20;
    options.idlePollMs = 20;
    options.maxBatchSize = 2'500;
    bd::ProviderConfig config;
    config.settings = QJsonObject{{u"sim_batch_ms"_s, 0}};
    std::unique_ptr<bd::providers::Provider> provider;
    if (gemini) {
        config.id = u"gemini"_s;
        config.baseUrl = fakeGemini.baseUrl();
        config.apiKey = u"bench-not-a-real-key"_s;
        // Gemini 2.5 Flash caches from 1,024 tokens; the reference prompt has 1,200.
        config.settings = QJsonObject{{u"explicit_cache_min_tokens"_s, 1024}};
        QString error;
        provider = bd::providers::createProvider(config, clock, &error);
        if (!provider) {
            std::fprintf(stderr, "%s\n", qPrintable(error));
            return 1;
        }
    } else {
        provider = std::make_unique<bd::providers::SimulatorProvider>(config, clock);
    }
    bd::dispatch::JobRunner runner(&store, std::move(provider), *store.job(jobId), prices, clock,
                                   u"bench:1:cost"_s, options);
    QEventLoop loop;
    QObject::connect(&runner, &bd::dispatch::JobRunner::finished, &loop, &QEventLoop::quit);
    QObject::connect(&runner, &bd::dispatch::JobRunner::failed, &loop,
                     [&](qint64, const QString &error) {
                         std::fprintf(stderr, "failed: %s\n", qPrintable(error));
                         loop.quit();
                     });
    QElapsedTimer timer;
    timer.start();
    runner.start();
    loop.exec();
    const double seconds = double(timer.elapsed()) / 1000.0;
    // The last batch's cache is deleted as the job ends: let that answer land.
    QElapsedTimer drain;
    drain.start();
    while (gemini && fakeGemini.cachesDeleted() < fakeGemini.cachesCreated() && drain.elapsed() < 5'000)
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
    const qint64 landed = drain.elapsed();
    while (gemini && drain.elapsed() < landed + 300) // and the answer to reach the provider
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);

    const auto job = store.job(jobId);
    const bd::TaskCounts counts = store.taskCounts(jobId);
    std::printf("reference workload: %d rows, priority 3, batch-api lane, model %s via %s (price "
                "table %s)\n",
                rows, qPrintable(model), gemini ? "gemini (loopback fake)" : "the simulator",
                qPrintable(prices.effectiveDate()));
    if (gemini) {
        // Explicit caches are job charges (part of the job's cost): created at the input
        // price, stored until deleted when their batch ends. The loopback batches end within
        // a second; had each cache been kept its whole TTL (24 h), as after a crash:
        double charged = 0.0;
        for (const bd::store::JobCharge &charge : store.jobCharges(jobId))
            charged += charge.usd;
        const auto price = *prices.price(model);
        const double wholeTtl = fakeGemini.cachesCreated() *
                                double(bd::testing::FakeGemini::tokensFor(system)) *
                                (price.input + price.cacheStoragePerHour * 24.0) / 1e6;
        std::printf(
            "  gemini: %d batches, %d explicit caches (%d deleted) charged $%.6f in the job's cost "
            "($%.6f had they lived their 24 h TTL: %.3f x naive), %d files uploaded\n",
            fakeGemini.batchesCreated(), fakeGemini.cachesCreated(), fakeGemini.cachesDeleted(),
            charged, wholeTtl, naive > 0 ? (job->costUsd - charged + wholeTtl) / naive : 0.0,
            fakeGemini.filesUploaded());
    }
    std::printf("  system prompt %lld tokens, 10%% duplicate rows, max_output_tokens %d\n",
                qint64((system.size() + 3) / 4), maxOutputTokens);
    std::printf("  completed %lld / %lld, dead %lld, wall %.2f s\n", counts.completed, counts.total(),
                counts.dead, seconds);
    bd::cost::CostBreakdown kinds;
    qint64 hits = 0;
    for (const bd::store::CostLine &line : store.costLines(jobId)) {
        std::printf("  lane %-15s %-10s %-9s %6lld tasks  $%.6f  (input %lld, cached %lld, cache writes %lld, output %lld tokens)\n",
                    qPrintable(line.lane), qPrintable(line.model), qPrintable(line.tier), line.tasks,
                    line.costUsd, line.usage.inputTokens,
                    line.usage.cachedTokens, line.usage.cacheWriteTokens, line.usage.outputTokens);
        if (line.lane == u"response-cache"_s)
            hits += line.tasks;
        else if (const auto parts = prices.breakdown(line.model, line.usage, line.lane == u"batch-api"_s,
                                                     bd::cost::cacheTtlForLane(line.lane == u"batch-api"_s)))
            kinds += *parts;
    }
    std::printf("  by token kind: input $%.6f, cached input $%.6f, cache writes $%.6f, output $%.6f\n",
                kinds.input, kinds.cachedInput, kinds.cacheWrite, kinds.output);
    const qint64 prompt = job->usage.inputTokens + job->usage.cachedTokens + job->usage.cacheWriteTokens;
    std::printf("  response cache hits %lld; prompt cache hit rate %.1f%%\n", hits,
                prompt > 0 ? 100.0 * double(job->usage.cachedTokens) / double(prompt) : 0.0);
    const double ratio = naive > 0 ? job->costUsd / naive : 0.0;
    std::printf("total $%.6f vs naive $%.6f: %.3f x naive (goal <= 0.35) %s\n", job->costUsd, naive,
                ratio, ratio <= 0.35 ? "PASS" : "MISS");
    return counts.completed == rows && ratio <= 0.35 ? 0 : 2;
}
