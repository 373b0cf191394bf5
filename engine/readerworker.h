#pragma once

#include "core/tasktypes.h"
#include "api/metrictypes.h"
#include "api/engine.h"
#include "cost/pricetable.h"
#include "api/tasks.h"

#include <QMutex>
#include <QObject>
#include <QSet>

#include <atomic>
#include <memory>

namespace bd {

// Tickets of requests whose askers lost interest, to be dropped unread: filled by the
// facade on the caller's thread, taken by the reader.
class DiscardedTickets
{
public:
    void add(const QList<quint64> &tickets);
    // Whether the request with this ticket is to be dropped (each ticket answers once).
    bool take(quint64 ticket);

private:
    QMutex m_mutex;
    QSet<quint64> m_tickets;
    // The highest ticket the reader has come to: asking to drop one at or below it is too
    // late (requests are read in the order they were made), so the set stays small.
    quint64 m_readUpTo = 0;
};

namespace store {
class Database;
class Store;
class TaskReader;
}
namespace metrics {
class MetricsStore;
}

// Lives on the engine's reader thread and owns its read connections: the paged task
// queries views need and the long reads (exports) that must not stall dispatch on the
// engine thread. Opens lazily on the first call. Only Engine talks to it, by queued calls.
class ReaderWorker final : public QObject
{
    Q_OBJECT

public:
    // cancelledExport: the job whose export should stop (0: none), set from any thread.
    ReaderWorker(const QString &databasePath, const QString &priceOverridePath,
                 std::shared_ptr<DiscardedTickets> discarded,
                 std::shared_ptr<std::atomic<qint64>> cancelledExport = {});
    ~ReaderWorker() override;

    void countTasks(quint64 ticket, const bd::TaskFilter &filter);
    void fetchTaskPage(quint64 ticket, const bd::TaskFilter &filter, qint64 offset,
                       qint64 afterId, int limit, const bd::TaskOrder &order = {});
    // A job with at least this many tasks has its sort index for a key asked for
    // (sortIndexWanted) the first time it is sorted on it; 0: never. Set before the thread
    // starts.
    void setSortIndexMinTasks(qint64 tasks) { m_sortIndexMinTasks = tasks; }
    // The writer built the index (error empty) or could not (pages then sort without);
    // taskSortReady() follows.
    void sortIndexBuilt(qint64 jobId, bd::TaskSortKey key, const QString &error);
    void fetchTaskDetail(quint64 ticket, qint64 taskId);
    void fetchDeadSummary(quint64 ticket, qint64 jobId);
    void listAlerts(bool includeCleared);
    void collectIds(bd::TaskAction action, const bd::TaskFilter &filter, int argument);
    // Needs no database (reads the input and the tiering file).
    void checkJob(quint64 ticket, const bd::JobDraft &draft);
    // Uses the database when it exists (response cache, calibration), else estimates alone.
    void estimateJob(quint64 ticket, const bd::JobSpec &spec);
    void compareSamples(quint64 ticket, const QList<qint64> &jobIds);
    void listDeadTasks(quint64 ticket, qint64 jobId, qint64 afterTaskId, int limit);
    // Every job with its counts (a read-only engine's requestJobs).
    void listJobs();
    void listWorkers(qint64 seenSinceMs);
    void reportCost(qint64 jobId);
    void readGlobalBudget();
    // The full integrity check (Engine::checkDatabase).
    void checkDatabase();
    // The price file changed: read it again before the next estimate or report.
    void reloadPrices();
    void exportJob(qint64 jobId, const QString &path);
    // See Engine::requestSeries.
    void readSeries(quint64 ticket, const QString &metric, const QString &labels, qint64 fromMs,
                    qint64 toMs, int maxPoints);
    void shutdown();

    // Standing queues (readerworkerintake.cpp).
    void readQueue(quint64 ticket, const QString &name);
    void listQueues();
    void readQueueTasks(quint64 ticket, const QList<qint64> &taskIds);
    void readUndelivered(quint64 ticket, qint64 jobId, int limit);

Q_SIGNALS:
    void taskCountReady(quint64 ticket, qint64 count);
    void taskPageReady(quint64 ticket, qint64 offset, const QList<bd::TaskRow> &rows);
    void taskSortPreparing(quint64 ticket, qint64 jobId, bd::TaskSortKey key);
    void sortIndexWanted(qint64 jobId, bd::TaskSortKey key);
    // A sorted page read over the job's index (once per run of pages on one index).
    void sortIndexUsed(qint64 jobId, bd::TaskSortKey key);
    void taskSortReady(qint64 jobId, bd::TaskSortKey key, const QString &error);
    void taskDetailReady(quint64 ticket, const bd::TaskDetail &detail);
    void deadSummaryReady(quint64 ticket, qint64 jobId, const QList<bd::DeadClassCount> &classes);
    void alertsListed(const QList<bd::AlertRecord> &alerts);
    void idsCollected(bd::TaskAction action, const QList<qint64> &ids, int argument);
    void jobChecked(quint64 ticket, const bd::JobCheck &check);
    void jobEstimated(quint64 ticket, const bd::JobEstimate &estimate, const QString &error);
    void samplesCompared(quint64 ticket, const bd::SampleComparison &comparison);
    void deadTasksListed(quint64 ticket, qint64 jobId, const QList<bd::DeadTask> &tasks,
                         const QString &error);
    void costReportReady(qint64 jobId, const QJsonObject &report);
    void jobsListed(const QList<bd::JobInfo> &jobs);
    void workersListed(const QList<bd::WorkerInfo> &workers);
    void globalBudgetRead(double capUsd, const QString &period, double spentUsd);
    void exportProgressed(qint64 jobId, qint64 rows, qint64 totalRows);
    void exportFinished(qint64 jobId, const QString &path, bool ok, const QString &error);
    void exportWarned(qint64 jobId, const QStringList &warnings);
    void readFailed(quint64 ticket, const QString &error);
    void databaseChecked(const QStringList &problems, const QString &message);
    void seriesReady(quint64 ticket, const bd::metrics::SeriesData &series);
    void queueRead(quint64 ticket, const bd::QueueInfo &queue);
    void queuesListed(const QList<bd::QueueInfo> &queues);
    void queueTasksRead(quint64 ticket, const QList<bd::QueueTaskResult> &tasks);

private:
    // Opens the connections on first use; a failure is reported with the ticket asked.
    bool ensureOpen(quint64 ticket = 0);
    bool discarded(quint64 ticket) const { return m_discarded->take(ticket); }
    // True (and readFailed said why) once either connection met a damaged file: what was
    // just read may be wrong and is not handed out.
    bool damaged();
    // False (and readFailed said so) while the server has dropped either connection and a
    // new one cannot be opened yet; attempts are spaced by a capped backoff.
    bool reachable(quint64 ticket);
    QString unreachableText() const;
    qint64 m_nextReconnectMs = 0;
    qint64 m_reconnectDelayMs = 0;

    // Whether the job's pages in this key's order wait for its sort index (asked for here
    // the first time a job of sortIndexMinTasks or more is sorted on a key it lacks).
    bool waitsForSortIndex(qint64 jobId, bd::TaskSortKey key);
    const cost::PriceTable &prices();
    bd::QueueInfo queueInfo(const QString &name);
    // The store's records with their queue's name and the schema's fields filled in.
    QList<bd::QueueTaskResult> asResults(QList<bd::QueueTaskResult> records);

    QString m_databasePath;
    qint64 m_sortIndexMinTasks = 0;
    QSet<std::pair<qint64, int>> m_sortIndexesBuilding; // (job, key) asked, not built yet
    QSet<std::pair<qint64, int>> m_sortIndexesRefused;  // could not be built: sort without
    std::pair<qint64, int> m_lastSortIndexUsed{0, 0};   // told last (sortIndexUsed)
    QString m_priceOverridePath;
    std::optional<cost::PriceTable> m_prices;
    std::shared_ptr<DiscardedTickets> m_discarded;
    std::shared_ptr<std::atomic<qint64>> m_cancelledExport;
    std::unique_ptr<store::Database> m_database;      // the reader's store connection
    std::unique_ptr<store::Database> m_tasksDatabase; // read only, for task pages
    std::unique_ptr<metrics::MetricsStore> m_metrics; // over m_database's connection
    store::TaskReader *m_query = nullptr;             // m_tasksDatabase's
    store::Store *m_store = nullptr;                  // m_database's
};

} // namespace bd
