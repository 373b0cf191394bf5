#pragma once

#include "api/types.h"

#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>

#include <optional>

// Value types inside the engine: what a claim hands to dispatch, what dispatch hands back
// to the store, and the store's record of a provider batch. Not part of the public API.
namespace bd {

// A task handed to dispatch by a claim. Row values stay raw; the prompt is rendered late.
struct ClaimedTask
{
    qint64 id = 0;
    qint64 jobId = 0;
    qint64 rowNumber = 0;
    int priority = 2;
    int attempts = 0;
    int providerCancels = 0; // batch lines of it the provider cancelled so far
    int templateRevision = 0; // 0: the job's template; else a replay's edited one
    qint64 queuedAtMs = 0; // since when it could have gone: created, or its retry came due
    QStringList values;
};

// One finished provider call for one task, as the store records it.
struct TaskOutcome
{
    qint64 taskId = 0;
    ErrorClass error = ErrorClass::None;
    QString output;            // answer text on success
    QString errorMessage;      // provider message on failure
    int httpStatus = 0;
    Usage usage;
    std::optional<double> costUsd; // nullopt: the model has no price
    // At the realtime (list) price, for an answer sent at the batch price; else nullopt.
    std::optional<double> realtimeCostUsd;
    QString model;
    bool cacheHit = false;     // answered from the response cache
    QString tier;              // model tiering: the task's tier and the model it was routed to
    QString routedModel;       // (empty when the job has one model)
    Usage classifyUsage;       // a tiering classifier's call for this task, when there was one
    double classifyCostUsd = 0; // ... and its cost (added to the task's and the job's cost)
    // A structured answer the job's schema refused (invalid_output): billed by the provider
    // all the same, so its tokens and cost go to the task (whatever becomes of it), the job,
    // the spend ledger and the budgets. costUsd stays empty for such an outcome.
    Usage rejectedUsage;
    double rejectedCostUsd = 0;
    qint64 startedAtMs = 0;
    qint64 finishedAtMs = 0;
};

// What the store should do with a task after an outcome (decided by the retry policy).
enum class OutcomeAction : int
{
    Complete,       // store the answer
    Retry,          // pending again, not before notBeforeMs; attempts += countsAsAttempt
    Release,        // pending again without charging an attempt (rate limit, outage, preemption)
    DeadLetter,     // give up with the reason
};

struct TaskTransition
{
    TaskOutcome outcome;
    OutcomeAction action = OutcomeAction::Complete;
    bool chargeAttempt = true;
    qint64 notBeforeMs = 0;
};

// A task handed back unsent (preemption, stop, a batch that never reached the provider):
// pending again at once, no attempt charged, its earlier error kept.
inline TaskTransition releaseUnsent(qint64 taskId, qint64 nowMs)
{
    TaskTransition release;
    release.outcome.taskId = taskId;
    release.outcome.error = ErrorClass::Cancelled;
    release.action = OutcomeAction::Release;
    release.chargeAttempt = false;
    release.notBeforeMs = nowMs;
    return release;
}

// A group of tasks sent together: a provider batch job (lane "batch-api") or a group of
// sync calls assembled by dispatch. size / maxSize is the batch's fill rate.
struct ProviderBatchRecord
{
    qint64 id = 0;
    qint64 jobId = 0;
    QString provider;
    QString providerBatchId; // the provider's id once submitted; empty before
    QString lane;
    int size = 0;
    int maxSize = 0;
    QString state; // assembling | submitted | ended | failed | dispatched
    qint64 createdAtMs = 0;
    qint64 updatedAtMs = 0;
};

} // namespace bd

Q_DECLARE_METATYPE(bd::TaskOutcome)
