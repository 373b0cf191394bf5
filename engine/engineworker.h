#pragma once

#include "core/types.h"
#include "cost/pricetable.h"
#include "dispatch/dispatcher.h"
#include "jobio.h"

#include <QHash>
#include <QObject>

#include <atomic>
#include <memory>

namespace bd {

class Clock;
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
                 const QString &priceOverridePath);
    ~EngineWorker() override;

    void open();
    void importJob(const bd::JobSpec &spec, std::shared_ptr<std::atomic<bool>> cancel);
    void startJob(qint64 jobId, const bd::providers::ProviderConfig &provider);
    void pauseJob(qint64 jobId, const QString &reason, bool cancelInFlight);
    void stopAll(const QString &reason);
    void listJobs();
    void shutdown(); // synchronous, on the engine thread, before it quits

Q_SIGNALS:
    void opened(bool ok, const QString &error);
    void importProgressed(qint64 rows, qint64 bytesRead, qint64 totalBytes);
    void importFinished(const bd::ImportResult &result);
    void jobProgressed(qint64 jobId, const bd::TaskCounts &counts, const bd::Usage &usage,
                       double costUsd);
    void jobStopped(qint64 jobId, bd::JobState state, const QString &reason);
    void jobFailed(qint64 jobId, const QString &error);
    void alertRaised(qint64 jobId, const QString &kind, const QString &message);
    void stoppedAll();
    void jobsListed(const QList<bd::JobInfo> &jobs);

private:
    void releaseLeasesOfDeadWorkers();
    void handleRunnerFinished(qint64 jobId, bd::JobState state, const QString &reason);
    void removeRunner(qint64 jobId);

    QString m_databasePath;
    QString m_workerId;
    Clock *m_clock;
    dispatch::JobRunner::Options m_runnerOptions;
    QString m_priceOverridePath;
    cost::PriceTable m_prices;
    std::unique_ptr<store::SqliteStore> m_store;
    QHash<qint64, dispatch::JobRunner *> m_runners;
    bool m_stoppingAll = false;
};

} // namespace bd
