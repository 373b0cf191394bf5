#pragma once

#include "api/engine.h"

#include <QThread>

#include <atomic>
#include <functional>
#include <memory>

namespace bd {

class DiscardedTickets;
class EngineWorker;
class ReaderWorker;

// The engine behind the facade. It owns two threads: the engine thread (EngineWorker: the
// writing connection, the runners, monitoring) and the reader thread (ReaderWorker: views'
// pages, exports, estimates, reports). Each verb is one queued call to the thread that owns
// it; each worker signal is relayed as the facade's signal.
class EngineImpl final : public Engine
{
    Q_OBJECT

public:
    explicit EngineImpl(const EngineOptions &options, QObject *parent = nullptr);
    ~EngineImpl() override;
    Q_DISABLE_COPY_MOVE(EngineImpl)

    QString workerId() const override { return m_workerId; }
    QString database() const override { return m_database; }
    QString priceOverridePath() const override { return m_priceOverridePath; }
    int maxSortIndexes() const override { return m_maxSortIndexes; }
    qint64 sortIndexMinTasks() const override { return m_sortIndexMinTasks; }

    void open() override;
    void checkJob(quint64 ticket, const JobDraft &draft) override;
    void estimateJob(quint64 ticket, const JobSpec &spec) override;
    void compareSamples(quint64 ticket, const QList<qint64> &jobIds) override;
    void importJob(const JobSpec &spec) override;
    void finishInterruptedImport(qint64 jobId) override;
    void cancelImport() override;
    void startJob(qint64 jobId, const ProviderConfig &provider) override;
    void pauseJob(qint64 jobId, StopCause cause, const QString &detail, bool cancelInFlight) override;
    void stopAll(StopCause cause) override;
    void cancelJob(qint64 jobId, const QString &reason) override;
    void reprioritiseJob(qint64 jobId, int priority) override;
    void setJobConcurrency(qint64 jobId, int concurrency) override;
    void runNow(qint64 jobId) override;
    void resumeJob(qint64 jobId) override;
    void requestJobs() override;
    void requestWorkers(qint64 seenSinceMs) override;

    void pauseLane(Lane lane) override;
    void resumeLane(Lane lane) override;
    void setLaneLimits(Lane lane, int concurrency, int maxConcurrentBatches) override;

    void actOnTasks(TaskAction action, const QList<qint64> &taskIds, int argument) override;
    void actOnMatching(TaskAction action, const TaskFilter &filter, int argument) override;
    void replayDead(const ReplayRequest &request) override;
    void exportJob(qint64 jobId, const QString &path) override;
    void cancelExport(qint64 jobId) override;

    void requestTaskCount(quint64 ticket, const TaskFilter &filter) override;
    void requestTaskPage(quint64 ticket, const TaskFilter &filter, qint64 offset, qint64 afterId,
                         int limit, const TaskOrder &order = {}) override;
    void discardRequests(const QList<quint64> &tickets) override;
    void requestTaskDetail(quint64 ticket, qint64 taskId) override;
    void requestDeadSummary(quint64 ticket, qint64 jobId) override;
    void requestDeadTasks(quint64 ticket, qint64 jobId, qint64 afterTaskId, int limit) override;
    void requestAlerts(bool includeCleared) override;
    void clearAlerts(qint64 jobId, const QString &kind) override;
    void requestCostReport(qint64 jobId) override;
    void requestSeries(quint64 ticket, const QString &metric, const QString &labels, qint64 fromMs,
                       qint64 toMs, int maxPoints) override;

    void setGlobalBudget(double usd, const QString &period) override;
    void requestGlobalBudget() override;
    void checkDatabase() override;

    void setDefaultJobSettings(const QJsonObject &defaults) override;
    void setMonitoring(const QJsonObject &monitoring) override;
    void requestPrices() override;
    void reloadPrices() override;
    void savePriceOverrides(const QJsonObject &entries) override;
    void testConnection(const ProviderConfig &provider) override;
    void setSnapshotInterval(int ms) override;

    void defineQueue(quint64 ticket, const QueueSpec &spec) override;
    void requestQueue(quint64 ticket, const QString &name) override;
    void requestQueues() override;
    void submitToQueue(quint64 ticket, const QString &queue, const QList<QueueTask> &tasks) override;
    void requestQueueTasks(quint64 ticket, const QList<qint64> &taskIds) override;
    void requestUndelivered(quint64 ticket, qint64 jobId, int limit) override;
    void markDelivered(const QList<qint64> &taskIds) override;

private:
    // One queued call on the engine thread / the reader thread. Reads wait until the engine
    // has opened (and migrated) the database.
    template<typename Call>
    void onWorker(Call &&call);
    // Ahead of what the engine thread already has queued (answers of a bulk drain): for the
    // intake API's submissions and status reads, whose callers wait on them.
    void onWorkerFirst(std::function<void(EngineWorker &)> call);
    void onReader(std::function<void()> call);

    QString m_workerId;
    QString m_database;
    QString m_priceOverridePath;
    int m_maxSortIndexes = kMaxSortIndexes;
    qint64 m_sortIndexMinTasks = kSortIndexMinTasks;
    bool m_readOnly = false; // a look at the database: the reader only, no writer
    QThread m_thread;
    QObject *m_urgentInbox = nullptr; // lives on the engine thread, a child of m_worker
    EngineWorker *m_worker = nullptr; // lives on m_thread
    std::shared_ptr<std::atomic<bool>> m_cancelImport;
    bool m_readerReady = false;
    QList<std::function<void()>> m_readerQueue;
    QThread m_readerThread;
    ReaderWorker *m_reader = nullptr; // lives on m_readerThread
    std::shared_ptr<DiscardedTickets> m_discardedTickets;
    std::shared_ptr<std::atomic<qint64>> m_cancelledExport; // job id, 0: none
};

} // namespace bd
