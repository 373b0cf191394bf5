#include "engineworker.h"

#include "api/jobsettings.h"
#include "core/clock.h"
#include "cost/tiering.h"
#include "jobcheck.h"
#include "metrics/monitoring.h"
#include "metrics/queueprobe.h"
#include "store/database.h"
#include "store/sharedlimits.h"
#include "store/store.h"
#include "store/taskactions.h"
#include "store/writebehind.h"

#include <QDate>
#include <QDateTime>
#include <QHostInfo>

#include <cmath>
#include <optional>

#ifdef Q_OS_UNIX
#include <cerrno>
#include <csignal>
#endif

namespace bd {

using namespace Qt::StringLiterals;

namespace {

// Worker ids are host:pid:nonce. On the same host a worker whose process is gone holds
// its leases for nothing; everywhere else only the lease expiry can tell.
bool isLocalWorkerDead(const QString &workerId)
{
    const QStringList parts = workerId.split(u':');
    if (parts.size() != 3 || parts.at(0) != QHostInfo::localHostName())
        return false;
    bool ok = false;
    const qint64 pid = parts.at(1).toLongLong(&ok);
    if (!ok || pid <= 0)
        return false;
#ifdef Q_OS_UNIX
    return ::kill(pid_t(pid), 0) != 0 && errno == ESRCH;
#else
    return false;
#endif
}

} // namespace

EngineWorker::EngineWorker(const QString &databasePath, const QString &workerId, Clock *clock,
                           const dispatch::JobRunner::Options &runnerOptions,
                           const QString &priceOverridePath, const QJsonObject &monitoring)
    : m_databasePath(databasePath)
    , m_workerId(workerId)
    , m_clock(clock)
    , m_runnerOptions(runnerOptions)
    , m_prices(priceOverridePath)
    , m_monitoringJson(monitoring)
{
}

EngineWorker::~EngineWorker() = default;

void EngineWorker::open()
{
    if (m_store) {
        Q_EMIT opened(true, QString());
        return;
    }
    QString priceError;
    if (!m_prices.load(&priceError))
        qWarning("%s", qPrintable(priceError));
    QString openError;
    auto database = store::Database::open(m_databasePath, store::Database::Access::ReadWrite, &openError);
    if (!database) {
        Q_EMIT opened(false, openError);
        return;
    }
    m_database = std::move(database);
    m_store = &m_database->queue();
    m_store->releaseExpiredLeases(m_clock->nowMs());
    releaseLeasesOfDeadWorkers();
    discoverJobs(true);
    // A large SQLite file is checked at open only in part, and the job list no longer reads
    // the tasks (their totals are kept in cost lines). Before this engine writes anything,
    // every task row is read once, so that a damaged page anywhere among the tasks stops
    // it here instead of a new job being imported beside it. (Read-only commands read
    // what they show and meet damage there.)
    if (!store::Database::isServerLocation(m_databasePath)) {
        for (const JobInfo &job : m_store->jobs()) {
            if (!m_store->forEachExportRow(job.id, [](const ExportRow &) { return true; }))
                break;
        }
    }
    if (const QString damage = m_database->damage(); !damage.isEmpty()) {
        m_store = nullptr;
        m_database.reset();
        Q_EMIT opened(false, damage);
        return;
    }
    if (!m_snapshotTimer) {
        m_snapshotTimer = new QTimer(this);
        connect(m_snapshotTimer, &QTimer::timeout, this, &EngineWorker::emitSnapshot);
    }
    m_snapshotTimer->start(m_snapshotInterval);
    // Controls recorded before this engine opened were applied where they were meant to be.
    m_lastControlId = qMax<qint64>(0, m_database->taskActions().lastControlId());
    startMonitoring();
    m_globalBudget.budget()->setExchange(
        capExchange(u"reserved:global"_s, [this]() -> std::optional<double> {
            if (!m_store)
                return std::nullopt;
            const auto period = m_globalBudget.budget()->period();
            return m_store->spendSince(dispatch::GlobalBudget::periodStartMs(period, m_clock->nowMs()));
        }));
    loadGlobalBudget();
    checkGlobalBudget();
    startHeartbeat();
    listenForWork();
    Q_EMIT opened(true, QString());
}

void EngineWorker::startMonitoring()
{
    m_monitoring = std::make_unique<metrics::Monitoring>(
        metrics::MonitoringConfig::fromJson(m_monitoringJson), m_clock, *m_database,
        m_workerId);
    // Every alert, from the runners or the rules, goes through the alert center: it keeps one
    // raise and one clear per alert, and the store and the front ends hear of each once.
    // The store is the ledger shared with other workers on the database: a transition one
    // of them made already is not made (nor notified) again here.
    m_monitoring->alerts()->setLedger(metrics::AlertCenter::storeLedger(m_store));
    connect(m_monitoring.get(), &metrics::Monitoring::alertRaised, this,
            [this](const metrics::AlertEvent &event) {
                Q_EMIT alertRaised(event.jobId, event.kind, event.message);
                Q_EMIT alertsChanged();
            });
    connect(m_monitoring.get(), &metrics::Monitoring::alertUpdated, this,
            [this](const metrics::AlertEvent &event) {
                m_store->raiseAlert(event.jobId, event.kind, event.message, event.atMs, event.figures);
                Q_EMIT alertsChanged();
            });
    connect(m_monitoring.get(), &metrics::Monitoring::alertCleared, this,
            [this](const metrics::AlertEvent &) { Q_EMIT alertsChanged(); });
    m_monitoring->alerts()->setInputsProvider([this] { return ruleInputs(); });
    m_globalBudget.setWarnFraction(budgetWarnFraction());
    metrics::AlertCenter *alerts = m_monitoring->alerts(); // global alerts: job 0
    m_globalBudget.setAlerts({
        [alerts](const QString &kind, const QString &message, const QJsonObject &figures) {
            alerts->raise(0, kind, message, figures);
        },
        [alerts](const QString &kind, const QString &message, const QJsonObject &figures) {
            alerts->clear(0, kind, message, figures);
        },
        [alerts](const QString &kind) { return alerts->isOpen(kind); },
    });
    QString error;
    const bool listening = m_monitoring->start(m_store->alerts(false), &error);
    if (m_monitoring->config().openMetricsEnabled || !listening)
        Q_EMIT metricsEndpointChanged(m_monitoring->endpointPort(), error);
}

double EngineWorker::budgetWarnFraction() const
{
    const auto &budget = m_monitoring->config().thresholds.budget;
    return budget.enabled ? budget.warnFraction : 0.0;
}

metrics::RuleInputs EngineWorker::ruleInputs() const
{
    metrics::RuleInputs inputs;
    for (const dispatch::JobRunner *runner : std::as_const(m_runners)) {
        const double budget = runner->budgetUsd();
        if (budget > 0)
            inputs.budgets.append({runner->jobId(), budget, runner->spentUsd()});
    }
    return inputs;
}

void EngineWorker::reportQueues()
{
    if (!m_monitoring)
        return;
    // The age of the oldest waiting task, per priority: one index seek per job and priority
    // (tasks of a job can be reprioritised one by one), refreshed on slow ticks and only
    // for jobs with work waiting, whichever worker runs them.
    const bool probe = m_snapshots.isSlowTick();
    metrics::QueueProbe &queueProbe = m_database->queueProbe();
    const auto oldest = [&queueProbe](qint64 jobId) { return queueProbe.oldestPendingSince(jobId); };
    for (const JobSnapshot &job : m_snapshots.jobs()) {
        metrics::JobQueueReport report;
        report.jobId = job.jobId;
        report.running = job.runningHere;
        const auto *runner = m_runners.value(job.jobId);
        const int priority = runner ? runner->priority() : job.priority;
        const QString mode = runner && runner->isBatchLane() ? u"batch-api"_s : u"grouped"_s;
        report.levels = metrics::QueueProbe::levels(priority, mode, job.counts.pending, job.counts.leased,
                                                    m_snapshots.oldestPendingSince(job, probe, oldest));
        if (runner && !runner->isBatchLane()) {
            report.concurrencyLimit = runner->concurrencyLimit();
            report.concurrencyCeiling = runner->concurrency();
        }
        m_monitoring->recorder()->reportQueue(report);
    }
}

void EngineWorker::releaseLeasesOfDeadWorkers()
{
    // On a server database "same host name, no such pid" proves nothing: containers share
    // host names and have pid namespaces of their own, so a live worker's tasks could be
    // handed out twice. There the leases run out instead (heartbeats and a rescuer: #14).
    if (store::Database::isServerLocation(m_databasePath))
        return;
    for (const QString &owner : m_store->leaseOwners()) {
        if (owner != m_workerId && isLocalWorkerDead(owner))
            m_store->releaseLeasesOf(owner, m_clock->nowMs());
    }
}

void EngineWorker::importJob(const JobSpec &spec, std::shared_ptr<std::atomic<bool>> cancel)
{
    if (!m_store)
        return refuseImport();
    runImport(new JobImport(*m_store, spec, m_clock->nowMs(), std::move(cancel), this));
}

void EngineWorker::finishInterruptedImport(qint64 jobId, std::shared_ptr<std::atomic<bool>> cancel)
{
    if (!m_store)
        return refuseImport();
    QString error;
    std::unique_ptr<JobImport> import =
        JobImport::finishing(*m_store, jobId, m_clock->nowMs(), std::move(cancel), &error, this);
    if (!import) {
        ImportResult result;
        result.error = error;
        Q_EMIT importFinished(result);
        return;
    }
    runImport(import.release());
}

void EngineWorker::refuseImport()
{
    ImportResult result;
    result.error = u"the database is not open"_s;
    Q_EMIT importFinished(result);
}

void EngineWorker::runImport(JobImport *import)
{
    // Rows are stored a slice per event-loop turn: runners keep dispatching meanwhile.
    m_imports.insert(import);
    connect(import, &JobImport::progressed, this, &EngineWorker::importProgressed);
    connect(import, &JobImport::finished, this, [this, import](const ImportResult &result) {
        m_imports.remove(import);
        import->deleteLater();
        if (result.ok)
            refreshSnapshot(result.jobId);
        Q_EMIT importFinished(result);
    });
    import->start();
}

void EngineWorker::startJob(qint64 jobId, const ProviderConfig &providerConfig)
{
    if (!m_store) {
        Q_EMIT jobFailed(jobId, u"the database is not open"_s);
        return;
    }
    if (m_runners.contains(jobId))
        return;
    auto job = m_store->job(jobId);
    if (!job) {
        Q_EMIT jobFailed(jobId, noSuchJobText(jobId));
        return;
    }
    if (job->state == JobState::Importing || job->state == JobState::Cancelled) {
        Q_EMIT jobFailed(jobId, u"job %1 is %2 and cannot run"_s.arg(jobId).arg(jobStateName(job->state)));
        return;
    }
    // The console's defaults fill what the job itself does not say.
    for (auto it = m_defaultJobSettings.constBegin(); it != m_defaultJobSettings.constEnd(); ++it) {
        if (!job->spec.settings.contains(it.key()))
            job->spec.settings.insert(it.key(), it.value());
    }
    QString error;
    auto provider = providers::createProvider(providerConfig, m_clock, &error);
    if (!provider) {
        Q_EMIT jobFailed(jobId, error);
        return;
    }
    const QString model = job->spec.model.isEmpty() ? provider->defaultModel() : job->spec.model;
    auto *runner = new dispatch::JobRunner(m_store, std::move(provider), *job, m_prices.table(),
                                           m_clock, m_workerId, m_runnerOptions, this);
    runner->setWorkerRegistry(&m_database->workers());
    runner->setWriteBehind(writeBehind());
    runner->setGlobalBudget(m_globalBudget.budget());
    if (runner->budgetUsd() > 0)
        runner->setBudgetExchange(
            capExchange(u"reserved:job:%1"_s.arg(jobId), [this, jobId]() -> std::optional<double> {
                double spent = 0.0;
                if (!m_store || !m_store->jobTotals(jobId, nullptr, &spent, nullptr))
                    return std::nullopt;
                return spent;
            }));
    m_providerConfigs.insert(jobId, providerConfig);
    m_globalBudget.forget(jobId);
    shareProviderGuards(runner, providerConfig.id + u'|' + providerConfig.baseUrl + u'|', model,
                        job->spec.settings);
    // A job's own --concurrency is a ceiling for every worker running it together.
    if (const int shared = job->spec.settings.value(settingkeys::concurrency).toInt(); shared > 0)
        runner->concurrencyLimiter().share(&m_database->sharedLimits(),
                                           u"concurrency:job:%1"_s.arg(jobId), m_workerId, shared,
                                           m_clock->nowMs());
    m_runners.insert(jobId, runner);
    m_lanes.apply(runner);
    connectRunner(runner);
    m_snapshots.setRunningHere(jobId, true);
    if (!m_preemptionTimer) {
        m_preemptionTimer = new QTimer(this);
        m_preemptionTimer->setInterval(200);
        connect(m_preemptionTimer, &QTimer::timeout, this, &EngineWorker::updatePreemption);
    }
    m_preemptionTimer->start();
    // Hold lower lanes before the urgent job claims, so it gets the provider at once.
    updatePreemption();
    // The cap as stored now: another process may have changed it since the last tick, and
    // a job must not be born paused under a cap that is gone.
    loadGlobalBudget();
    // What other workers already reserved under the caps counts from the first request.
    shareReservations();
    runner->start();
    updatePreemption();
}

store::WriteBehind *EngineWorker::writeBehind()
{
    // SQLite files only (store/writebehind.h); opened with the first job that runs here.
    if (m_writeBehind || m_writeBehindFailed || store::Database::isServerLocation(m_databasePath) ||
        m_databasePath == u":memory:"_s)
        return m_writeBehind.get();
    QString error;
    m_writeBehind = store::WriteBehind::open(m_databasePath, &error);
    if (!m_writeBehind) {
        m_writeBehindFailed = true;
        qWarning("%s: answers are written on the engine thread: %s", qPrintable(m_databasePath),
                 qPrintable(error));
    }
    return m_writeBehind.get();
}

void EngineWorker::shareProviderGuards(dispatch::JobRunner *runner, const QString &endpoint,
                                       const QString &model, const QJsonObject &settings)
{
    const QString guardKey = endpoint + model;
    if (auto guard = m_guards.value(guardKey).lock()) {
        runner->setProviderGuard(guard);
    } else {
        shareWithWorkers(*runner->providerGuard(), guardKey);
        m_guards.insert(guardKey, runner->providerGuard());
    }
    // A tiered job (model "auto") shares the guard of each model it routes to.
    runner->setGuardLookup([this, endpoint, settings](const QString &routed) {
        auto guard = m_guards.value(endpoint + routed).lock();
        if (!guard) {
            guard = dispatch::JobRunner::makeGuard(settings);
            shareWithWorkers(*guard, endpoint + routed);
            m_guards.insert(endpoint + routed, guard);
        }
        return guard;
    });
}

void EngineWorker::shareWithWorkers(dispatch::ProviderGuard &guard, const QString &key)
{
    // Rate, breaker and batch breaker of an endpoint hold for every worker on the database.
    store::SharedLimits &shared = m_database->sharedLimits();
    guard.limiter.share(&shared, key);
    guard.breaker.share(&shared, key, m_workerId);
    guard.batchBreaker.share(&shared, key + u"|batch"_s, m_workerId);
}

void EngineWorker::connectRunner(dispatch::JobRunner *runner)
{
    runner->setConnectionLostCheck([this] { return m_database && m_database->connectionLost(); });
    connect(runner, &dispatch::JobRunner::databaseUnreachable, this,
            [this](const QString &error) { databaseAwayAfter(error); });
    if (m_databaseAway)
        runner->databaseAway();
    connect(runner, &dispatch::JobRunner::progressed, this, &EngineWorker::jobProgressed);
    connect(runner, &dispatch::JobRunner::progressed, this,
            [this](qint64 id, const TaskCounts &counts, const Usage &usage, double costUsd) {
                m_snapshots.progressed(id, counts, usage, costUsd, m_runners.contains(id));
                checkGlobalBudget(); // in memory: the 80 % alert need not wait for a tick
            });
    connect(
        runner, &dispatch::JobRunner::alertRaised, this,
        [this](qint64 id, const QString &kind, const QString &message, const QJsonObject &figures) {
            if (kind == QLatin1StringView(metrics::kinds::circuitOpen) &&
                !m_monitoring->config().thresholds.circuitOpen.enabled)
                return; // switched off in the monitoring settings
            m_monitoring->alerts()->raise(id, kind, message, figures);
        });
    connect(runner, &dispatch::JobRunner::alertCleared, this, [this](qint64 id, const QString &kind) {
        m_monitoring->alerts()->clear(id, kind);
    });
    runner->setMetrics(m_monitoring->recorder());
    runner->setBudgetWarnFraction(budgetWarnFraction());
    connect(runner, &dispatch::JobRunner::waitingChanged, this, &EngineWorker::jobWaiting);
    connect(runner, &dispatch::JobRunner::settled, this, &EngineWorker::queueTasksSettled);
    connect(runner, &dispatch::JobRunner::finished, this, &EngineWorker::handleRunnerFinished);
    connect(runner, &dispatch::JobRunner::failed, this, [this](qint64 id, const QString &message) {
        const bool writeBehindFull = m_writeBehind && m_writeBehind->takeDiskFull();
        if (m_database->takeDiskFull() || writeBehindFull) {
            pauseForFullDisk(id, message);
            return;
        }
        removeRunner(id);
        Q_EMIT jobFailed(id, message);
    });
}

void EngineWorker::updatePreemption()
{
    if (!databaseReachable())
        return; // decided again once the other workers' backlog can be read
    QList<dispatch::PreemptionPolicy::Runner> states;
    states.reserve(m_runners.size());
    for (const dispatch::JobRunner *runner : std::as_const(m_runners)) {
        // Only urgent work's backlog matters: lower lanes are not asked (as before the split).
        states.append({runner->jobId(), runner->dispatchPriority(), runner->isBatchLane(), runner->isRunning(),
                       runner->dispatchPriority() == 1 && runner->hasDispatchableWork()});
    }
    const qint64 now = m_clock->nowMs();
    dispatch::PreemptionPolicy::UrgentElsewhere urgentElsewhere;
    if (m_store)
        urgentElsewhere = [this, now] { return m_store->urgentWorkElsewhere(m_workerId, now); };
    for (const auto &decision : m_preemption.decide(states, m_lanes, now, urgentElsewhere)) {
        if (auto *runner = m_runners.value(decision.jobId))
            runner->setHeld(decision.held, decision.trickle);
    }
    // Shared concurrency: what each runner has out, told even while no answer comes back.
    for (dispatch::JobRunner *runner : std::as_const(m_runners))
        runner->concurrencyLimiter().syncShared(runner->inFlightCount(), now);
    if (m_runners.isEmpty() && m_preemptionTimer)
        m_preemptionTimer->stop();
}

void EngineWorker::pauseJob(qint64 jobId, const QString &reason, bool cancelInFlight)
{
    m_globalBudget.forget(jobId); // paused by hand: a higher cap does not start it
    if (auto *runner = m_runners.value(jobId))
        runner->stop(JobState::Paused, reason, cancelInFlight);
    else if (m_store) {
        m_store->setJobState(jobId, JobState::Paused, reason, m_clock->nowMs());
        refreshSnapshot(jobId);
        Q_EMIT jobStopped(jobId, JobState::Paused, reason);
    }
    recordControl(jobId, store::JobControl::Action::Pause, 0, reason);
}

void EngineWorker::stopAll(const QString &reason)
{
    m_stoppingAll = true;
    if (m_runners.isEmpty()) {
        m_stoppingAll = false;
        heartbeat(); // the worker list has this engine's figures as it stops
        Q_EMIT stoppedAll();
        return;
    }
    // stop() may finish a runner at once, which removes it from m_runners: walk a copy.
    const QList<dispatch::JobRunner *> runners = m_runners.values();
    for (dispatch::JobRunner *runner : runners)
        runner->stop(JobState::Paused, reason, true);
}

void EngineWorker::handleRunnerFinished(qint64 jobId, JobState state, const QString &reason)
{
    removeRunner(jobId);
    forgetLoad(jobId);
    if (state == JobState::Paused && stopCauseOf(reason) == StopCause::GlobalBudget)
        apply(m_globalBudget.jobStoppedAtCap(jobId)); // every job here waits for a higher cap
    if (m_cancelWhenStopped.remove(jobId) && m_store) {
        store::TaskActions &actions = m_database->taskActions();
        if (actions.cancelPending(jobId, m_clock->nowMs()) < 0)
            qWarning("job %lld: cannot cancel its pending tasks: %s", jobId, qPrintable(actions.errorString()));
    }
    refreshSnapshot(jobId);
    Q_EMIT jobStopped(jobId, state, reason);
    if (m_stoppingAll && m_runners.isEmpty()) {
        m_stoppingAll = false;
        heartbeat();
        Q_EMIT stoppedAll();
    }
}

void EngineWorker::pauseForFullDisk(qint64 jobId, const QString &error)
{
    // The runner stopped at the write that did not fit. What it had not written is lost
    // from memory only: those tasks are still leased in the database and go back to pending
    // when the lease is released (at once for a dead local worker), so nothing is lost and
    // nothing is stored twice; the answers are asked for again.
    const QString why = stopCauseReason(StopCause::DiskFull) + u": "_s + error;
    m_monitoring->alerts()->raise(
        jobId, u"disk_full"_s,
        u"job %1 paused: the disk holding %2 is full; free space there, then resume the job"_s
            .arg(jobId)
            .arg(m_databasePath));
    // Likely refused as well while the disk stays full; the job is resumable either way.
    m_store->setJobState(jobId, JobState::Paused, why, m_clock->nowMs());
    m_database->takeDiskFull();
    if (m_writeBehind)
        m_writeBehind->takeDiskFull();
    handleRunnerFinished(jobId, JobState::Paused, why);
}

void EngineWorker::removeRunner(qint64 jobId)
{
    if (auto *runner = m_runners.take(jobId)) {
        runner->concurrencyLimiter().syncShared(0, m_clock->nowMs(), true);
        if (runner->budgetUsd() > 0)
            m_database->sharedLimits().setShare(u"reserved:job:%1"_s.arg(jobId), m_workerId, 0,
                                                m_clock->nowMs());
        m_completedByRemoved += runner->completedHere();
        runner->deleteLater();
    }
    m_preemption.forget(jobId);
    updatePreemption(); // an urgent job that ended lets the others go on
}

void EngineWorker::setJobConcurrency(qint64 jobId, int concurrency)
{
    if (auto *runner = m_runners.value(jobId))
        runner->setConcurrency(concurrency);
}

void EngineWorker::setLaneLimits(Lane lane, int concurrency, int maxConcurrentBatches)
{
    if (!m_lanes.setLimits(lane, concurrency, maxConcurrentBatches))
        return;
    for (dispatch::JobRunner *runner : std::as_const(m_runners)) {
        if (runner->priority() == int(lane))
            m_lanes.apply(runner);
    }
}

void EngineWorker::setLanePaused(Lane lane, bool paused)
{
    if (!m_lanes.setPaused(lane, paused))
        return;
    updatePreemption();
    Q_EMIT laneStateChanged(lane, paused);
}

void EngineWorker::runNow(qint64 jobId)
{
    if (!m_store)
        return;
    const auto job = m_store->job(jobId);
    if (!job) {
        Q_EMIT jobFailed(jobId, noSuchJobText(jobId));
        return;
    }
    // Stored with the job, so a restarted engine (or batchctl resume) keeps the override.
    QJsonObject settings = job->spec.settings;
    settings.insert(settingkeys::offpeakRunNow, true);
    if (!m_store->setJobSettings(jobId, settings)) {
        Q_EMIT jobFailed(jobId, m_store->errorString());
        return;
    }
    if (auto *runner = m_runners.value(jobId))
        runner->runNow();
    recordControl(jobId, store::JobControl::Action::RunNow);
}

void EngineWorker::resumeJob(qint64 jobId)
{
    if (!m_store)
        return;
    if (!m_runners.contains(jobId) && m_providerConfigs.contains(jobId))
        startJob(jobId, m_providerConfigs.value(jobId));
    recordControl(jobId, store::JobControl::Action::Resume);
}

dispatch::CapLedger::Exchange
EngineWorker::capExchange(const QString &key, std::function<std::optional<double>()> storedSpend)
{
    // Budgets hold across workers: each engine publishes its claim on a cap (micro-USD:
    // what its requests in flight may still cost and what it settled and has not written),
    // then reads the other workers' claims and the spend the database holds, in this order
    // (dispatch/capledger.h says why).
    return [this, key, storedSpend = std::move(storedSpend)](
               double mineUsd) -> std::optional<dispatch::CapLedger::View> {
        if (!m_database)
            return std::nullopt;
        store::SharedLimits &shared = m_database->sharedLimits();
        const qint64 now = m_clock->nowMs();
        std::optional<store::SharedLimits::Others> others;
        if (shared.setShare(key, m_workerId, qint64(std::ceil(mineUsd * 1e6)), now))
            others = shared.sharesElsewhere(key, m_workerId, now - kReservationsStaleMs);
        const std::optional<double> spent = others ? storedSpend() : std::nullopt;
        if (!spent) {
            qWarning("%s: %s", qPrintable(key), qPrintable(shared.errorString()));
            return std::nullopt;
        }
        return dispatch::CapLedger::View{double(others->amount) / 1e6, *spent};
    };
}

void EngineWorker::shareReservations()
{
    // Each tick every claim is shrunk to what it covers and the others' are read again
    // (a claim is raised at once, before a request it does not cover). Nothing is
    // exchanged where there is no cap.
    const std::shared_ptr<dispatch::GlobalBudget> budget = m_globalBudget.budget();
    if (budget->isActive())
        budget->exchange();
    else if (m_sharedGlobalReservation) // the cap is gone: so is this engine's claim
        m_database->sharedLimits().setShare(u"reserved:global"_s, m_workerId, 0, m_clock->nowMs());
    m_sharedGlobalReservation = budget->isActive();
    for (dispatch::JobRunner *runner : std::as_const(m_runners)) {
        if (runner->budgetUsd() > 0)
            runner->exchangeBudget();
    }
}

void EngineWorker::listenForWork()
{
    // PostgreSQL: a job submitted or resumed elsewhere is listed at once (a worker's picker
    // starts it), not at the next poll. A burst of changes is listed once.
    if (!m_workNotified) {
        m_workNotified = new QTimer(this);
        m_workNotified->setSingleShot(true);
        m_workNotified->setInterval(20);
        connect(m_workNotified, &QTimer::timeout, this, &EngineWorker::listJobs);
    }
    m_database->listenForWork([this] {
        if (!m_workNotified->isActive())
            m_workNotified->start();
    });
}

void EngineWorker::listJobs()
{
    if (!m_store || !databaseReachable())
        return;
    const QList<JobInfo> jobs = m_store->jobs();
    if (const QString damage = m_database->damage(); !damage.isEmpty()) {
        Q_EMIT readFailed(0, damage); // the counts and totals just read may be zeros
        return;
    }
    QSet<qint64> present;
    for (const JobInfo &job : jobs) {
        m_snapshots.update(job, m_runners.contains(job.id));
        present.insert(job.id);
    }
    m_snapshots.retain(present);
    Q_EMIT jobsListed(jobs);
}

void EngineWorker::shutdown()
{
    // An import cut short leaves nothing behind (its job is removed).
    for (JobImport *import : std::exchange(m_imports, {})) {
        import->abandon(u"the engine shut down"_s);
        delete import;
    }
    // Hand back whatever this worker still holds so another process can go on at once.
    const QList<dispatch::JobRunner *> runners = m_runners.values();
    for (dispatch::JobRunner *runner : runners)
        runner->stop(JobState::Paused, stopCauseReason(StopCause::EngineShutdown), true);
    for (const dispatch::JobRunner *runner : std::as_const(m_runners))
        m_completedByRemoved += runner->completedHere();
    qDeleteAll(m_runners);
    m_runners.clear();
    m_writeBehind.reset(); // the runners' last groups are committed before leases go back
    if (m_snapshotTimer)
        m_snapshotTimer->stop();
    stopHeartbeat();
    if (m_monitoring) {
        m_monitoring->shutdown(); // writes the open interval while the store is still there
        m_monitoring.reset();
    }
    if (m_store && !m_databaseAway)
        m_store->releaseLeasesOf(m_workerId, m_clock->nowMs());
    m_store = nullptr;
    m_database.reset();
}

void EngineWorker::discoverJobs(bool checkRunners)
{
    // One small read of the jobs table per tick: jobs other processes created, started,
    // stopped or deleted are re-read in full, the others left alone.
    const QList<store::JobStamp> stamps = m_store->jobStamps();
    // Nothing read while jobs were known: a failed read (the database busy) more likely
    // than every job deleted at once; the jobs stay (a listing drops deleted ones).
    if (stamps.isEmpty() && !m_jobStamps.isEmpty())
        return;
    QHash<qint64, store::JobStamp> seen;
    seen.reserve(stamps.size());
    for (const store::JobStamp &stamp : stamps) {
        seen.insert(stamp.id, stamp);
        if (m_jobStamps.value(stamp.id) != stamp)
            refreshSnapshot(stamp.id);
        if (checkRunners && !stamp.runner.isEmpty() && stamp.runner != m_workerId &&
            !store::Database::isServerLocation(m_databasePath) && isLocalWorkerDead(stamp.runner)) {
            // Its process is gone (a crash, a kill): nobody runs the job now.
            m_store->setJobRunner(stamp.id, QString(), m_clock->nowMs());
        }
    }
    for (auto it = m_jobStamps.cbegin(); it != m_jobStamps.cend(); ++it) {
        if (!seen.contains(it.key()))
            m_snapshots.refresh(it.key(), std::nullopt, false);
    }
    m_jobStamps = std::move(seen);
}

void EngineWorker::refreshSnapshot(qint64 jobId)
{
    if (!m_store)
        return;
    const std::optional<JobInfo> job = m_store->job(jobId);
    // A job another process runs: what limits it, from what its workers report.
    if (job && job->state == JobState::Running && !m_runners.contains(jobId))
        m_limits.insert(jobId, readLimit(jobId, job->spec.settings, nullptr));
    else if (!m_runners.contains(jobId))
        m_limits.remove(jobId);
    m_snapshots.refresh(jobId, job, m_runners.contains(jobId));
}

void EngineWorker::shareLoad()
{
    for (dispatch::JobRunner *runner : std::as_const(m_runners))
        m_limits.insert(runner->jobId(), readLimit(runner->jobId(), runner->job().spec.settings, runner));
}

JobLimit EngineWorker::readLimit(qint64 jobId, const QJsonObject &settings,
                                 dispatch::JobRunner *runner)
{
    // Four shares per job (running it, requests a minute, in flight, saturated), written by
    // each worker that runs it and summed over all of them: one statement each, kept prepared.
    store::SharedLimits &shared = m_database->sharedLimits();
    const qint64 now = m_clock->nowMs();
    const auto exchange = [&](const char *what, qint64 mine, int *workers,
                              qint64 staleMs) -> qint64 {
        const QString key = u"load:%1:job:%2"_s.arg(QLatin1String(what)).arg(jobId);
        if (runner && !shared.setShare(key, m_workerId, mine, now))
            return mine;
        const auto others = shared.sharesElsewhere(key, m_workerId, now - staleMs);
        if (workers)
            *workers = (others ? others->workers : 0) + (mine > 0 ? 1 : 0);
        return mine + (others ? others->amount : 0);
    };
    JobLoadFigures figures;
    figures.configuredRpm = settings.value(settingkeys::rpm).toDouble();
    figures.concurrencyCeiling = settings.value(settingkeys::concurrency).toInt();
    // The workers running the job: each one's row is rewritten every tick while it runs the
    // job, whether it has requests out or not (counting those with requests in flight made
    // "running · N workers" flip between counts as answers came back), and counts for a
    // lease after its last write, as long as a dead worker's tasks stay its own.
    exchange("run", runner ? 1 : 0, &figures.workers, m_runnerOptions.leaseMs);
    figures.sentPerMinute =
        double(exchange("sent", runner ? qint64(std::lround(runner->sentPerMinute(now))) : 0,
                        nullptr, kLoadStaleMs));
    figures.inFlight =
        int(exchange("flight", runner ? runner->inFlightCount() : 0, nullptr, kLoadStaleMs));
    int saturatedWorkers = 0;
    exchange("busy", runner && runner->isSaturated() ? 1 : 0, &saturatedWorkers, kLoadStaleMs);
    figures.saturatedWorkers = saturatedWorkers;
    if (runner) {
        figures.breakerOpen = runner->isHeldByBreaker(now);
        figures.budgetHeld = runner->isHeldByBudget();
        // Held with its lane running: priority 1 work (here or elsewhere) goes first.
        figures.heldForUrgentWork =
            runner->isHeld() && !m_lanes.isPaused(runner->dispatchPriority());
    }
    return explainJobLimit(figures);
}

void EngineWorker::forgetLoad(qint64 jobId)
{
    m_limits.remove(jobId);
    if (!m_database)
        return;
    for (const char *what : {"run", "sent", "flight", "busy"})
        m_database->sharedLimits().setShare(u"load:%1:job:%2"_s.arg(QLatin1String(what)).arg(jobId),
                                            m_workerId, 0, m_clock->nowMs());
}

void EngineWorker::emitSnapshot()
{
    if (!m_store || !databaseReachable())
        return;
    const bool slowTick = m_snapshots.nextTick();
    discoverJobs(slowTick);
    // Jobs another worker (batchctl, a second desktop) runs, and queues `batchctl serve`
    // fills: read their figures every other tick, never per tick, so a big job costs a
    // count every two seconds at most.
    if (m_snapshots.isElsewhereTick()) {
        for (const qint64 jobId : m_snapshots.changingElsewhere())
            refreshSnapshot(jobId);
    }
    applyControls();
    reviewDeadlines();
    reportQueues();
    loadGlobalBudget();
    shareReservations();
    shareLoad();
    checkGlobalBudget();
    EngineSnapshot snapshot = m_snapshots.build(QDateTime::currentMSecsSinceEpoch(), [this](JobSnapshot &job) {
        if (const auto watch = m_deadlines.constFind(job.jobId); watch != m_deadlines.cend()) {
            job.deadlineLateByMs = watch->review.lateByMs;
            job.deadlineNote = watch->review.why;
        }
        if (const auto *runner = m_runners.value(job.jobId)) {
            job.waitingFor = runner->waitingFor();
            job.concurrency = runner->concurrencyLimit();
            job.concurrencyCeiling = runner->concurrency();
        }
        if (job.state == JobState::Running)
            job.limit = m_limits.value(job.jobId);
    });
    const dispatch::GlobalBudget &budget = *m_globalBudget.budget();
    snapshot.globalBudgetUsd = budget.capUsd();
    snapshot.globalBudgetPeriod = dispatch::GlobalBudget::periodName(budget.period());
    snapshot.globalSpentUsd = budget.spentUsd();
    snapshot.globalReservedUsd = budget.reservedUsd();
    snapshot.globalBudgetReached = m_globalBudget.isPausedAtCap();
    snapshot.pausedLanes = m_lanes.pausedLanes();
    Q_EMIT snapshotTaken(snapshot);
}

void EngineWorker::reviewDeadlines()
{
    const qint64 now = m_clock->nowMs();
    for (auto it = m_deadlines.begin(); it != m_deadlines.end();) {
        if (m_runners.contains(it.key()))
            ++it;
        else
            it = m_deadlines.erase(it);
    }
    QList<std::pair<qint64, int>> moves;
    for (dispatch::JobRunner *runner : std::as_const(m_runners)) {
        const JobInfo &job = runner->job();
        const QJsonValue deadline = job.spec.settings.value(settingkeys::deadlineMs);
        if (deadline.isUndefined() || runner->isStanding())
            continue;
        DeadlineWatch &watch = m_deadlines[runner->jobId()];
        const TaskCounts &counts = runner->counts();
        watch.meter.record(now, counts.completed + counts.dead + counts.cancelled);
        // On the batch API, tasks already inside a provider batch finish there: only the
        // pending ones can still change lanes.
        const bool onBatchApi = runner->isBatchLane();
        const qint64 open = onBatchApi ? counts.pending : counts.unfinished();
        const dispatch::DeadlineReview review =
            dispatch::reviewDeadline(now, deadline.toInteger(), runner->priority(), onBatchApi,
                                     open, watch.meter.tasksPerSecond());
        const bool wasAtRisk = watch.review.atRisk;
        watch.review = review;
        const qint64 jobId = runner->jobId();
        if (review.atRisk && !wasAtRisk && m_monitoring)
            m_monitoring->alerts()->raise(jobId, u"deadline_at_risk"_s,
                                          u"job %1: %2"_s.arg(jobId).arg(review.why),
                                          QJsonObject{{u"late_by_ms"_s, review.lateByMs},
                                                      {u"deadline_ms"_s, deadline.toInteger()}});
        else if (!review.atRisk && wasAtRisk && m_monitoring)
            m_monitoring->alerts()->clear(jobId, u"deadline_at_risk"_s);
        if (review.action != dispatch::DeadlineReview::Action::Keep
            && review.priority != runner->priority())
            moves.append({jobId, review.priority});
    }
    for (const auto &[jobId, priority] : std::as_const(moves))
        reprioritiseJob(jobId, priority); // as a user's change: stored, seen by every engine
}

void EngineWorker::setSnapshotInterval(int ms)
{
    m_snapshotInterval = qMax(10, ms);
    if (m_snapshotTimer && m_snapshotTimer->isActive())
        m_snapshotTimer->start(m_snapshotInterval);
}

void EngineWorker::cancelJob(qint64 jobId, const QString &reason)
{
    if (!m_store)
        return;
    m_globalBudget.forget(jobId);
    recordControl(jobId, store::JobControl::Action::Cancel, 0, reason);
    if (auto *runner = m_runners.value(jobId)) {
        m_cancelWhenStopped.insert(jobId);
        runner->stop(JobState::Cancelled, reason, true);
        return;
    }
    const qint64 now = m_clock->nowMs();
    store::TaskActions &actions = m_database->taskActions();
    if (actions.cancelPending(jobId, now) < 0)
        qWarning("job %lld: cannot cancel its pending tasks: %s", jobId, qPrintable(actions.errorString()));
    m_store->setJobState(jobId, JobState::Cancelled, reason, now);
    refreshSnapshot(jobId);
    Q_EMIT jobStopped(jobId, JobState::Cancelled, reason);
}

void EngineWorker::reprioritiseJob(qint64 jobId, int priority)
{
    if (!m_store)
        return;
    const auto job = m_store->job(jobId);
    if (!job) {
        Q_EMIT jobFailed(jobId, noSuchJobText(jobId));
        return;
    }
    priority = qBound(1, priority, 3);
    const QString mode = laneFor(*job, priority);
    store::TaskActions &actions = m_database->taskActions();
    const int changed = actions.reprioritiseJob(jobId, priority, mode, m_clock->nowMs());
    if (changed < 0) {
        Q_EMIT jobFailed(jobId, actions.errorString());
        return;
    }
    moveToLane(jobId, priority, mode);
    recordControl(jobId, store::JobControl::Action::Reprioritise, priority);
    Q_EMIT jobReprioritised(jobId, priority, changed);
}

QString EngineWorker::laneFor(const JobInfo &job, int priority) const
{
    bool hasBatchApi = false;
    if (const auto *runner = m_runners.value(job.id))
        hasBatchApi = runner->hasBatchApi();
    else if (const auto info = providerInfo(job.spec.provider))
        hasBatchApi = info->hasBatchApi;
    if (job.spec.model == cost::kAutoModel) {
        // A tiering classifier answers first, so its job stays on sync calls.
        QString error;
        const auto tiering = cost::TieringConfig::fromJson(
            job.spec.settings.value(settingkeys::tiering).toObject(), u"job settings"_s, &error);
        if (tiering && tiering->usesClassifier())
            hasBatchApi = false;
    }
    return laneForPriority(priority, hasBatchApi);
}

void EngineWorker::moveToLane(qint64 jobId, int priority, const QString &mode)
{
    m_snapshots.setPriority(jobId, priority);
    auto *runner = m_runners.value(jobId);
    if (!runner)
        return;
    runner->setLane(priority, mode);
    m_lanes.apply(runner);
    updatePreemption(); // preemption goes by the priorities the runners have now
}

void EngineWorker::reclaimUnsent()
{
    for (dispatch::JobRunner *runner : std::as_const(m_runners))
        runner->handBackUnsent();
}

void EngineWorker::recordControl(qint64 jobId, store::JobControl::Action action, int argument,
                                 const QString &detail)
{
    static const char *const names[] = {"pause",    "resume",  "cancel",
                                        "priority", "run-now", "tasks"};
    const QString name = QString::fromLatin1(names[int(action)]);
    if (!m_store) {
        Q_EMIT controlRecorded(jobId, name, u"the database is not open"_s);
        return;
    }
    store::JobControl control;
    control.jobId = jobId;
    control.action = action;
    control.argument = argument;
    control.detail = detail;
    control.issuer = m_workerId;
    control.atMs = m_clock->nowMs();
    store::TaskActions &actions = m_database->taskActions();
    QString error;
    if (!actions.recordControl(control)) {
        error = u"job %1: the %2 control did not reach other processes: %3"_s.arg(jobId).arg(
            name, actions.errorString());
        qWarning("%s", qPrintable(error));
    }
    Q_EMIT controlRecorded(jobId, name, error);
}

void EngineWorker::applyControls()
{
    if (!m_store)
        return;
    for (const store::JobControl &control :
         m_database->taskActions().controlsAfter(m_lastControlId)) {
        m_lastControlId = control.id;
        if (control.issuer != m_workerId)
            applyControl(control);
    }
}

void EngineWorker::applyControl(const store::JobControl &control)
{
    using Action = store::JobControl::Action;
    const qint64 jobId = control.jobId;
    dispatch::JobRunner *runner = m_runners.value(jobId);
    switch (control.action) {
    case Action::Pause:
        m_globalBudget.forget(jobId);
        if (runner)
            runner->stop(JobState::Paused, control.detail, true);
        break;
    case Action::Cancel:
        m_globalBudget.forget(jobId);
        if (runner) {
            // Tasks it hands back were pending after the requester cancelled: cancel those too.
            m_cancelWhenStopped.insert(jobId);
            runner->stop(JobState::Cancelled, control.detail, true);
        }
        break;
    case Action::Resume:
        if (!runner && m_providerConfigs.contains(jobId))
            startJob(jobId, m_providerConfigs.value(jobId));
        break;
    case Action::Reprioritise:
        if (runner) {
            if (const auto job = m_store->job(jobId))
                moveToLane(jobId, job->spec.priority, job->spec.mode);
        }
        break;
    case Action::RunNow:
        if (runner)
            runner->runNow();
        break;
    case Action::TasksChanged:
        reclaimUnsent();
        break;
    }
    if (!m_runners.contains(jobId) && jobId > 0)
        refreshSnapshot(jobId); // its state or priority as the other engine left it
}

void EngineWorker::buildSortIndex(qint64 jobId, TaskSortKey key)
{
    if (!m_store) {
        Q_EMIT sortIndexBuilt(jobId, key, u"the database is not open"_s);
        return;
    }
    const bool built = m_store->ensureSortIndex(jobId, key);
    const QString error = built ? QString() : m_store->errorString();
    if (built) {
        sortIndexUsed(jobId, key);
        trimSortIndexes(jobId, key);
    }
    Q_EMIT sortIndexBuilt(jobId, key, error);
}

void EngineWorker::sortIndexUsed(qint64 jobId, TaskSortKey key)
{
    m_sortIndexUse.removeOne(std::pair(jobId, int(key)));
    m_sortIndexUse.append({jobId, int(key)});
}

void EngineWorker::trimSortIndexes(qint64 builtJobId, TaskSortKey builtKey)
{
    QList<std::pair<qint64, TaskSortKey>> indexes = m_store->sortIndexes();
    if (m_maxSortIndexes <= 0 || indexes.size() <= m_maxSortIndexes)
        return;
    const auto lastUse = [this](const std::pair<qint64, TaskSortKey> &index) {
        return m_sortIndexUse.indexOf(std::pair(index.first, int(index.second))); // -1: never
    };
    std::stable_sort(indexes.begin(), indexes.end(),
                     [&](const auto &a, const auto &b) { return lastUse(a) < lastUse(b); });
    qsizetype excess = indexes.size() - m_maxSortIndexes;
    for (const auto &[jobId, key] : std::as_const(indexes)) {
        if (excess <= 0)
            break;
        if (jobId == builtJobId && key == builtKey)
            continue;
        // A reader (here or in another process) reading a page over it when it goes reads
        // that page again without it (ReaderWorker::fetchTaskPage).
        if (m_store->dropSortIndex(jobId, key)) {
            m_sortIndexUse.removeOne(std::pair(jobId, int(key)));
            --excess;
        }
    }
}

void EngineWorker::actOnTasks(TaskAction action, const QList<qint64> &taskIds, int argument)
{
    if (!m_store) {
        Q_EMIT tasksActedOn(action, -1, u"the database is not open"_s, 0);
        return;
    }
    const qint64 now = m_clock->nowMs();
    store::TaskActions &actions = m_database->taskActions();
    int changed = 0;
    QString error;
    switch (action) {
    case TaskAction::Replay: {
        ReplayRequest request;
        request.taskIds = taskIds;
        const ReplayResult replayed = taskIds.isEmpty() ? ReplayResult{} : replayDeadTasks(*m_store, request, now);
        changed = replayed.error.isEmpty() ? replayed.changed : -1;
        error = replayed.error;
        break;
    }
    case TaskAction::Reprioritise:
        changed = actions.reprioritiseTasks(taskIds, argument);
        if (changed > 0) {
            // Claimed copies keep the old priority: back to be claimed into the new lane.
            reclaimUnsent();
            recordControl(0, store::JobControl::Action::TasksChanged, argument);
        }
        break;
    case TaskAction::Cancel:
        changed = actions.cancelTasks(taskIds, now);
        break;
    }
    if (changed < 0 && error.isEmpty())
        error = actions.errorString();
    // Replayed tasks of a finished job need a runner again; the console decides (resume).
    for (const qint64 jobId : m_snapshots.jobIds()) {
        if (!m_runners.contains(jobId))
            refreshSnapshot(jobId);
    }
    Q_EMIT tasksActedOn(action, changed, error, changed < 0 ? 0 : int(taskIds.size()) - changed);
}

void EngineWorker::replayDead(const ReplayRequest &request)
{
    if (!m_store) {
        Q_EMIT tasksActedOn(TaskAction::Replay, -1, u"the database is not open"_s, 0);
        ReplayResult failed;
        failed.error = u"the database is not open"_s;
        Q_EMIT deadReplayed(failed);
        return;
    }
    const ReplayResult result = replayDeadTasks(*m_store, request, m_clock->nowMs());
    if (request.jobId > 0 && !m_runners.contains(request.jobId))
        refreshSnapshot(request.jobId);
    // A running job claims the replayed tasks with its next group; a stopped one needs
    // startJob (the console's resume, batchctl dlq replay).
    Q_EMIT tasksActedOn(TaskAction::Replay, result.error.isEmpty() ? result.changed : -1, result.error, result.skipped);
    Q_EMIT deadReplayed(result);
}

void EngineWorker::clearAlerts(qint64 jobId, const QString &kind)
{
    if (m_monitoring)
        m_monitoring->alerts()->clear(jobId, kind); // an acknowledgement: not raised again at once
    if (m_store && m_store->clearAlerts(jobId, kind, m_clock->nowMs()))
        Q_EMIT alertsChanged();
}

void EngineWorker::setDefaultJobSettings(const QJsonObject &defaults)
{
    m_defaultJobSettings = defaults;
}

void EngineWorker::setMonitoring(const QJsonObject &monitoring)
{
    m_monitoringJson = monitoring;
    if (!m_monitoring)
        return; // applied when the store opens
    const metrics::MonitoringConfig config = metrics::MonitoringConfig::fromJson(monitoring);
    const quint16 portBefore = m_monitoring->endpointPort();
    QString error;
    const bool ok = m_monitoring->reconfigure(config, &error);
    // The budget warnings the runners and the global budget raise at once go by it too.
    m_globalBudget.setWarnFraction(budgetWarnFraction());
    for (dispatch::JobRunner *runner : std::as_const(m_runners))
        runner->setBudgetWarnFraction(budgetWarnFraction());
    if (!ok || m_monitoring->endpointPort() != portBefore)
        Q_EMIT metricsEndpointChanged(m_monitoring->endpointPort(), error);
}

void EngineWorker::listPrices()
{
    Q_EMIT pricesListed(m_prices.list());
}

void EngineWorker::reloadPrices()
{
    QString error;
    const bool ok = m_prices.load(&error);
    Q_EMIT pricesReloaded(ok, error);
    listPrices();
}

void EngineWorker::savePriceOverrides(const QJsonObject &entries)
{
    QString error;
    if (!m_prices.saveOverrides(entries, QDate::currentDate(), &error)) {
        Q_EMIT pricesReloaded(false, error);
        return;
    }
    reloadPrices();
}

void EngineWorker::testConnection(const ProviderConfig &config)
{
    QString error;
    std::unique_ptr<providers::Provider> created = providers::createProvider(config, m_clock, &error);
    if (!created) {
        Q_EMIT connectionTested(config.id, {}, error);
        return;
    }
    if (created->requiresKey() && config.apiKey.isEmpty()) {
        Q_EMIT connectionTested(config.id, {},
                                u"no API key: store one or set %1"_s.arg(
                                    config.id == u"anthropic"_s ? u"ANTHROPIC_API_KEY"_s
                                    : config.id == u"gemini"_s  ? u"GEMINI_API_KEY"_s
                                                                : u"OPENAI_API_KEY"_s));
        return;
    }
    providers::Provider *provider = created.release();
    provider->setParent(this);
    connect(provider, &providers::Provider::modelsListed, this,
            [this, provider, id = config.id](const QStringList &models, const QString &message) {
                Q_EMIT connectionTested(id, models, message);
                provider->deleteLater();
            });
    provider->listModels();
}

void EngineWorker::setGlobalBudget(double usd, const QString &period)
{
    if (!m_store)
        return;
    const auto stored = m_globalBudget.toStore(usd, period); // no period given: the stored one
    if (!stored) {
        qWarning("global budget: ignored %f per %s (a period is month, day or all)", usd, qPrintable(period));
        return;
    }
    m_store->setSetting(dispatch::GlobalBudgetController::capKey(), stored->cap);
    m_store->setSetting(dispatch::GlobalBudgetController::periodKey(), stored->period);
    loadGlobalBudget();
    checkGlobalBudget();
    const dispatch::GlobalBudget &budget = *m_globalBudget.budget();
    Q_EMIT globalBudgetChanged(budget.capUsd(), dispatch::GlobalBudget::periodName(budget.period()),
                               budget.spentUsd());
}

void EngineWorker::loadGlobalBudget()
{
    if (!m_store)
        return;
    // Another process (`batchctl budget --set`, a second console) may have changed it.
    m_globalBudget.load(m_store->setting(dispatch::GlobalBudgetController::capKey()).value_or(QString()),
                        m_store->setting(dispatch::GlobalBudgetController::periodKey()).value_or(QString()),
                        m_clock->nowMs(), [this](qint64 sinceMs) { return m_store->spendSince(sinceMs); });
}

void EngineWorker::checkGlobalBudget()
{
    if (m_monitoring) // the alerts go through it; before the store opens nothing runs
        apply(m_globalBudget.check());
}

void EngineWorker::apply(const dispatch::GlobalBudgetController::Decision &decision)
{
    for (const qint64 jobId : decision.resume) {
        if (m_providerConfigs.contains(jobId))
            startJob(jobId, m_providerConfigs.value(jobId));
    }
    if (!decision.pauseAll)
        return;
    // Requests in flight were reserved under the cap: they may come back.
    const QList<dispatch::JobRunner *> runners = m_runners.values();
    for (dispatch::JobRunner *runner : runners)
        runner->stop(JobState::Paused, stopCauseReason(StopCause::GlobalBudget), false);
}

} // namespace bd
