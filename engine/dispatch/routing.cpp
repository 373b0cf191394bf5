// Model tiering hooks of JobRunner: a job on model "auto" sends each task to the model of
// its tier (cost/tiering.h decides the tier). Rate limits and outage state are per
// endpoint and model, so each routed model has its own ProviderGuard.

#include "core/clock.h"
#include "api/jobsettings.h"
#include "jobrunner.h"

namespace bd::dispatch {

using namespace Qt::StringLiterals;

std::shared_ptr<ProviderGuard> JobRunner::makeGuard(const QJsonObject &settings)
{
    auto guard = std::make_shared<ProviderGuard>();
    guard->limiter =
        RateLimiter(RateLimiter::Options{.configuredRpm = settings.value(settingkeys::rpm).toInteger(),
                                         .configuredTpm = settings.value(settingkeys::tpm).toInteger()});
    return guard;
}

QString JobRunner::routeFor(const ClaimedTask &task, const QString &prompt, qint64 promptTokens)
{
    if (!m_tiering)
        return m_job.spec.model;
    if (m_tiering->usesClassifier())
        return modelOf(task.id); // decided by the classifier's answer
    Route route;
    route.tier = m_tiering->route(task.values, prompt, promptTokens);
    route.model = m_tiering->modelFor(route.tier);
    m_routeOfTask.insert(task.id, route);
    return route.model;
}

bool JobRunner::needsClassification(qint64 taskId) const
{
    return m_tiering && m_tiering->usesClassifier() && !m_routeOfTask.contains(taskId);
}

bool JobRunner::sendClassification(const QString &prompt, qint64 promptTokens, qint64 now)
{
    const QString model = m_tiering->classifierModel();
    const int maxTokens = m_tiering->classifierMaxTokens();
    ProviderGuard &guard = guardFor(model);
    if (!guard.breaker.allowRequest(now)) {
        m_wakeTimer.start(int(qBound<qint64>(1, guard.breaker.waitMs(now), m_options.idlePollMs)));
        return false;
    }
    const qint64 tokens = promptTokens + (cost::kClassifierInstruction.size() + 3) / 4;
    const qint64 paceDelay = guard.limiter.delayMs(tokens + maxTokens, now);
    if (paceDelay > 0) {
        m_wakeTimer.start(int(qMin<qint64>(paceDelay, m_options.idlePollMs)));
        return false;
    }
    const double reservation = m_prices.maxCost(model, tokens, maxTokens, false).value_or(0.0);
    if (!m_budget.allows(reservation)) {
        budgetRefused(reservation, !m_inFlight.isEmpty() || !m_classifying.isEmpty());
        return false;
    }
    guard.limiter.consume(tokens + maxTokens, now);
    m_budget.reserve(reservation);
    const ClaimedTask task = m_ready.dequeue();
    providers::ChatRequest request;
    request.taskId = task.id;
    request.attempt = task.attempts + 1;
    request.model = model;
    request.systemPrompt = cost::kClassifierInstruction;
    request.prompt = prompt;
    request.maxOutputTokens = maxTokens;
    request.cacheKey = u"batchdesk-classify-"_s + QString::number(m_job.id);
    m_classifying.insert(task.id, Classifying{task, reservation});
    m_provider->send(request);
    return true;
}

bool JobRunner::handleClassified(const providers::ChatReply &reply)
{
    const auto it = m_classifying.find(reply.taskId);
    if (it == m_classifying.end())
        return false;
    const Classifying entry = it.value();
    m_classifying.erase(it);
    m_budget.release(entry.reservedUsd);
    const qint64 now = m_clock->nowMs();
    const QString model = m_tiering->classifierModel();
    ProviderGuard &guard = guardFor(model);
    guard.limiter.observe(reply.rateLimits, now);
    // Billed whenever the provider reports usage, whatever the label.
    const double cost = m_prices.cost(model, reply.usage, false).value_or(0.0);
    Classified &billed = m_classifiedCost[entry.task.id];
    billed.usage += reply.usage;
    billed.costUsd += cost;
    m_budget.addSpent(cost);
    if (reply.error == ErrorClass::RateLimited || reply.error == ErrorClass::Cancelled) {
        // Not an answer: classify it again later (or hand it back when stopping).
        if (reply.error == ErrorClass::RateLimited)
            guard.limiter.handleRateLimited(reply.retryAfterMs, now, now);
        m_ready.prepend(entry.task);
    } else {
        if (reply.ok())
            guard.limiter.handleSuccess(now);
        // No label, or no answer at all: the default tier.
        const auto tier = reply.ok() ? cost::parseTierLabel(reply.text) : std::nullopt;
        Route route;
        route.tier = tier.value_or(m_tiering->defaultTier());
        route.model = m_tiering->modelFor(route.tier);
        m_routeOfTask.insert(entry.task.id, route);
        m_ready.prepend(entry.task);
    }
    if (m_stopping) {
        if (m_inFlight.isEmpty() && m_classifying.isEmpty())
            finishIfDrained();
        return true;
    }
    pump();
    return true;
}

QString JobRunner::modelOf(qint64 taskId) const
{
    if (!m_tiering)
        return m_job.spec.model;
    const auto it = m_routeOfTask.constFind(taskId);
    return it != m_routeOfTask.constEnd() ? it->model : m_job.spec.model;
}

void JobRunner::takeRoute(qint64 taskId, TaskOutcome *outcome)
{
    if (!m_tiering)
        return;
    const auto billed = m_classifiedCost.constFind(taskId);
    if (billed != m_classifiedCost.constEnd()) {
        outcome->classifyUsage = billed->usage;
        outcome->classifyCostUsd = billed->costUsd;
        m_classifiedCost.erase(billed);
    }
    const auto it = m_routeOfTask.constFind(taskId);
    if (it == m_routeOfTask.constEnd())
        return;
    outcome->tier = cost::tierName(it->tier);
    outcome->routedModel = it->model;
    m_routeOfTask.erase(it);
}

ProviderGuard &JobRunner::guardFor(const QString &model)
{
    if (!m_tiering || model == m_job.spec.model)
        return *m_guard;
    std::shared_ptr<ProviderGuard> &guard = m_modelGuards[model];
    if (!guard)
        guard = m_guardLookup ? m_guardLookup(model) : makeGuard(m_job.spec.settings);
    return *guard;
}

QStringList JobRunner::jobModels() const
{
    return m_tiering ? m_tiering->models() : QStringList{m_job.spec.model};
}

} // namespace bd::dispatch
