#pragma once

#include "core/types.h"
#include "dispatch/dispatcher.h"
#include "jobio.h"
#include "metrics/metrictypes.h"
#include "providers/provider.h"
#include "snapshot.h"
#include "store/taskquery.h"

#include <QObject>
#include <QThread>

#include <functional>

namespace bd {

class Clock;
class EngineWorker;
class ReaderWorker;

// The facade the console and batchctl hold. It owns the engine thread; every call returns
// at once and its result comes back as a signal, delivered on the thread that created the
// Engine. Nothing here touches the disk or the network on the caller's thread.
//
// Calls made before opened() are queued behind open(). API keys are passed per job start
// and kept in memory only.
class Engine final : public QObject
{
    Q_OBJECT

public:
    struct Options
    {
        QString databasePath;
        QString workerId;       // empty: host:pid:random
        Clock *clock = nullptr; // null: system clock
        dispatch::JobRunner::Options runner;
        QString priceOverridePath; // user prices.json merged over the built-in table
        // Metrics, alert rules, notifications and the /metrics endpoint; see
        // metrics::MonitoringConfig for the keys. Empty: the guide's defaults, no endpoint.
        QJsonObject monitoring;
    };

    explicit Engine(const Options &options, QObject *parent = nullptr);
    ~Engine() override; // pauses running jobs and joins the engine thread

    QString workerId() const { return m_workerId; }

    void open();
    void importJob(const bd::JobSpec &spec);
    void cancelImport();
    void startJob(qint64 jobId, const bd::providers::ProviderConfig &provider);
    // Stops dispatching; in-flight answers are awaited (or cancelled) and stored.
    void pauseJob(qint64 jobId, const QString &reason, bool cancelInFlight = true);
    // Pauses every running job; stoppedAll() follows when all have come to rest.
    void stopAll(const QString &reason);
    // Requests in flight for a running job, changed while it runs.
    void setJobConcurrency(qint64 jobId, int concurrency);
    // Limits of a lane (1 realtime, 2 grouped, 3 batch), changed while it runs: requests in
    // flight per job, and provider batches open at once per job. They apply to the lane's
    // running jobs at once and to jobs started later in this engine; 0 leaves a job's own.
    void setLaneLimits(int priority, int concurrency, int maxConcurrentBatches);
    // Lanes by priority (1 realtime, 2 grouped sync calls, 3 batch): a paused lane's jobs
    // send nothing new (answers in flight are kept, claimed-but-unsent tasks go back
    // uncharged) until it is resumed; preemption ending does not resume it. Per engine,
    // not stored. laneStateChanged() follows a change; snapshots carry the paused lanes.
    void pauseLane(int priority);
    void resumeLane(int priority);
    // Off-peak override: the job's priority-3 work goes now, outside its window. Kept in
    // the job's settings ("offpeak_run_now"), so a restart keeps it.
    void runNow(qint64 jobId);
    // Reads every job with its counts and spend; jobsListed() follows.
    void requestJobs();

    static QString defaultWorkerId();

    // ---- console verbs. Same contract: return at once, answers come as signals. Task reads
    // run on a reader thread with its own connection, so a slow page never stalls dispatch
    // and dispatch never stalls a view.

    // What a provider offers, for pickers (no network; cheap).
    struct ProviderInfo
    {
        QString id;
        QString displayName;
        QString defaultModel;
        QStringList knownModels;
        bool hasBatchApi = false;
        bool requiresKey = false;
        bool simulated = false;
    };
    static QList<ProviderInfo> availableProviders();

    enum class TaskAction : int
    {
        Replay = 0,       // dead -> pending, attempts reset
        Reprioritise = 1, // pending tasks get argument as priority
        Cancel = 2,       // pending -> cancelled
    };

    // Stops the job if it runs and cancels its pending tasks; jobStopped() follows.
    void cancelJob(qint64 jobId, const QString &reason);
    // Pending tasks and the job itself get the priority; jobReprioritised() follows.
    void reprioritiseJob(qint64 jobId, int priority);
    // On the given tasks, or on every task matching a filter; tasksActedOn() follows with
    // how many changed.
    void actOnTasks(TaskAction action, const QList<qint64> &taskIds, int argument = 0);
    void actOnMatching(TaskAction action, const bd::store::TaskFilter &filter, int argument = 0);
    // Dead-lettered tasks back to pending with attempts and timers reset: by ids, by error
    // class or all of a job, optionally with an edited template and/or system prompt
    // (checked against the job's columns; a bad placeholder is the error). Replayed tasks
    // render with the new revision, the job's other tasks keep theirs. tasksActedOn(Replay)
    // follows with the changed and skipped counts.
    void replayDead(const bd::ReplayRequest &request);
    // Writes the job's rows (.csv, .jsonl, .xlsx) on the reader thread; exportProgressed()
    // then exportFinished().
    void exportJob(qint64 jobId, const QString &path);
    // Stops the job's export under way (or queued): exportFinished() follows with ok false
    // and nothing is left at the path (a file already there stays as it was).
    void cancelExport(qint64 jobId);

    // Snapshots: one snapshotTaken() per interval (default 1000 ms) once opened.
    void setSnapshotInterval(int ms);

    // Paged task reads. A ticket is the caller's number for a request, echoed in the
    // answer; requests with a ticket below the floor are dropped unread (a view that moved
    // on raises the floor so the reader does not work through pages nobody will see).
    void requestTaskCount(quint64 ticket, const bd::store::TaskFilter &filter);
    void requestTaskPage(quint64 ticket, const bd::store::TaskFilter &filter, qint64 offset,
                         qint64 afterId, int limit);
    void discardTaskRequestsBefore(quint64 ticket);
    void requestTaskDetail(qint64 taskId);
    void requestDeadSummary(qint64 jobId);
    void requestAlerts(bool includeCleared);
    // The USD cap across every job of the database over a period: "month" (UTC calendar
    // month, the default), "day" (UTC) or "all". 0: no cap. Stored in the database, so
    // other workers and later runs keep to it. At 80 % an alert; at 100 % every job pauses
    // ("global budget reached"); a higher cap starts the jobs paused by it again.
    // An empty period keeps the stored one. globalBudgetChanged() follows; snapshots carry
    // the cap and the spend.
    void setGlobalBudget(double usd, const QString &period = QStringLiteral("month"));
    void clearAlerts(qint64 jobId, const QString &kind);

    // ---- settings (the console's settings dialog). Same contract.

    // Keys a job's own settings lack are taken from these when its runner starts:
    // concurrency, rpm, tpm, group_sizes, medium_depth, large_depth, batch_size,
    // max_concurrent_batches, batch_max_wait_ms, offpeak. Running jobs keep theirs.
    void setDefaultJobSettings(const QJsonObject &defaults);
    // Monitoring keys as metrics::MonitoringConfig reads them, applied at run time: alert
    // thresholds and notifications at once, the /metrics endpoint started or stopped
    // (metricsEndpointChanged() follows). Recorder intervals keep their start-up values.
    void setMonitoring(const QJsonObject &monitoring);
    // The price table as the engine uses it (built in, merged with the user's override):
    // pricesListed() with {model: {input, cached_input, cache_write, cache_write_1h, output,
    // batch_discount, simulated, date, source}}.
    void requestPrices();
    // Reads the override file again; pricesReloaded() follows. Runners started later use
    // the new prices.
    void reloadPrices();
    // Writes the user's override file ({"models": entries}, each entry whole) off the GUI
    // thread and reloads; pricesReloaded() follows.
    void savePriceOverrides(const QJsonObject &entries);
    // GET {base}/v1/models with the provider's credentials, on the engine thread;
    // connectionTested() follows with the model ids or an error (never containing the key).
    void testConnection(const bd::providers::ProviderConfig &provider);
    // A stored metric series (engine/metrics, names::*) read on the reader thread. labels
    // selects: every stored label set that has these key=value pairs is merged (gauges and
    // counters summed per point, ratios averaged by weight, quantiles the largest); ""
    // takes the unlabelled series (the total) where one is stored, else merges all.
    // seriesReady() follows with the ticket.
    void requestSeries(quint64 ticket, const QString &metric, const QString &labels,
                       qint64 fromMs, qint64 toMs, int maxPoints);

Q_SIGNALS:
    void opened(bool ok, const QString &error);
    void importProgressed(qint64 rows, qint64 bytesRead, qint64 totalBytes);
    void importFinished(const bd::ImportResult &result);
    void jobProgressed(qint64 jobId, const bd::TaskCounts &counts, const bd::Usage &usage,
                       double costUsd);
    void jobStopped(qint64 jobId, bd::JobState state, const QString &reason);
    void jobFailed(qint64 jobId, const QString &error);
    // A running job started waiting (reason) or stopped waiting (empty) for its off-peak window.
    void jobWaiting(qint64 jobId, const QString &reason);
    void laneStateChanged(int priority, bool paused);
    void alertRaised(qint64 jobId, const QString &kind, const QString &message);
    void stoppedAll();
    // The /metrics endpoint listens on 127.0.0.1:port (0 when it is off or failed).
    void metricsEndpointChanged(quint16 port, const QString &error);
    void jobsListed(const QList<bd::JobInfo> &jobs);

    void snapshotTaken(const bd::EngineSnapshot &snapshot);
    void jobReprioritised(qint64 jobId, int priority, int changed);
    // skipped: given tasks the action did not apply to (not dead, not pending, ...).
    void tasksActedOn(bd::Engine::TaskAction action, int changed, const QString &error, int skipped);
    void exportProgressed(qint64 jobId, qint64 rows, qint64 totalRows);
    void exportFinished(qint64 jobId, const QString &path, bool ok, const QString &error);
    void taskCountReady(quint64 ticket, qint64 count);
    void taskPageReady(quint64 ticket, qint64 offset, const QList<bd::store::TaskRow> &rows);
    void taskDetailReady(const bd::store::TaskDetail &detail);
    void deadSummaryReady(qint64 jobId, const QList<bd::store::DeadClassCount> &classes);
    void alertsListed(const QList<bd::AlertRecord> &alerts);
    // Raised or cleared: a panel showing alerts should ask again.
    void alertsChanged();
    void globalBudgetChanged(double capUsd, const QString &period, double spentUsd);
    void readFailed(const QString &error);
    void connectionTested(const QString &providerId, const QStringList &models,
                          const QString &error);
    void pricesListed(const QJsonObject &models);
    void pricesReloaded(bool ok, const QString &error);
    void seriesReady(quint64 ticket, const bd::metrics::SeriesData &series);

private:
    QString m_workerId;
    QThread m_thread;
    EngineWorker *m_worker = nullptr; // lives on m_thread
    std::shared_ptr<std::atomic<bool>> m_cancelImport;
    // Reads wait until the engine has opened (and migrated) the database.
    void callReader(std::function<void()> call);
    bool m_readerReady = false;
    QList<std::function<void()>> m_readerQueue;
    QThread m_readerThread;
    ReaderWorker *m_reader = nullptr; // lives on m_readerThread
    std::shared_ptr<std::atomic<quint64>> m_ticketFloor;
    std::shared_ptr<std::atomic<qint64>> m_cancelledExport; // job id, 0: none
};

} // namespace bd

Q_DECLARE_METATYPE(bd::ImportResult)
