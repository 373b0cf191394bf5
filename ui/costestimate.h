#pragma once

#include "cost/pricetable.h"

#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

namespace bd::ui {

// A cost estimate before a run: tokens ≈ characters / 4 of the rendered prompts seen in
// the preview, the same for every row, and the full output allowance per row (an upper
// bound). Batch lanes pay the model's batch share of the list price.
struct CostEstimate
{
    qint64 rows = 0;
    double inputTokensPerRow = 0;
    qint64 outputTokensPerRow = 0;
    std::optional<double> realtimeUsd; // nullopt: the model has no price
    std::optional<double> batchUsd;

    QString summary() const;
};

CostEstimate estimateCost(const cost::PriceTable &prices, const QString &model,
                          const QString &systemPrompt, const QStringList &renderedPrompts,
                          qint64 rows, int maxOutputTokens);

} // namespace bd::ui
