#pragma once

#include "api/jobsettings.h"
#include "core/tasktypes.h"
#include "cost/pricetable.h"
#include "dispatch/concurrencylimiter.h"
#include "cost/tiering.h"
#include "dispatch/globalbudget.h"
#include "dispatch/offpeakwindow.h"
#include "dispatch/providerguard.h"
#include "dispatch/retrypolicy.h"
#include "ingest/outputschema.h"
#include "ingest/prompttemplate.h"
#include "providers/provider.h"
#include "store/store.h"

#include <functional>
#include <memory>
#include <QElapsedTimer>
#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QQueue>
#include <QTimer>

namespace bd {
class Clock;
}
namespace bd::store {
class Store;
class WorkerRegistry;
}
namespace bd::metrics {
class MetricsRecorder;
}

namespace bd::dispatch {

// Failures that say more about the provider than about the task (or, for a provider batch
// failed as a whole, than about its lines).
bool isOutageError(ErrorClass error);

// Runs one job to its end on the engine thread: claims tasks with a lease, renders their
// prompts, keeps up to `concurrency` requests in flight, turns each answer into a task
// transition and writes them in groups (one transaction per flush). It never blocks:
// waits (retry times, rate-limit cooldowns) are timers.
class JobRunner final : public QObject
{
    Q_OBJECT

public:
    struct Options
    {
        int concurrency = 16;
        // Tasks leased per claim (one group of sync calls). 0: adaptive, from the queue depth
        // and the provider's profile (groupSizes, switched at the depth thresholds).
        int claimBatch = 0;
        int groupSizes[3] = {0, 0, 0}; // small, medium, large; 0: the provider's defaults
        qint64 mediumDepth = 1'000;    // pending tasks above which groups are medium
        qint64 largeDepth = 10'000;    // ... and large
        // A worker killed without a word: its tasks come back to the others after this
        // (renewed every leaseMs / 3 while it lives), and its provider batches are adopted
        // once its heartbeat is this old.
        qint64 leaseMs = 30'000;
        qint64 heartbeatMs = 5'000; // the engine's row in the worker registry
        int flushMaxTransitions = 2'000;
        int flushIntervalMs = 100;
        int progressIntervalMs = 250;
        qint64 idlePollMs = 1'000; // when only other workers' leases or waits remain
        int maxBatchSize = 0;           // batch lane: lines per provider batch (0: the API's limit)
        int maxConcurrentBatches = 4;   // batch lane: provider batches open at once
        qint64 batchPollFirstMs = 5'000; // batch lane: first poll; later ones back off
        qint64 batchLeaseMs = 26LL * 3600 * 1000; // batch lane: covers the 24 h window
        // How long a batch may wait to fill before it closes anyway (job setting
        // batch_max_wait_ms overrides): a group of sync calls, a provider batch.
        qint64 groupMaxWaitMs = 500;
        qint64 batchApiMaxWaitMs = 60'000;
    };

    JobRunner(store::Store *store, std::unique_ptr<providers::Provider> provider,
              const JobInfo &job, const cost::PriceTable &prices, Clock *clock,
              const QString &workerId, const Options &options, QObject *parent = nullptr);
    ~JobRunner() override;

    qint64 jobId() const { return m_job.id; }
    const JobInfo &job() const { return m_job; }
    bool isRunning() const { return m_running; }
    const TaskCounts &counts() const { return m_counts; }

    void start();

    int priority() const { return m_job.spec.priority; }
    // A standing queue (the intake API): it never finishes by itself, waits for tasks when
    // none are left and says which of its tasks settled.
    bool isStanding() const { return m_standing; }
    // The priority preemption sees: a standing queue with priority-1 tasks waiting or in
    // flight is urgent whatever its own priority.
    int dispatchPriority() const { return m_urgentTasks > 0 ? 1 : priority(); }
    // Tasks were added to the job here (a submission): claim again at once. Claimed but unsent
    // tasks of a lower priority than the best new one go back first, so the new ones are
    // sent next.
    void tasksArrived(int count, int bestPriority, int urgentCount);
    bool isBatchLane() const { return m_batchMode; }
    bool hasBatchApi() const { return m_provider->hasBatchApi(); }
    // Claimed tasks not yet sent (a group or provider batch being assembled, a queue of
    // sync calls) go back to pending uncharged, so that a store action reaches them too.
    void handBackUnsent();
    // The job was reprioritised: its lane follows at once (mode as the priority's lane,
    // see laneForPriority()). Pending work is claimed into the new lane; requests in flight
    // and provider batches already submitted finish where they are.
    void setLane(int priority, const QString &mode);
    // Work that would go out now if nothing held it back.
    bool hasDispatchableWork() const;
    // Shares rate limits and outage state with other jobs on the same endpoint and model.
    void setProviderGuard(std::shared_ptr<ProviderGuard> guard) { m_guard = std::move(guard); }
    std::shared_ptr<ProviderGuard> providerGuard() const { return m_guard; }
    // A job on model "auto" (tiering) talks to several models: the guard of each comes from
    // here so that it is shared with other jobs on that endpoint and model. Without it the
    // runner keeps a guard per model of its own.
    using GuardLookup = std::function<std::shared_ptr<ProviderGuard>(const QString &model)>;
    void setGuardLookup(GuardLookup lookup) { m_guardLookup = std::move(lookup); }
    // A fresh guard with the job's configured limits (settings rpm / tpm).
    static std::shared_ptr<ProviderGuard> makeGuard(const QJsonObject &settings);
    // Preemption: a held runner sends nothing new beyond `trickle` requests in flight and
    // hands its claimed-but-unsent tasks back (no attempt charged); releasing resumes.
    void setHeld(bool held, int trickle = 0);
    bool isHeld() const { return m_held; }
    void setConcurrency(int concurrency);
    int maxConcurrentBatches() const { return m_options.maxConcurrentBatches; }
    // Batch lane: provider batches open at once, changed while it runs (open ones stay).
    void setMaxConcurrentBatches(int batches);
    // The configured concurrency: the ceiling of what adapts (concurrencyLimit()).
    int concurrency() const { return m_options.concurrency; }
    // Requests allowed in flight now, adapted to the provider's 429s, overloads and latency.
    int concurrencyLimit() const { return m_concurrencyLimiter.limit(); }
    // The job's own --concurrency shared with other workers is set up through this.
    ConcurrencyLimiter &concurrencyLimiter() { return m_concurrencyLimiter; }
    // What holds the job back by its own settings (a closed off-peak window), with the time
    // left; empty when nothing does.
    QString waitingFor() const;
    // Off-peak override: dispatch now, outside the window (the caller persists it).
    void runNow();
    // Every settled task, 429 and batch is recorded here (not owned; may be null).
    void setMetrics(metrics::MetricsRecorder *recorder) { m_metrics = recorder; }
    // The cap across every job of the database, shared by the engine's runners (may be null).
    void setGlobalBudget(std::shared_ptr<GlobalBudget> budget) { m_globalBudget = std::move(budget); }
    double budgetUsd() const { return m_budgetUsd; }
    // The job's budget across workers: what this runner's requests in flight reserved, and
    // what other workers' requests for the job have (the engine exchanges both through the
    // database each tick), counted before a request goes.
    double reservedUsd() const { return m_reservedUsd; }
    void setReservedElsewhere(double usd) { m_reservedElsewhereUsd = qMax(0.0, usd); }
    // The share of the job's budget spent that raises budget_80 at once (monitoring's
    // budget.warn_fraction); 0 or less: no warning.
    void setBudgetWarnFraction(double fraction) { m_budgetWarnFraction = fraction; }
    double spentUsd() const { return m_costUsd; }
    // Stops dispatching, lets in-flight requests come back (or cancels them) and leaves
    // the job in `state` with the reason. finished() follows.
    void stop(JobState state, const QString &reason, bool cancelInFlight);

    // --- for the worker registry (store/workerregistry.h)
    // Tasks this runner completed (sync answers, cache hits, provider batch lines).
    qint64 completedHere() const { return m_completedHere; }
    int inFlightCount() const { return int(m_inFlight.size() + m_classifying.size()); }
    // Provider batches are polled by one worker at a time: with a registry, this runner
    // takes each batch it opens or recovers, and adopts those of workers whose heartbeat is
    // older than leaseMs (adoptOrphanedBatches(), called with each heartbeat). Without one
    // (a runner alone, in tests) it polls every open batch of the job.
    void setWorkerRegistry(store::WorkerRegistry *registry) { m_registry = registry; }
    void adoptOrphanedBatches();

Q_SIGNALS:
    void progressed(qint64 jobId, const bd::TaskCounts &counts, const bd::Usage &usage,
                    double costUsd);
    void finished(qint64 jobId, bd::JobState state, const QString &reason);
    void alertRaised(qint64 jobId, const QString &kind, const QString &message,
                     const QJsonObject &figures);
    void alertCleared(qint64 jobId, const QString &kind);
    void failed(qint64 jobId, const QString &error);
    // The job started or stopped waiting for its off-peak window (reason empty: it goes).
    void waitingChanged(qint64 jobId, const QString &reason);
    // Standing queues: tasks completed or dead-lettered, once stored.
    void settled(qint64 jobId, const QList<qint64> &taskIds);

private:
    // The lane's state from m_job.spec (priority, mode, settings): batch API or sync calls,
    // how long a batch waits to fill, the off-peak window (priority 3 only).
    void configureLane();
    void pump();
    // Sends the queue of claimed sync calls; claims groups unless the job is on the batch
    // API (whose claims put tasks raised above the job's priority in that queue).
    void pumpSync(qint64 now);
    // Batch assembly: claims into m_assembly until the batch is full, its maximum wait has
    // passed or nothing else of the job is pending. True when the batch closed.
    bool assemble(int maxSize, qint64 now);
    // True while an off-peak window keeps priority-3 work back; hands back unsent tasks and
    // sets the timer that wakes the runner when the window opens.
    bool waitForOffPeak(qint64 now);
    void setWaiting(bool waiting);
    void handleReply(const providers::ChatReply &reply);
    void adaptConcurrency(const providers::ChatReply &reply, qint64 sentAtMs);
    // Turns one answer into the task's transition and keeps counts, limits and alerts.
    TaskTransition settle(const ClaimedTask &task, const providers::ChatReply &reply,
                          qint64 sentAtMs, bool viaBatchApi);

    // The batch-API lane (batchlane.cpp): tasks go out as provider batch jobs.
    void recoverBatches();
    // Polls (or looks up) one open batch from now on; false when it had to stop the runner.
    bool adoptBatch(const ProviderBatchRecord &record, qint64 now);
    void pumpBatches();
    // Tasks of the job raised above its priority on their own, claimed into the queue of
    // sync calls even while every provider batch slot is taken.
    void claimRaised(qint64 now);
    void handleBatchSubmitted(const QString &reference, const QString &batchId, ErrorClass error,
                              const QString &errorMessage);
    void handleBatchPolled(const providers::BatchStatus &status);
    void handleBatchFound(const QString &reference, const QString &batchId, ErrorClass error,
                          const QString &errorMessage);
    // A recovered batch the provider does not have: its tasks go back to pending.
    void handBackUnsubmitted(qint64 batchRowId);
    // A provider batch refused or failed as a whole for the provider's reasons: its lines go
    // back uncharged and the batch endpoints' breaker counts the failure.
    void batchEndpointFailed(qint64 batchRowId, const QString &why);
    // The one path for circuit alerts of both lanes: raised when a breaker opens from
    // closed, cleared when it closes again.
    void recordOutage(CircuitBreaker &breaker, const QString &why, qint64 now);
    void recordRecovery(CircuitBreaker &breaker, qint64 now);
    void handleBatchCharged(const QString &key, const QString &model, double usd,
                            const QString &detail);
    void handleBatchResults(const QString &batchId, const QList<providers::ChatReply> &replies,
                            ErrorClass error, const QString &errorMessage);
    // Stores the replies as the tasks' outcomes, then marks the batch endState.
    void settleBatch(qint64 batchRowId, const QList<providers::ChatReply> &replies,
                     const QString &endState);
    void schedulePoll(qint64 batchRowId);
    // Asks the provider to stop the open batches and hands their tasks back, uncharged.
    void cancelBatches();
    void flush();
    void scheduleFlush();
    void releaseReady();
    void flushCache();
    static constexpr int kCacheFlushEntries = 50'000;
    // Provider cancellations of one task requeued without charge; later ones are attempts.
    static constexpr int kFreeProviderCancels = 3;
    static constexpr qint64 kCacheFlushIntervalMs = 30'000;
    qint64 m_lastCacheFlushMs = 0;
    int groupSize(int concurrency) const;
    void checkIdle();
    void finishIfDrained();
    void emitProgress(bool force);
    void fatal(const QString &error);
    double maxCostUsd(const QString &model, qint64 promptTokens, bool viaBatchApi) const;
    // Budgets, the job's and the global one: whether `extraUsd` more may be reserved now,
    // reserving and releasing in both, and pausing the job when neither lets anything go.
    bool budgetAllows(double extraUsd) const;
    void reserve(double usd);
    void unreserve(double usd);
    void stopForBudget();
    // After budgetAllows(extraUsd) said no: while only reservations in flight (this job's
    // or others') stand in the way the job waits for them; it pauses when what is really
    // spent leaves no room for the request. ownWorkInFlight: answers of this job will pump
    // again when they come, so nothing is decided now.
    void budgetRefused(double extraUsd, bool ownWorkInFlight);
    // The answers' costs written to the database: the global pool counts them as stored.
    void noteWritten(const QList<TaskTransition> &transitions, int skipped = 0);
    QJsonObject budgetFigures() const;

    // A task's provider-batch line as pumpBatches() sends it; recovery rebuilds the same
    // lines to recognise a batch whose id was lost. Empty when its template cannot be read.
    std::optional<providers::ChatRequest> batchRequestFor(const ClaimedTask &task,
                                                          qint64 *promptTokens);
    // Opens one provider batch for requests of one model (batchlane.cpp).
    bool openBatch(const QList<providers::ChatRequest> &requests,
                   const QHash<qint64, ClaimedTask> &tasks, double reservation, qint64 now);

    // Model tiering (routing.cpp, cost/tiering.h): on model "auto" each task goes to the
    // model of its tier; the decision is kept until the task settles and stored with it.
    struct Route
    {
        cost::Tier tier = cost::Tier::Standard;
        QString model;
    };
    QString routeFor(const ClaimedTask &task, const QString &prompt, qint64 promptTokens);
    // Classifier tiering: a task without a route is first sent to the classifier model.
    bool needsClassification(qint64 taskId) const;
    // Sends the head of m_ready for classification; false when it has to wait (pacing,
    // outage, budget), with the wake timer set.
    bool sendClassification(const QString &prompt, qint64 promptTokens, qint64 now);
    bool handleClassified(const providers::ChatReply &reply); // false: not a classification
    QString modelOf(qint64 taskId) const;          // routed model, or the job's
    void takeRoute(qint64 taskId, TaskOutcome *outcome); // records it on the outcome
    ProviderGuard &guardFor(const QString &model);
    QStringList jobModels() const;                 // every model the job may send to

    // Response cache (cost/responsecache.h): identical requests go out once.
    QByteArray cacheKeyFor(const QString &prompt, const QString &model,
                           const QString &systemPrompt) const;
    std::optional<store::CachedResponse> lookupCache(const QByteArray &key);
    // Completes a task with an answer that cost nothing (a cache hit): no attempt, no tokens.
    void settleFromCache(const ClaimedTask &task, const QString &output, const QString &model);
    // The leader of a key has settled: its followers take its answer, or go back to be
    // sent themselves when it failed.
    void resolveFollowers(qint64 leaderTaskId, const TaskTransition &leader);
    void releaseFollowers();

    store::Store *m_store;
    store::WorkerRegistry *m_registry = nullptr;
    qint64 m_completedHere = 0;
    std::unique_ptr<providers::Provider> m_provider;
    JobInfo m_job;
    cost::PriceTable m_prices;
    Clock *m_clock;
    QString m_workerId;
    Options m_options;
    RetryPolicy m_retry;
    ConcurrencyLimiter m_concurrencyLimiter;
    // The job's template is revision 0; replays with an edited template add revisions,
    // parsed once here when their first task comes by. Null when it cannot be read.
    struct TemplateRevision
    {
        ingest::PromptTemplate prompt;
        QString systemPrompt;
    };
    const TemplateRevision *templateFor(int revision);
    QHash<int, TemplateRevision> m_templates;
    bool m_batchMode = false; // this job's lane is the provider's batch API

    struct LiveBatch
    {
        qint64 rowId = 0;
        QString providerBatchId;
        QString owner; // lease owner of its tasks while the provider holds them
        QHash<qint64, ClaimedTask> tasks;
        qint64 submittedAtMs = 0;
        double reservedUsd = 0.0;
        int polls = 0;
        bool fetching = false;
        // Recovered without a provider id: the requests the lookup matches on (findBatch).
        QList<providers::ChatRequest> lookup;
        qint64 createdAtMs = 0;
        int lookups = 0;
    };
    QHash<qint64, LiveBatch> m_liveBatches;        // by batch row id
    QHash<QString, qint64> m_batchRowByProviderId;

    QList<ClaimedTask> m_assembly;          // leased into the batch being assembled
    int m_assemblyMax = 0;                  // its maximum size
    qint64 m_assemblyOpenedAtMs = 0;
    qint64 m_batchMaxWaitMs = 0;
    QQueue<ClaimedTask> m_ready;            // leased, not yet sent
    QHash<qint64, ClaimedTask> m_inFlight;  // by task id
    struct Sent
    {
        qint64 atMs = 0;
        double reservedUsd = 0.0;
    };
    QHash<qint64, Sent> m_sent;
    QList<TaskTransition> m_toWrite;
    TaskCounts m_counts;
    Usage m_usage;
    double m_costUsd = 0.0;

    QTimer m_flushTimer;
    QTimer m_wakeTimer;
    QTimer m_leaseTimer;
    std::optional<OffPeakWindow> m_offPeak; // priority-3 jobs with a window only
    QString m_offPeakError;                 // a window in the settings that does not parse
    bool m_runNow = false;
    bool m_waitingForOffPeak = false;
    QTimer m_offPeakTimer;
    QElapsedTimer m_sinceProgress;
    std::shared_ptr<ProviderGuard> m_guard;
    metrics::MetricsRecorder *m_metrics = nullptr;
    QString m_laneName;         // as metrics label it
    bool m_held = false;        // preempted by more urgent work
    int m_heldConcurrency = 0;  // requests allowed in flight while held (aging)
    double m_budgetUsd = 0.0;   // 0: no cap
    double m_reservedUsd = 0.0; // the most the requests in flight can still cost
    double m_reservedElsewhereUsd = 0.0; // the same, of other workers running the job
    std::shared_ptr<GlobalBudget> m_globalBudget;
    mutable bool m_refusedByGlobal = false; // which cap budgetAllows() last refused under
    bool m_budgetWarned = false;
    double m_budgetWarnFraction = 0.8;
    bool m_responseCache = true;
    std::optional<cost::TieringConfig> m_tiering;
    QString m_tieringError;
    // Structured answers (job setting output_schema): asked of the provider with every
    // request, each answer checked against it before it completes a task.
    std::optional<ingest::OutputSchema> m_outputSchema;
    QString m_outputSchemaError;
    // A structured answer that does not match turns the outcome into InvalidOutput.
    void checkStructuredAnswer(TaskOutcome *outcome) const;
    QHash<qint64, Route> m_routeOfTask;
    struct Classifying
    {
        ClaimedTask task;
        double reservedUsd = 0.0;
    };
    QHash<qint64, Classifying> m_classifying; // by task id: classification calls in flight
    struct Classified
    {
        Usage usage;
        double costUsd = 0.0;
    };
    QHash<qint64, Classified> m_classifiedCost; // until the task's next transition
    QHash<QString, std::shared_ptr<ProviderGuard>> m_modelGuards;
    GuardLookup m_guardLookup;
    QHash<QByteArray, qint64> m_leaderOfKey;                 // key -> task in flight for it
    QHash<qint64, QByteArray> m_keyOfTask;                   // leader task -> its key
    QHash<QByteArray, QList<ClaimedTask>> m_followersOfKey;  // duplicates waiting for it
    QHash<QByteArray, store::CachedResponse> m_unflushedCache; // answers not yet stored
    QStringList m_unpricedModels; // models met without a price: alerted once per job each
    bool m_standing = false;
    int m_urgentTasks = 0; // standing queues: priority-1 tasks known here, not yet settled
    bool m_running = false;
    bool m_stopping = false;
    bool m_claimedEverything = false;
    bool m_claimRaised = true; // batch lane: look for tasks raised on their own (claimRaised)
    JobState m_stopState = JobState::Paused;
    QString m_stopReason;
};

} // namespace bd::dispatch
