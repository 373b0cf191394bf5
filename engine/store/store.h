#pragma once

#include "api/tasks.h"
#include "core/exportrow.h"
#include "core/tasktypes.h"

#include <QHash>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <functional>
#include <optional>

namespace bd::store {

// An answer kept by the response cache (cost/responsecache.h), with what it cost to get.
struct CachedResponse
{
    QByteArray key; // hex SHA-256 of the canonical request
    qint64 taskId = 0; // the completed task whose answer this is
    QString output;
    QString model;
    Usage usage;
    qint64 createdAtMs = 0;
};

// Completed tasks of a job summed by model, lane, day (UTC) of completion and tier (model
// tiering; empty for a job on one model). lane is
// "batch-api" (settled through a provider batch), "response-cache" (answered from the
// cache, free) or "sync" (single or grouped sync calls). costUsd sums the known costs;
// unpricedTasks had no price (cost unknown).
struct CostLine
{
    QString model;
    QString lane;
    QString day; // YYYY-MM-DD
    QString tier;
    qint64 tasks = 0;
    qint64 unpricedTasks = 0;
    Usage usage;
    double costUsd = 0.0;       // includes classifyCostUsd
    Usage classifyUsage;        // a tiering classifier's calls for these tasks
    double classifyCostUsd = 0.0;
};

// What a job is billed beyond its answers: a Gemini explicit cache's creation and storage
// (providers/geminiprovider.h). One per job and key (the cache's name).
struct JobCharge
{
    QString key;
    QString kind; // "explicit_cache"
    QString model;
    double usd = 0.0;
    QString detail; // what it is made of, for people
    qint64 createdAtMs = 0;
    qint64 updatedAtMs = 0;
};

// What completed tasks of earlier jobs with the same template, system prompt and model
// used, for calibrating estimates. Cache hits are left out.
struct UsageCalibration
{
    qint64 tasks = 0;
    double meanPromptTokens = 0; // input + cached + cache writes
    double meanOutputTokens = 0;
    qint64 maxOutputTokens = 0;
};

// What changes when a job is created, started, stopped or taken over by a process: read for
// every job each second to notice what other processes did, without counting tasks.
struct JobStamp
{
    qint64 id = 0;
    JobState state = JobState::Importing;
    QString runner;
    qint64 updatedAtMs = 0;

    bool operator==(const JobStamp &other) const = default;
};

// The durable queue: the queue-writer role of a Database (database.h). An instance works
// over its database's one connection and belongs to the thread that opened that database;
// the engine thread holds the one that writes, readers (views, status, exports) open
// databases of their own. Every call is synchronous. Every state change of a task is
// made by exactly one statement or one transaction, so a crash at any point leaves each
// task in exactly one state; leases that outlive their owner are handed back by
// releaseExpiredLeases().
//
// SQLite is the default backend. The interface keeps to what a PostgreSQL backend can do
// the same way (claims with FOR UPDATE SKIP LOCKED, RETURNING), so dispatch and UI never
// see which one they talk to.
class Store
{
public:
    virtual ~Store() = default;

    virtual QString errorString() const = 0;

    // --- jobs
    virtual std::optional<qint64> findJobByFingerprint(const QByteArray &fingerprint) = 0;
    // Creates a job in state Importing. Returns 0 on failure.
    virtual qint64 createJob(const JobSpec &spec, const QStringList &columns, qint64 nowMs) = 0;
    virtual std::optional<JobInfo> job(qint64 jobId) = 0;
    virtual QList<JobInfo> jobs() = 0;
    // Any state but Running also clears the job's runner.
    virtual bool setJobState(qint64 jobId, JobState state, const QString &reason, qint64 nowMs) = 0;
    // The worker (host:pid:nonce) that runs the job now, kept with it so every process can
    // tell who does; empty: none.
    virtual bool setJobRunner(qint64 jobId, const QString &workerId, qint64 nowMs) = 0;
    // Every job's id, state, runner and last change, in id order.
    virtual QList<JobStamp> jobStamps() = 0;
    // True while a priority-1 job is being worked on by another worker (one of its tasks
    // has a live lease not owned by workerId, and not by a provider batch, which needs no
    // sync capacity): preemption across processes. Cheap: the running priority-1 jobs,
    // then an index seek into each one's leased tasks.
    virtual bool urgentWorkElsewhere(const QString &workerId, qint64 nowMs) = 0;
    // Replaces the job's settings (say, an off-peak "run now" kept across restarts).
    virtual bool setJobSettings(qint64 jobId, const QJsonObject &settings) = 0;
    // Drops the tasks of an import that did not finish so it can start again.
    virtual bool discardTasks(qint64 jobId) = 0;
    // Also drops the job's sort indexes.
    virtual bool deleteJob(qint64 jobId) = 0;
    // The job's sort index for the key (taskordersql::sortIndexName), made if missing; a
    // key that needs none is fine as it is. Asked for the first time a big job is sorted on
    // that key (issue #18): from then on that job's writes keep it up to date, no other
    // job's do. Takes a while over a big job (SQLite: under the write lock).
    virtual bool ensureSortIndex(qint64 jobId, TaskSortKey key) = 0;
    // The sort indexes on the database (whichever process built them), as (job, key); and
    // dropping one (the engine keeps their number capped).
    virtual QList<std::pair<qint64, TaskSortKey>> sortIndexes() = 0;
    virtual bool dropSortIndex(qint64 jobId, TaskSortKey key) = 0;

    // --- import: rows in input order, numbered from firstRowNumber, in one transaction
    virtual bool appendTasks(qint64 jobId, qint64 firstRowNumber, const QList<QStringList> &rows,
                             int priority, qint64 nowMs) = 0;

    // --- dispatch
    // Leases up to limit pending tasks of the job whose wait is over, best priority first,
    // in one statement. Tasks stay leased until a transition or until leaseUntilMs passes.
    // Returns false on a database error.
    virtual bool claimTasks(qint64 jobId, const QString &owner, int limit, qint64 nowMs,
                            qint64 leaseUntilMs, QList<ClaimedTask> *claimed) = 0;
    virtual bool renewLeases(const QString &owner, qint64 leaseUntilMs) = 0;
    // Returns tasks whose lease ran out to pending; returns how many.
    virtual int releaseExpiredLeases(qint64 nowMs) = 0;
    // Workers holding leases now; a worker that knows one of them is dead (same host, no
    // such process) hands its tasks back at once instead of waiting for the lease to end.
    virtual QStringList leaseOwners() = 0;
    // Pending again from nowMs (the release time is where their wait starts), like
    // releaseExpiredLeases().
    virtual int releaseLeasesOf(const QString &owner, qint64 nowMs) = 0;
    // Applies many outcomes in one transaction (the writer's group commit). A transition
    // for a task no longer leased by owner (its lease expired and it moved on) is skipped
    // and counted in *skipped, so an answer can never be stored twice.
    virtual bool applyTransitions(const QString &owner, const QList<TaskTransition> &transitions,
                                  qint64 nowMs, int *skipped = nullptr) = 0;
    // Earliest not-before time among the job's pending tasks, or nullopt when none wait.
    virtual std::optional<qint64> nextPendingAtMs(qint64 jobId) = 0;

    // --- batches
    // Records a batch of `size` tasks (fill rate size/maxSize). Returns its id, 0 on failure.
    virtual qint64 createBatch(qint64 jobId, const QString &provider, const QString &lane,
                               int size, int maxSize, const QString &state, qint64 nowMs) = 0;
    // Hands leased tasks over to a provider batch: they stay leased under the batch's own
    // owner name until lease end, so neither a crash nor a rescuer resubmits them while
    // the provider holds them. Returns how many moved.
    virtual int assignTasksToBatch(qint64 batchId, const QString &fromOwner,
                                   const QList<qint64> &taskIds, const QString &batchOwner,
                                   qint64 leaseUntilMs) = 0;
    virtual bool updateBatch(qint64 batchId, const QString &state, const QString &providerBatchId,
                             qint64 nowMs) = 0;
    virtual QList<ProviderBatchRecord> batches(qint64 jobId, const QStringList &states) = 0;
    // Tasks still leased by the batch (its results not yet recorded).
    virtual QList<ClaimedTask> leasedTasksOfBatch(qint64 batchId) = 0;

    // --- reading
    virtual TaskCounts taskCounts(qint64 jobId) = 0;
    // costUsd: the completed tasks' costs, tiering calls of the others and the job's charges.
    virtual bool jobTotals(qint64 jobId, Usage *usage, double *costUsd, qint64 *billedTasks) = 0;
    virtual QList<DeadTask> deadTasks(qint64 jobId, int limit, qint64 afterTaskId) = 0;
    virtual QList<AttemptRecord> attempts(qint64 taskId) = 0;
    // Streams the job's rows in input order (SQLite: a page at a time; PostgreSQL: one COPY,
    // which keeps the connection busy, so the callback must not call back into this store);
    // rows appended meanwhile come out too. The callback returns false to stop early.
    // Returns false on a database error.
    virtual bool forEachExportRow(qint64 jobId,
                                  const std::function<bool(const ExportRow &)> &sink) = 0;

    // --- dead letters: pending again with attempts and wait reset. Empty taskIds: all of
    // the job's (jobId 0: of every job). Returns how many tasks changed.
    virtual int replayDead(qint64 jobId, const QList<qint64> &taskIds, qint64 nowMs) = 0;
    // The same, narrowed to one error class (empty: any), and moving the replayed tasks to
    // a template revision (-1: they keep theirs). Attempts, provider cancellations and
    // retry times are reset.
    virtual int replayDead(qint64 jobId, const QList<qint64> &taskIds, qint64 nowMs,
                           const QString &errorClass, int templateRevision) = 0;
    // A new revision of the job's template (1, 2, ...); -1 on failure.
    virtual int addTemplateRevision(qint64 jobId, const QString &templateText,
                                    const QString &systemPrompt, qint64 nowMs) = 0;
    // Template and system prompt of a revision (0: the job's own); nullopt if unknown.
    virtual std::optional<std::pair<QString, QString>> templateRevision(qint64 jobId,
                                                                        int revision) = 0;

    // --- alerts: at most one open alert per kind and job in the database, whichever process
    // raises it. Raising an open one refreshes its message and figures; *created says
    // whether this call opened it (so only that process notifies). Clearing stores the
    // figures at clearing under "cleared"; *cleared counts the alerts it closed.
    virtual qint64 raiseAlert(qint64 jobId, const QString &kind, const QString &message,
                              qint64 nowMs, const QJsonObject &figures = {},
                              bool *created = nullptr) = 0;
    virtual bool clearAlerts(qint64 jobId, const QString &kind, qint64 nowMs,
                             const QJsonObject &figures = {}, int *cleared = nullptr) = 0;
    virtual QList<AlertRecord> alerts(bool includeCleared) = 0;

    // --- settings shared by every process on the database (key -> text)
    virtual std::optional<QString> setting(const QString &key) = 0;
    virtual bool setSetting(const QString &key, const QString &value) = 0;
    // What completed tasks of every job cost from fromMs on (UTC days, from the spend
    // ledger applyTransitions keeps; fromMs is rounded down to its day).
    virtual double spendSince(qint64 fromMs) = 0;

    // --- charges a job incurs beyond its answers (store/sql/sqlcharges.h). The first record
    // of a key adds it; a later one with the same key replaces its amount (what it finally
    // came to). The job's cost (jobTotals) and the spend ledger (on the charge's first day)
    // move by the difference in one transaction, returned through *deltaUsd: a fact learnt
    // twice (say, again after a restart) is counted once.
    virtual bool recordJobCharge(qint64 jobId, const JobCharge &charge, qint64 nowMs,
                                 double *deltaUsd = nullptr) = 0;
    virtual QList<JobCharge> jobCharges(qint64 jobId) = 0;

    // --- cost (engine/cost). Every backend answers these; there are no defaults.
    // The cached answer for a request key, if any.
    virtual std::optional<CachedResponse> cachedResponse(const QByteArray &key) = 0;
    // The cached answers for many keys (a dispatched group's), by key; keys without one
    // are absent. Asked together so that a backend answers them in one read.
    virtual QHash<QByteArray, CachedResponse> cachedResponses(const QList<QByteArray> &keys) = 0;
    // Keeps answers (first one per key wins), in one transaction.
    virtual bool storeCachedResponses(const QList<CachedResponse> &entries) = 0;
    // Entries in the response cache; -1 on a database error.
    virtual qint64 cachedResponseCount() = 0;
    virtual QList<CostLine> costLines(qint64 jobId) = 0;
    virtual UsageCalibration usageCalibration(const QString &templateText,
                                              const QString &systemPrompt,
                                              const QString &model) = 0;
};

} // namespace bd::store
