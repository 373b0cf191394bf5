#include "deadlineplanner.h"

#include "api/durationtext.h"

#include <cmath>

using namespace Qt::StringLiterals;

namespace bd::dispatch {

// Plans speak of time left, rounded up to the minute.
static QString describeDuration(qint64 ms)
{
    return durationText(ms, DurationRounding::UpToMinute);
}

double assumedSyncTasksPerSecond(int rpm, int concurrency, double typicalLatencySeconds)
{
    if (rpm > 0)
        return rpm / 60.0;
    if (concurrency > 0 && typicalLatencySeconds > 0)
        return concurrency / typicalLatencySeconds;
    return 0.0;
}

static qint64 syncDurationMs(qint64 tasks, double tasksPerSecond)
{
    if (tasksPerSecond <= 0)
        return 0;
    return qint64(std::ceil(double(tasks) / tasksPerSecond * 1000.0));
}

void ThroughputMeter::record(qint64 nowMs, qint64 settledTotal)
{
    m_samples.append({nowMs, settledTotal});
    // Keep one sample at or before the window's start so the rate spans the whole window.
    while (m_samples.size() > 2 && m_samples.at(1).atMs <= nowMs - kWindowMs)
        m_samples.removeFirst();
}

double ThroughputMeter::tasksPerSecond() const
{
    if (m_samples.size() < 2)
        return -1.0;
    const Sample &first = m_samples.first();
    const Sample &last = m_samples.last();
    const qint64 span = last.atMs - first.atMs;
    if (span < kMinSpanMs)
        return -1.0;
    return double(last.settled - first.settled) * 1000.0 / double(span);
}

DeadlinePlan planForDeadline(qint64 nowMs, qint64 deadlineMs, qint64 tasks, bool hasBatchApi,
                             double syncTasksPerSecond)
{
    DeadlinePlan plan;
    const qint64 left = deadlineMs - nowMs;
    if (hasBatchApi && left >= kBatchCompletionWindowMs) {
        plan.priority = 3;
        plan.batchApi = true;
        plan.batchApiTasks = tasks;
        plan.expectedFinishMs = nowMs + kBatchCompletionWindowMs;
        plan.why = u"due in %1: the batch API at half price (it answers within 24 h)"_s.arg(
            describeDuration(left));
        return plan;
    }
    plan.syncTasks = tasks;
    plan.priority = left <= kUrgentWithinMs ? 1 : 2;
    plan.expectedFinishMs = nowMs + syncDurationMs(tasks, syncTasksPerSecond);
    plan.meetsDeadline = left > 0 && plan.expectedFinishMs <= deadlineMs;
    if (left <= 0)
        plan.why = u"the deadline passed %1 ago"_s.arg(describeDuration(-left));
    else if (!plan.meetsDeadline)
        plan.why = u"due in %1 but sync calls at %2 tasks/s need %3"_s.arg(describeDuration(left))
                       .arg(syncTasksPerSecond, 0, 'f', 1)
                       .arg(describeDuration(plan.expectedFinishMs - nowMs));
    else
        plan.why = u"due in %1: sync calls at priority %2%3"_s.arg(describeDuration(left))
                       .arg(plan.priority)
                       .arg(hasBatchApi ? u" (the batch API's 24 h would miss it)"_s : QString());
    return plan;
}

DeadlineReview reviewDeadline(qint64 nowMs, qint64 deadlineMs, int priority, bool onBatchApi,
                              qint64 pendingTasks, double measuredTasksPerSecond)
{
    DeadlineReview review;
    const qint64 left = deadlineMs - nowMs;
    if (pendingTasks <= 0)
        return review;
    if (onBatchApi) {
        // Work not yet inside a provider batch would wait up to the batch window from now.
        if (left < kBatchCompletionWindowMs) {
            review.action = DeadlineReview::Action::MoveToSync;
            review.priority = left <= kUrgentWithinMs ? 1 : 2;
            review.why = u"due in %1, less than the batch API's 24 h: %2 pending tasks move to "
                         "sync calls"_s.arg(describeDuration(left)).arg(pendingTasks);
        }
        return review;
    }
    const bool stalled = measuredTasksPerSecond == 0.0;
    const qint64 needMs = syncDurationMs(pendingTasks, measuredTasksPerSecond);
    if (measuredTasksPerSecond > 0 && nowMs + needMs > deadlineMs)
        review.lateByMs = nowMs + needMs - deadlineMs;
    else if (left < 0)
        review.lateByMs = -left;
    else if (stalled)
        review.lateByMs = 1; // unknown how late: nothing moves
    if (review.lateByMs == 0) {
        if (priority == 2 && left <= kUrgentWithinMs) {
            review.action = DeadlineReview::Action::RaiseToNow;
            review.priority = 1;
            review.why = u"due in %1: raised to priority 1"_s.arg(describeDuration(left));
        }
        return review;
    }
    if (priority > 1 && !stalled) {
        review.action = DeadlineReview::Action::RaiseToNow;
        review.priority = 1;
        review.why = u"at %1 tasks/s the %2 pending tasks finish %3 late: raised to priority 1"_s
                         .arg(measuredTasksPerSecond, 0, 'f', 1)
                         .arg(pendingTasks)
                         .arg(describeDuration(review.lateByMs));
        return review;
    }
    review.atRisk = true;
    review.why = stalled && left >= 0
                     ? u"no task settled in the last minute and %1 are pending, due in %2"_s
                           .arg(pendingTasks).arg(describeDuration(left))
                 : left < 0 ? u"the deadline passed %1 ago with %2 tasks pending"_s
                                .arg(describeDuration(-left)).arg(pendingTasks)
                          : u"at %1 tasks/s the %2 pending tasks finish %3 late"_s
                                .arg(measuredTasksPerSecond, 0, 'f', 1)
                                .arg(pendingTasks)
                                .arg(describeDuration(review.lateByMs));
    return review;
}

} // namespace bd::dispatch
