#include "batchapidispatch.h"

#include "dispatch/batchassembly.h"
#include "dispatch/batchlane.h"
#include "dispatch/circuitbreaker.h"
#include "store/store.h"

#include <QTimer>

namespace bd::dispatch {

BatchApiDispatch::BatchApiDispatch(Host *host, store::Store *store, BatchLane *lane,
                                   const TaskLanes *lanes, ClaimedWork *work, QTimer *wakeTimer,
                                   const Options &options)
    : m_host(host)
    , m_store(store)
    , m_lane(lane)
    , m_lanes(lanes)
    , m_work(work)
    , m_wakeTimer(wakeTimer)
    , m_options(options)
{
}

void BatchApiDispatch::wakeIn(qint64 ms)
{
    m_wakeTimer->start(int(qBound<qint64>(1, ms, m_options.idlePollMs)));
}

void BatchApiDispatch::pumpBatches(qint64 now)
{
    if (m_host->laneHeld())
        return; // the lane is paused: open batches go on at the provider, no new ones
    if (m_lookForRaised) {
        claimRaised(now);
        if (!m_host->laneRunning())
            return;
    }
    ClaimedWork &work = *m_work;
    while (m_lane->openCount() < m_options.maxConcurrentBatches) {
        // Assemble one batch: it closes when it is full, when it has waited its maximum, or
        // when nothing else of the job is pending. Claims go in slices of at most 4,096.
        bool exhausted = false;
        work.assembly.open(m_options.maxBatchSize, now);
        while (!work.assembly.isFull()) {
            const int want = qMin(work.assembly.room(), 4'096);
            QList<ClaimedTask> claimed;
            if (!m_store->claimTasks(m_options.jobId, m_options.workerId, want, now,
                                     now + m_options.leaseMs, &claimed)) {
                m_host->laneFailed(m_store->errorString());
                return;
            }
            work.claimed(claimed.size());
            for (ClaimedTask &task : claimed) {
                // Raised above the job on their own: sync calls now, not 24 h away.
                if (m_lanes->laneOf(task) == TaskLanes::Lane::Sync)
                    work.ready.enqueue(std::move(task));
                else
                    work.assembly.add(std::move(task));
            }
            if (claimed.size() < want) {
                exhausted = true;
                break;
            }
        }
        if (work.assembly.isEmpty())
            break;
        const qint64 wait =
            work.assembly.msUntilClose(now, m_options.maxWaitMs, work.counts.pending > 0);
        if (wait > 0) {
            // Still filling: come back when the wait is over (or sooner, for new arrivals).
            wakeIn(wait);
            m_host->laneProgressed();
            return;
        }
        if (endpointsHeld(now)) {
            m_host->laneProgressed();
            return;
        }
        if (send(work.assembly.take(), now) == Sending::Stopped)
            return;
        if (exhausted)
            break;
    }
    if (m_lane->isEmpty() && work.assembly.isEmpty())
        m_host->laneIdle();
    else if (work.counts.pending > 0)
        m_wakeTimer->start(int(m_options.idlePollMs)); // retries that come due
}

BatchApiDispatch::Sending BatchApiDispatch::send(const QList<ClaimedTask> &tasks, qint64 now)
{
    const BatchLane::Sending sending = m_lane->send(tasks, now);
    switch (sending.sent) {
    case BatchLane::Sent::Opened:
        m_host->laneProgressed();
        return Sending::Sent;
    case BatchLane::Sent::Answered:
        m_host->flush(); // from the cache, or waiting for a leader
        return Sending::Sent;
    case BatchLane::Sent::OverBudget:
        m_host->budgetRefused(sending.refusedUsd, !m_lane->isEmpty());
        return Sending::Stopped;
    case BatchLane::Sent::Failed:
        break;
    }
    return Sending::Stopped;
}

bool BatchApiDispatch::endpointsHeld(qint64 now)
{
    // The batch endpoints are down: a closed batch waits, claimed, for the breaker's next
    // probe (a half-open breaker lets one batch through).
    CircuitBreaker &breaker = m_host->batchBreaker();
    if (breaker.allowRequest(now))
        return false;
    wakeIn(breaker.waitMs(now));
    return true;
}

void BatchApiDispatch::pumpLowered(qint64 now)
{
    ClaimedWork &work = *m_work;
    if (work.lowered.isEmpty() || m_host->laneHeld())
        return;
    const qint64 wait = work.lowered.msUntilClose(
        now, m_options.loweredMaxWaitMs, !work.claimedEverything && work.counts.pending > 0);
    if (wait > 0) {
        if (!m_wakeTimer->isActive() || m_wakeTimer->remainingTime() > wait)
            wakeIn(wait);
        return;
    }
    if (m_lane->openCount() >= m_options.maxConcurrentBatches || endpointsHeld(now)) {
        // The lowered tasks wait (batchClosed() or the breaker's timer comes back); the
        // runner's idle check does not run meanwhile, so a sync task that comes due is
        // looked for here.
        if (m_host->syncIdle() && work.ready.isEmpty() && work.assembly.isEmpty()) {
            work.claimedEverything = false;
            if (!m_wakeTimer->isActive())
                m_wakeTimer->start(int(m_options.idlePollMs));
        }
        return;
    }
    if (send(work.lowered.take(), now) == Sending::Stopped)
        return;
    // Claims stopped while that batch was full: look for more.
    if (work.counts.pending > 0)
        m_host->pumpLater();
}

void BatchApiDispatch::claimRaised(qint64 now)
{
    // Claims come best priority first, so raised tasks are at the head: slices are taken
    // until one holds a task at the job's own priority. Those join the batch being
    // assembled when a batch slot is free, else go back uncharged.
    m_lookForRaised = false;
    constexpr int kSlice = 64;
    ClaimedWork &work = *m_work;
    const bool batchSlotFree = m_lane->openCount() < m_options.maxConcurrentBatches;
    for (;;) {
        QList<ClaimedTask> claimed;
        if (!m_store->claimTasks(m_options.jobId, m_options.workerId, kSlice, now,
                                 now + m_options.leaseMs, &claimed)) {
            m_host->laneFailed(m_store->errorString());
            return;
        }
        work.claimed(claimed.size());
        bool reachedBulk = false;
        for (ClaimedTask &task : claimed) {
            if (m_lanes->laneOf(task) == TaskLanes::Lane::Sync) {
                work.ready.enqueue(std::move(task));
                continue;
            }
            reachedBulk = true;
            work.assembly.open(m_options.maxBatchSize, now);
            if (batchSlotFree && !work.assembly.isFull()) {
                work.assembly.add(std::move(task));
                continue;
            }
            work.handBack(task.id, now);
        }
        if (reachedBulk || claimed.size() < kSlice)
            break;
    }
    if (!work.toWrite.isEmpty())
        m_host->flush();
}

} // namespace bd::dispatch
