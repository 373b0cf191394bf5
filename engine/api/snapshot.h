#pragma once

#include "api/joblimit.h"
#include "api/types.h"

#include <QList>
#include <QMetaType>

// What the engine tells its front ends about every job, about once a second: one value,
// batched, never a signal per task. Built on the engine thread, copied to the GUI thread.
namespace bd {

struct JobSnapshot
{
    qint64 jobId = 0;
    JobState state = JobState::Paused;
    QString stateReason; // why it is paused, as stored
    int priority = 2;
    bool runningHere = false; // dispatched by this process (else: idle, or another worker)
    QString runner;           // the worker running it (JobInfo::runner); empty: none
    TaskCounts counts;
    Usage usage;
    double costUsd = 0.0;
    // Requests allowed in flight now while it runs here, adapted to the provider's 429s,
    // overloads and latency, up to the configured ceiling (both 0: not running here).
    int concurrency = 0;
    int concurrencyCeiling = 0;
    // Why a running job sends nothing by its own settings ("waiting for off-peak window
    // 22:00–06:00 Europe/Berlin (opens in 3 h 12 min)"); empty otherwise.
    QString waitingFor;
    // A job with a deadline that runs here: how late the measured rate makes it (0: on
    // track) and the engine's last word on it ("due in 3 h: sync calls at priority 2").
    qint64 deadlineLateByMs = 0;
    QString deadlineNote;
    // A running job (here or elsewhere): what limits it, from what every worker on the
    // database reports (empty text: nothing in particular, or not known yet).
    JobLimit limit;
};

struct EngineSnapshot
{
    qint64 atMs = 0; // wall clock
    QList<JobSnapshot> jobs;
    QList<int> pausedLanes; // priorities (1 realtime, 2 grouped, 3 batch) paused by the user

    bool isLanePaused(int priority) const { return pausedLanes.contains(priority); }

    // The cap across every job of the database (0: none) over its period (month, day,
    // all), what every process has really spent in that period, what this engine's
    // requests in flight may still cost (reserved under the cap, not spent), and whether
    // jobs wait for a higher cap.
    double globalBudgetUsd = 0.0;
    QString globalBudgetPeriod;
    double globalSpentUsd = 0.0;
    double globalReservedUsd = 0.0;
    bool globalBudgetReached = false;

    TaskCounts totals() const;
    double costUsd() const;
    // Tasks waiting (pending, not leased) in jobs of the given priority (1..3).
    qint64 pendingAtPriority(int priority) const;
    // Completed + dead + cancelled: what has left the queue for good.
    qint64 finishedTasks() const;
};

} // namespace bd

Q_DECLARE_METATYPE(bd::EngineSnapshot)
