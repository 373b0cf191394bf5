// Model tiering hooks of JobRunner: a job on model "auto" sends each task to the model of
// its tier (cost/tiering.h decides the tier). Rate limits and outage state are per
// endpoint and model, so each routed model has its own ProviderGuard.

#include "dispatcher.h"

namespace bd::dispatch {

using namespace Qt::StringLiterals;

std::shared_ptr<ProviderGuard> JobRunner::makeGuard(const QJsonObject &settings)
{
    auto guard = std::make_shared<ProviderGuard>();
    guard->limiter = RateLimiter(RateLimiter::Options{.configuredRpm = settings.value(u"rpm"_s).toInteger(),
                                                      .configuredTpm = settings.value(u"tpm"_s).toInteger()});
    return guard;
}

QString JobRunner::routeFor(const ClaimedTask &task, const QString &prompt, qint64 promptTokens)
{
    if (!m_tiering)
        return m_job.spec.model;
    Route route;
    route.tier = m_tiering->route(task.values, prompt, promptTokens);
    route.model = m_tiering->modelFor(route.tier);
    m_routeOfTask.insert(task.id, route);
    return route.model;
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
