#include "engineworker.h"

#include "core/clock.h"
#include "metrics/monitoring.h"
#include "metrics/queueprobe.h"
#include "store/sqlitestore.h"
#include "store/taskactions.h"

#include <QDateTime>
#include <QFileInfo>
#include <QHostInfo>

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
    m_prices = cost::PriceTable::builtIn();
    if (!m_priceOverridePath.isEmpty() && QFileInfo::exists(m_priceOverridePath)) {
        QString error;
        if (!m_prices.mergeFile(m_priceOverridePath, &error))
            qWarning("%s", qPrintable(error));
    }
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
    Q_EMIT opened(true, QString());
}

void EngineWorker::startMonitoring()
{
    m_monitoring = std::make_unique<metrics::Monitoring>(
        metrics::MonitoringConfig::fromJson(m_monitoringJson), m_clock, u"engine-writer"_s,
        m_workerId);
    // Every alert, from the runners or the rules, goes through the alert center: it keeps one
    // raise and one clear per alert, and the store and the front ends hear of each once.
    connect(m_monitoring.get(), &metrics::Monitoring::alertRaised, this,
            [this](const metrics::AlertEvent &event) {
                m_store->raiseAlert(event.jobId, event.kind, event.message, event.atMs);
                Q_EMIT alertRaised(event.jobId, event.kind, event.message);
                Q_EMIT alertsChanged();
            });
    connect(m_monitoring.get(), &metrics::Monitoring::alertUpdated, this,
            [this](const metrics::AlertEvent &event) {
                m_store->raiseAlert(event.jobId, event.kind, event.message, event.atMs);
                Q_EMIT alertsChanged();
            });
    connect(m_monitoring.get(), &metrics::Monitoring::alertCleared, this,
            [this](const metrics::AlertEvent &event) {
                m_store->clearAlerts(event.jobId, event.kind, event.atMs);
                Q_EMIT alertsChanged();
            });
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
    // The age of the oldest waiting task is one index lookup per job, refreshed every
    // fifth tick and only for jobs with work waiting.
    const bool probe = m_snapshotTicks % 5 == 0;
    metrics::QueueProbe queueProbe(u"engine-writer"_s);
    for (const JobSnapshot &job : std::as_const(m_snapshots)) {
        metrics::JobQueueReport report;
        report.jobId = job.jobId;
        report.running = job.runningHere;
        const auto *runner = m_runners.value(job.jobId);
        const int priority = runner ? runner->priority() : 2;
        const QString mode = runner && runner->isBatchLane() ? u"batch-api"_s : u"grouped"_s;
        if (probe && job.counts.pending > 0)
            m_oldestPendingSince.insert(job.jobId, queueProbe.oldestPendingSince(job.jobId, {priority}).value(priority));
        else if (job.counts.pending == 0)
            m_oldestPendingSince.remove(job.jobId);
        report.levels.append(metrics::QueueLevel{priority, metrics::laneName(priority, mode),
                                                 job.counts.pending, job.counts.leased,
                                                 m_oldestPendingSince.value(job.jobId)});
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

void EngineWorker::startJob(qint64 jobId, const providers::ProviderConfig &providerConfig)
{
    if (!m_store) {
        Q_EMIT jobFailed(jobId, u"the database is not open"_s);
        return;
    }
    if (m_runners.contains(jobId))
        return;
    const auto job = m_store->job(jobId);
    if (!job) {
        Q_EMIT jobFailed(jobId, u"no job %1 in the database"_s.arg(jobId));
        return;
    }
    if (job->state == JobState::Importing || job->state == JobState::Cancelled) {
        Q_EMIT jobFailed(jobId, u"job %1 is %2 and cannot run"_s.arg(jobId).arg(jobStateName(job->state)));
        return;
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
            });
    connect(runner, &dispatch::JobRunner::alertRaised, this,
            [this](qint64 id, const QString &kind, const QString &message) {
                m_monitoring->alerts()->raise(id, kind, message);
            });
    connect(runner, &dispatch::JobRunner::alertCleared, this, [this](qint64 id, const QString &kind) {
        m_monitoring->alerts()->clear(id, kind);
    });
    runner->setMetrics(m_monitoring->recorder());
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
    bool urgentWaiting = false;
    for (const dispatch::JobRunner *runner : std::as_const(m_runners)) {
        if (runner->priority() == 1 && (runner->hasDispatchableWork() || !runner->isRunning()))
            urgentWaiting = true;
    }
    const qint64 now = m_clock->nowMs();
    for (auto it = m_runners.cbegin(); it != m_runners.cend(); ++it) {
        dispatch::JobRunner *runner = it.value();
        if (runner->priority() == 1 || runner->isBatchLane())
            continue; // provider batches use their own capacity
        if (!urgentWaiting) {
            m_heldSinceMs.remove(it.key());
            runner->setHeld(false);
            continue;
        }
        const qint64 since = m_heldSinceMs.value(it.key(), now);
        m_heldSinceMs.insert(it.key(), since);
        // Aging: work held past agingMs gets one request in flight so it cannot starve.
        runner->setHeld(true, now - since >= m_agingMs ? 1 : 0);
    }
    if (m_runners.isEmpty() && m_preemptionTimer)
        m_preemptionTimer->stop();
}

void EngineWorker::pauseJob(qint64 jobId, const QString &reason, bool cancelInFlight)
{
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
        runner->stop(JobState::Paused, u"engine shut down"_s, true);
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
    EngineSnapshot snapshot;
    snapshot.atMs = QDateTime::currentMSecsSinceEpoch();
    snapshot.jobs.reserve(m_snapshots.size());
    for (const JobSnapshot &job : std::as_const(m_snapshots))
        snapshot.jobs.append(job);
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

void EngineWorker::actOnTasks(int action, const QList<qint64> &taskIds, int argument)
{
    if (!m_store) {
        Q_EMIT tasksActedOn(action, -1, u"the database is not open"_s);
        return;
    }
    const qint64 now = m_clock->nowMs();
    store::TaskActions actions(u"engine-writer"_s);
    int changed = 0;
    QString error;
    switch (action) {
    case 0: // Replay
        changed = taskIds.isEmpty() ? 0 : m_store->replayDead(0, taskIds, now);
        if (changed < 0)
            error = m_store->errorString();
        break;
    case 1: // Reprioritise
        changed = actions.reprioritiseTasks(taskIds, argument);
        break;
    case 2: // Cancel
        changed = actions.cancelTasks(taskIds, now);
        break;
    default:
        error = u"unknown action %1"_s.arg(action);
        changed = -1;
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
    Q_EMIT tasksActedOn(action, changed, error);
}

void EngineWorker::clearAlerts(qint64 jobId, const QString &kind)
{
    if (m_monitoring)
        m_monitoring->alerts()->clear(jobId, kind); // an acknowledgement: not raised again at once
    if (m_store && m_store->clearAlerts(jobId, kind, m_clock->nowMs()))
        Q_EMIT alertsChanged();
}

} // namespace bd
