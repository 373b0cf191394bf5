#include "dispatch/replysettlement.h"

using namespace Qt::StringLiterals;

namespace bd::dispatch {

ReplySettlement::ReplySettlement(const cost::PriceTable &prices, bool localServer)
    : m_prices(prices)
    , m_localServer(localServer)
{
}

TaskOutcome ReplySettlement::outcomeOf(const ClaimedTask &task, const providers::ChatReply &reply,
                                       const QString &routedModel, bool viaBatchApi)
{
    TaskOutcome outcome;
    outcome.taskId = task.id;
    outcome.error = reply.error;
    outcome.output = reply.text;
    outcome.errorMessage = reply.errorMessage;
    if (viaBatchApi && reply.error == ErrorClass::Cancelled) {
        outcome.error = ErrorClass::ProviderCancelled;
        outcome.errorMessage = u"the provider cancelled this line (%1 times so far): %2"_s
                                   .arg(task.providerCancels + 1)
                                   .arg(reply.errorMessage);
    }
    outcome.httpStatus = reply.httpStatus;
    outcome.usage = reply.usage;
    outcome.model = reply.model.isEmpty() ? routedModel : reply.model;
    return outcome;
}

std::optional<QString> ReplySettlement::price(TaskOutcome *outcome, bool viaBatchApi)
{
    outcome->costUsd = m_prices.cost(outcome->model, outcome->usage, viaBatchApi,
                                     cost::cacheTtlForLane(viaBatchApi));
    if (!outcome->costUsd && m_localServer)
        outcome->costUsd = 0.0;
    if (viaBatchApi && outcome->costUsd)
        outcome->realtimeCostUsd =
            m_prices.cost(outcome->model, outcome->usage, false, cost::cacheTtlForLane(false));
    std::optional<QString> firstUnpriced;
    if (!outcome->costUsd && !m_unpricedModels.contains(outcome->model)) {
        m_unpricedModels.append(outcome->model);
        firstUnpriced = outcome->model;
    }
    if (outcome->error == ErrorClass::InvalidOutput) {
        // Refused by the schema, billed by the provider: charged as a rejected answer.
        outcome->rejectedUsage = outcome->usage;
        outcome->rejectedCostUsd = outcome->costUsd.value_or(0.0);
        outcome->costUsd.reset();
        outcome->realtimeCostUsd.reset();
    }
    return firstUnpriced;
}

void ReplySettlement::forgiveProviderFailures(TaskTransition *transition, const ClaimedTask &task,
                                              const providers::ChatReply &reply, bool viaBatchApi,
                                              bool providerDown, qint64 nowMs)
{
    const bool providerCancelled = viaBatchApi && reply.error == ErrorClass::Cancelled;
    // A line the provider let expire (or never returned) failed for the provider's reasons.
    const bool providerExpired = viaBatchApi && reply.error == ErrorClass::Timeout;
    const bool forgiven =
        (providerCancelled && task.providerCancels < kFreeProviderCancels) ||
        ((providerDown || providerExpired) && transition->action != OutcomeAction::Complete);
    if (!forgiven)
        return;
    transition->action = OutcomeAction::Release;
    transition->chargeAttempt = false;
    transition->notBeforeMs = nowMs;
}

} // namespace bd::dispatch
