#pragma once

#include "core/tasktypes.h"
#include "providers/provider.h"

#include <optional>
#include <QHash>

namespace bd::cost {
class PriceTable;
}

namespace bd::dispatch {

class BudgetGate;
class Router;

// Classifier tiering's calls (Router::usesClassifier()): a task without a route first asks
// the classifier model for its tier. Each call is paced by the classifier model's guard,
// held by its breaker and reserved against the budget like any request; its cost is
// billed whatever the label and rides on the task's next outcome. Engine-thread state
// over the caller's clock; the caller sends the request and gets the answer back here.
class ClassifierCalls
{
public:
    ClassifierCalls(qint64 jobId, Router *router, BudgetGate *budget,
                    const cost::PriceTable *prices);

    struct Step
    {
        enum class Kind
        {
            Send,       // `request` goes now: paced, reserved and counted in flight
            Wait,       // pacing or an open breaker: come back in waitMs
            OverBudget, // the budget refused extraUsd
        };
        Kind kind = Kind::Wait;
        qint64 waitMs = 0;
        double extraUsd = 0.0;
        providers::ChatRequest request;
    };
    // The call for `task` (prompt rendered, promptTokens its estimate), if it may go now.
    Step prepare(const ClaimedTask &task, const QString &prompt, qint64 promptTokens, qint64 nowMs);

    struct Answered
    {
        ClaimedTask task;         // classified (or to be classified again): back to the queue head
        bool rateLimited = false; // a 429: the caller's rate-limit handling applies
    };
    // Settles a call's answer (limits observed, cost billed, label routed); nullopt when
    // the reply is not one of these calls.
    std::optional<Answered> answer(const providers::ChatReply &reply, qint64 nowMs);

    int inFlight() const { return int(m_calls.size()); }
    bool isEmpty() const { return m_calls.isEmpty(); }

private:
    struct Call
    {
        ClaimedTask task;
        double reservedUsd = 0.0;
    };
    qint64 m_jobId;
    Router *m_router;
    BudgetGate *m_budget;
    const cost::PriceTable *m_prices;
    QHash<qint64, Call> m_calls; // by task id
};

} // namespace bd::dispatch
