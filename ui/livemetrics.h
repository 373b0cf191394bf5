#pragma once

#include "metricsource.h"
#include "api/snapshot.h"

#include <QHash>

#include <deque>

namespace bd::ui {

// Engine snapshots turned into series: one sample per snapshot for the last hour and one
// per minute for seven days, so the longest range stays bounded (about 14,000 samples).
class LiveMetrics final : public MetricSource
{
    Q_OBJECT

public:
    struct Sample
    {
        qint64 atMs = 0;
        qint64 pending[3] = {0, 0, 0}; // by priority 1..3
        qint64 inFlight = 0;
        // Tasks that finished (completed, dead or cancelled) while watched: a running sum of
        // each job's progress between snapshots, so a job that appears (opened, imported
        // elsewhere) with work already done is not counted as a burst of progress.
        qint64 finished = 0;
        qint64 completed = 0;
        qint64 dead = 0;
        double spendUsd = 0;
    };

    // jobId 0: every job; else the samples count that job alone (the dashboard's filter).
    explicit LiveMetrics(QObject *parent = nullptr, qint64 jobId = 0);

    qint64 jobId() const { return m_jobId; }

    void addSnapshot(const bd::EngineSnapshot &snapshot);
    void addSample(const Sample &sample);

    QList<QPointF> points(Metric metric, qint64 fromMs, qint64 toMs, int maxPoints) const override;
    qint64 earliestMs() const override;

    const Sample *latest() const { return m_fine.empty() ? nullptr : &m_fine.back(); }
    // Tasks per minute over the last window (30 s), from the fine samples.
    double currentRate() const;
    // Tasks per minute over the same window, summed over the jobs that still have work left
    // (pending or leased in the latest snapshot): what the ETA divides by. A fast job that
    // has just finished no longer counts (a slow job's 5,862 pending read "7 s").
    double rateOfUnfinishedJobs() const;
    // Whether snapshots carry the metric (the others come from stored history only).
    static bool isLive(Metric metric);
    qint64 sampleCount() const { return qint64(m_fine.size() + m_coarse.size()); }

private:
    double value(Metric metric, const Sample &sample, const Sample *previous) const;
    void addJobs(qint64 atMs, const QList<bd::JobSnapshot> &jobs);
    void noteJobProgress(qint64 atMs, const QList<bd::JobSnapshot> &jobs);

    qint64 m_jobId = 0;

    std::deque<Sample> m_fine;   // last hour
    std::deque<Sample> m_coarse; // one a minute, seven days
    QHash<qint64, qint64> m_finishedOfJob; // as the last snapshot said
    struct JobProgress
    {
        std::deque<std::pair<qint64, qint64>> finished; // (atMs, finished) over the window
        qint64 unfinished = 0;                          // as the last snapshot said
    };
    QHash<qint64, JobProgress> m_jobProgress; // jobs of the latest snapshot
    qint64 m_finishedWhileWatched = 0;
};

} // namespace bd::ui
