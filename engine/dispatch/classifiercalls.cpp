#include "dispatch/classifiercalls.h"

#include "cost/pricetable.h"
#include "cost/tiering.h"
#include "dispatch/budgetgate.h"
#include "dispatch/router.h"

namespace bd::dispatch {

using namespace Qt::StringLiterals;

ClassifierCalls::ClassifierCalls(qint64 jobId, Router *router, BudgetGate *budget,
                                 const cost::PriceTable *prices)
    : m_jobId(jobId)
    , m_router(router)
    , m_budget(budget)
    , m_prices(prices)
{
}

ClassifierCalls::Step ClassifierCalls::prepare(const ClaimedTask &task, const QString &prompt,
                                               qint64 promptTokens, qint64 nowMs)
{
    Step step;
    const QString model = m_router->classifierModel();
    const int maxTokens = m_router->classifierMaxTokens();
    ProviderGuard &guard = m_router->guardFor(model);
    if (!guard.breaker.allowRequest(nowMs)) {
        step.waitMs = guard.breaker.waitMs(nowMs);
        return step;
    }
    const qint64 tokens = promptTokens + (cost::kClassifierInstruction.size() + 3) / 4;
    const qint64 paceDelay = guard.limiter.delayMs(tokens + maxTokens, nowMs);
    if (paceDelay > 0) {
        step.waitMs = paceDelay;
        return step;
    }
    const double reservation = m_prices->maxCost(model, tokens, maxTokens, false).value_or(0.0);
    if (!m_budget->allows(reservation)) {
        step.kind = Step::Kind::OverBudget;
        step.extraUsd = reservation;
        return step;
    }
    guard.limiter.consume(tokens + maxTokens, nowMs);
    m_budget->reserve(reservation);
    step.kind = Step::Kind::Send;
    providers::ChatRequest &request = step.request;
    request.taskId = task.id;
    request.attempt = task.attempts + 1;
    request.model = model;
    request.systemPrompt = cost::kClassifierInstruction;
    request.prompt = prompt;
    request.maxOutputTokens = maxTokens;
    request.cacheKey = u"batchdesk-classify-"_s + QString::number(m_jobId);
    m_calls.insert(task.id, Call{task, reservation});
    return step;
}

std::optional<ClassifierCalls::Answered> ClassifierCalls::answer(const providers::ChatReply &reply,
                                                                 qint64 nowMs)
{
    const auto it = m_calls.find(reply.taskId);
    if (it == m_calls.end())
        return std::nullopt;
    const Call call = it.value();
    m_calls.erase(it);
    m_budget->release(call.reservedUsd);
    const QString model = m_router->classifierModel();
    ProviderGuard &guard = m_router->guardFor(model);
    guard.limiter.observe(reply.rateLimits, nowMs);
    // Billed whenever the provider reports usage, whatever the label.
    const double cost = m_prices->cost(model, reply.usage, false).value_or(0.0);
    m_router->billClassification(call.task.id, reply.usage, cost);
    m_budget->addSpent(cost);
    Answered answered{call.task, reply.error == ErrorClass::RateLimited};
    // A 429 or a cancellation is not an answer: the task is classified again later (or
    // handed back when stopping). Anything else routes it: no label, no answer, the
    // default tier.
    if (reply.error != ErrorClass::RateLimited && reply.error != ErrorClass::Cancelled) {
        if (reply.ok())
            guard.limiter.handleSuccess(nowMs);
        m_router->classified(call.task.id, reply.ok() ? std::optional(reply.text) : std::nullopt);
    }
    return answered;
}

} // namespace bd::dispatch
