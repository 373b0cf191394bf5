#pragma once

#include "api/types.h"

#include <QJsonObject>
#include <QMetaType>
#include <QString>

#include <optional>

namespace bd {

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
    QString model;  // the model the figures are for (a tiered job: its top tier's)
    QString note;   // how the figures were made, when it needs saying (tiering)

    // A job with a deadline (CLI.md --deadline): the lanes the engine would pick for the
    // rows to send, and whether that finishes in time.
    struct DeadlinePlan
    {
        qint64 deadlineMs = 0;
        qint64 batchApiRows = 0;
        qint64 syncRows = 0;
        bool meetsDeadline = true;
        int priority = 2;
        QString why;
    };
    std::optional<DeadlinePlan> deadline;

    QJsonObject toJson() const;
};

} // namespace bd

Q_DECLARE_METATYPE(bd::JobEstimate)
