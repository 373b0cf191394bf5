#include "taskaccounting.h"

#include "core/usdtext.h"
#include "dispatch/budgetgate.h"
#include "metrics/metricsrecorder.h"

namespace bd::dispatch {

using namespace Qt::StringLiterals;

namespace {

QString batchApiLane()
{
    return metrics::laneName(3, u"batch-api"_s);
}

} // namespace

TaskAccounting::TaskAccounting(qint64 jobId, BudgetGate *budget)
    : m_jobId(jobId)
    , m_budget(budget)
{
}

void TaskAccounting::setLane(int priority, const QString &mode, bool batchApi)
{
    m_batchApi = batchApi;
    m_laneName = metrics::laneName(priority, batchApi ? u"batch-api"_s : mode);
}

QString TaskAccounting::laneOf(const ClaimedTask &task, bool viaBatchApi) const
{
    if (viaBatchApi)
        return batchApiLane();
    return m_batchApi ? metrics::laneName(task.priority, QString()) : m_laneName;
}

std::optional<metrics::AlertEvent> TaskAccounting::settled(const ClaimedTask &task,
                                                           const TaskTransition &transition,
                                                           double answeredCostUsd,
                                                           ErrorClass replyError, qint64 sentAtMs,
                                                           bool viaBatchApi)
{
    if (transition.action == OutcomeAction::Complete)
        m_budget->settled(answeredCostUsd);
    if (transition.outcome.rejectedCostUsd > 0)
        m_budget->settled(transition.outcome.rejectedCostUsd);
    if (m_metrics) {
        const qint64 waitMs =
            task.queuedAtMs > 0 ? qMax<qint64>(0, sentAtMs - task.queuedAtMs) : -1;
        const QString lane = laneOf(task, viaBatchApi);
        m_metrics->recordTransition(m_jobId, task.priority, lane, transition, waitMs);
        if (replyError == ErrorClass::RateLimited)
            m_metrics->recordRateLimited(m_jobId, lane);
    }
    if (!m_budget->takeWarning())
        return std::nullopt;
    const double spent = m_budget->spentUsd();
    const double cap = m_budget->capUsd();
    metrics::AlertEvent warning;
    warning.kind = u"budget_80"_s;
    warning.jobId = m_jobId;
    warning.message = u"%1% of the %2 budget spent (%3)"_s.arg(
        QString::number(spent / cap * 100.0, 'f', 1), usdText(cap), usdText(spent));
    warning.figures = m_budget->figures();
    return warning;
}

void TaskAccounting::answeredWithoutRequest(const ClaimedTask &task,
                                            const TaskTransition &transition, qint64 waitMs)
{
    if (m_metrics)
        m_metrics->recordTransition(m_jobId, task.priority, m_laneName, transition, waitMs);
}

void TaskAccounting::groupSent(int size, int capacity)
{
    if (m_metrics)
        m_metrics->recordBatch(m_laneName, size, capacity);
}

void TaskAccounting::providerBatchOpened(int lines, int capacity)
{
    if (m_metrics) // a sync job's lowered tasks, or a job moved off the batch API, too
        m_metrics->recordBatch(batchApiLane(), lines, capacity);
}

metrics::AlertEvent TaskAccounting::budgetExhausted() const
{
    metrics::AlertEvent alert;
    alert.kind = u"budget_exhausted"_s;
    alert.jobId = m_jobId;
    alert.message = u"budget of %1 reached (%2 spent)"_s.arg(usdText(m_budget->capUsd()),
                                                             usdText(m_budget->spentUsd()));
    alert.figures = m_budget->figures();
    return alert;
}

} // namespace bd::dispatch
