#include "costestimate.h"

#include "format.h"

#include <QCoreApplication>

namespace bd::ui {

CostEstimate estimateCost(const cost::PriceTable &prices, const QString &model,
                          const QString &systemPrompt, const QStringList &renderedPrompts,
                          qint64 rows, int maxOutputTokens)
{
    CostEstimate estimate;
    estimate.rows = rows;
    estimate.outputTokensPerRow = maxOutputTokens;
    if (!renderedPrompts.isEmpty()) {
        qint64 chars = 0;
        for (const QString &prompt : renderedPrompts)
            chars += prompt.size();
        estimate.inputTokensPerRow =
            (double(chars) / double(renderedPrompts.size()) + double(systemPrompt.size())) / 4.0;
    }
    const auto price = prices.price(model);
    if (!price)
        return estimate;
    const double perRow = (estimate.inputTokensPerRow * price->input
                           + double(estimate.outputTokensPerRow) * price->output)
                          / 1e6;
    estimate.realtimeUsd = perRow * double(rows);
    estimate.batchUsd = *estimate.realtimeUsd * price->batchDiscount;
    return estimate;
}

QString CostEstimate::summary() const
{
    const auto tr = [](const char *text) { return QCoreApplication::translate("bd::ui::CostEstimate", text); };
    if (!realtimeUsd)
        return tr("No price for this model: the cost will show as unknown.");
    return tr("≈ %1 rows × %2 input tokens + up to %3 output tokens: realtime ≤ %4, batch ≤ %5")
        .arg(formatCount(rows), formatCount(qint64(inputTokensPerRow + 0.5)),
             formatCount(outputTokensPerRow), formatUsd(*realtimeUsd), formatUsd(*batchUsd));
}

} // namespace bd::ui
