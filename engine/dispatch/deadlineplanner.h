#pragma once

#include <QList>
#include <QString>

// A deadline instead of a lane (CLI.md --deadline): which lane finishes a job by then at
// the least cost, and, while it runs, whether its measured rate still makes it.
namespace bd::dispatch {

// The providers' batch APIs promise results within 24 h; work goes there only when the
// deadline is at least that far away.
inline constexpr qint64 kBatchCompletionWindowMs = 24LL * 3600 * 1000;
// A sync job due within the hour runs at priority 1 (ahead of other work), else 2.
inline constexpr qint64 kUrgentWithinMs = 3600LL * 1000;

struct DeadlinePlan
{
    int priority = 2;
    bool batchApi = false;      // the provider's batch API (priority 3), else sync calls
    qint64 batchApiTasks = 0;
    qint64 syncTasks = 0;
    bool meetsDeadline = true;
    qint64 expectedFinishMs = 0; // when the chosen lane should be done (estimate)
    QString why;                 // one line for the user
};

// Plans `tasks` tasks due at deadlineMs. syncTasksPerSecond is what sync calls achieve
// (measured, or from the job's rpm and concurrency); <= 0: unknown, taken as meeting.
DeadlinePlan planForDeadline(qint64 nowMs, qint64 deadlineMs, qint64 tasks, bool hasBatchApi,
                             double syncTasksPerSecond);

// The sync throughput a job's settings allow before anything is measured: its rpm when
// set, else its concurrency over a typical answer time.
double assumedSyncTasksPerSecond(int rpm, int concurrency, double typicalLatencySeconds = 2.0);

// While the job runs: what to change so that it still makes its deadline.
struct DeadlineReview
{
    enum class Action { Keep, MoveToSync, RaiseToNow };
    Action action = Action::Keep;
    int priority = 0;   // the priority to move to (MoveToSync, RaiseToNow)
    bool atRisk = false; // even the fastest lane's measured rate misses it
    qint64 lateByMs = 0; // expected finish past the deadline (0: on track)
    QString why;
};

// pendingTasks: not yet settled (pending and in flight, outside submitted provider
// batches); measuredTasksPerSecond < 0 while nothing was measured, 0 when nothing settled
// over the measured span (the job is stalled: late whatever the time left).
DeadlineReview reviewDeadline(qint64 nowMs, qint64 deadlineMs, int priority, bool onBatchApi,
                              qint64 pendingTasks, double measuredTasksPerSecond);

// Tasks settled per second over the last minute, from samples of a running total.
class ThroughputMeter
{
public:
    void record(qint64 nowMs, qint64 settledTotal);
    // -1 until samples span kMinSpanMs (a rate from a few seconds misleads); 0: nothing
    // settled over the span.
    double tasksPerSecond() const;
    static constexpr qint64 kWindowMs = 60'000;
    static constexpr qint64 kMinSpanMs = 15'000;

private:
    struct Sample
    {
        qint64 atMs = 0;
        qint64 settled = 0;
    };
    QList<Sample> m_samples;
};

} // namespace bd::dispatch
