#pragma once

#include "api/metrictypes.h"
#include "core/tasktypes.h"

#include <optional>
#include <QString>

namespace bd::metrics {
class MetricsRecorder;
}

namespace bd::dispatch {

class BudgetGate;

// What a settled task changes besides its own row: its cost against the budgets (and the
// budget_80 warning, once, when the warning share of the cap is spent), and its transition,
// wait and 429 in the metrics under the lane that carried it. Also the metrics of answers
// that needed no request and of batches sent, and the job's budget_exhausted alert. Pure
// state over what the runner tells it; engine-thread only.
class TaskAccounting
{
public:
    TaskAccounting(qint64 jobId, BudgetGate *budget);

    // Every settled task, 429 and batch is recorded here (not owned; may be null).
    void setMetrics(metrics::MetricsRecorder *recorder) { m_metrics = recorder; }
    // The job's lane (priority and mode; batchApi: its tasks go to the provider's batch API).
    void setLane(int priority, const QString &mode, bool batchApi);
    // The job's lane as metrics label it.
    const QString &laneName() const { return m_laneName; }
    // The lane a task travelled in: the batch API's, or as a sync call (a batch-API job's
    // tasks raised on their own went as sync calls of their own priority).
    QString laneOf(const ClaimedTask &task, bool viaBatchApi) const;

    // A task settled: answeredCostUsd is the answer's price (counted when it completes),
    // a rejected answer's cost is counted whatever happens to the task; replyError is what
    // the provider answered. The budget warning to raise, if it is due now.
    std::optional<metrics::AlertEvent> settled(const ClaimedTask &task,
                                               const TaskTransition &transition,
                                               double answeredCostUsd, ErrorClass replyError,
                                               qint64 sentAtMs, bool viaBatchApi);
    // A task answered from the cache or by an identical request (no request of its own).
    void answeredWithoutRequest(const ClaimedTask &task, const TaskTransition &transition,
                                qint64 waitMs);
    // A group of sync calls went out (the job's lane), or a provider batch was opened.
    void groupSent(int size, int capacity);
    void providerBatchOpened(int lines, int capacity);
    // The job's own cap leaves no room for the next request: the alert that pauses it.
    metrics::AlertEvent budgetExhausted() const;

private:
    qint64 m_jobId;
    BudgetGate *m_budget;
    metrics::MetricsRecorder *m_metrics = nullptr;
    QString m_laneName;
    bool m_batchApi = false;
};

} // namespace bd::dispatch
