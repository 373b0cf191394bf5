#pragma once

#include "api/engine.h"
#include "core/tasktypes.h"
#include "cost/pricetable.h"
#include "dispatch/dispatcher.h"
#include "dispatch/globalbudget.h"
#include "jobio.h"
#include "api/snapshot.h"

#include <QHash>
#include <QJsonObject>
#include <QMap>
#include <QObject>
#include <QSet>
#include <QTimer>

#include <atomic>
#include <memory>

namespace bd {

class Clock;
namespace metrics {
class Monitoring;
struct RuleInputs;
}
namespace store {
class SqliteStore;
}

// Lives on the engine thread and owns what runs there: the writing store connection and
// one runner per running job. Only Engine talks to it, by queued calls.
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
    void startJob(qint64 jobId, const bd::ProviderConfig &provider);
    void pauseJob(qint64 jobId, const QString &reason, bool cancelInFlight);
    void stopAll(const QString &reason);
    void listJobs();
    void setJobConcurrency(qint64 jobId, int concurrency);
    void setLanePaused(bd::Lane lane, bool paused);
    void setLaneLimits(bd::Lane lane, int concurrency, int maxConcurrentBatches);
    void runNow(qint64 jobId);
    void shutdown(); // synchronous, on the engine thread, before it quits

    // --- console verbs (added for the desktop console)
    void cancelJob(qint64 jobId, const QString &reason);
    void reprioritiseJob(qint64 jobId, int priority);
    // argument: the priority for Reprioritise.
    void actOnTasks(bd::TaskAction action, const QList<qint64> &taskIds, int argument);
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

Q_SIGNALS:
    void opened(bool ok, const QString &error);
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
    void metricsEndpointChanged(quint16 port, const QString &error);
    void jobsListed(const QList<bd::JobInfo> &jobs);
    void snapshotTaken(const bd::EngineSnapshot &snapshot);
    void jobReprioritised(qint64 jobId, int priority, int changed);
    void tasksActedOn(bd::TaskAction action, int changed, const QString &error, int skipped);
    void deadReplayed(const bd::ReplayResult &result);
    void alertsChanged();
    void connectionTested(const QString &providerId, const QStringList &models,
                          const QString &error);
    void pricesListed(const QJsonObject &models);
    void pricesReloaded(bool ok, const QString &error);
    void globalBudgetChanged(double capUsd, const QString &period, double spentUsd);

private:
    bool loadPrices(QString *error);
    void refreshSnapshot(qint64 jobId);
    void updateSnapshot(const bd::JobInfo &job);
    void emitSnapshot();

    void releaseLeasesOfDeadWorkers();
    void handleRunnerFinished(qint64 jobId, bd::JobState state, const QString &reason);
    void removeRunner(qint64 jobId);

    QString m_databasePath;
    QString m_workerId;
    Clock *m_clock;
    dispatch::JobRunner::Options m_runnerOptions;
    QString m_priceOverridePath;
    cost::PriceTable m_prices;
    QJsonObject m_defaultJobSettings;
    std::unique_ptr<store::SqliteStore> m_store;
    QHash<qint64, dispatch::JobRunner *> m_runners;
    bool m_stoppingAll = false;

    void startMonitoring();
    void reportQueues();
    metrics::RuleInputs ruleInputs() const;
    QJsonObject m_monitoringJson;
    std::unique_ptr<metrics::Monitoring> m_monitoring;
    // job -> priority -> since when its oldest pending task of that priority waits
    QHash<qint64, QMap<int, qint64>> m_oldestPendingSince;

    // Global budget: one per engine, shared by its runners; cap, period and the spend of
    // every process re-read from the database each snapshot tick. At the cap every job
    // here pauses; a higher cap (or a new period) starts them again.
    void loadGlobalBudget();
    void checkGlobalBudget();
    void pauseForGlobalBudget();
    std::shared_ptr<dispatch::GlobalBudget> m_globalBudget = std::make_shared<dispatch::GlobalBudget>();
    struct GlobalPause
    {
        double capUsd = 0.0;
        double spentUsd = 0.0;
    };
    std::optional<GlobalPause> m_globalPause;
    QSet<qint64> m_pausedByGlobalBudget;
    // How each job was last started here, to start it again when the cap is raised.
    QHash<qint64, ProviderConfig> m_providerConfigs;

    // Preemption across jobs: sync work of lower priorities is held while priority-1 work
    // is waiting, and let through a trickle once it has waited longer than agingMs.
    void updatePreemption();
    QTimer *m_preemptionTimer = nullptr;
    QHash<qint64, qint64> m_heldSinceMs; // job -> when it was held
    // Another process's priority-1 job in flight on the same database (checked each tick
    // while this engine has sync work that could yield; held a moment past the last sight
    // so the gaps between its claims do not release us).
    qint64 m_urgentElsewhereUntilMs = 0;
    static constexpr qint64 kUrgentElsewhereGraceMs = 1'000;
    // Lanes (by priority) the user paused: held regardless of preemption, until resumed.
    QSet<int> m_pausedLanes;
    // Per lane (priority): requests in flight per job and provider batches open at once,
    // set while running; 0 leaves the job's own setting.
    struct LaneLimits
    {
        int concurrency = 0;
        int maxConcurrentBatches = 0;
    };
    QHash<int, LaneLimits> m_laneLimits;
    void applyLaneLimits(dispatch::JobRunner *runner) const;
    qint64 m_agingMs = 10 * 60 * 1000;
    // One rate limit and breaker per endpoint and model, shared by the jobs that use it.
    QHash<QString, std::weak_ptr<dispatch::ProviderGuard>> m_guards;
    QMap<qint64, JobSnapshot> m_snapshots;
    QSet<qint64> m_cancelWhenStopped;
    QTimer *m_snapshotTimer = nullptr;
    int m_snapshotInterval = 1000;
    int m_snapshotTicks = 0;
};

} // namespace bd
