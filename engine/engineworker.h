#pragma once

#include "api/engine.h"
#include "core/tasktypes.h"
#include "cost/pricefile.h"
#include "dispatch/jobrunner.h"
#include "dispatch/globalbudgetcontroller.h"
#include "dispatch/lanecontrols.h"
#include "dispatch/preemptionpolicy.h"
#include "jobio.h"
#include "snapshotbuilder.h"
#include "store/intake.h"
#include "store/store.h"
#include "store/taskactions.h"

#include <atomic>
#include <memory>
#include <QHash>
#include <QJsonObject>
#include <QObject>
#include <QSet>
#include <QTimer>

#include "dispatch/deadlineplanner.h"

namespace bd {

class Clock;
namespace metrics {
class Monitoring;
struct RuleInputs;
}
namespace store {
class Database;
class Store;
class WriteBehind;
}

// Lives on the engine thread and owns what runs there: the writing store connection and
// one runner per running job. Only Engine talks to it, by queued calls. It routes: what to
// decide (global budget, preemption, lane controls, prices, snapshots) is asked of plain
// policy objects it holds, and their decisions are applied to the runners here.
class EngineWorker final : public QObject
{
    Q_OBJECT

public:
    EngineWorker(const QString &databasePath, const QString &workerId, Clock *clock,
                 const dispatch::JobRunner::Options &runnerOptions,
                 const QString &priceOverridePath, const QJsonObject &monitoring = {});
    ~EngineWorker() override;

    void open();
    void importJob(const bd::JobSpec &spec, std::shared_ptr<std::atomic<bool>> cancel);
    void finishInterruptedImport(qint64 jobId, std::shared_ptr<std::atomic<bool>> cancel);
    void startJob(qint64 jobId, const bd::ProviderConfig &provider);
    void pauseJob(qint64 jobId, const QString &reason, bool cancelInFlight);
    void stopAll(const QString &reason);
    void listJobs();
    void setJobConcurrency(qint64 jobId, int concurrency);
    void setLanePaused(bd::Lane lane, bool paused);
    void setLaneLimits(bd::Lane lane, int concurrency, int maxConcurrentBatches);
    void runNow(qint64 jobId);
    // Every engine on the database that ran the job (and so holds its key) starts it again.
    void resumeJob(qint64 jobId);
    void shutdown(); // synchronous, on the engine thread, before it quits

    // --- console verbs (added for the desktop console)
    void cancelJob(qint64 jobId, const QString &reason);
    void reprioritiseJob(qint64 jobId, int priority);
    // argument: the priority for Reprioritise.
    void actOnTasks(bd::TaskAction action, const QList<qint64> &taskIds, int argument);
    // The job's sort index for the key, built by the writer (the reader asks);
    // sortIndexBuilt() follows.
    void buildSortIndex(qint64 jobId, bd::TaskSortKey key);
    // A sorted page was read over the job's index (the reader says so): used recently.
    void sortIndexUsed(qint64 jobId, bd::TaskSortKey key);
    // Sort indexes kept at most (EngineOptions::maxSortIndexes); set before the thread starts.
    void setMaxSortIndexes(int max) { m_maxSortIndexes = max; }
    void clearAlerts(qint64 jobId, const QString &kind);
    void replayDead(const bd::ReplayRequest &request);
    void setSnapshotInterval(int ms);
    // The cap across every job of the database (0: none), stored for every process.
    void setGlobalBudget(double usd, const QString &period);

    // --- settings (see the Engine facade)
    void setDefaultJobSettings(const QJsonObject &defaults);
    void setMonitoring(const QJsonObject &monitoring);
    void listPrices();
    void reloadPrices();
    void savePriceOverrides(const QJsonObject &entries);
    void testConnection(const bd::ProviderConfig &config);

    // --- standing queues (engineworkerintake.cpp; see the Engine facade)
    void defineQueue(quint64 ticket, const bd::QueueSpec &spec);
    void submitToQueue(quint64 ticket, const QString &queue, const QList<bd::QueueTask> &tasks);
    // A queue this engine serves is answered from its runner's figures at once (a status
    // poll must not cost a scan of the queue's tasks on every call); any other goes on to
    // the reader (queueNotServedHere).
    void readQueue(quint64 ticket, const QString &name);
    void markDelivered(const QList<qint64> &taskIds);

Q_SIGNALS:
    void opened(bool ok, const QString &error);
    void sortIndexBuilt(qint64 jobId, bd::TaskSortKey key, const QString &error);
    void importProgressed(qint64 rows, qint64 bytesRead, qint64 totalBytes);
    void importFinished(const bd::ImportResult &result);
    void jobProgressed(qint64 jobId, const bd::TaskCounts &counts, const bd::Usage &usage,
                       double costUsd);
    void jobStopped(qint64 jobId, bd::JobState state, const QString &reason);
    void jobFailed(qint64 jobId, const QString &error);
    void jobWaiting(qint64 jobId, const QString &reason);
    void laneStateChanged(bd::Lane lane, bool paused);
    void alertRaised(qint64 jobId, const QString &kind, const QString &message);
    void stoppedAll();
    // Engine::databaseAway / databaseBack / databaseLost.
    void databaseAway(const QString &error);
    void databaseBack(qint64 awayMs);
    void databaseLost(const QString &error);
    void metricsEndpointChanged(quint16 port, const QString &error);
    void jobsListed(const QList<bd::JobInfo> &jobs);
    // A read found the database damaged (Database::damage()).
    void readFailed(quint64 ticket, const QString &error);
    void snapshotTaken(const bd::EngineSnapshot &snapshot);
    void jobReprioritised(qint64 jobId, int priority, int changed);
    void controlRecorded(qint64 jobId, const QString &control, const QString &error);
    void tasksActedOn(bd::TaskAction action, int changed, const QString &error, int skipped);
    void deadReplayed(const bd::ReplayResult &result);
    void alertsChanged();
    void connectionTested(const QString &providerId, const QStringList &models,
                          const QString &error);
    void pricesListed(const QJsonObject &models);
    void pricesReloaded(bool ok, const QString &error);
    void globalBudgetChanged(double capUsd, const QString &period, double spentUsd);
    void queueDefined(quint64 ticket, const bd::QueueDefinition &result);
    void tasksSubmitted(quint64 ticket, const bd::SubmitResult &result);
    void queueRead(quint64 ticket, const bd::QueueInfo &queue);
    void queueNotServedHere(quint64 ticket, const QString &name);
    void queueTasksSettled(qint64 jobId, const QList<qint64> &taskIds);

private:
    // A queue as submissions need it: its record and its job's columns, read once.
    struct ServedQueue
    {
        store::QueueRecord record;
        QStringList columns;
        int priority = 2;
    };
    const ServedQueue *servedQueue(const QString &name);
    QHash<QString, ServedQueue> m_queues;

    // A runner stopped by a write the disk refused: the job pauses (alert disk_full) rather
    // than failing.
    void pauseForFullDisk(qint64 jobId, const QString &error);
    // Runs one import (owned by this worker from now on) beside dispatch, then
    // importFinished().
    void runImport(JobImport *import);
    void refuseImport(); // importFinished() with "the database is not open"
    // Reads every job's stamp and re-reads the jobs whose stamp changed (another process
    // created, started, stopped or deleted them); checkRunners: also clears the runner of
    // jobs whose process on this host is gone.
    void discoverJobs(bool checkRunners);
    void refreshSnapshot(qint64 jobId);
    void emitSnapshot();

    void releaseLeasesOfDeadWorkers();

    // The worker registry (engineworkerregistry.cpp): every few seconds this engine's row
    // (completed, in flight, rate, lanes) is written, expired leases of any worker go back
    // to pending (counted as rescued), and provider batches of workers whose heartbeat is
    // stale are adopted by this engine's runners.
    void startHeartbeat();
    void heartbeat();
    void stopHeartbeat(); // at shutdown: batches handed back, a last row written
    QTimer *m_heartbeatTimer = nullptr;
    // A lost connection (engineworkerregistry.cpp): every runner waits, and the writer's
    // connection (with its LISTEN) is opened again with capped exponential backoff and
    // jitter until it answers or RunnerOptions::databaseWaitMs has passed.
    bool databaseAwayAfter(const QString &error); // true when the connection is lost
    bool databaseReachable();                     // false while away (and when found lost now)
    void reconnect();
    bool m_databaseAway = false;
    qint64 m_awaySinceMs = 0;
    int m_reconnectAttempts = 0;
    QTimer *m_reconnectTimer = nullptr;
    qint64 m_startedAtMs = 0;
    qint64 m_completedByRemoved = 0; // by runners that are gone
    qint64 m_lastBeatCompleted = 0;
    qint64 m_lastBeatMs = 0;
    qint64 m_lastBeatWrittenMs = 0; // the last heartbeat the database took
    bool m_stoppedHeartbeat = false; // stopHeartbeat() ran: the next beat says it stopped
    qint64 m_rescued = 0;
    void connectRunner(dispatch::JobRunner *runner);
    // One rate limit and breaker per endpoint and model, shared by the jobs that use it.
    void shareWithWorkers(dispatch::ProviderGuard &guard, const QString &key);
    void listenForWork();
    // Budgets across workers (dispatch/capledger.h): publishes this engine's claim under
    // key, then reads the others' and the spend (storedSpend, nullopt on an error).
    dispatch::CapLedger::Exchange capExchange(const QString &key,
                                              std::function<std::optional<double>()> storedSpend);
    void shareReservations();

public:
    // Before the engine thread starts (EngineOptions::listedAsWorker).
    void setListedAsWorker(bool listed) { m_listedAsWorker = listed; }

private:
    bool m_listedAsWorker = true;
    // "What limits a job" (api/joblimit.h): each running job's load as this worker sees it,
    // written to the database every tick, and the sums over every worker read back.
    void shareLoad();
    JobLimit readLimit(qint64 jobId, const QJsonObject &settings, dispatch::JobRunner *runner);
    void forgetLoad(qint64 jobId);
    static constexpr qint64 kLoadStaleMs = 5'000;
    QHash<qint64, JobLimit> m_limits; // running jobs, here and elsewhere
    // Beyond the cap, the sort index least recently used goes: those this engine never saw
    // used (other processes', earlier sessions') first, then by last use here. The cap is
    // the database's (every tasks_sort_ index counts, whoever built it); only the order of
    // use is this process's: recording it for every process would need a table, and an
    // index dropped under another reader costs it one page read again without it and,
    // for a big job, one rebuild the next time it sorts there.
    void trimSortIndexes(qint64 builtJobId, bd::TaskSortKey builtKey);
    int m_maxSortIndexes = bd::kMaxSortIndexes;
    QList<std::pair<qint64, int>> m_sortIndexUse; // (job, key), least recently used first
    // Another worker's reservation not refreshed for this long is a dead worker's.
    static constexpr qint64 kReservationsStaleMs = 30'000;
    bool m_sharedGlobalReservation = false; // this engine has a row under the global cap
    void shareProviderGuards(dispatch::JobRunner *runner, const QString &endpoint,
                             const QString &model, const QJsonObject &settings);
    void handleRunnerFinished(qint64 jobId, bd::JobState state, const QString &reason);
    void removeRunner(qint64 jobId);

    QString m_databasePath;
    QString m_workerId;
    Clock *m_clock;
    dispatch::JobRunner::Options m_runnerOptions;
    cost::PriceFile m_prices;
    QJsonObject m_defaultJobSettings;
    std::unique_ptr<store::Database> m_database; // the writer's connection and its roles
    store::Store *m_store = nullptr;             // m_database's queue writer
    // The runners' group commits, on a thread and connection of their own (SQLite).
    std::unique_ptr<store::WriteBehind> m_writeBehind;
    bool m_writeBehindFailed = false; // said once; the runners write synchronously
    store::WriteBehind *writeBehind();
    QHash<qint64, dispatch::JobRunner *> m_runners;
    bool m_stoppingAll = false;

    void startMonitoring();
    void reportQueues();
    metrics::RuleInputs ruleInputs() const;
    double budgetWarnFraction() const; // monitoring's budget.warn_fraction; 0: off
    QJsonObject m_monitoringJson;
    std::unique_ptr<metrics::Monitoring> m_monitoring;

    // Global budget: cap, period and the spend of every process re-read from the database
    // each snapshot tick; the controller says which jobs to stop or start again.
    void loadGlobalBudget();
    void checkGlobalBudget();
    void apply(const dispatch::GlobalBudgetController::Decision &decision);
    dispatch::GlobalBudgetController m_globalBudget;
    // How each job was last started here, to start it again when the cap is raised.
    QHash<qint64, ProviderConfig> m_providerConfigs;

    // Preemption across jobs, re-decided on a short timer while runners exist.
    void updatePreemption();
    dispatch::PreemptionPolicy m_preemption;
    QTimer *m_preemptionTimer = nullptr;
    QTimer *m_workNotified = nullptr; // lists the jobs soon after a LISTEN/NOTIFY wake-up
    dispatch::LaneControls m_lanes;
    // One rate limit and breaker per endpoint and model, shared by the jobs that use it.
    QHash<QString, std::weak_ptr<dispatch::ProviderGuard>> m_guards;
    SnapshotBuilder m_snapshots;
    QHash<qint64, store::JobStamp> m_jobStamps; // as of the last discoverJobs()
    QSet<qint64> m_cancelWhenStopped;
    QSet<JobImport *> m_imports; // under way, each on pool threads and a chunk per turn here

    // Job controls reach every engine on the database: each verb here applies its change
    // and records it; each snapshot tick applies the controls other engines recorded to the
    // runners held here (their changes to the database are made already).
    void recordControl(qint64 jobId, store::JobControl::Action action, int argument = 0,
                       const QString &detail = {});
    void applyControls();
    void applyControl(const store::JobControl &control);
    // The lane a job's priority gives it on its provider (see laneForPriority()).
    QString laneFor(const JobInfo &job, int priority) const;
    void moveToLane(qint64 jobId, int priority, const QString &mode);
    // Claimed-but-unsent tasks of every runner here go back, to be claimed at their new
    // priorities (tasks were reprioritised one by one).
    void reclaimUnsent();
    qint64 m_lastControlId = 0;
    // Jobs with a deadline that run here, re-planned each snapshot tick from the rate
    // measured here: moved off the batch API, raised to priority 1, or alerted as at risk.
    void reviewDeadlines();
    struct DeadlineWatch
    {
        dispatch::ThroughputMeter meter;
        dispatch::DeadlineReview review;
    };
    QHash<qint64, DeadlineWatch> m_deadlines;
    QTimer *m_snapshotTimer = nullptr;
    int m_snapshotInterval = 1000;
};

} // namespace bd
