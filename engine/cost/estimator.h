#pragma once

#include "core/types.h"
#include "cost/pricetable.h"

#include <QJsonObject>
#include <QString>

#include <optional>

namespace bd::store {
class Store;
}

namespace bd::cost {

// Cost of a job in one lane: an upper bound (every answer max_output_tokens long) and,
// when earlier jobs of the same template calibrate it, a typical figure. nullopt: the
// model has no price (cost unknown).
struct LaneCost
{
    std::optional<double> maxUsd;
    std::optional<double> typicalUsd;
    std::optional<double> withPromptCacheMaxUsd; // the static prefix read from the provider's cache
};

// What a job would cost, worked out before it is imported or sent. Input tokens are
// estimated at 4 characters a token (the providers' rule of thumb): honest to about
// +/-25% for English prose, worse for code, numbers and non-Latin scripts; the figures
// say so (inputTokenError).
struct JobEstimate
{
    qint64 rows = 0;
    qint64 distinctPrompts = 0;
    qint64 duplicateRows = 0;  // rows repeating an earlier row's request: the response cache skips them
    qint64 cachedRows = 0;     // distinct requests already answered in the database's cache
    qint64 rowsToSend = 0;
    qint64 inputTokens = 0;    // of the rows to send (system prompt included)
    qint64 inputTokensAllRows = 0;
    double inputTokenError = 0.25;
    qint64 systemPromptTokens = 0;
    qint64 cacheablePrefixTokens = 0; // system prompt part a provider prompt cache can serve (>= 1024)
    qint64 maxOutputTokensPerRow = 0;
    std::optional<double> typicalOutputTokensPerRow; // calibrated from completed tasks
    qint64 calibrationTasks = 0;
    bool responseCache = true;
    bool priced = false;
    QString priceDate;
    LaneCost realtime;
    LaneCost batchApi;
    LaneCost naive; // every row realtime at list price, no caching, no dedupe

    QJsonObject toJson() const;
};

// Streams spec.sourcePath, renders every row with the template and sums up. spec.model
// must be set. store (optional) answers which requests are already cached and calibrates
// the typical output length from completed tasks of the same template, system prompt and
// model. False with *error on unreadable input or a template that does not bind.
bool estimateJob(const JobSpec &spec, const PriceTable &prices, store::Store *store,
                 JobEstimate *estimate, QString *error);

} // namespace bd::cost
