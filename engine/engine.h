#pragma once

#include "core/types.h"
#include "dispatch/dispatcher.h"
#include "jobio.h"
#include "providers/provider.h"

#include <QObject>
#include <QThread>

namespace bd {

class Clock;
class EngineWorker;

// The facade the console and batchctl hold. It owns the engine thread; every call returns
// at once and its result comes back as a signal, delivered on the thread that created the
// Engine. Nothing here touches the disk or the network on the caller's thread.
//
// Calls made before opened() are queued behind open(). API keys are passed per job start
// and kept in memory only.
class Engine final : public QObject
{
    Q_OBJECT

public:
    struct Options
    {
        QString databasePath;
        QString workerId;       // empty: host:pid:random
        Clock *clock = nullptr; // null: system clock
        dispatch::JobRunner::Options runner;
        QString priceOverridePath; // user prices.json merged over the built-in table
    };

    explicit Engine(const Options &options, QObject *parent = nullptr);
    ~Engine() override; // pauses running jobs and joins the engine thread

    QString workerId() const { return m_workerId; }

    void open();
    void importJob(const bd::JobSpec &spec);
    void cancelImport();
    void startJob(qint64 jobId, const bd::providers::ProviderConfig &provider);
    // Stops dispatching; in-flight answers are awaited (or cancelled) and stored.
    void pauseJob(qint64 jobId, const QString &reason, bool cancelInFlight = true);
    // Pauses every running job; stoppedAll() follows when all have come to rest.
    void stopAll(const QString &reason);
    // Reads every job with its counts and spend; jobsListed() follows.
    void requestJobs();

    static QString defaultWorkerId();

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
    QString m_workerId;
    QThread m_thread;
    EngineWorker *m_worker = nullptr; // lives on m_thread
    std::shared_ptr<std::atomic<bool>> m_cancelImport;
};

} // namespace bd

Q_DECLARE_METATYPE(bd::ImportResult)
