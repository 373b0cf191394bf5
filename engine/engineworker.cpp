#include "api/jobsettings.h"
#include "engineworker.h"

#include "core/clock.h"
#include "metrics/monitoring.h"
#include "metrics/queueprobe.h"
#include "store/sqlitestore.h"
#include "store/taskactions.h"

#include <QDate>
#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QSaveFile>
#include <QHostInfo>

#include <algorithm>

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
    , m_priceOverridePath(priceOverridePath)
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
    if (!loadPrices(&priceError))
        qWarning("%s", qPrintable(priceError));
    auto store = std::make_unique<store::SqliteStore>(m_databasePath, u"engine-writer"_s);
    if (!store->isOpen()) {
        Q_EMIT opened(false, store->errorString());
        return;
    }
    m_store = std::move(store);
    m_store->releaseExpiredLeases(m_clock->nowMs());
    releaseLeasesOfDeadWorkers();
    for (const JobInfo &job : m_store->jobs())
        updateSnapshot(job);
    if (!m_snapshotTimer) {
        m_snapshotTimer = new QTimer(this);
        connect(m_snapshotTimer, &QTimer::timeout, this, &EngineWorker::emitSnapshot);
    }
    m_snapshotTimer->start(m_snapshotInterval);
    startMonitoring();
    loadGlobalBudget();
    checkGlobalBudget();
    Q_EMIT opened(true, QString());
}

void EngineWorker::startMonitoring()
{
    m_monitoring = std::make_unique<metrics::Monitoring>(
        metrics::MonitoringConfig::fromJson(m_monitoringJson), m_clock, u"engine-writer"_s,
        m_workerId);
    // Every alert, from the runners or the rules, goes through the alert center: it keeps one
    // raise and one clear per alert, and the store and the front ends hear of each once.
    // The store is the ledger shared with other workers on the database: a transition one
    // of them made already is not made (nor notified) again here.
    m_monitoring->alerts()->setLedger(metrics::AlertCenter::storeLedger(m_store.get()));
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
    QString error;
    const bool listening = m_monitoring->start(m_store->alerts(false), &error);
    if (m_monitoring->config().openMetricsEnabled || !listening)
        Q_EMIT metricsEndpointChanged(m_monitoring->endpointPort(), error);
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
    // (tasks of a job can be reprioritised one by one), refreshed every fifth tick and only
    // for jobs with work waiting, whichever worker runs them.
    const bool probe = m_snapshotTicks % 5 == 0;
    metrics::QueueProbe queueProbe(u"engine-writer"_s);
    for (const JobSnapshot &job : std::as_const(m_snapshots)) {
        metrics::JobQueueReport report;
        report.jobId = job.jobId;
        report.running = job.runningHere;
        const auto *runner = m_runners.value(job.jobId);
        const int priority = runner ? runner->priority() : job.priority;
        const QString mode = runner && runner->isBatchLane() ? u"batch-api"_s : u"grouped"_s;
        if (probe && job.counts.pending > 0)
            m_oldestPendingSince.insert(job.jobId, queueProbe.oldestPendingSince(job.jobId));
        else if (job.counts.pending == 0)
            m_oldestPendingSince.remove(job.jobId);
        report.levels = metrics::QueueProbe::levels(priority, mode, job.counts.pending, job.counts.leased,
                                                    m_oldestPendingSince.value(job.jobId));
        m_monitoring->recorder()->reportQueue(report);
    }
}

void EngineWorker::releaseLeasesOfDeadWorkers()
{
    for (const QString &owner : m_store->leaseOwners()) {
        if (owner != m_workerId && isLocalWorkerDead(owner))
            m_store->releaseLeasesOf(owner);
    }
}

void EngineWorker::importJob(const JobSpec &spec, std::shared_ptr<std::atomic<bool>> cancel)
{
    if (!m_store) {
        ImportResult result;
        result.error = u"the database is not open"_s;
        Q_EMIT importFinished(result);
        return;
    }
    const ImportResult result = bd::importJob(
        *m_store, spec, m_clock->nowMs(),
        [this](qint64 rows, qint64 bytesRead, qint64 totalBytes) {
            Q_EMIT importProgressed(rows, bytesRead, totalBytes);
        },
        cancel.get());
    if (result.ok)
        refreshSnapshot(result.jobId);
    Q_EMIT importFinished(result);
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
        Q_EMIT jobFailed(jobId, u"no job %1 in the database"_s.arg(jobId));
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
    const QString guardKey = providerConfig.id + u'|' + providerConfig.baseUrl + u'|'
                             + (job->spec.model.isEmpty() ? provider->defaultModel() : job->spec.model);
    auto *runner = new dispatch::JobRunner(m_store.get(), std::move(provider), *job, m_prices,
                                           m_clock, m_workerId, m_runnerOptions, this);
    runner->setGlobalBudget(m_globalBudget);
    m_providerConfigs.insert(jobId, providerConfig);
    m_pausedByGlobalBudget.remove(jobId);
    if (auto guard = m_guards.value(guardKey).lock())
        runner->setProviderGuard(guard);
    else
        m_guards.insert(guardKey, runner->providerGuard());
    // A tiered job (model "auto") shares the guard of each model it routes to.
    const QString endpoint = providerConfig.id + u'|' + providerConfig.baseUrl + u'|';
    runner->setGuardLookup([this, endpoint, settings = job->spec.settings](const QString &model) {
        auto guard = m_guards.value(endpoint + model).lock();
        if (!guard) {
            guard = dispatch::JobRunner::makeGuard(settings);
            m_guards.insert(endpoint + model, guard);
        }
        return guard;
    });
    m_runners.insert(jobId, runner);
    applyLaneLimits(runner);
    connect(runner, &dispatch::JobRunner::progressed, this, &EngineWorker::jobProgressed);
    connect(runner, &dispatch::JobRunner::progressed, this,
            [this](qint64 id, const TaskCounts &counts, const Usage &usage, double costUsd) {
                JobSnapshot &snapshot = m_snapshots[id];
                snapshot.jobId = id;
                snapshot.counts = counts;
                snapshot.usage = usage;
                snapshot.costUsd = costUsd;
                snapshot.runningHere = m_runners.contains(id);
                if (snapshot.runningHere)
                    snapshot.state = JobState::Running;
                checkGlobalBudget(); // in memory: the 80 % alert need not wait for a tick
            });
    connect(runner, &dispatch::JobRunner::alertRaised, this,
            [this](qint64 id, const QString &kind, const QString &message, const QJsonObject &figures) {
                m_monitoring->alerts()->raise(id, kind, message, figures);
            });
    connect(runner, &dispatch::JobRunner::alertCleared, this, [this](qint64 id, const QString &kind) {
        m_monitoring->alerts()->clear(id, kind);
    });
    runner->setMetrics(m_monitoring->recorder());
    connect(runner, &dispatch::JobRunner::waitingChanged, this, &EngineWorker::jobWaiting);
    connect(runner, &dispatch::JobRunner::finished, this, &EngineWorker::handleRunnerFinished);
    connect(runner, &dispatch::JobRunner::failed, this, [this](qint64 id, const QString &message) {
        removeRunner(id);
        Q_EMIT jobFailed(id, message);
    });
    m_snapshots[jobId].runningHere = true;
    if (!m_preemptionTimer) {
        m_preemptionTimer = new QTimer(this);
        m_preemptionTimer->setInterval(200);
        connect(m_preemptionTimer, &QTimer::timeout, this, &EngineWorker::updatePreemption);
    }
    m_preemptionTimer->start();
    // Hold lower lanes before the urgent job claims, so it gets the provider at once.
    updatePreemption();
    runner->start();
    updatePreemption();
}

void EngineWorker::updatePreemption()
{
    // A paused realtime lane sends nothing, so it holds nobody back either.
    bool urgentWaiting = false;
    if (!m_pausedLanes.contains(1)) {
        for (const dispatch::JobRunner *runner : std::as_const(m_runners)) {
            if (runner->priority() == 1 && (runner->hasDispatchableWork() || !runner->isRunning()))
                urgentWaiting = true;
        }
    }
    const qint64 now = m_clock->nowMs();
    if (!urgentWaiting && m_store) {
        const bool anyPreemptable = std::any_of(m_runners.cbegin(), m_runners.cend(), [](const auto *runner) {
            return runner->priority() != 1 && !runner->isBatchLane() && runner->isRunning();
        });
        if (anyPreemptable && m_store->urgentWorkElsewhere(m_workerId, now))
            m_urgentElsewhereUntilMs = now + kUrgentElsewhereGraceMs;
        urgentWaiting = now < m_urgentElsewhereUntilMs;
    }
    for (auto it = m_runners.cbegin(); it != m_runners.cend(); ++it) {
        dispatch::JobRunner *runner = it.value();
        // A lane the user paused stays held whatever preemption does; preemption only ever
        // decides for the lanes that are not paused.
        const bool paused = m_pausedLanes.contains(qBound(1, runner->priority(), 3));
        const bool preemptable = runner->priority() != 1 && !runner->isBatchLane(); // provider batches use their own capacity
        if (!preemptable || !urgentWaiting) {
            m_heldSinceMs.remove(it.key());
            runner->setHeld(paused);
            continue;
        }
        const qint64 since = m_heldSinceMs.value(it.key(), now);
        m_heldSinceMs.insert(it.key(), since);
        // Aging: work held past agingMs gets one request in flight so it cannot starve.
        runner->setHeld(true, !paused && now - since >= m_agingMs ? 1 : 0);
    }
    if (m_runners.isEmpty() && m_preemptionTimer)
        m_preemptionTimer->stop();
}

void EngineWorker::pauseJob(qint64 jobId, const QString &reason, bool cancelInFlight)
{
    m_pausedByGlobalBudget.remove(jobId); // paused by hand: a higher cap does not start it
    if (auto *runner = m_runners.value(jobId))
        runner->stop(JobState::Paused, reason, cancelInFlight);
    else if (m_store) {
        m_store->setJobState(jobId, JobState::Paused, reason, m_clock->nowMs());
        refreshSnapshot(jobId);
        Q_EMIT jobStopped(jobId, JobState::Paused, reason);
    }
}

void EngineWorker::stopAll(const QString &reason)
{
    m_stoppingAll = true;
    if (m_runners.isEmpty()) {
        m_stoppingAll = false;
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
    if (state == JobState::Paused && stopCauseOf(reason) == StopCause::GlobalBudget) {
        // Nothing more fits under the cap: every job here waits for a higher one.
        m_pausedByGlobalBudget.insert(jobId);
        pauseForGlobalBudget();
    }
    if (m_cancelWhenStopped.remove(jobId) && m_store) {
        store::TaskActions actions(u"engine-writer"_s);
        if (actions.cancelPending(jobId, m_clock->nowMs()) < 0)
            qWarning("job %lld: cannot cancel its pending tasks: %s", jobId, qPrintable(actions.errorString()));
    }
    refreshSnapshot(jobId);
    Q_EMIT jobStopped(jobId, state, reason);
    if (m_stoppingAll && m_runners.isEmpty()) {
        m_stoppingAll = false;
        Q_EMIT stoppedAll();
    }
}

void EngineWorker::removeRunner(qint64 jobId)
{
    if (auto *runner = m_runners.take(jobId))
        runner->deleteLater();
    m_heldSinceMs.remove(jobId);
    updatePreemption(); // an urgent job that ended lets the others go on
}

void EngineWorker::setJobConcurrency(qint64 jobId, int concurrency)
{
    if (auto *runner = m_runners.value(jobId))
        runner->setConcurrency(concurrency);
}

void EngineWorker::setLaneLimits(Lane lane, int concurrency, int maxConcurrentBatches)
{
    const int priority = int(lane);
    if (priority < 1 || priority > 3)
        return;
    m_laneLimits.insert(priority, LaneLimits{qMax(0, concurrency), qMax(0, maxConcurrentBatches)});
    for (dispatch::JobRunner *runner : std::as_const(m_runners)) {
        if (runner->priority() == priority)
            applyLaneLimits(runner);
    }
}

void EngineWorker::applyLaneLimits(dispatch::JobRunner *runner) const
{
    const LaneLimits limits = m_laneLimits.value(runner->priority());
    if (limits.concurrency > 0 && limits.concurrency != runner->concurrency())
        runner->setConcurrency(limits.concurrency);
    if (limits.maxConcurrentBatches > 0 && limits.maxConcurrentBatches != runner->maxConcurrentBatches())
        runner->setMaxConcurrentBatches(limits.maxConcurrentBatches);
}

void EngineWorker::setLanePaused(Lane lane, bool paused)
{
    const int priority = int(lane);
    if (priority < 1 || priority > 3)
        return;
    const bool changed = paused ? !m_pausedLanes.contains(priority) : m_pausedLanes.contains(priority);
    if (paused)
        m_pausedLanes.insert(priority);
    else
        m_pausedLanes.remove(priority);
    if (!changed)
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
        Q_EMIT jobFailed(jobId, u"no job %1 in the database"_s.arg(jobId));
        return;
    }
    // Stored with the job, so a restarted engine (or batchctl resume) keeps the override.
    QJsonObject settings = job->spec.settings;
    settings.insert(u"offpeak_run_now"_s, true);
    if (!m_store->setJobSettings(jobId, settings)) {
        Q_EMIT jobFailed(jobId, m_store->errorString());
        return;
    }
    if (auto *runner = m_runners.value(jobId))
        runner->runNow();
}

void EngineWorker::listJobs()
{
    if (!m_store)
        return;
    const QList<JobInfo> jobs = m_store->jobs();
    QSet<qint64> present;
    for (const JobInfo &job : jobs) {
        updateSnapshot(job);
        present.insert(job.id);
    }
    for (auto it = m_snapshots.begin(); it != m_snapshots.end();) {
        if (!present.contains(it.key()))
            it = m_snapshots.erase(it);
        else
            ++it;
    }
    Q_EMIT jobsListed(jobs);
}

void EngineWorker::shutdown()
{
    // Hand back whatever this worker still holds so another process can go on at once.
    const QList<dispatch::JobRunner *> runners = m_runners.values();
    for (dispatch::JobRunner *runner : runners)
        runner->stop(JobState::Paused, stopCauseReason(StopCause::EngineShutdown), true);
    qDeleteAll(m_runners);
    m_runners.clear();
    if (m_snapshotTimer)
        m_snapshotTimer->stop();
    if (m_monitoring) {
        m_monitoring->shutdown(); // writes the open interval while the store is still there
        m_monitoring.reset();
    }
    if (m_store)
        m_store->releaseLeasesOf(m_workerId);
    m_store.reset();
}

void EngineWorker::updateSnapshot(const JobInfo &job)
{
    JobSnapshot &snapshot = m_snapshots[job.id];
    snapshot.jobId = job.id;
    snapshot.priority = job.spec.priority;
    snapshot.runningHere = m_runners.contains(job.id);
    // A running job's own runner knows its counts better than a read from a moment ago.
    if (!snapshot.runningHere) {
        snapshot.state = job.state;
        snapshot.counts = job.counts;
        snapshot.usage = job.usage;
        snapshot.costUsd = job.costUsd;
    }
}

void EngineWorker::refreshSnapshot(qint64 jobId)
{
    if (!m_store)
        return;
    if (const auto job = m_store->job(jobId)) {
        JobSnapshot &snapshot = m_snapshots[jobId];
        snapshot.runningHere = false; // take the stored figures
        updateSnapshot(*job);
        snapshot.runningHere = m_runners.contains(jobId);
    } else {
        m_snapshots.remove(jobId);
    }
}

void EngineWorker::emitSnapshot()
{
    if (!m_store)
        return;
    // Jobs another worker (batchctl, a second desktop) runs: read their figures now and
    // then, never per tick, so a big job costs a count every few seconds at most.
    if (++m_snapshotTicks % 5 == 0) {
        for (auto it = m_snapshots.begin(); it != m_snapshots.end(); ++it) {
            if (it->runningHere)
                continue;
            if (it->state == JobState::Running || it->counts.leased > 0)
                refreshSnapshot(it.key());
        }
    }
    reportQueues();
    loadGlobalBudget();
    checkGlobalBudget();
    EngineSnapshot snapshot;
    snapshot.atMs = QDateTime::currentMSecsSinceEpoch();
    snapshot.globalBudgetUsd = m_globalBudget->capUsd();
    snapshot.globalBudgetPeriod = dispatch::GlobalBudget::periodName(m_globalBudget->period());
    snapshot.globalSpentUsd = m_globalBudget->spentUsd();
    snapshot.globalBudgetReached = m_globalPause.has_value();
    snapshot.jobs.reserve(m_snapshots.size());
    for (JobSnapshot job : std::as_const(m_snapshots)) {
        if (const auto *runner = m_runners.value(job.jobId)) {
            job.waitingFor = runner->waitingFor();
            job.concurrency = runner->concurrency();
        }
        snapshot.jobs.append(job);
    }
    snapshot.pausedLanes = m_pausedLanes.values();
    std::sort(snapshot.pausedLanes.begin(), snapshot.pausedLanes.end());
    Q_EMIT snapshotTaken(snapshot);
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
    m_pausedByGlobalBudget.remove(jobId);
    if (auto *runner = m_runners.value(jobId)) {
        m_cancelWhenStopped.insert(jobId);
        runner->stop(JobState::Cancelled, reason, true);
        return;
    }
    const qint64 now = m_clock->nowMs();
    store::TaskActions actions(u"engine-writer"_s);
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
    store::TaskActions actions(u"engine-writer"_s);
    const int changed = actions.reprioritiseJob(jobId, priority, m_clock->nowMs());
    if (changed < 0) {
        Q_EMIT jobFailed(jobId, actions.errorString());
        return;
    }
    m_snapshots[jobId].priority = priority;
    Q_EMIT jobReprioritised(jobId, priority, changed);
}

void EngineWorker::actOnTasks(TaskAction action, const QList<qint64> &taskIds, int argument)
{
    if (!m_store) {
        Q_EMIT tasksActedOn(action, -1, u"the database is not open"_s, 0);
        return;
    }
    const qint64 now = m_clock->nowMs();
    store::TaskActions actions(u"engine-writer"_s);
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
        break;
    case TaskAction::Cancel:
        changed = actions.cancelTasks(taskIds, now);
        break;
    }
    if (changed < 0 && error.isEmpty())
        error = actions.errorString();
    // Replayed tasks of a finished job need a runner again; the console decides (resume).
    QSet<qint64> jobs;
    for (auto it = m_snapshots.cbegin(); it != m_snapshots.cend(); ++it)
        jobs.insert(it.key());
    for (qint64 jobId : std::as_const(jobs)) {
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

bool EngineWorker::loadPrices(QString *error)
{
    cost::PriceTable prices = cost::PriceTable::builtIn();
    if (!m_priceOverridePath.isEmpty() && QFileInfo::exists(m_priceOverridePath)
        && !prices.mergeFile(m_priceOverridePath, error)) {
        m_prices = cost::PriceTable::builtIn(); // a broken override is ignored, not half used
        return false;
    }
    m_prices = prices;
    return true;
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
    if (!ok || m_monitoring->endpointPort() != portBefore)
        Q_EMIT metricsEndpointChanged(m_monitoring->endpointPort(), error);
}

void EngineWorker::listPrices()
{
    QJsonObject models;
    for (const QString &model : m_prices.models()) {
        const auto price = m_prices.price(model);
        if (!price)
            continue;
        models.insert(model, QJsonObject{
                                 {u"input"_s, price->input},
                                 {u"cached_input"_s, price->cachedInput},
                                 {u"cache_write"_s, price->cacheWrite},
                                 {u"cache_write_1h"_s, price->cacheWrite1h},
                                 {u"output"_s, price->output},
                                 {u"batch_discount"_s, price->batchDiscount},
                                 {u"simulated"_s, price->simulated},
                                 {u"date"_s, price->date},
                                 {u"source"_s, price->source},
                             });
    }
    Q_EMIT pricesListed(models);
}

void EngineWorker::reloadPrices()
{
    QString error;
    const bool ok = loadPrices(&error);
    Q_EMIT pricesReloaded(ok, error);
    listPrices();
}

void EngineWorker::savePriceOverrides(const QJsonObject &entries)
{
    if (m_priceOverridePath.isEmpty()) {
        Q_EMIT pricesReloaded(false, u"no price override file is configured"_s);
        return;
    }
    // Checked before anything is written: a table the engine cannot read never replaces
    // the one it can.
    const QJsonObject document{{u"date"_s, QDate::currentDate().toString(Qt::ISODate)},
                               {u"models"_s, entries}};
    const QByteArray json = QJsonDocument(document).toJson(QJsonDocument::Indented);
    cost::PriceTable check = cost::PriceTable::builtIn();
    QString error;
    if (!check.mergeJson(json, m_priceOverridePath, &error)) {
        Q_EMIT pricesReloaded(false, error);
        return;
    }
    QDir().mkpath(QFileInfo(m_priceOverridePath).absolutePath());
    QSaveFile file(m_priceOverridePath);
    if (!file.open(QIODevice::WriteOnly) || file.write(json) != json.size() || !file.commit()) {
        Q_EMIT pricesReloaded(false, u"cannot write %1: %2"_s.arg(m_priceOverridePath, file.errorString()));
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
        Q_EMIT connectionTested(config.id, {}, u"no API key: store one or set %1"_s.arg(
                                                   config.id == u"anthropic"_s ? u"ANTHROPIC_API_KEY"_s
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

namespace {
constexpr char kGlobalBudgetKey[] = "global_budget_usd";
constexpr char kGlobalPeriodKey[] = "global_budget_period";
} // namespace

void EngineWorker::setGlobalBudget(double usd, const QString &period)
{
    if (!m_store)
        return;
    // No period given: keep the stored one.
    const auto parsed = period.isEmpty() ? std::optional(m_globalBudget->period())
                                         : dispatch::GlobalBudget::periodFromName(period);
    if (!parsed || usd < 0) {
        qWarning("global budget: ignored %f per %s (a period is month, day or all)", usd, qPrintable(period));
        return;
    }
    m_store->setSetting(QString::fromLatin1(kGlobalBudgetKey), QString::number(usd, 'g', 15));
    m_store->setSetting(QString::fromLatin1(kGlobalPeriodKey), dispatch::GlobalBudget::periodName(*parsed));
    loadGlobalBudget();
    checkGlobalBudget();
    Q_EMIT globalBudgetChanged(m_globalBudget->capUsd(),
                               dispatch::GlobalBudget::periodName(m_globalBudget->period()),
                               m_globalBudget->spentUsd());
}

void EngineWorker::loadGlobalBudget()
{
    if (!m_store)
        return;
    // Another process (`batchctl budget --set`, a second console) may have changed it.
    const double cap = m_store->setting(QString::fromLatin1(kGlobalBudgetKey)).value_or(QString()).toDouble();
    const auto period = dispatch::GlobalBudget::periodFromName(
        m_store->setting(QString::fromLatin1(kGlobalPeriodKey)).value_or(QString()));
    m_globalBudget->setCap(cap, period.value_or(dispatch::GlobalBudget::Period::Month));
    const qint64 start = dispatch::GlobalBudget::periodStartMs(m_globalBudget->period(), m_clock->nowMs());
    m_globalBudget->setStoredSpend(m_store->spendSince(start));
}

void EngineWorker::checkGlobalBudget()
{
    if (!m_monitoring)
        return;
    metrics::AlertCenter *alerts = m_monitoring->alerts();
    const QString warnKind = u"global_budget_80"_s;
    const QString fullKind = u"global_budget_exhausted"_s;
    const dispatch::GlobalBudget &budget = *m_globalBudget;
    const double cap = budget.capUsd();
    const double spent = budget.spentUsd();
    const QString period = dispatch::GlobalBudget::periodName(budget.period());
    const QJsonObject figures{{u"value"_s, spent}, {u"threshold"_s, cap}, {u"budget_usd"_s, cap},
                              {u"spent_usd"_s, spent}, {u"fraction"_s, cap > 0 ? spent / cap : 0.0},
                              {u"period"_s, period}};
    const QString money = u"$%1 of the $%2 global budget (per %3)"_s.arg(
        QString::number(spent, 'f', 4), QString::number(cap, 'f', cap < 1 ? 4 : 2), period);

    if (m_globalPause) {
        // Paused at the cap: a higher cap, no cap, or a new period (less spent) resumes.
        const bool resume = !budget.isActive() || cap > m_globalPause->capUsd
                            || spent < m_globalPause->spentUsd - 1e-9;
        if (!resume)
            return;
        m_globalPause.reset();
        alerts->clear(0, fullKind, u"global budget raised: "_s + money);
        const QSet<qint64> paused = std::exchange(m_pausedByGlobalBudget, {});
        for (const qint64 jobId : paused) {
            if (m_providerConfigs.contains(jobId))
                startJob(jobId, m_providerConfigs.value(jobId));
        }
    }
    if (budget.isActive() && spent >= budget.capUsd()) {
        pauseForGlobalBudget();
        return;
    }
    if (budget.isActive() && spent >= 0.8 * cap)
        alerts->raise(0, warnKind, money + u" spent"_s, figures);
    else if (alerts->isOpen(warnKind))
        alerts->clear(0, warnKind, money + u" spent"_s, figures);
    if (alerts->isOpen(fullKind))
        alerts->clear(0, fullKind, money + u" spent"_s, figures);
}

void EngineWorker::pauseForGlobalBudget()
{
    const dispatch::GlobalBudget &budget = *m_globalBudget;
    if (!m_globalPause) {
        m_globalPause = GlobalPause{budget.capUsd(), budget.spentUsd()};
        const QString period = dispatch::GlobalBudget::periodName(budget.period());
        const QJsonObject figures{{u"value"_s, budget.spentUsd()}, {u"threshold"_s, budget.capUsd()},
                                  {u"budget_usd"_s, budget.capUsd()}, {u"spent_usd"_s, budget.spentUsd()},
                                  {u"period"_s, period}};
        if (m_monitoring) {
            m_monitoring->alerts()->raise(
                0, u"global_budget_exhausted"_s,
                u"global budget of $%1 (per %2) reached: $%3 spent; every job is paused until it is raised"_s.arg(
                    QString::number(budget.capUsd(), 'f', budget.capUsd() < 1 ? 4 : 2), period,
                    QString::number(budget.spentUsd(), 'f', 4)),
                figures);
        }
    }
    // Requests in flight were reserved under the cap: they may come back.
    const QList<dispatch::JobRunner *> runners = m_runners.values();
    for (dispatch::JobRunner *runner : runners)
        runner->stop(JobState::Paused, stopCauseReason(StopCause::GlobalBudget), false);
}

} // namespace bd
