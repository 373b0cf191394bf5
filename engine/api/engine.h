#pragma once

#include "api/estimate.h"
#include "api/intake.h"
#include "api/jobs.h"
#include "api/jobsettings.h"
#include "api/metrictypes.h"
#include "api/providers.h"
#include "api/snapshot.h"
#include "api/tasks.h"
#include "api/types.h"
#include "api/workers.h"

#include <QJsonObject>
#include <QObject>

#include <atomic>
#include <memory>

namespace bd {

class Clock;

// Lanes by priority, as the guide names them.
enum class Lane : int
{
    Realtime = 1, // single sync calls, preempts the others
    Grouped = 2,  // sync calls in groups sized by queue depth
    Batch = 3,    // the provider's batch API at half price, where it has one
};

// What a task action does (Engine::actOnTasks).
enum class TaskAction : int
{
    Replay,       // dead -> pending, attempts reset
    Reprioritise, // pending tasks get the argument as priority
    Cancel,       // pending -> cancelled
};

// Tuning of the runners an engine starts; a job's own settings win. Tests shorten the
// intervals; the front ends keep the defaults.
struct RunnerDefaults
{
    int concurrency = 16;
    // A worker killed without a word: its tasks come back to the others after this, its
    // provider batches are adopted once its heartbeat is this old.
    qint64 leaseMs = 30'000;
    qint64 heartbeatMs = 5'000; // each writing engine's row in the database's worker list
    // A database server that went away (a restart, a network blip) is reconnected to, with
    // backoff, for this long before the engine gives up (databaseLost).
    qint64 databaseWaitMs = 300'000;
    int flushMaxTransitions = 2'000; // answers stored per transaction at most
    int flushIntervalMs = 100;
    int progressIntervalMs = 250;
    qint64 idlePollMs = 1'000;
    int maxBatchSize = 0;            // batch lane: lines per provider batch (0: the API's limit)
    int maxConcurrentBatches = 4;    // batch lane: provider batches open at once
    qint64 batchPollFirstMs = 5'000; // batch lane: first poll; later ones back off
    qint64 groupMaxWaitMs = 500;     // a group of sync calls waits this long to fill
    qint64 batchApiMaxWaitMs = 60'000; // a provider batch waits this long to fill
};

struct EngineOptions
{
    // Where the database is: a file path (SQLite) or a PostgreSQL URL
    // ("postgresql://user@host:port/dbname"; the password from PGPASSWORD or ~/.pgpass).
    // Empty: defaultDatabasePath().
    QString database;
    QString workerId;       // empty: defaultWorkerId()
    Clock *clock = nullptr; // null: the system clock; outlives the engine
    RunnerDefaults runner;
    // The user's prices.json merged over the built-in table; empty: none.
    QString priceOverridePath;
    // Metrics, alert rules, notifications and the /metrics endpoint (the keys of
    // engine/metrics/README.md). Empty: the guide's defaults, no endpoint.
    QJsonObject monitoring;
    // A front end that only reads (batchctl status, export, dlq list): open() starts the
    // reader alone. Nothing is written, no leases are released (another process may hold
    // them, or a crashed one left them for `resume`), no monitoring starts; the verbs that
    // write are not for such an engine.
    bool readOnly = false;
    // Whether the engine has a row in the database's worker list (Workers view, `status
    // --json`). A command that writes and runs nothing (batchctl submit, job, budget) is no
    // worker: it still hands back expired leases while it is open, but is not listed.
    bool listedAsWorker = true;
    // A job with at least this many tasks gets a sort index for a key the first time its
    // Tasks view is sorted on it (taskSortPreparing, taskSortReady); smaller jobs sort well
    // without. 0: never (pages sort without, reading every key of the job).
    qint64 sortIndexMinTasks = kSortIndexMinTasks;
    // Sort indexes kept on the database at most: building one more drops the least
    // recently used (sorted here, else the oldest this engine has not seen used).
    int maxSortIndexes = kMaxSortIndexes;
};

// Where each program keeps its data when not told otherwise (QStandardPaths, application
// name BatchDesk): the database, and the user's price override.
QString defaultDatabasePath();
QString defaultPriceOverridePath();
// Whether a database location names a PostgreSQL server ("postgresql://…", "postgres://…")
// rather than an SQLite file.
bool isServerDatabase(const QString &location);
// Whether a database is there: the file exists, or the server database exists with
// BatchDesk's schema. Never creates one.
bool databaseExists(const QString &location);
// The location without a password (a server URL's "user:secret@" becomes "user@"); a file
// path as it is. Connections never use a password from the URL (PGPASSWORD, ~/.pgpass).
QString databaseWithoutPassword(const QString &location);
// host:pid:random, unique per engine.
QString defaultWorkerId();

// The global budget's periods: "month" (UTC calendar month), "day" (UTC), "all".
bool isGlobalBudgetPeriod(const QString &name);
// When the period that holds nowMs began (UTC), in ms since the epoch.
qint64 globalBudgetPeriodStartMs(const QString &period, qint64 nowMs);

// An off-peak window as the user writes it ("22:00-06:00@Europe/Berlin", local time without
// the zone) in the form a job's settings keep it (settingkeys::offpeak); nullopt and the
// reason when it does not parse.
std::optional<QJsonObject> parseOffPeakWindow(const QString &text, QString *error);

// The providers an engine can run (no network; cheap), for pickers and checks.
QList<ProviderInfo> availableProviders();
std::optional<ProviderInfo> providerInfo(const QString &providerId);
// Why a job could not start with this config (no base URL where one is required, a URL that
// is not http(s) or carries credentials ...), or empty. No network; the key is not checked.
QString providerConfigProblem(const ProviderConfig &config);

// A job as a front end describes it before it is checked: the spec as the user gave it
// (model may be empty: the provider's default; mode "auto" picks the lane from the
// priority) and a tiering file for model "auto".
struct JobDraft
{
    JobSpec spec;
    QString tieringFile;
    // Structured answers: a JSON Schema file (CLI.md --schema). A schema already in
    // spec.settings (the wizard's Fields step) is checked the same way.
    QString schemaFile;
    bool modelGiven = false; // the user named a model (a local server needs one)
};

// The draft checked against the provider, the input file and the template: the resolved
// spec (model, lane, tiering bound to the columns), or the usage error naming the file,
// line and field.
struct JobCheck
{
    bool ok = false;
    QString error;
    JobSpec spec;
    QStringList columns;
    ProviderInfo provider;
    QStringList notes; // e.g. how a tiered job is estimated
};

// The engine as its front ends (the console, batchctl) hold it. Every call returns at once;
// its answer comes back as a signal on the thread that created the engine. Nothing here
// touches the disk or the network on the caller's thread: writes run on the engine thread
// (one writer with grouped transactions), reads on a reader thread with its own connection.
// Calls made before opened() wait behind open(). API keys are passed per job start and kept
// in memory only. createEngine() makes one; any number may run in one process, each on its
// own database connections.
class Engine : public QObject
{
    Q_OBJECT

public:
    using QObject::QObject;
    ~Engine() override = default; // pauses running jobs and joins the engine's threads

    virtual QString workerId() const = 0;
    virtual QString database() const = 0;
    // A number no other request to this engine carries, from any thread. Views share the
    // engine's answer signals: each asks with tickets of its own and accepts only answers
    // that echo one of them.
    quint64 newTicket() { return m_nextTicket.fetch_add(1, std::memory_order_relaxed); }
    // The user's price file merged over the built-in table (empty: none).
    virtual QString priceOverridePath() const = 0;
    // Sort indexes this engine keeps on the database at most (EngineOptions::maxSortIndexes;
    // 0: no cap).
    virtual int maxSortIndexes() const = 0;
    // From how many tasks a job's sort gets an index (EngineOptions::sortIndexMinTasks, as
    // configured; 0: never).
    virtual qint64 sortIndexMinTasks() const = 0;

    // ---- jobs
    virtual void open() = 0;
    // Checks a draft; jobChecked() follows with the ticket. Reads the CSV header and the
    // tiering file off the caller's thread.
    virtual void checkJob(quint64 ticket, const bd::JobDraft &draft) = 0;
    // What a checked job would cost, per lane, with the price table this engine uses (the
    // user's overrides included), the response cache and calibration from the database.
    // jobEstimated() follows with the ticket.
    virtual void estimateJob(quint64 ticket, const bd::JobSpec &spec) = 0;
    // Two or three sample jobs of one input side by side (SampleComparison);
    // samplesCompared() follows with the ticket.
    virtual void compareSamples(quint64 ticket, const QList<qint64> &jobIds) = 0;
    // Imports a checked spec (or continues the job with the same fingerprint):
    // importProgressed() then importFinished().
    virtual void importJob(const bd::JobSpec &spec) = 0;
    // A job left "importing" by a crash or kill: its input is read again from the start
    // under the same id when the file is unchanged, else the job is removed (the error says
    // why); importProgressed() then importFinished(). cancelImport() stops it too.
    virtual void finishInterruptedImport(qint64 jobId) = 0;
    virtual void cancelImport() = 0;
    virtual void startJob(qint64 jobId, const bd::ProviderConfig &provider) = 0;
    // Stops dispatching; in-flight answers are awaited (or cancelled) and stored.
    virtual void pauseJob(qint64 jobId, bd::StopCause cause, const QString &detail = {},
                          bool cancelInFlight = true) = 0;
    // Pauses every running job; stoppedAll() follows when all have come to rest.
    virtual void stopAll(bd::StopCause cause) = 0;
    // Stops the job if it runs and cancels its pending tasks; jobStopped() follows.
    virtual void cancelJob(qint64 jobId, const QString &reason) = 0;
    // Unfinished tasks and the job itself get the priority, and the job the lane that priority
    // gives it: pending tasks move to that lane at once (a priority-3 job on the batch API
    // raised to 1 or 2 sends them as sync calls; lowered to 3 they join the batch lane);
    // requests in flight and provider batches already submitted finish where they are.
    // jobReprioritised() follows.
    virtual void reprioritiseJob(qint64 jobId, int priority) = 0;
    // Requests in flight for a running job, changed while it runs.
    virtual void setJobConcurrency(qint64 jobId, int concurrency) = 0;
    // Off-peak override: the job's priority-3 work goes now, outside its window; kept with
    // the job, so a restart keeps it.
    virtual void runNow(qint64 jobId) = 0;
    // Starts the job again in every engine on the database that ran it before (each holds
    // the job's key in memory); a job no engine ran waits for `batchctl resume` or a console.
    virtual void resumeJob(qint64 jobId) = 0;
    // pauseJob, cancelJob, reprioritiseJob, runNow, resumeJob and the Reprioritise task action
    // reach every engine on the database, in this process or another: each is recorded in
    // the database (controlRecorded() follows) and the engines running the job apply it
    // within a poll (about a second; 2 s at most).
    // Every job with its counts and spend; jobsListed() follows.
    virtual void requestJobs() = 0;
    // The engines seen on the database (their heartbeats, every few seconds) since
    // seenSinceMs; workersListed() follows.
    virtual void requestWorkers(qint64 seenSinceMs) = 0;

    // ---- lanes (per engine, not stored)
    // A paused lane's jobs send nothing new (answers in flight are kept, claimed-but-unsent
    // tasks go back uncharged) until resumed; laneStateChanged() follows.
    virtual void pauseLane(bd::Lane lane) = 0;
    virtual void resumeLane(bd::Lane lane) = 0;
    // Requests in flight per job and provider batches open at once, for the lane's running
    // jobs and those started later; 0 leaves a job's own.
    virtual void setLaneLimits(bd::Lane lane, int concurrency, int maxConcurrentBatches) = 0;

    // ---- tasks
    // On the given tasks, or on every task matching a filter; tasksActedOn() follows.
    virtual void actOnTasks(bd::TaskAction action, const QList<qint64> &taskIds, int argument = 0) = 0;
    virtual void actOnMatching(bd::TaskAction action, const bd::TaskFilter &filter, int argument = 0) = 0;
    // Dead-lettered tasks back to pending (by ids, error class or all of a job), optionally
    // with an edited template; tasksActedOn(Replay) follows with changed and skipped counts.
    virtual void replayDead(const bd::ReplayRequest &request) = 0;
    // The job's rows (.csv, .jsonl, .xlsx) written on the reader thread;
    // exportProgressed() then exportFinished(). cancelExport leaves nothing at the path.
    virtual void exportJob(qint64 jobId, const QString &path) = 0;
    virtual void cancelExport(qint64 jobId) = 0;

    // ---- reads. A ticket (newTicket()) is the asker's number for a request, echoed in its
    // answer and in readFailed() when the read fails.
    virtual void requestTaskCount(quint64 ticket, const bd::TaskFilter &filter) = 0;
    // afterId: the id of row offset - 1 in the order, when known (-1: not known). A big
    // job's first page in an order it has no sort index for starts the index on the
    // engine thread (EngineOptions::sortIndexMinTasks): until taskSortReady() its pages in
    // that order come in task order, each told by taskSortPreparing() first.
    virtual void requestTaskPage(quint64 ticket, const bd::TaskFilter &filter, qint64 offset,
                                 qint64 afterId, int limit, const bd::TaskOrder &order = {}) = 0;
    // Requests with these tickets that have not been read yet are dropped unread (their
    // asker lost interest: a new filter, another task).
    virtual void discardRequests(const QList<quint64> &tickets) = 0;
    virtual void requestTaskDetail(quint64 ticket, qint64 taskId) = 0;
    virtual void requestDeadSummary(quint64 ticket, qint64 jobId) = 0;
    // Dead-lettered tasks of a job (0: every job) after a task id, a page at a time;
    // deadTasksListed() follows.
    virtual void requestDeadTasks(quint64 ticket, qint64 jobId, qint64 afterTaskId, int limit) = 0;
    virtual void requestAlerts(bool includeCleared) = 0;
    virtual void clearAlerts(qint64 jobId, const QString &kind) = 0;
    // Where a job's money went: by lane, model, tier and day, cache hits, and what a naive
    // run would have cost; costReportReady() follows (keys as `batchctl status --json`).
    virtual void requestCostReport(qint64 jobId) = 0;
    // A stored metric series read on the reader thread; seriesReady() follows.
    virtual void requestSeries(quint64 ticket, const QString &metric, const QString &labels,
                               qint64 fromMs, qint64 toMs, int maxPoints) = 0;

    // ---- the global budget: one USD cap across every job of the database over a period
    // ("month" UTC calendar month, "day" UTC, "all"); 0: no cap. Stored in the database.
    // globalBudgetChanged() follows either call; snapshots carry it too.
    virtual void setGlobalBudget(double usd, const QString &period = QStringLiteral("month")) = 0;
    virtual void requestGlobalBudget() = 0;

    // ---- the database's health: a full page-by-page check (SQLite's integrity_check; it
    // reads the whole file, so only on demand); databaseChecked() follows.
    virtual void checkDatabase() = 0;

    // ---- settings
    // Keys a job's own settings lack are taken from these when its runner starts.
    virtual void setDefaultJobSettings(const QJsonObject &defaults) = 0;
    // Alert thresholds and notifications at once, the /metrics endpoint started or stopped.
    virtual void setMonitoring(const QJsonObject &monitoring) = 0;
    // The price table as the engine uses it; pricesListed() follows.
    virtual void requestPrices() = 0;
    virtual void reloadPrices() = 0;
    // Writes the user's override file and reloads; pricesReloaded() follows.
    virtual void savePriceOverrides(const QJsonObject &entries) = 0;
    // GET {base}/v1/models with the provider's credentials; connectionTested() follows.
    virtual void testConnection(const bd::ProviderConfig &provider) = 0;
    // Snapshots: one snapshotTaken() per interval (default 1000 ms) once opened.
    virtual void setSnapshotInterval(int ms) = 0;

    // ---- standing queues (the intake API, API.md). A queue is a job that never finishes
    // by itself; startJob() runs it like any other, and pause, reprioritise, replay and
    // export work on its job.
    // Creates the queue (its job paused until started), or finds the same one;
    // queueDefined() follows with the ticket.
    virtual void defineQueue(quint64 ticket, const bd::QueueSpec &spec) = 0;
    // One queue with its counts and spend (jobId 0: none); queueRead() follows.
    virtual void requestQueue(quint64 ticket, const QString &name) = 0;
    // Every queue with its job's state, without counts (requestQueue has them);
    // queuesListed() follows.
    virtual void requestQueues() = 0;
    // All or nothing, with idempotency keys and backpressure (refused whole past
    // max_pending, and an alert "queue_full" on its job); tasksSubmitted() follows. The
    // queue's running job here picks the tasks up at once (priority 1 first).
    virtual void submitToQueue(quint64 ticket, const QString &queue, const QList<bd::QueueTask> &tasks) = 0;
    // Tasks of any queue (unknown ids left out); queueTasksRead() follows.
    virtual void requestQueueTasks(quint64 ticket, const QList<qint64> &taskIds) = 0;
    // Finished tasks of a queue whose webhook has not been acknowledged, oldest first;
    // queueTasksRead() follows.
    virtual void requestUndelivered(quint64 ticket, qint64 jobId, int limit) = 0;
    // The webhook receiver acknowledged these tasks: they leave the outbox.
    virtual void markDelivered(const QList<qint64> &taskIds) = 0;

Q_SIGNALS:
    void opened(bool ok, const QString &error);
    void jobChecked(quint64 ticket, const bd::JobCheck &check);
    void jobEstimated(quint64 ticket, const bd::JobEstimate &estimate, const QString &error);
    void samplesCompared(quint64 ticket, const bd::SampleComparison &comparison);
    void importProgressed(qint64 rows, qint64 bytesRead, qint64 totalBytes);
    void importFinished(const bd::ImportResult &result);
    void jobProgressed(qint64 jobId, const bd::TaskCounts &counts, const bd::Usage &usage,
                       double costUsd);
    void jobStopped(qint64 jobId, bd::JobState state, const QString &reason);
    void jobFailed(qint64 jobId, const QString &error);
    // A running job started waiting (reason) or stopped waiting (empty) for its off-peak window.
    void jobWaiting(qint64 jobId, const QString &reason);
    void laneStateChanged(bd::Lane lane, bool paused);
    void alertRaised(qint64 jobId, const QString &kind, const QString &message);
    void stoppedAll();
    // The database server dropped this engine's connections (a restart, a network blip):
    // the engine reconnects with backoff; meanwhile nothing new is claimed and answers are
    // kept. Said once per outage; databaseBack() follows when it is reachable again.
    void databaseAway(const QString &error);
    // Reconnected after awayMs: kept answers are stored, work goes on.
    void databaseBack(qint64 awayMs);
    // The database stayed away longer than RunnerDefaults::databaseWaitMs: the engine gave
    // up reconnecting and stops beating; its leases have run out and any other engine's
    // rescuer hands its tasks on. The worker command exits 1. error: the server's last word.
    void databaseLost(const QString &error);
    // The /metrics endpoint listens on 127.0.0.1:port (0 when it is off or failed).
    void metricsEndpointChanged(quint16 port, const QString &error);
    void jobsListed(const QList<bd::JobInfo> &jobs);
    void workersListed(const QList<bd::WorkerInfo> &workers);
    void snapshotTaken(const bd::EngineSnapshot &snapshot);
    void jobReprioritised(qint64 jobId, int priority, int changed);
    // A job control was applied here and recorded for the other engines ("pause", "resume",
    // "cancel", "priority", "run-now"; "tasks" with job 0 for tasks reprioritised one by
    // one); error: why it could not be recorded (the other engines do not hear of it).
    void controlRecorded(qint64 jobId, const QString &control, const QString &error);
    // What replayDead() did, in full (follows its tasksActedOn): the new template revision,
    // and whether the request itself was wrong (invalid: nothing changed).
    void deadReplayed(const bd::ReplayResult &result);
    // skipped: given tasks the action did not apply to (not dead, not pending, ...).
    void tasksActedOn(bd::TaskAction action, int changed, const QString &error, int skipped);
    void exportProgressed(qint64 jobId, qint64 rows, qint64 totalRows);
    void exportFinished(qint64 jobId, const QString &path, bool ok, const QString &error);
    // Before exportFinished: what the file could not hold as it was (cells cut to the XLSX
    // limit, with how many).
    void exportWarned(qint64 jobId, const QStringList &warnings);
    void taskCountReady(quint64 ticket, qint64 count);
    void taskPageReady(quint64 ticket, qint64 offset, const QList<bd::TaskRow> &rows);
    // Just before taskPageReady(ticket): that page is in task order, not in the key's, as
    // the job's sort index for the key is being built.
    void taskSortPreparing(quint64 ticket, qint64 jobId, bd::TaskSortKey key);
    // The job's sort index for the key is there (error empty), or could not be made (the
    // pages then sort without one): pages in that order are worth reading again.
    void taskSortReady(qint64 jobId, bd::TaskSortKey key, const QString &error);
    void taskDetailReady(quint64 ticket, const bd::TaskDetail &detail);
    void deadSummaryReady(quint64 ticket, qint64 jobId, const QList<bd::DeadClassCount> &classes);
    void deadTasksListed(quint64 ticket, qint64 jobId, const QList<bd::DeadTask> &tasks,
                         const QString &error);
    void alertsListed(const QList<bd::AlertRecord> &alerts);
    // Raised or cleared: a panel showing alerts should ask again.
    void alertsChanged();
    void costReportReady(qint64 jobId, const QJsonObject &report);
    void globalBudgetChanged(double capUsd, const QString &period, double spentUsd);
    // A read failed: the ticket of the request it answers (0: a read without one).
    void readFailed(quint64 ticket, const QString &error);
    // problems: what the check found wrong (empty: sound); message: with problems, what the
    // user can do; without, why the check could not run (empty: it ran).
    void databaseChecked(const QStringList &problems, const QString &message);
    void connectionTested(const QString &providerId, const QStringList &models,
                          const QString &error);
    void pricesListed(const QJsonObject &models);
    void pricesReloaded(bool ok, const QString &error);
    void seriesReady(quint64 ticket, const bd::metrics::SeriesData &series);
    void queueDefined(quint64 ticket, const bd::QueueDefinition &result);
    void queueRead(quint64 ticket, const bd::QueueInfo &queue);
    void queuesListed(const QList<bd::QueueInfo> &queues);
    void tasksSubmitted(quint64 ticket, const bd::SubmitResult &result);
    void queueTasksRead(quint64 ticket, const QList<bd::QueueTaskResult> &tasks);
    // Tasks of a queue that this engine completed or dead-lettered, once stored.
    void queueTasksSettled(qint64 jobId, const QList<qint64> &taskIds);

private:
    std::atomic<quint64> m_nextTicket{1};
};

// Makes an engine over options.database; open() starts it.
std::unique_ptr<Engine> createEngine(const EngineOptions &options, QObject *parent = nullptr);

} // namespace bd

Q_DECLARE_METATYPE(bd::JobCheck)
Q_DECLARE_METATYPE(bd::TaskAction)
Q_DECLARE_METATYPE(bd::Lane)
Q_DECLARE_METATYPE(bd::ReplayResult)
