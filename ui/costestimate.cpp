#include "costestimate.h"

#include "format.h"

#include <QCoreApplication>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("bd::ui::CostEstimate", text);
}

QString usd(const std::optional<double> &value)
{
    return value ? formatUsd(*value) : tr("unknown");
}

} // namespace

QString describeEstimate(const JobEstimate &estimate, const QString &lane)
{
    QString text = tr("%1 rows (%2 to send) × ≈ %3 input tokens + up to %4 output tokens")
                       .arg(formatCount(estimate.rows), formatCount(estimate.rowsToSend),
                            formatCount(estimate.rows > 0 ? estimate.inputTokensAllRows / estimate.rows : 0),
                            formatCount(estimate.maxOutputTokensPerRow));
    if (!estimate.priced)
        return text + u"\n"_s + tr("No price for %1: the cost will show as unknown.").arg(estimate.model);
    const LaneCost &chosen = lane == u"batch-api"_s ? estimate.batchApi : estimate.realtime;
    // Expected: the rows to send (duplicates and cached answers left out) at the answer
    // length earlier tasks of this template had; the bound: every answer at its maximum.
    const QString expected = chosen.typicalUsd
                                 ? tr("expected ≈ %1 (calibrated on %2), at most %3")
                                       .arg(usd(chosen.typicalUsd),
                                            countOf(estimate.calibrationTasks, "earlier task", "earlier tasks"),
                                            usd(chosen.maxUsd))
                                 : tr("at most %1 (an expected figure needs earlier tasks of this template)")
                                       .arg(usd(chosen.maxUsd));
    text += u"\n"_s
            + tr("%1 (prices of %2): this lane %3 · realtime ≤ %4 · batch API ≤ %5 · naive %6")
                  .arg(estimate.model, estimate.priceDate, expected, usd(estimate.realtime.maxUsd),
                       usd(estimate.batchApi.maxUsd), usd(estimate.naive.maxUsd));
    if (!estimate.note.isEmpty())
        text += u"\n"_s + estimate.note;
    return text;
}

} // namespace bd::ui
