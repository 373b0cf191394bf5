#pragma once

#include "api/types.h"
#include "api/snapshot.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QList>
#include <QSet>

#include <deque>
#include <optional>

namespace bd::ui {

// The jobs in the database: their settings from Engine::jobsListed (asked for when jobs
// come and go), their counts, spend, rate and ETA from engine snapshots (about once a
// second). Never reads the disk. The state column also says why a running job sends
// nothing: its off-peak window (JobSnapshot::waitingFor) or a lane paused in this engine.
class JobsModel final : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column
    {
        IdColumn,
        SourceColumn,
        StateColumn,
        ProgressColumn,
        DoneColumn,
        DeadColumn,
        RateColumn,
        EtaColumn,
        CostColumn,
        PriorityColumn,
        ModelColumn,
        ColumnCount
    };
    enum Role
    {
        ProgressRole = Qt::UserRole + 1, // double 0..1
        JobIdRole,
        JobStateRole,
    };

    using QAbstractTableModel::QAbstractTableModel;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    void setJobs(const QList<bd::JobInfo> &jobs);
    void applySnapshot(const bd::EngineSnapshot &snapshot);
    void updateProgress(qint64 jobId, const bd::TaskCounts &counts, const bd::Usage &usage,
                        double costUsd);
    void setJobState(qint64 jobId, bd::JobState state, const QString &reason);
    // Engine::jobWaiting: a job running here waits for its off-peak window (empty: no more).
    void setWaiting(qint64 jobId, const QString &reason);
    // Engine::laneStateChanged: jobs of that priority running here are held.
    void setLanePaused(int priority, bool paused);

    const QList<bd::JobInfo> &jobs() const { return m_jobs; }
    std::optional<bd::JobInfo> job(qint64 jobId) const;
    int rowOf(qint64 jobId) const;
    // Tasks per minute over the last half minute, and the seconds left at that pace (-1: unknown).
    double ratePerMinute(qint64 jobId) const;
    qint64 etaSeconds(qint64 jobId) const;
    // Why a job running in this engine waits for its off-peak window; empty otherwise.
    QString waitingFor(qint64 jobId) const { return m_waiting.value(jobId); }
    // What limits a running job, here or in another process (JobSnapshot::limit); empty:
    // nothing in particular, or not known.
    QString limitOf(qint64 jobId) const { return m_limits.value(jobId); }
    bool isLanePaused(int priority) const { return m_pausedLanes.contains(priority); }
    // The state column's text: "Running (lane 2 · within the hour paused)", "Paused (quota exhausted …)".
    QString stateText(const bd::JobInfo &job) const;
    // Who runs a running job: "this window", "pid 4242" (this computer) or "host, pid 4242".
    QString runnerText(const bd::JobInfo &job) const;
    // The whole reason: the off-peak window, the paused lane, a pause's cause.
    QString stateToolTip(const bd::JobInfo &job) const;

private:
    struct Sample
    {
        qint64 atMs;
        qint64 finished;
    };
    void addSample(qint64 jobId, qint64 atMs, qint64 finished);
    // A job with a deadline (--deadline, the engine's lane plan) and unfinished tasks: how
    // many seconds after it the job would finish at its current rate (0: on track); nullopt
    // without a deadline or when nothing is left.
    std::optional<qint64> secondsLate(const bd::JobInfo &job) const;
    QString etaText(const bd::JobInfo &job) const;
    qint64 m_nowMs = 0;                     // the last snapshot's time
    QHash<qint64, QString> m_deadlineNotes; // the engine's word on jobs running here

    QList<bd::JobInfo> m_jobs;
    QHash<qint64, std::deque<Sample>> m_samples;
    QHash<qint64, QString> m_limits; // running jobs: the engine's word on what limits them
    QSet<qint64> m_heldForUrgentWork; // running here, held while priority 1 work goes first
    QHash<qint64, int> m_workers;    // running jobs: how many workers have requests of it out
    QHash<qint64, QString> m_waiting; // jobs running here that wait for their window
    // Jobs running here: requests allowed in flight now (adapted) and the configured ceiling.
    QHash<qint64, std::pair<int, int>> m_concurrency;
    QSet<qint64> m_runningHere;
    QSet<int> m_pausedLanes;
};

} // namespace bd::ui
