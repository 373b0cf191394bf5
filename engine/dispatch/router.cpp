#include "dispatch/router.h"

#include "api/jobsettings.h"

namespace bd::dispatch {

using namespace Qt::StringLiterals;

Router::Router(const QString &jobModel, const QJsonObject &settings, const QStringList &columns)
    : m_jobModel(jobModel)
    , m_settings(settings)
    , m_guard(makeGuard(settings))
{
    if (jobModel != cost::kAutoModel)
        return;
    QString error;
    m_tiering = cost::TieringConfig::fromJson(settings.value(settingkeys::tiering).toObject(),
                                              u"job settings"_s, &error);
    if (m_tiering && !m_tiering->bind(columns, {}, &error))
        m_tiering.reset();
    if (!m_tiering)
        m_error = u"model tiering: "_s + error;
}

std::shared_ptr<ProviderGuard> Router::makeGuard(const QJsonObject &settings)
{
    auto guard = std::make_shared<ProviderGuard>();
    guard->limiter = RateLimiter(
        RateLimiter::Options{.configuredRpm = settings.value(settingkeys::rpm).toInteger(),
                             .configuredTpm = settings.value(settingkeys::tpm).toInteger()});
    return guard;
}

QString Router::classifierModel() const
{
    return m_tiering ? m_tiering->classifierModel() : QString();
}

int Router::classifierMaxTokens() const
{
    return m_tiering ? m_tiering->classifierMaxTokens() : 0;
}

QStringList Router::models() const
{
    return m_tiering ? m_tiering->models() : QStringList{m_jobModel};
}

qint64 Router::requestsWithin(qint64 horizonMs, qint64 tokens)
{
    qint64 total = 0;
    for (const QString &model : models()) {
        const qint64 n = guardFor(model).limiter.requestsWithin(horizonMs, tokens);
        if (n < 0)
            return -1;
        total += n;
    }
    return total;
}

QString Router::route(const ClaimedTask &task, const QString &prompt, qint64 promptTokens)
{
    if (!m_tiering)
        return m_jobModel;
    if (m_tiering->usesClassifier())
        return modelOf(task.id); // decided by the classifier's answer
    Route route;
    route.tier = m_tiering->route(task.values, prompt, promptTokens);
    route.model = m_tiering->modelFor(route.tier);
    m_routeOfTask.insert(task.id, route);
    return route.model;
}

bool Router::needsClassification(qint64 taskId) const
{
    return usesClassifier() && !m_routeOfTask.contains(taskId);
}

void Router::classified(qint64 taskId, const std::optional<QString> &answer)
{
    if (!m_tiering)
        return;
    const auto tier = answer ? cost::parseTierLabel(*answer) : std::nullopt;
    Route route;
    route.tier = tier.value_or(m_tiering->defaultTier());
    route.model = m_tiering->modelFor(route.tier);
    m_routeOfTask.insert(taskId, route);
}

void Router::billClassification(qint64 taskId, const Usage &usage, double costUsd)
{
    Classified &billed = m_classifiedCost[taskId];
    billed.usage += usage;
    billed.costUsd += costUsd;
}

QString Router::modelOf(qint64 taskId) const
{
    if (!m_tiering)
        return m_jobModel;
    const auto it = m_routeOfTask.constFind(taskId);
    return it != m_routeOfTask.constEnd() ? it->model : m_jobModel;
}

void Router::takeRoute(qint64 taskId, TaskOutcome *outcome)
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

ProviderGuard &Router::guardFor(const QString &model)
{
    if (!m_tiering || model == m_jobModel)
        return *m_guard;
    std::shared_ptr<ProviderGuard> &guard = m_modelGuards[model];
    if (!guard)
        guard = m_guardLookup ? m_guardLookup(model) : makeGuard(m_settings);
    return *guard;
}

} // namespace bd::dispatch
