#include "engineimpl.h"

#include "core/clock.h"
#include "dispatch/jobrunner.h"
#include "dispatch/offpeakwindow.h"
#include "engineworker.h"
#include "providers/provider.h"
#include "readerworker.h"
#include "store/database.h"

#include <QCoreApplication>
#include <QDir>
#include <QHostInfo>
#include <QRandomGenerator>
#include <QStandardPaths>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

// A call posted with a priority (QMetaObject::invokeMethod takes none).
class UrgentCall final : public QEvent
{
public:
    static QEvent::Type type()
    {
        static const auto registered = QEvent::Type(QEvent::registerEventType());
        return registered;
    }
    explicit UrgentCall(std::function<void()> call)
        : QEvent(type())
        , m_call(std::move(call))
    {
    }
    void run() const { m_call(); }

private:
    std::function<void()> m_call;
};

class UrgentInbox final : public QObject
{
public:
    using QObject::QObject;
    bool event(QEvent *event) override
    {
        if (event->type() != UrgentCall::type())
            return QObject::event(event);
        static_cast<UrgentCall *>(event)->run();
        return true;
    }
};

dispatch::JobRunner::Options runnerOptionsFrom(const RunnerDefaults &defaults)
{
    dispatch::JobRunner::Options options;
    options.concurrency = defaults.concurrency;
    options.leaseMs = defaults.leaseMs;
    options.heartbeatMs = defaults.heartbeatMs;
    options.databaseWaitMs = defaults.databaseWaitMs;
    options.flushMaxTransitions = defaults.flushMaxTransitions;
    options.flushIntervalMs = defaults.flushIntervalMs;
    options.progressIntervalMs = defaults.progressIntervalMs;
    options.idlePollMs = defaults.idlePollMs;
    options.maxBatchSize = defaults.maxBatchSize;
    options.maxConcurrentBatches = defaults.maxConcurrentBatches;
    options.batchPollFirstMs = defaults.batchPollFirstMs;
    options.groupMaxWaitMs = defaults.groupMaxWaitMs;
    options.batchApiMaxWaitMs = defaults.batchApiMaxWaitMs;
    return options;
}

void registerMetaTypes()
{
    qRegisterMetaType<bd::EngineSnapshot>();
    qRegisterMetaType<bd::SampleComparison>();
    qRegisterMetaType<bd::TaskFilter>();
    qRegisterMetaType<bd::TaskOrder>();
    qRegisterMetaType<bd::TaskSortKey>();
    qRegisterMetaType<bd::TaskRow>();
    qRegisterMetaType<QList<bd::TaskRow>>();
    qRegisterMetaType<bd::TaskDetail>();
    qRegisterMetaType<QList<bd::DeadClassCount>>();
    qRegisterMetaType<QList<bd::DeadTask>>();
    qRegisterMetaType<QList<bd::AlertRecord>>();
    qRegisterMetaType<bd::TaskAction>();
    qRegisterMetaType<bd::Lane>();
    qRegisterMetaType<bd::JobCheck>();
    qRegisterMetaType<bd::JobEstimate>();
    qRegisterMetaType<bd::ImportResult>();
    qRegisterMetaType<bd::ReplayResult>();
    qRegisterMetaType<bd::metrics::SeriesData>();
    qRegisterMetaType<bd::QueueDefinition>();
    qRegisterMetaType<bd::QueueInfo>();
    qRegisterMetaType<QList<bd::QueueInfo>>();
    qRegisterMetaType<bd::SubmitResult>();
    qRegisterMetaType<QList<bd::QueueTaskResult>>();
    qRegisterMetaType<QList<bd::WorkerInfo>>();
}

} // namespace

// Generic locations plus our own folder: the console sets an organisation name and batchctl
// does not, so their App* locations differ; both must find the same files.
bool isServerDatabase(const QString &location)
{
    return store::Database::isServerLocation(location);
}

bool databaseExists(const QString &location)
{
    return store::Database::exists(location);
}

QString databaseWithoutPassword(const QString &location)
{
    return store::Database::isServerLocation(location) ? store::Database::displayLocation(location)
                                                       : location;
}

QString defaultDatabasePath()
{
    return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation)
           + u"/BatchDesk/batchdesk.sqlite"_s;
}

QString defaultPriceOverridePath()
{
    return QStandardPaths::writableLocation(QStandardPaths::GenericConfigLocation)
           + u"/BatchDesk/prices.json"_s;
}

QString defaultWorkerId()
{
    return u"%1:%2:%3"_s.arg(QHostInfo::localHostName())
        .arg(QCoreApplication::applicationPid())
        .arg(QRandomGenerator::global()->generate() & 0xFFFFFF, 6, 16, QLatin1Char('0'));
}

bool isGlobalBudgetPeriod(const QString &name)
{
    return dispatch::GlobalBudget::periodFromName(name).has_value();
}

qint64 globalBudgetPeriodStartMs(const QString &period, qint64 nowMs)
{
    using dispatch::GlobalBudget;
    return GlobalBudget::periodStartMs(
        GlobalBudget::periodFromName(period).value_or(GlobalBudget::Period::Month), nowMs);
}

QString providerConfigProblem(const ProviderConfig &config)
{
    QString error;
    if (providers::createProvider(config, SystemClock::instance(), &error))
        return {};
    return error.isEmpty() ? u"provider %1 cannot be used"_s.arg(config.id) : error;
}

std::optional<QJsonObject> parseOffPeakWindow(const QString &text, QString *error)
{
    const auto window = dispatch::OffPeakWindow::parse(text, error);
    return window ? std::optional(window->toJson()) : std::nullopt;
}

QList<ProviderInfo> availableProviders()
{
    QList<ProviderInfo> result;
    for (const QString &id : providers::providerIds()) {
        if (auto info = providerInfo(id))
            result.append(*info);
    }
    return result;
}

std::optional<ProviderInfo> providerInfo(const QString &providerId)
{
    if (!providers::providerIds().contains(providerId))
        return std::nullopt;
    ProviderConfig config;
    config.id = providerId;
    QString error;
    auto provider = providers::createProvider(config, SystemClock::instance(), &error);
    if (!provider) {
        // A provider that cannot exist without an endpoint (a local server) is described
        // with a stand-in one: nothing is sent.
        config.baseUrl = u"http://127.0.0.1/"_s;
        provider = providers::createProvider(config, SystemClock::instance(), &error);
    }
    if (!provider)
        return std::nullopt;
    ProviderInfo info;
    info.id = providerId;
    info.displayName = provider->displayName();
    info.defaultModel = provider->defaultModel();
    info.knownModels = provider->knownModels();
    info.hasBatchApi = provider->hasBatchApi();
    info.requiresKey = provider->requiresKey();
    info.simulated = provider->isSimulated();
    info.needsModelName = providerId == u"openai-compatible"_s;
    return info;
}

std::unique_ptr<Engine> createEngine(const EngineOptions &options, QObject *parent)
{
    return std::make_unique<EngineImpl>(options, parent);
}

EngineImpl::EngineImpl(const EngineOptions &options, QObject *parent)
    : Engine(parent)
    , m_workerId(options.workerId.isEmpty() ? defaultWorkerId() : options.workerId)
    , m_database(options.database.isEmpty() ? defaultDatabasePath()
                                            : databaseWithoutPassword(options.database))
    , m_priceOverridePath(options.priceOverridePath)
    , m_maxSortIndexes(options.maxSortIndexes)
    , m_sortIndexMinTasks(options.sortIndexMinTasks)
    , m_readOnly(options.readOnly)
    , m_cancelImport(std::make_shared<std::atomic<bool>>(false))
    , m_discardedTickets(std::make_shared<DiscardedTickets>())
    , m_cancelledExport(std::make_shared<std::atomic<qint64>>(0))
{
    registerMetaTypes();
    Clock *clock = options.clock ? options.clock : SystemClock::instance();
    m_thread.setObjectName(u"batchdesk-engine"_s);
    m_worker = new EngineWorker(m_database, m_workerId, clock, runnerOptionsFrom(options.runner),
                                options.priceOverridePath, options.monitoring);
    m_worker->setMaxSortIndexes(m_maxSortIndexes);
    m_urgentInbox = new UrgentInbox(m_worker);
    m_worker->setListedAsWorker(options.listedAsWorker);
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);

    // Worker signals carry the facade's own types: each is relayed as it is.
    connect(m_worker, &EngineWorker::opened, this, &Engine::opened);
    connect(m_worker, &EngineWorker::importProgressed, this, &Engine::importProgressed);
    connect(m_worker, &EngineWorker::importFinished, this, &Engine::importFinished);
    connect(m_worker, &EngineWorker::jobProgressed, this, &Engine::jobProgressed);
    connect(m_worker, &EngineWorker::jobStopped, this, &Engine::jobStopped);
    connect(m_worker, &EngineWorker::jobFailed, this, &Engine::jobFailed);
    connect(m_worker, &EngineWorker::alertRaised, this, &Engine::alertRaised);
    connect(m_worker, &EngineWorker::stoppedAll, this, &Engine::stoppedAll);
    connect(m_worker, &EngineWorker::databaseAway, this, &Engine::databaseAway);
    connect(m_worker, &EngineWorker::databaseBack, this, &Engine::databaseBack);
    connect(m_worker, &EngineWorker::databaseLost, this, &Engine::databaseLost);
    connect(m_worker, &EngineWorker::metricsEndpointChanged, this, &Engine::metricsEndpointChanged);
    connect(m_worker, &EngineWorker::jobsListed, this, &Engine::jobsListed);
    connect(m_worker, &EngineWorker::snapshotTaken, this, &Engine::snapshotTaken);
    connect(m_worker, &EngineWorker::jobReprioritised, this, &Engine::jobReprioritised);
    connect(m_worker, &EngineWorker::controlRecorded, this, &Engine::controlRecorded);
    connect(m_worker, &EngineWorker::jobWaiting, this, &Engine::jobWaiting);
    connect(m_worker, &EngineWorker::laneStateChanged, this, &Engine::laneStateChanged);
    connect(m_worker, &EngineWorker::tasksActedOn, this, &Engine::tasksActedOn);
    connect(m_worker, &EngineWorker::deadReplayed, this, &Engine::deadReplayed);
    connect(m_worker, &EngineWorker::alertsChanged, this, &Engine::alertsChanged);
    connect(m_worker, &EngineWorker::connectionTested, this, &Engine::connectionTested);
    connect(m_worker, &EngineWorker::pricesListed, this, &Engine::pricesListed);
    connect(m_worker, &EngineWorker::pricesReloaded, this, &Engine::pricesReloaded);
    connect(m_worker, &EngineWorker::globalBudgetChanged, this, &Engine::globalBudgetChanged);
    connect(m_worker, &EngineWorker::queueDefined, this, &Engine::queueDefined);
    connect(m_worker, &EngineWorker::tasksSubmitted, this, &Engine::tasksSubmitted);
    connect(m_worker, &EngineWorker::queueRead, this, &Engine::queueRead);
    connect(m_worker, &EngineWorker::queueNotServedHere, this,
            [this](quint64 ticket, const QString &name) {
                onReader([reader = m_reader, ticket, name] { reader->readQueue(ticket, name); });
            });
    connect(m_worker, &EngineWorker::queueTasksSettled, this, &Engine::queueTasksSettled);
    m_thread.start();

    m_readerThread.setObjectName(u"batchdesk-reader"_s);
    m_reader = new ReaderWorker(m_database, options.priceOverridePath, m_discardedTickets,
                                m_cancelledExport);
    // A read-only engine has no writer to build sort indexes with.
    m_reader->setSortIndexMinTasks(options.readOnly ? 0 : options.sortIndexMinTasks);
    m_reader->moveToThread(&m_readerThread);
    connect(&m_readerThread, &QThread::finished, m_reader, &QObject::deleteLater);
    connect(m_reader, &ReaderWorker::jobChecked, this, &Engine::jobChecked);
    connect(m_reader, &ReaderWorker::jobEstimated, this, &Engine::jobEstimated);
    connect(m_reader, &ReaderWorker::samplesCompared, this, &Engine::samplesCompared);
    connect(m_reader, &ReaderWorker::taskCountReady, this, &Engine::taskCountReady);
    connect(m_reader, &ReaderWorker::taskSortPreparing, this, &Engine::taskSortPreparing);
    connect(m_reader, &ReaderWorker::taskPageReady, this, &Engine::taskPageReady);
    connect(m_reader, &ReaderWorker::taskDetailReady, this, &Engine::taskDetailReady);
    connect(m_reader, &ReaderWorker::deadSummaryReady, this, &Engine::deadSummaryReady);
    connect(m_reader, &ReaderWorker::deadTasksListed, this, &Engine::deadTasksListed);
    connect(m_reader, &ReaderWorker::alertsListed, this, &Engine::alertsListed);
    connect(m_reader, &ReaderWorker::costReportReady, this, &Engine::costReportReady);
    connect(m_reader, &ReaderWorker::jobsListed, this, &Engine::jobsListed);
    connect(m_reader, &ReaderWorker::workersListed, this, &Engine::workersListed);
    connect(m_reader, &ReaderWorker::globalBudgetRead, this, &Engine::globalBudgetChanged);
    connect(m_reader, &ReaderWorker::exportProgressed, this, &Engine::exportProgressed);
    connect(m_reader, &ReaderWorker::exportFinished, this, &Engine::exportFinished);
    connect(m_reader, &ReaderWorker::exportWarned, this, &Engine::exportWarned);
    connect(m_reader, &ReaderWorker::readFailed, this, &Engine::readFailed);
    connect(m_worker, &EngineWorker::readFailed, this, &Engine::readFailed);
    connect(m_reader, &ReaderWorker::databaseChecked, this, &Engine::databaseChecked);
    connect(m_reader, &ReaderWorker::seriesReady, this, &Engine::seriesReady);
    connect(m_reader, &ReaderWorker::queueRead, this, &Engine::queueRead);
    connect(m_reader, &ReaderWorker::queuesListed, this, &Engine::queuesListed);
    connect(m_reader, &ReaderWorker::queueTasksRead, this, &Engine::queueTasksRead);
    // Sort indexes: asked for by the reader, built by the writer, told by the reader (after
    // every taskSortPreparing it sent before, and before it reads the pages asked again).
    connect(m_reader, &ReaderWorker::sortIndexWanted, m_worker, &EngineWorker::buildSortIndex);
    connect(m_reader, &ReaderWorker::sortIndexUsed, m_worker, &EngineWorker::sortIndexUsed);
    connect(m_worker, &EngineWorker::sortIndexBuilt, m_reader, &ReaderWorker::sortIndexBuilt);
    connect(m_reader, &ReaderWorker::taskSortReady, this, &Engine::taskSortReady);
    // Ids gathered by the reader go straight to the writer on the engine thread.
    connect(m_reader, &ReaderWorker::idsCollected, m_worker, &EngineWorker::actOnTasks);
    // Prices changed by the worker are the ones the reader estimates with.
    connect(m_worker, &EngineWorker::pricesReloaded, m_reader, &ReaderWorker::reloadPrices);
    connect(m_worker, &EngineWorker::opened, this, [this](bool ok) {
        if (!ok || m_readerReady)
            return;
        m_readerReady = true;
        for (const auto &call : std::exchange(m_readerQueue, {}))
            QMetaObject::invokeMethod(m_reader, call, Qt::QueuedConnection);
    });
    m_readerThread.start();
}

EngineImpl::~EngineImpl()
{
    // Each worker's shutdown runs on its own thread, waited for: running jobs are paused
    // and their leases handed back before the database closes.
    QMetaObject::invokeMethod(m_reader, &ReaderWorker::shutdown, Qt::BlockingQueuedConnection);
    m_readerThread.quit();
    m_readerThread.wait();
    QMetaObject::invokeMethod(m_worker, &EngineWorker::shutdown, Qt::BlockingQueuedConnection);
    m_thread.quit();
    m_thread.wait();
}

template<typename Call>
void EngineImpl::onWorker(Call &&call)
{
    QMetaObject::invokeMethod(
        m_worker, [worker = m_worker, call = std::forward<Call>(call)] { call(*worker); },
        Qt::QueuedConnection);
}

void EngineImpl::onWorkerFirst(std::function<void(EngineWorker &)> call)
{
    QCoreApplication::postEvent(m_urgentInbox, new UrgentCall([worker = m_worker, call] { call(*worker); }),
                                Qt::HighEventPriority);
}

void EngineImpl::onReader(std::function<void()> call)
{
    if (m_readerReady)
        QMetaObject::invokeMethod(m_reader, std::move(call), Qt::QueuedConnection);
    else
        m_readerQueue.append(std::move(call));
}

void EngineImpl::open()
{
    if (m_readOnly) {
        // The reader opens its own connection on its first read (readFailed if it cannot).
        if (!std::exchange(m_readerReady, true)) {
            for (const auto &call : std::exchange(m_readerQueue, {}))
                QMetaObject::invokeMethod(m_reader, call, Qt::QueuedConnection);
        }
        QMetaObject::invokeMethod(this, [this] { Q_EMIT opened(true, QString()); }, Qt::QueuedConnection);
        return;
    }
    onWorker([](EngineWorker &w) { w.open(); });
}

void EngineImpl::checkJob(quint64 ticket, const JobDraft &draft)
{
    // Needs no database: it runs at once, before open() if need be.
    QMetaObject::invokeMethod(
        m_reader, [reader = m_reader, ticket, draft] { reader->checkJob(ticket, draft); },
        Qt::QueuedConnection);
}

void EngineImpl::estimateJob(quint64 ticket, const JobSpec &spec)
{
    // Before open() (batchctl estimate never opens a database it would create), at once.
    if (m_readerReady)
        onReader([reader = m_reader, ticket, spec] { reader->estimateJob(ticket, spec); });
    else
        QMetaObject::invokeMethod(
            m_reader, [reader = m_reader, ticket, spec] { reader->estimateJob(ticket, spec); },
            Qt::QueuedConnection);
}

void EngineImpl::compareSamples(quint64 ticket, const QList<qint64> &jobIds)
{
    onReader([reader = m_reader, ticket, jobIds] { reader->compareSamples(ticket, jobIds); });
}

void EngineImpl::importJob(const JobSpec &spec)
{
    m_cancelImport->store(false);
    onWorker([spec, cancel = m_cancelImport](EngineWorker &w) { w.importJob(spec, cancel); });
}

void EngineImpl::finishInterruptedImport(qint64 jobId)
{
    m_cancelImport->store(false);
    onWorker([jobId, cancel = m_cancelImport](EngineWorker &w) {
        w.finishInterruptedImport(jobId, cancel);
    });
}

void EngineImpl::cancelImport()
{
    m_cancelImport->store(true);
}

void EngineImpl::startJob(qint64 jobId, const ProviderConfig &provider)
{
    onWorker([=](EngineWorker &w) { w.startJob(jobId, provider); });
}

void EngineImpl::pauseJob(qint64 jobId, StopCause cause, const QString &detail, bool cancelInFlight)
{
    const QString reason = detail.isEmpty() ? stopCauseReason(cause) : detail;
    onWorker([=](EngineWorker &w) { w.pauseJob(jobId, reason, cancelInFlight); });
}

void EngineImpl::stopAll(StopCause cause)
{
    onWorker([reason = stopCauseReason(cause)](EngineWorker &w) { w.stopAll(reason); });
}

void EngineImpl::cancelJob(qint64 jobId, const QString &reason)
{
    onWorker([=](EngineWorker &w) { w.cancelJob(jobId, reason); });
}

void EngineImpl::reprioritiseJob(qint64 jobId, int priority)
{
    onWorker([=](EngineWorker &w) { w.reprioritiseJob(jobId, priority); });
}

void EngineImpl::setJobConcurrency(qint64 jobId, int concurrency)
{
    onWorker([=](EngineWorker &w) { w.setJobConcurrency(jobId, concurrency); });
}

void EngineImpl::runNow(qint64 jobId)
{
    onWorker([=](EngineWorker &w) { w.runNow(jobId); });
}

void EngineImpl::resumeJob(qint64 jobId)
{
    onWorker([=](EngineWorker &w) { w.resumeJob(jobId); });
}

void EngineImpl::requestJobs()
{
    if (m_readOnly) {
        onReader([reader = m_reader] { reader->listJobs(); });
        return;
    }
    onWorker([](EngineWorker &w) { w.listJobs(); });
}

void EngineImpl::requestWorkers(qint64 seenSinceMs)
{
    onReader([reader = m_reader, seenSinceMs] { reader->listWorkers(seenSinceMs); });
}

void EngineImpl::pauseLane(Lane lane)
{
    onWorker([=](EngineWorker &w) { w.setLanePaused(lane, true); });
}

void EngineImpl::resumeLane(Lane lane)
{
    onWorker([=](EngineWorker &w) { w.setLanePaused(lane, false); });
}

void EngineImpl::setLaneLimits(Lane lane, int concurrency, int maxConcurrentBatches)
{
    onWorker([=](EngineWorker &w) { w.setLaneLimits(lane, concurrency, maxConcurrentBatches); });
}

void EngineImpl::actOnTasks(TaskAction action, const QList<qint64> &taskIds, int argument)
{
    onWorker([=](EngineWorker &w) { w.actOnTasks(action, taskIds, argument); });
}

void EngineImpl::actOnMatching(TaskAction action, const TaskFilter &filter, int argument)
{
    onReader([reader = m_reader, action, filter, argument] {
        reader->collectIds(action, filter, argument);
    });
}

void EngineImpl::replayDead(const ReplayRequest &request)
{
    onWorker([=](EngineWorker &w) { w.replayDead(request); });
}

void EngineImpl::exportJob(qint64 jobId, const QString &path)
{
    qint64 cancelled = jobId;
    m_cancelledExport->compare_exchange_strong(cancelled, 0); // a new export is not cancelled
    onReader([reader = m_reader, jobId, path] { reader->exportJob(jobId, path); });
}

void EngineImpl::cancelExport(qint64 jobId)
{
    m_cancelledExport->store(jobId);
}

void EngineImpl::requestTaskCount(quint64 ticket, const TaskFilter &filter)
{
    onReader([reader = m_reader, ticket, filter] { reader->countTasks(ticket, filter); });
}

void EngineImpl::requestTaskPage(quint64 ticket, const TaskFilter &filter, qint64 offset,
                                 qint64 afterId, int limit, const TaskOrder &order)
{
    onReader([reader = m_reader, ticket, filter, offset, afterId, limit, order] {
        reader->fetchTaskPage(ticket, filter, offset, afterId, limit, order);
    });
}

void EngineImpl::discardRequests(const QList<quint64> &tickets)
{
    m_discardedTickets->add(tickets);
}

void EngineImpl::requestTaskDetail(quint64 ticket, qint64 taskId)
{
    onReader([reader = m_reader, ticket, taskId] { reader->fetchTaskDetail(ticket, taskId); });
}

void EngineImpl::requestDeadSummary(quint64 ticket, qint64 jobId)
{
    onReader([reader = m_reader, ticket, jobId] { reader->fetchDeadSummary(ticket, jobId); });
}

void EngineImpl::requestDeadTasks(quint64 ticket, qint64 jobId, qint64 afterTaskId, int limit)
{
    onReader([reader = m_reader, ticket, jobId, afterTaskId, limit] {
        reader->listDeadTasks(ticket, jobId, afterTaskId, limit);
    });
}

void EngineImpl::requestAlerts(bool includeCleared)
{
    onReader([reader = m_reader, includeCleared] { reader->listAlerts(includeCleared); });
}

void EngineImpl::clearAlerts(qint64 jobId, const QString &kind)
{
    onWorker([=](EngineWorker &w) { w.clearAlerts(jobId, kind); });
}

void EngineImpl::requestCostReport(qint64 jobId)
{
    onReader([reader = m_reader, jobId] { reader->reportCost(jobId); });
}

void EngineImpl::requestSeries(quint64 ticket, const QString &metric, const QString &labels,
                               qint64 fromMs, qint64 toMs, int maxPoints)
{
    onReader([reader = m_reader, ticket, metric, labels, fromMs, toMs, maxPoints] {
        reader->readSeries(ticket, metric, labels, fromMs, toMs, maxPoints);
    });
}

void EngineImpl::setGlobalBudget(double usd, const QString &period)
{
    onWorker([=](EngineWorker &w) { w.setGlobalBudget(usd, period); });
}

void EngineImpl::requestGlobalBudget()
{
    onReader([reader = m_reader] { reader->readGlobalBudget(); });
}

void EngineImpl::checkDatabase()
{
    onReader([reader = m_reader] { reader->checkDatabase(); });
}

void EngineImpl::setDefaultJobSettings(const QJsonObject &defaults)
{
    onWorker([=](EngineWorker &w) { w.setDefaultJobSettings(defaults); });
}

void EngineImpl::setMonitoring(const QJsonObject &monitoring)
{
    onWorker([=](EngineWorker &w) { w.setMonitoring(monitoring); });
}

void EngineImpl::requestPrices()
{
    onWorker([](EngineWorker &w) { w.listPrices(); });
}

void EngineImpl::reloadPrices()
{
    onWorker([](EngineWorker &w) { w.reloadPrices(); });
}

void EngineImpl::savePriceOverrides(const QJsonObject &entries)
{
    onWorker([=](EngineWorker &w) { w.savePriceOverrides(entries); });
}

void EngineImpl::testConnection(const ProviderConfig &provider)
{
    onWorker([=](EngineWorker &w) { w.testConnection(provider); });
}

void EngineImpl::setSnapshotInterval(int ms)
{
    onWorker([=](EngineWorker &w) { w.setSnapshotInterval(ms); });
}

void EngineImpl::defineQueue(quint64 ticket, const QueueSpec &spec)
{
    onWorker([=](EngineWorker &w) { w.defineQueue(ticket, spec); });
}

void EngineImpl::requestQueue(quint64 ticket, const QString &name)
{
    onWorkerFirst([ticket, name](EngineWorker &w) { w.readQueue(ticket, name); });
}

void EngineImpl::requestQueues()
{
    onReader([reader = m_reader] { reader->listQueues(); });
}

void EngineImpl::submitToQueue(quint64 ticket, const QString &queue, const QList<QueueTask> &tasks)
{
    onWorkerFirst([=](EngineWorker &w) { w.submitToQueue(ticket, queue, tasks); });
}

void EngineImpl::requestQueueTasks(quint64 ticket, const QList<qint64> &taskIds)
{
    onReader([reader = m_reader, ticket, taskIds] { reader->readQueueTasks(ticket, taskIds); });
}

void EngineImpl::requestUndelivered(quint64 ticket, qint64 jobId, int limit)
{
    onReader([reader = m_reader, ticket, jobId, limit] { reader->readUndelivered(ticket, jobId, limit); });
}

void EngineImpl::markDelivered(const QList<qint64> &taskIds)
{
    onWorker([=](EngineWorker &w) { w.markDelivered(taskIds); });
}

} // namespace bd
