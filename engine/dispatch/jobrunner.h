#pragma once

#include "api/jobsettings.h"
#include "core/tasktypes.h"
#include "cost/pricetable.h"
#include "cost/responsecache.h"
#include "cost/tiering.h"
#include "dispatch/backpressure.h"
#include "dispatch/batchapidispatch.h"
#include "dispatch/batchassembly.h"
#include "dispatch/batchlane.h"
#include "dispatch/budgetgate.h"
#include "dispatch/circuitalerts.h"
#include "dispatch/claimedwork.h"
#include "dispatch/classifiercalls.h"
#include "dispatch/concurrencylimiter.h"
#include "dispatch/globalbudget.h"
#include "dispatch/groupsizer.h"
#include "dispatch/offpeakgate.h"
#include "dispatch/providerguard.h"
#include "dispatch/replysettlement.h"
#include "dispatch/responsecoalescer.h"
#include "dispatch/retrypolicy.h"
#include "dispatch/router.h"
#include "dispatch/taskaccounting.h"
#include "dispatch/taskcoalescing.h"
#include "dispatch/taskprompts.h"
#include "ingest/outputschema.h"
#include "ingest/prompttemplate.h"
#include "providers/provider.h"
#include "store/store.h"
#include "store/writebehind.h"

#include <functional>
#include <memory>
#include <QElapsedTimer>
#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QPointer>
#include <QQueue>
#include <QSet>
#include <QTimer>

namespace bd {
class Clock;
}
namespace bd::store {
class Store;
class WorkerRegistry;
} // namespace bd::store
namespace bd::metrics {
class MetricsRecorder;
}

namespace bd::dispatch {

// Runs one job to its end on the engine thread: claims tasks with a lease, renders their
// prompts, keeps up to `concurrency` requests in flight, turns each answer into a task
// transition and writes them in groups (one transaction per flush; on a thread of their own
// when there is a store::WriteBehind). It never blocks: waits (retry times, rate-limit
// cooldowns) are timers.
class JobRunner final : public QObject,
                        private BatchLane::Host,
                        private BatchApiDispatch::Host,
                        private TaskCoalescing::Host,
                        private OffPeakGate::Host
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
        // A server that dropped the connection is reconnected to, with backoff, for this
        // long; past it the engine gives up (Engine::databaseLost).
        qint64 databaseWaitMs = 300'000;
        int flushMaxTransitions = 2'000;
        // With a write-behind thread: smaller groups, so a claim waiting behind one (claims
        // go first, but not into a transaction already running) waits less. Measured on 2
        // cores, 300,000 tasks: 2,000 -> 500 took the engine's waits for claims from ~2 s to
        // ~0.8 s.
        int flushMaxTransitionsBehind = 500;
        // With a write-behind thread: the next claims are made ahead, this many groups' worth,
        // while groups follow each other within claimAheadBelowMs and no rate limit sizes them.
        int claimAheadGroups = 1;
        qint64 claimAheadBelowMs = 50;
        int flushIntervalMs = 100;
        int progressIntervalMs = 250;
        qint64 idlePollMs = 1'000;    // when only other workers' leases or waits remain
        int maxBatchSize = 0;         // batch lane: lines per provider batch (0: the API's limit)
        int maxConcurrentBatches = 4; // batch lane: provider batches open at once
        qint64 batchPollFirstMs = 5'000;          // batch lane: first poll; later ones back off
        qint64 batchLeaseMs = 26LL * 3600 * 1000; // batch lane: covers the 24 h window
        // How long a batch may wait to fill before it closes anyway (job setting
        // batch_max_wait_ms overrides): a group of sync calls, a provider batch.
        qint64 groupMaxWaitMs = 500;
        qint64 batchApiMaxWaitMs = 60'000;
        // A paced lane leases what its rate limit lets it send within this, no more: the
        // rest stays pending for other workers (and is not stranded by a dead process).
        qint64 claimHorizonMs = 3'000;
    };

    JobRunner(store::Store *store, std::unique_ptr<providers::Provider> provider,
              const JobInfo &job, const cost::PriceTable &prices, Clock *clock,
              const QString &workerId, const Options &options, QObject *parent = nullptr);
    ~JobRunner() override;

    qint64 jobId() const { return m_job.id; }
    const JobInfo &job() const { return m_job; }
    bool isRunning() const { return m_running; }
    const TaskCounts &counts() const { return m_work.counts; }

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
    void setProviderGuard(std::shared_ptr<ProviderGuard> guard)
    {
        m_router.setGuard(std::move(guard));
    }
    std::shared_ptr<ProviderGuard> providerGuard() const { return m_router.guard(); }
    // A job on model "auto" (tiering) talks to several models: the guard of each comes from
    // here so that it is shared with other jobs on that endpoint and model. Without it the
    // runner keeps a guard per model of its own.
    using GuardLookup = Router::GuardLookup;
    void setGuardLookup(GuardLookup lookup) { m_router.setGuardLookup(std::move(lookup)); }
    // A fresh guard with the job's configured limits (settings rpm / tpm).
    static std::shared_ptr<ProviderGuard> makeGuard(const QJsonObject &settings)
    {
        return Router::makeGuard(settings);
    }
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
    void setMetrics(metrics::MetricsRecorder *recorder) { m_accounting.setMetrics(recorder); }
    // The cap across every job of the database, shared by the engine's runners (may be null).
    void setGlobalBudget(std::shared_ptr<GlobalBudget> budget)
    {
        m_budget.setGlobal(std::move(budget));
    }
    double budgetUsd() const { return m_budget.capUsd(); }
    // The job's budget across workers: what this runner's requests in flight reserved; the
    // exchange publishes its claim on the job's cap and reads the others' and the job's
    // spend (dispatch/capledger.h), before a request that its claim does not cover and at
    // each tick (exchangeBudget()).
    double reservedUsd() const { return m_budget.reservedUsd(); }
    void setBudgetExchange(CapLedger::Exchange exchange) { m_budget.setExchange(std::move(exchange)); }
    bool exchangeBudget() { return m_budget.exchange(); }
    // The share of the job's budget spent that raises budget_80 at once (monitoring's
    // budget.warn_fraction); 0 or less: no warning.
    void setBudgetWarnFraction(double fraction) { m_budget.setWarnFraction(fraction); }
    double spentUsd() const { return m_budget.spentUsd(); }
    // Stops dispatching, lets in-flight requests come back (or cancels them) and leaves
    // the job in `state` with the reason. finished() follows.
    void stop(JobState state, const QString &reason, bool cancelInFlight);

    // --- for the worker registry (store/workerregistry.h)
    // Tasks this runner completed (sync answers, cache hits, provider batch lines).
    qint64 completedHere() const { return m_completedHere; }
    int inFlightCount() const { return int(m_inFlight.size()) + m_classifier.inFlight(); }
    // What this worker reports about the job for "what limits it" (api/joblimit.h): its
    // requests per minute lately (the last 10 s), whether every request slot is taken,
    // and whether its endpoint's breaker or a budget holds it now.
    double sentPerMinute(qint64 nowMs);
    bool isSaturated() const
    {
        return inFlightCount() > 0 && inFlightCount() >= concurrencyLimit();
    }
    bool isHeldByBreaker(qint64 nowMs);
    bool isHeldByBudget() const { return m_heldByBudget; }
    // Provider batches are polled by one worker at a time: with a registry, this runner
    // takes each batch it opens or recovers, and adopts those of workers whose heartbeat is
    // older than leaseMs (adoptOrphanedBatches(), called with each heartbeat). Without one
    // (a runner alone, in tests) it polls every open batch of the job.
    void setWorkerRegistry(store::WorkerRegistry *registry);
    // Transition groups of the hot path are written on writer's thread from now on (null:
    // here, synchronously). writer outlives the runner.
    void setWriteBehind(store::WriteBehind *writer);
    void adoptOrphanedBatches();
    // A store call that failed because the server dropped the connection (asked of this
    // check) does not fail the job: the runner waits for the database (databaseAway()) and
    // says databaseUnreachable(). Without a check every store error is fatal.
    void setConnectionLostCheck(std::function<bool()> lost) { m_connectionLost = std::move(lost); }
    // While the database is away nothing is claimed, stored or renewed; requests in flight
    // go on and their answers are kept. databaseBack() stores them (each checked against
    // its lease's owner, so a task another worker rescued meanwhile is not completed
    // twice), renews the leases and claims again.
    void databaseAway();
    void databaseBack();
    // The engine gave up on the database: the kept answers are dropped (other workers do
    // those tasks once the leases have run out) and the runner fails with error.
    void abandonForLostDatabase(const QString &error);

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
    // A store call failed because the connection was lost (setConnectionLostCheck).
    void databaseUnreachable(const QString &error);

private:
    // The lane's state from m_job.spec (priority, mode, settings): batch API or sync calls,
    // how long a batch waits to fill, the off-peak window (priority 3 only).
    void configureLane();
    void pump();
    // Sends the queue of claimed sync calls; claims groups unless the job is on the batch
    // API (whose claims put tasks raised above the job's priority in that queue).
    void pumpSync(qint64 now);
    enum class GroupClaim
    {
        Ready,   // a group of sync calls is in m_work.ready
        Filling, // nothing to send yet (still filling, or nothing due): the wake timer is set
        Failed,  // the runner failed
    };
    // Claims the next group of sync calls (sized by depth, load and pace), records it as a
    // batch and looks its cache keys up.
    GroupClaim claimGroup(int concurrency, qint64 now);
    // Group assembly: claims into m_work.assembly until the group is full, its maximum wait has
    // passed or nothing else of the job is pending. True when the group closed.
    bool assemble(int maxSize, qint64 now);
    // OffPeakGate::Host: a closed window hands unsent tasks back and stores why it waits.
    void offPeakHandBack() override;
    void offPeakWaitingChanged(const QString &reason) override;
    void offPeakWake() override { pump(); }
    void handleReply(const providers::ChatReply &reply);
    // Turns one answer into the task's transition and keeps counts, limits and alerts.
    // requestTokens: what the request counted against a token limit (sync calls).
    TaskTransition settle(const ClaimedTask &task, const providers::ChatReply &reply,
                          qint64 sentAtMs, bool viaBatchApi, qint64 requestTokens = 0);
    // The account cannot go on (quota used up, key refused): alert and pause the job.
    void pauseForAccount(const providers::ChatReply &reply);

    bool batchesOpen() const { return m_batches && !m_batches->isEmpty(); }
    // The batch-API lane: claims assemble into provider batches (BatchApiDispatch), which
    // BatchLane opens, polls and settles through the BatchLane::Host calls below.
    bool laneRunning() const override { return m_running; }
    // A task's provider-batch line as BatchApiDispatch sends it; recovery rebuilds the same
    // lines to recognise a batch whose id was lost. Empty when its template cannot be read.
    std::optional<providers::ChatRequest> batchLine(const ClaimedTask &task,
                                                    qint64 *promptTokens) override;
    bool lineCoalesced(const ClaimedTask &task, const providers::ChatRequest &line,
                       QByteArray *key) override
    {
        return m_coalescing.lineCoalesced(task, line, key);
    }
    void leadLine(const QByteArray &key, qint64 taskId) override { m_cache.lead(key, taskId); }
    double lineMaxCostUsd(const QString &model, qint64 promptTokens) const override
    {
        return maxCostUsd(model, promptTokens, true);
    }
    void lineUnsent(qint64 taskId) override { m_router.forget(taskId); }
    TaskTransition settleLine(const ClaimedTask &task, const providers::ChatReply &reply,
                              qint64 sentAtMs) override;
    void lineHandedBack(const TaskTransition &release) override;
    void linesReturned(int count) override;
    void linesWritten(const QList<TaskTransition> &transitions, int skipped) override;
    void batchEndpointFailed(const QString &why) override;
    void batchEndpointAnswered() override;
    void batchClosed(bool settled) override;
    void batchOpened(int lines, int capacity) override;
    void chargeRecorded() override;
    void laneFailed(const QString &error) override { fatal(error); }
    // BatchApiDispatch::Host (laneRunning(), laneFailed(), flush(), budgetRefused() too)
    bool laneHeld() const override { return m_held; }
    bool syncIdle() const override { return m_inFlight.isEmpty(); }
    CircuitBreaker &batchBreaker() override
    {
        return m_router.guardFor(m_job.spec.model).batchBreaker;
    }
    void laneProgressed() override { emitProgress(false); }
    void laneIdle() override { checkIdle(); }
    void pumpLater() override
    {
        QMetaObject::invokeMethod(this, &JobRunner::pump, Qt::QueuedConnection);
    }
    // TaskCoalescing::Host (flush() and scheduleFlush() below)
    const TaskPrompts::Revision *templateFor(int revision) override;
    void answeredWithoutRequest(const ClaimedTask &task, const TaskTransition &transition,
                                qint64 waitMs) override;
    // The one path for circuit alerts of both lanes (CircuitAlerts): raised when a breaker
    // opens from closed, cleared when it closes again.
    void recordOutage(CircuitBreaker &breaker, const QString &why, qint64 now);
    void recordRecovery(CircuitBreaker &breaker, qint64 now);
    // Writes the transitions (and cache entries) due now, after every group written behind:
    // what follows may count on the store holding them.
    void flush() override;
    void scheduleFlush() override;
    // The hot path's flush: the group goes to the write-behind thread when there is one.
    void flushBehind();
    // Settles what the write-behind thread has written for this job.
    void takeWrittenBehind();
    // Waits for every group written behind and settles them; false when one failed (the
    // job has failed then).
    bool waitForWritesBehind();
    // Leases up to want tasks: those claimed ahead first, then from the store; then asks
    // for the next group ahead when there may be one. False on a database error (failed).
    bool claimTasks(int want, qint64 now, QList<ClaimedTask> *claimed);
    void claimAhead(int limit, qint64 now);
    // What follows a group's commit, whichever thread made it.
    void afterWrite(const QList<TaskTransition> &written, int skipped);
    void releaseReady();
    void checkIdle();
    void finishIfDrained();
    void emitProgress(bool force);
    void readTotals(); // usage and spend as the database holds them
    void fatal(const QString &error);
    double maxCostUsd(const QString &model, qint64 promptTokens, bool viaBatchApi) const;
    // After the budget gate refused `extraUsd`: waits for answers in flight (this job's or
    // others'), or pauses the job when what is really spent leaves no room for the request.
    void budgetRefused(double extraUsd, bool ownWorkInFlight) override;
    // The answers' costs written to the database: the global pool counts them as stored.
    void noteWritten(const QList<TaskTransition> &transitions, int skipped = 0);

    // Classifier tiering (ClassifierCalls): sends the head of m_work.ready to the classifier
    // model; false when it has to wait (pacing, outage, budget), with the wake timer set.
    bool sendClassification(const QString &prompt, qint64 promptTokens, qint64 now);
    bool handleClassified(const providers::ChatReply &reply); // false: not a classification

    QQueue<qint64> m_sentAtMs;   // sends of the last 10 s (sentPerMinute)
    bool m_heldByBudget = false; // the last request was refused by a budget

    store::Store *m_store;
    // Guarded: an engine torn down without closing destroys it before its child runners
    // (whose groups its destructor has written by then).
    QPointer<store::WriteBehind> m_writeBehind;
    int m_groupsBehind = 0; // posted to m_writeBehind, not yet settled
    QList<store::WriteBehind::Group::SentBatch> m_sentBatches; // not yet posted
    // Tasks the write-behind thread leased for this runner ahead of its need, so a group's
    // claim does not wait for the last group's commit; in memory they count as pending
    // until taken (claimTasks()).
    struct ClaimedAhead
    {
        QList<ClaimedTask> tasks;
        bool asked = false; // a claim ahead is on its way
    };
    ClaimedAhead m_claimedAhead;
    bool m_claimAheadPays = false; // claimGroup() says whether claims run ahead
    qint64 m_lastGroupAtMs = 0;
    store::WorkerRegistry *m_registry = nullptr;
    qint64 m_completedHere = 0;
    std::unique_ptr<providers::Provider> m_provider;
    CircuitAlerts m_circuitAlerts; // circuit_open of the provider's endpoints
    JobInfo m_job;
    cost::PriceTable m_prices;
    ReplySettlement m_settlement; // prices answers, forgives the provider's failures
    Clock *m_clock;
    QString m_workerId;
    Options m_options;
    RetryPolicy m_retry;
    ConcurrencyLimiter m_concurrencyLimiter;
    BackPressure m_backPressure; // 429s, overloads and latency: the limiters' answer
    ClaimedWork m_work; // counts, claimed tasks not yet sent, transitions not yet written
    TaskPrompts m_prompts;
    bool m_batchMode = false; // this job's lane is the provider's batch API

    std::unique_ptr<BatchLane> m_batches; // providers with a batch API only
    std::unique_ptr<BatchApiDispatch> m_batchApi; // ... and what claims for it

    qint64 m_batchMaxWaitMs = 0;
    GroupSizer m_groupSizer;               // tasks per group of sync calls
    TaskLanes m_taskLanes;                 // the lane of each claimed task
    QHash<qint64, ClaimedTask> m_inFlight; // by task id
    struct Sent
    {
        qint64 atMs = 0;
        double reservedUsd = 0.0;
        qint64 tokens = 0; // prompt and maximum output, as a token limit counts them
    };
    QHash<qint64, Sent> m_sent;
    qint64 m_lastRequestTokens = 0; // sizes the claims of a lane paced by tokens
    Usage m_usage;

    QTimer m_flushTimer;
    QTimer m_wakeTimer;
    QTimer m_leaseTimer;
    std::function<bool()> m_connectionLost;
    bool m_databaseAway = false;
    bool databaseAwayNow();                 // away already, or the connection found lost now (said)
    OffPeakGate m_offPeak; // priority-3 jobs with a window: it holds their work outside it
    QElapsedTimer m_sinceProgress;
    bool m_held = false;       // preempted by more urgent work
    int m_heldConcurrency = 0; // requests allowed in flight while held (aging)
    BudgetGate m_budget;       // the job's cap and the global one
    TaskAccounting m_accounting; // settled costs against m_budget, and the lane's metrics
    ResponseCoalescer m_cache; // identical requests go out once
    TaskCoalescing m_coalescing;
    Router m_router;           // the model of each task and its guard (model tiering)
    QString m_tieringError;
    // Structured answers (job setting output_schema): asked of the provider with every
    // request, each answer checked against it before it completes a task.
    std::optional<ingest::OutputSchema> m_outputSchema;
    QString m_outputSchemaError;
    // A structured answer that does not match turns the outcome into InvalidOutput.
    void checkStructuredAnswer(TaskOutcome *outcome) const;
    ClassifierCalls m_classifier; // classification calls in flight (classifier tiering)
    bool m_standing = false;
    int m_urgentTasks = 0; // standing queues: priority-1 tasks known here, not yet settled
    bool m_running = false;
    bool m_stopping = false;
    JobState m_stopState = JobState::Paused;
    QString m_stopReason;
};

} // namespace bd::dispatch
