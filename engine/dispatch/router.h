#pragma once

#include "core/tasktypes.h"
#include "cost/tiering.h"
#include "dispatch/providerguard.h"

#include <functional>
#include <memory>
#include <optional>
#include <QHash>
#include <QJsonObject>
#include <QStringList>

namespace bd::dispatch {

// Which model each task of a job goes to, and the rate limits and outage state (the
// ProviderGuard) of each. A job on one model sends everything there. A job on model "auto"
// (model tiering, cost/tiering.h) sends each task to the model of its tier: rules decide
// from the row and the prompt, or a classifier call's label does (needsClassification(),
// classified()); the decision is kept until the task settles and stored with it
// (takeRoute()). Rate limits and outage state are per endpoint and model, so every routed
// model has its own guard, shared with other jobs through the lookup. Engine-thread only.
class Router
{
public:
    using GuardLookup = std::function<std::shared_ptr<ProviderGuard>(const QString &model)>;

    // jobModel: the job's model (the provider's default already filled in); settings: the
    // job's (tiering, rpm, tpm); columns: the input's, which tiering rules name.
    Router(const QString &jobModel, const QJsonObject &settings, const QStringList &columns);

    // A fresh guard with the job's configured limits (settings rpm / tpm).
    static std::shared_ptr<ProviderGuard> makeGuard(const QJsonObject &settings);

    // Why the job's tiering cannot be used (it is checked at import; a stored job binds
    // again); empty when it can, or the job has none.
    QString error() const { return m_error; }
    bool isTiered() const { return m_tiering.has_value(); }
    bool usesClassifier() const { return m_tiering && m_tiering->usesClassifier(); }
    QString classifierModel() const;
    int classifierMaxTokens() const;
    // Every model the job may send to.
    QStringList models() const;

    // The model for a task about to be sent (the job's, or its tier's). With rules the
    // route is decided here and kept; with a classifier it is the classifier's label.
    QString route(const ClaimedTask &task, const QString &prompt, qint64 promptTokens);
    // Classifier tiering: a task without a route goes to the classifier first.
    bool needsClassification(qint64 taskId) const;
    // The classifier's answer for a task (nullopt: none came): its label routes the task;
    // no label, or no answer, routes it to the default tier.
    void classified(qint64 taskId, const std::optional<QString> &answer);
    // What classifying a task cost, added to its next transition.
    void billClassification(qint64 taskId, const Usage &usage, double costUsd);

    QString modelOf(qint64 taskId) const; // routed model, or the job's
    // Records the task's route and classification cost on its outcome and forgets them.
    void takeRoute(qint64 taskId, TaskOutcome *outcome);
    // The task goes back unsent: routed again when it next comes by.
    void forget(qint64 taskId) { m_routeOfTask.remove(taskId); }

    // The guard of the job's model (shared with other jobs on the same endpoint and model).
    std::shared_ptr<ProviderGuard> guard() const { return m_guard; }
    void setGuard(std::shared_ptr<ProviderGuard> guard) { m_guard = std::move(guard); }
    void setGuardLookup(GuardLookup lookup) { m_guardLookup = std::move(lookup); }
    ProviderGuard &guardFor(const QString &model);
    // Requests of `tokens` each the paces of the job's models let start within horizonMs,
    // together (-1: some model has no known ceiling).
    qint64 requestsWithin(qint64 horizonMs, qint64 tokens);

private:
    struct Route
    {
        cost::Tier tier = cost::Tier::Standard;
        QString model;
    };
    struct Classified
    {
        Usage usage;
        double costUsd = 0.0;
    };

    QString m_jobModel;
    QJsonObject m_settings;
    std::optional<cost::TieringConfig> m_tiering;
    QString m_error;
    QHash<qint64, Route> m_routeOfTask;
    QHash<qint64, Classified> m_classifiedCost; // until the task's next transition
    std::shared_ptr<ProviderGuard> m_guard;
    QHash<QString, std::shared_ptr<ProviderGuard>> m_modelGuards;
    GuardLookup m_guardLookup;
};

} // namespace bd::dispatch
