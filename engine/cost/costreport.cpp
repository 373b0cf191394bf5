#include "costreport.h"

#include "api/jobsettings.h"
#include "cost/tiering.h"
#include "store/store.h"

#include <QDateTime>
#include <QHash>
#include <QJsonArray>
#include <QJsonValue>

#include <cmath>

namespace bd::cost {

using namespace Qt::StringLiterals;

namespace {

double roundUsd(double usd)
{
    return std::round(usd * 1e9) / 1e9;
}

} // namespace

// Where a job's money went: by lane, model, token kind and day, cache hits, and what a
// naive run would have cost (every row realtime on the job's model at list price, no
// prompt caching, no response cache). Breakdowns use the current price table; cost_usd
// is what was recorded per task when it completed.
QJsonObject costReport(store::Store &store, const JobInfo &job,
                       const PriceTable &prices)
{
    const QList<store::CostLine> lines = store.costLines(job.id);
    // Model tiering: savings are measured against the top tier's model; a naive run would
    // have sent every row there too.
    std::optional<TieringConfig> tiering;
    if (job.spec.model == kAutoModel) {
        QString ignored;
        tiering = TieringConfig::fromJson(job.spec.settings.value(settingkeys::tiering).toObject(),
                                                    u"job settings"_s, &ignored);
    }
    QString topModel;
    if (tiering) {
        topModel = tiering->modelFor(tiering->topTier([&](const QString &model) {
            const auto price = prices.price(model);
            return price ? std::optional<double>(price->output) : std::nullopt;
        }));
    }
    QJsonObject byTier;
    std::optional<double> onTopTier = 0.0; // the same tokens and lanes on the top tier's model
    Usage classifyUsage;               // a tiering classifier's calls (completed tasks)
    double classifyCost = 0.0;
    QJsonObject byLane;
    QJsonObject byModel;
    QJsonObject byDay;
    CostBreakdown kinds;
    qint64 unpriced = 0;
    qint64 cacheHits = 0;
    qint64 sentTasks = 0;
    Usage total;
    std::optional<double> naive = 0.0;
    QHash<QString, std::pair<qint64, double>> naivePerModel; // sent tasks, naive cost
    const auto add = [](QJsonObject &map, const QString &key, qint64 tasks, double cost) {
        QJsonObject entry = map.value(key).toObject();
        entry.insert(u"tasks"_s, entry.value(u"tasks"_s).toInteger() + tasks);
        entry.insert(u"cost_usd"_s, roundUsd(entry.value(u"cost_usd"_s).toDouble() + cost));
        map.insert(key, entry);
    };
    for (const store::CostLine &line : lines) {
        const QString lane = line.lane == u"sync"_s ? job.spec.mode : line.lane;
        add(byLane, lane, line.tasks, line.costUsd);
        add(byModel, line.model, line.tasks, line.costUsd);
        add(byDay, line.day, line.tasks, line.costUsd);
        if (tiering)
            add(byTier, line.tier.isEmpty() ? u"none"_s : line.tier, line.tasks, line.costUsd);
        classifyUsage += line.classifyUsage;
        classifyCost += line.classifyCostUsd;
        unpriced += line.unpricedTasks;
        total += line.usage;
        if (line.lane == u"response-cache"_s) {
            cacheHits += line.tasks;
            continue;
        }
        sentTasks += line.tasks;
        const bool batchLane = line.lane == u"batch-api"_s;
        if (const auto parts = prices.breakdown(line.model, line.usage, batchLane,
                                                cacheTtlForLane(batchLane)))
            kinds += *parts;
        if (tiering && onTopTier) {
            const auto top = prices.cost(topModel, line.usage, batchLane,
                                         cacheTtlForLane(batchLane));
            onTopTier = top ? std::optional<double>(*onTopTier + *top) : std::nullopt;
        }
        const QString naiveModel = tiering ? topModel : line.model;
        const auto lineNaive = prices.naiveCost(naiveModel, line.usage);
        if (lineNaive && naive) {
            *naive += *lineNaive;
            auto &perModel = naivePerModel[naiveModel];
            perModel.first += line.tasks;
            perModel.second += *lineNaive;
        } else {
            naive.reset();
        }
    }
    // Cache hits cost nothing now; a naive run would have paid for them like for the
    // job's other answers (their mean), or like earlier jobs of the same template.
    if (naive && cacheHits > 0) {
        for (const store::CostLine &line : lines) {
            if (line.lane != u"response-cache"_s)
                continue;
            const QString naiveModel = tiering ? topModel : line.model;
            const auto perModel = naivePerModel.value(naiveModel);
            if (perModel.first > 0) {
                *naive += perModel.second / double(perModel.first) * double(line.tasks);
                continue;
            }
            const store::UsageCalibration calibration =
                store.usageCalibration(job.spec.templateText, job.spec.systemPrompt,
                                       tiering ? job.spec.model : line.model);
            Usage typical;
            typical.inputTokens = qint64(std::llround(calibration.meanPromptTokens * double(line.tasks)));
            typical.outputTokens = qint64(std::llround(calibration.meanOutputTokens * double(line.tasks)));
            const auto hitNaive = prices.naiveCost(naiveModel, typical);
            if (calibration.tasks > 0 && hitNaive)
                *naive += *hitNaive;
            else
                naive.reset();
            if (!naive)
                break;
        }
    }
    // What the job was billed beyond its answers (a Gemini explicit cache), already part of
    // cost_usd: in the lane, model and day it belongs to, and listed on its own.
    QJsonArray charges;
    for (const store::JobCharge &charge : store.jobCharges(job.id)) {
        add(byLane, u"batch-api"_s, 0, charge.usd);
        add(byModel, charge.model, 0, charge.usd);
        add(byDay,
            QDateTime::fromMSecsSinceEpoch(charge.createdAtMs, Qt::UTC)
                .toString(u"yyyy-MM-dd"_s),
            0, charge.usd);
        charges.append(QJsonObject{{u"kind"_s, charge.kind},
                                   {u"key"_s, charge.key},
                                   {u"model"_s, charge.model},
                                   {u"cost_usd"_s, roundUsd(charge.usd)},
                                   {u"detail"_s, charge.detail}});
    }
    const qint64 promptTokens = total.inputTokens + total.cachedTokens + total.cacheWriteTokens;
    QJsonObject report{
        {u"cost_usd"_s, roundUsd(job.costUsd)},
        {u"cost_known"_s, unpriced == 0},
        {u"unpriced_tasks"_s, unpriced},
        {u"by_lane"_s, byLane},
        {u"by_model"_s, byModel},
        {u"by_day"_s, byDay},
        {u"by_token_kind"_s,
         QJsonObject{{u"input"_s, roundUsd(kinds.input)},
                     {u"cached_input"_s, roundUsd(kinds.cachedInput)},
                     {u"cache_write"_s, roundUsd(kinds.cacheWrite)},
                     {u"output"_s, roundUsd(kinds.output)}}},
        {u"tokens"_s,
         QJsonObject{{u"input"_s, total.inputTokens},
                     {u"cached_input"_s, total.cachedTokens},
                     {u"cache_write"_s, total.cacheWriteTokens},
                     {u"output"_s, total.outputTokens}}},
        {u"prompt_cache_hit_rate"_s,
         promptTokens > 0 ? std::round(double(total.cachedTokens) / double(promptTokens) * 1e4) / 1e4 : 0.0},
        {u"response_cache_hits"_s, cacheHits},
        {u"sent_tasks"_s, sentTasks},
        {u"price_date"_s, prices.effectiveDate()},
        {u"charges"_s, charges},
    };
    if (naive && unpriced == 0) {
        report.insert(u"naive_cost_usd"_s, roundUsd(*naive));
        report.insert(u"savings_usd"_s, roundUsd(*naive - job.costUsd));
        report.insert(u"cost_vs_naive"_s,
                      *naive > 0 ? std::round(job.costUsd / *naive * 1e4) / 1e4 : QJsonValue());
    } else {
        report.insert(u"naive_cost_usd"_s, QJsonValue());
        report.insert(u"savings_usd"_s, QJsonValue());
    }
    if (tiering) {
        for (auto it = byTier.begin(); it != byTier.end(); ++it) {
            if (const auto tier = tierFromName(it.key())) {
                QJsonObject entry = it.value().toObject();
                entry.insert(u"model"_s, tiering->modelFor(*tier));
                it.value() = entry;
            }
        }
        report.insert(u"by_tier"_s, byTier);
        if (tiering->usesClassifier()) {
            // Part of the tiers' spend above (a task's cost includes its classification).
            report.insert(u"classification"_s,
                          QJsonObject{{u"model"_s, tiering->classifierModel()},
                                      {u"input_tokens"_s, classifyUsage.inputTokens},
                                      {u"output_tokens"_s, classifyUsage.outputTokens},
                                      {u"cost_usd"_s, roundUsd(classifyCost)}});
        }
        const bool known = onTopTier && unpriced == 0;
        report.insert(u"tiering"_s,
                      QJsonObject{{u"top_model"_s, topModel},
                                  {u"top_model_cost_usd"_s, known ? QJsonValue(roundUsd(*onTopTier)) : QJsonValue()},
                                  {u"savings_usd"_s, known ? QJsonValue(roundUsd(*onTopTier - job.costUsd)) : QJsonValue()}});
    }
    return report;
}

} // namespace bd::cost
