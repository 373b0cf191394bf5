#include "engineworker.h"

#include "core/clock.h"
#include "store/sqlitestore.h"

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
                           const QString &priceOverridePath)
    : m_databasePath(databasePath)
    , m_workerId(workerId)
    , m_clock(clock)
    , m_runnerOptions(runnerOptions)
    , m_priceOverridePath(priceOverridePath)
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
    Q_EMIT opened(true, QString());
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
    auto *runner = new dispatch::JobRunner(m_store.get(), std::move(provider), *job, m_prices,
                                           m_clock, m_workerId, m_runnerOptions, this);
    m_runners.insert(jobId, runner);
    connect(runner, &dispatch::JobRunner::progressed, this, &EngineWorker::jobProgressed);
    connect(runner, &dispatch::JobRunner::alertRaised, this,
            [this](qint64 id, const QString &kind, const QString &message) {
                m_store->raiseAlert(id, kind, message, m_clock->nowMs());
                Q_EMIT alertRaised(id, kind, message);
            });
    connect(runner, &dispatch::JobRunner::finished, this, &EngineWorker::handleRunnerFinished);
    connect(runner, &dispatch::JobRunner::failed, this, [this](qint64 id, const QString &message) {
        removeRunner(id);
        Q_EMIT jobFailed(id, message);
    });
    runner->start();
}

void EngineWorker::pauseJob(qint64 jobId, const QString &reason, bool cancelInFlight)
{
    if (auto *runner = m_runners.value(jobId))
        runner->stop(JobState::Paused, reason, cancelInFlight);
    else if (m_store)
        m_store->setJobState(jobId, JobState::Paused, reason, m_clock->nowMs());
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
}

void EngineWorker::listJobs()
{
    if (m_store)
        Q_EMIT jobsListed(m_store->jobs());
}

void EngineWorker::shutdown()
{
    // Hand back whatever this worker still holds so another process can go on at once.
    const QList<dispatch::JobRunner *> runners = m_runners.values();
    for (dispatch::JobRunner *runner : runners)
        runner->stop(JobState::Paused, u"engine shut down"_s, true);
    qDeleteAll(m_runners);
    m_runners.clear();
    if (m_store)
        m_store->releaseLeasesOf(m_workerId);
    m_store.reset();
}

} // namespace bd
