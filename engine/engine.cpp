#include "engine.h"

#include "core/clock.h"
#include "engineworker.h"

#include <QCoreApplication>
#include <QHostInfo>
#include <QRandomGenerator>

namespace bd {

using namespace Qt::StringLiterals;

QString Engine::defaultWorkerId()
{
    return u"%1:%2:%3"_s.arg(QHostInfo::localHostName())
        .arg(QCoreApplication::applicationPid())
        .arg(QRandomGenerator::global()->generate() & 0xFFFFFF, 6, 16, QLatin1Char('0'));
}

Engine::Engine(const Options &options, QObject *parent)
    : QObject(parent)
    , m_workerId(options.workerId.isEmpty() ? defaultWorkerId() : options.workerId)
    , m_cancelImport(std::make_shared<std::atomic<bool>>(false))
{
    m_thread.setObjectName(u"batchdesk-engine"_s);
    m_worker = new EngineWorker(options.databasePath, m_workerId,
                                options.clock ? options.clock : SystemClock::instance(),
                                options.runner, options.priceOverridePath);
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);

    connect(m_worker, &EngineWorker::opened, this, &Engine::opened);
    connect(m_worker, &EngineWorker::importProgressed, this, &Engine::importProgressed);
    connect(m_worker, &EngineWorker::importFinished, this, &Engine::importFinished);
    connect(m_worker, &EngineWorker::jobProgressed, this, &Engine::jobProgressed);
    connect(m_worker, &EngineWorker::jobStopped, this, &Engine::jobStopped);
    connect(m_worker, &EngineWorker::jobFailed, this, &Engine::jobFailed);
    connect(m_worker, &EngineWorker::alertRaised, this, &Engine::alertRaised);
    connect(m_worker, &EngineWorker::stoppedAll, this, &Engine::stoppedAll);
    connect(m_worker, &EngineWorker::jobsListed, this, &Engine::jobsListed);
    m_thread.start();
}

Engine::~Engine()
{
    // Runs the worker's shutdown on its own thread and waits: running jobs are paused and
    // their leases handed back before the database closes.
    QMetaObject::invokeMethod(m_worker, &EngineWorker::shutdown, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
}

void Engine::open()
{
    QMetaObject::invokeMethod(m_worker, &EngineWorker::open, Qt::QueuedConnection);
}

void Engine::importJob(const JobSpec &spec)
{
    m_cancelImport->store(false);
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, spec, cancel = m_cancelImport] { worker->importJob(spec, cancel); },
        Qt::QueuedConnection);
}

void Engine::cancelImport()
{
    m_cancelImport->store(true);
}

void Engine::startJob(qint64 jobId, const providers::ProviderConfig &provider)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, jobId, provider] { worker->startJob(jobId, provider); },
        Qt::QueuedConnection);
}

void Engine::pauseJob(qint64 jobId, const QString &reason, bool cancelInFlight)
{
    QMetaObject::invokeMethod(
        m_worker,
        [worker = m_worker, jobId, reason, cancelInFlight] {
            worker->pauseJob(jobId, reason, cancelInFlight);
        },
        Qt::QueuedConnection);
}

void Engine::stopAll(const QString &reason)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, reason] { worker->stopAll(reason); }, Qt::QueuedConnection);
}

void Engine::requestJobs()
{
    QMetaObject::invokeMethod(m_worker, &EngineWorker::listJobs, Qt::QueuedConnection);
}

} // namespace bd
