#include "engine.h"

#include "core/clock.h"
#include "engineworker.h"
#include "readerworker.h"

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
    , m_ticketFloor(std::make_shared<std::atomic<quint64>>(0))
    , m_cancelledExport(std::make_shared<std::atomic<qint64>>(0))
{
    qRegisterMetaType<bd::EngineSnapshot>();
    qRegisterMetaType<bd::store::TaskFilter>();
    qRegisterMetaType<bd::store::TaskRow>();
    qRegisterMetaType<QList<bd::store::TaskRow>>();
    qRegisterMetaType<bd::store::TaskDetail>();
    qRegisterMetaType<QList<bd::store::DeadClassCount>>();
    qRegisterMetaType<QList<bd::AlertRecord>>();
    qRegisterMetaType<bd::Engine::TaskAction>();
    qRegisterMetaType<bd::metrics::SeriesData>();
    m_thread.setObjectName(u"batchdesk-engine"_s);
    m_worker = new EngineWorker(options.databasePath, m_workerId,
                                options.clock ? options.clock : SystemClock::instance(),
                                options.runner, options.priceOverridePath, options.monitoring);
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
    connect(m_worker, &EngineWorker::metricsEndpointChanged, this, &Engine::metricsEndpointChanged);
    connect(m_worker, &EngineWorker::jobsListed, this, &Engine::jobsListed);
    connect(m_worker, &EngineWorker::snapshotTaken, this, &Engine::snapshotTaken);
    connect(m_worker, &EngineWorker::jobReprioritised, this, &Engine::jobReprioritised);
    connect(m_worker, &EngineWorker::jobWaiting, this, &Engine::jobWaiting);
    connect(m_worker, &EngineWorker::laneStateChanged, this, &Engine::laneStateChanged);
    connect(m_worker, &EngineWorker::tasksActedOn, this,
            [this](int action, int changed, const QString &error, int skipped) {
                Q_EMIT tasksActedOn(static_cast<TaskAction>(action), changed, error, skipped);
            });
    connect(m_worker, &EngineWorker::alertsChanged, this, &Engine::alertsChanged);
    connect(m_worker, &EngineWorker::connectionTested, this, &Engine::connectionTested);
    connect(m_worker, &EngineWorker::pricesListed, this, &Engine::pricesListed);
    connect(m_worker, &EngineWorker::pricesReloaded, this, &Engine::pricesReloaded);
    connect(m_worker, &EngineWorker::globalBudgetChanged, this, &Engine::globalBudgetChanged);
    m_thread.start();

    m_readerThread.setObjectName(u"batchdesk-reader"_s);
    m_reader = new ReaderWorker(options.databasePath, m_ticketFloor, m_cancelledExport);
    m_reader->moveToThread(&m_readerThread);
    connect(&m_readerThread, &QThread::finished, m_reader, &QObject::deleteLater);
    connect(m_reader, &ReaderWorker::taskCountReady, this, &Engine::taskCountReady);
    connect(m_reader, &ReaderWorker::taskPageReady, this, &Engine::taskPageReady);
    connect(m_reader, &ReaderWorker::taskDetailReady, this, &Engine::taskDetailReady);
    connect(m_reader, &ReaderWorker::deadSummaryReady, this, &Engine::deadSummaryReady);
    connect(m_reader, &ReaderWorker::alertsListed, this, &Engine::alertsListed);
    connect(m_reader, &ReaderWorker::exportProgressed, this, &Engine::exportProgressed);
    connect(m_reader, &ReaderWorker::exportFinished, this, &Engine::exportFinished);
    connect(m_reader, &ReaderWorker::readFailed, this, &Engine::readFailed);
    connect(m_reader, &ReaderWorker::seriesReady, this, &Engine::seriesReady);
    // Ids gathered by the reader go straight to the writer on the engine thread.
    connect(m_reader, &ReaderWorker::idsCollected, m_worker, &EngineWorker::actOnTasks);
    connect(m_worker, &EngineWorker::opened, this, [this](bool ok) {
        if (!ok || m_readerReady)
            return;
        m_readerReady = true;
        for (const auto &call : std::exchange(m_readerQueue, {}))
            QMetaObject::invokeMethod(m_reader, call, Qt::QueuedConnection);
    });
    m_readerThread.start();
}

Engine::~Engine()
{
    // Runs the worker's shutdown on its own thread and waits: running jobs are paused and
    // their leases handed back before the database closes.
    QMetaObject::invokeMethod(m_reader, &ReaderWorker::shutdown, Qt::BlockingQueuedConnection);
    m_readerThread.quit();
    m_readerThread.wait();
    QMetaObject::invokeMethod(m_worker, &EngineWorker::shutdown, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
}

void Engine::open()
{
    QMetaObject::invokeMethod(m_worker, &EngineWorker::open);
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

void Engine::setJobConcurrency(qint64 jobId, int concurrency)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, jobId, concurrency] { worker->setJobConcurrency(jobId, concurrency); },
        Qt::QueuedConnection);
}

void Engine::setLaneLimits(int priority, int concurrency, int maxConcurrentBatches)
{
    QMetaObject::invokeMethod(
        m_worker,
        [worker = m_worker, priority, concurrency, maxConcurrentBatches] {
            worker->setLaneLimits(priority, concurrency, maxConcurrentBatches);
        },
        Qt::QueuedConnection);
}

void Engine::pauseLane(int priority)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, priority] { worker->setLanePaused(priority, true); },
        Qt::QueuedConnection);
}

void Engine::resumeLane(int priority)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, priority] { worker->setLanePaused(priority, false); },
        Qt::QueuedConnection);
}

void Engine::runNow(qint64 jobId)
{
    QMetaObject::invokeMethod(m_worker, [worker = m_worker, jobId] { worker->runNow(jobId); },
                              Qt::QueuedConnection);
}

void Engine::requestJobs()
{
    QMetaObject::invokeMethod(m_worker, &EngineWorker::listJobs, Qt::QueuedConnection);
}

void Engine::callReader(std::function<void()> call)
{
    if (m_readerReady)
        QMetaObject::invokeMethod(m_reader, std::move(call), Qt::QueuedConnection);
    else
        m_readerQueue.append(std::move(call));
}

QList<Engine::ProviderInfo> Engine::availableProviders()
{
    QList<ProviderInfo> result;
    for (const QString &id : providers::providerIds()) {
        providers::ProviderConfig config;
        config.id = id;
        QString error;
        const auto provider = providers::createProvider(config, SystemClock::instance(), &error);
        if (!provider)
            continue;
        ProviderInfo info;
        info.id = id;
        info.displayName = provider->displayName();
        info.defaultModel = provider->defaultModel();
        info.knownModels = provider->knownModels();
        info.hasBatchApi = provider->hasBatchApi();
        info.requiresKey = provider->requiresKey();
        info.simulated = provider->isSimulated();
        result.append(info);
    }
    return result;
}

void Engine::cancelJob(qint64 jobId, const QString &reason)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, jobId, reason] { worker->cancelJob(jobId, reason); },
        Qt::QueuedConnection);
}

void Engine::reprioritiseJob(qint64 jobId, int priority)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, jobId, priority] { worker->reprioritiseJob(jobId, priority); },
        Qt::QueuedConnection);
}

void Engine::actOnTasks(TaskAction action, const QList<qint64> &taskIds, int argument)
{
    QMetaObject::invokeMethod(
        m_worker,
        [worker = m_worker, action, taskIds, argument] {
            worker->actOnTasks(int(action), taskIds, argument);
        },
        Qt::QueuedConnection);
}

void Engine::actOnMatching(TaskAction action, const store::TaskFilter &filter, int argument)
{
    callReader([reader = m_reader, action, filter, argument] {
            reader->collectIds(int(action), filter, argument);
        });
}

void Engine::replayDead(const ReplayRequest &request)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, request] { worker->replayDead(request); }, Qt::QueuedConnection);
}

void Engine::exportJob(qint64 jobId, const QString &path)
{
    qint64 cancelled = jobId;
    m_cancelledExport->compare_exchange_strong(cancelled, 0); // a new export is not cancelled
    callReader([reader = m_reader, jobId, path] { reader->exportJob(jobId, path); });
}

void Engine::cancelExport(qint64 jobId)
{
    m_cancelledExport->store(jobId);
}

void Engine::setSnapshotInterval(int ms)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, ms] { worker->setSnapshotInterval(ms); }, Qt::QueuedConnection);
}

void Engine::requestTaskCount(quint64 ticket, const store::TaskFilter &filter)
{
    callReader([reader = m_reader, ticket, filter] { reader->countTasks(ticket, filter); });
}

void Engine::requestTaskPage(quint64 ticket, const store::TaskFilter &filter, qint64 offset,
                             qint64 afterId, int limit)
{
    callReader([reader = m_reader, ticket, filter, offset, afterId, limit] {
            reader->fetchTaskPage(ticket, filter, offset, afterId, limit);
        });
}

void Engine::discardTaskRequestsBefore(quint64 ticket)
{
    quint64 current = m_ticketFloor->load();
    while (ticket > current && !m_ticketFloor->compare_exchange_weak(current, ticket)) {
    }
}

void Engine::requestTaskDetail(qint64 taskId)
{
    callReader([reader = m_reader, taskId] { reader->fetchTaskDetail(taskId); });
}

void Engine::requestDeadSummary(qint64 jobId)
{
    callReader([reader = m_reader, jobId] { reader->fetchDeadSummary(jobId); });
}

void Engine::requestAlerts(bool includeCleared)
{
    callReader([reader = m_reader, includeCleared] { reader->listAlerts(includeCleared); });
}

void Engine::setGlobalBudget(double usd, const QString &period)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, usd, period] { worker->setGlobalBudget(usd, period); },
        Qt::QueuedConnection);
}

void Engine::clearAlerts(qint64 jobId, const QString &kind)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, jobId, kind] { worker->clearAlerts(jobId, kind); },
        Qt::QueuedConnection);
}

void Engine::setDefaultJobSettings(const QJsonObject &defaults)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, defaults] { worker->setDefaultJobSettings(defaults); },
        Qt::QueuedConnection);
}

void Engine::setMonitoring(const QJsonObject &monitoring)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, monitoring] { worker->setMonitoring(monitoring); },
        Qt::QueuedConnection);
}

void Engine::requestPrices()
{
    QMetaObject::invokeMethod(m_worker, &EngineWorker::listPrices, Qt::QueuedConnection);
}

void Engine::reloadPrices()
{
    QMetaObject::invokeMethod(m_worker, &EngineWorker::reloadPrices, Qt::QueuedConnection);
}

void Engine::savePriceOverrides(const QJsonObject &entries)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, entries] { worker->savePriceOverrides(entries); },
        Qt::QueuedConnection);
}

void Engine::testConnection(const providers::ProviderConfig &provider)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, provider] { worker->testConnection(provider); },
        Qt::QueuedConnection);
}

void Engine::requestSeries(quint64 ticket, const QString &metric, const QString &labels,
                           qint64 fromMs, qint64 toMs, int maxPoints)
{
    callReader([reader = m_reader, ticket, metric, labels, fromMs, toMs, maxPoints] {
        reader->readSeries(ticket, metric, labels, fromMs, toMs, maxPoints);
    });
}

} // namespace bd
