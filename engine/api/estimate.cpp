#include "estimate.h"

#include <QDateTime>
#include <QJsonValue>
#include <QTimeZone>

#include <cmath>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

QJsonValue money(const std::optional<double> &usd)
{
    if (!usd)
        return QJsonValue(); // null: cost unknown
    return std::round(*usd * 1e6) / 1e6;
}

QJsonObject laneJson(const LaneCost &lane)
{
    QJsonObject object{{u"max"_s, money(lane.maxUsd)}, {u"typical"_s, money(lane.typicalUsd)}};
    if (lane.withPromptCacheMaxUsd)
        object.insert(u"max_with_prompt_cache"_s, money(lane.withPromptCacheMaxUsd));
    return object;
}

} // namespace

QJsonObject JobEstimate::toJson() const
{
    const auto low = [this](qint64 n) { return qint64(std::floor(double(n) * (1.0 - inputTokenError))); };
    const auto high = [this](qint64 n) { return qint64(std::ceil(double(n) * (1.0 + inputTokenError))); };
    QJsonObject json{
        {u"rows"_s, rows},
        {u"distinct_prompts"_s, distinctPrompts},
        {u"duplicate_rows"_s, duplicateRows},
        {u"cached_rows"_s, cachedRows},
        {u"rows_to_send"_s, rowsToSend},
        {u"response_cache"_s, responseCache},
        {u"input_tokens"_s,
         QJsonObject{{u"estimate"_s, inputTokens},
                     {u"low"_s, low(inputTokens)},
                     {u"high"_s, high(inputTokens)},
                     {u"all_rows"_s, inputTokensAllRows},
                     {u"system_prompt_per_row"_s, systemPromptTokens},
                     {u"cacheable_prefix_per_row"_s, cacheablePrefixTokens},
                     {u"method"_s, u"chars/4"_s},
                     {u"error"_s, inputTokenError}}},
        {u"output_tokens"_s,
         QJsonObject{{u"max_per_row"_s, maxOutputTokensPerRow},
                     {u"typical_per_row"_s, typicalOutputTokensPerRow
                                                ? QJsonValue(std::round(*typicalOutputTokensPerRow * 10) / 10)
                                                : QJsonValue()},
                     {u"calibrated_from_tasks"_s, calibrationTasks}}},
        {u"cost_usd"_s,
         QJsonObject{{u"realtime"_s, laneJson(realtime)},
                     {u"batch_api"_s, laneJson(batchApi)},
                     {u"naive"_s, laneJson(naive)},
                     {u"priced"_s, priced},
                     {u"price_date"_s, priceDate.isEmpty() ? QJsonValue() : QJsonValue(priceDate)}}},
    };
    if (deadline) {
        json.insert(u"deadline"_s, QDateTime::fromMSecsSinceEpoch(deadline->deadlineMs, Qt::UTC)
                                       .toString(Qt::ISODate));
        json.insert(u"plan"_s, QJsonObject{{u"batch-api"_s, deadline->batchApiRows},
                                           {u"sync"_s, deadline->syncRows}});
        json.insert(u"meets_deadline"_s, deadline->meetsDeadline);
        json.insert(u"deadline_note"_s, deadline->why);
    }
    return json;
}

} // namespace bd
