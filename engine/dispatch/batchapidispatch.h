#pragma once

#include "core/tasktypes.h"
#include "dispatch/claimedwork.h"

#include <QString>

class QTimer;

namespace bd::store {
class Store;
}

namespace bd::dispatch {

class BatchLane;
class CircuitBreaker;
class TaskLanes;

// The runner's side of the batch-API lane (BatchLane opens, polls and settles the provider
// batches): claims a batch-API job's tasks into provider batches — each closes when full,
// when it has waited its maximum, or when nothing else of the job is pending — while tasks
// raised above the job go into the queue of sync calls at once; sends a sync job's tasks
// lowered to priority 3 as a provider batch of their own; holds closed batches while the
// batch endpoints' breaker is open. Engine-thread state over the runner's ClaimedWork and
// wake timer.
class BatchApiDispatch
{
public:
    class Host
    {
    public:
        virtual ~Host() = default;
        virtual bool laneRunning() const = 0;
        virtual bool laneHeld() const = 0; // preempted: no new provider batch
        // No sync call in flight (pumpLowered() then keeps looking for sync work).
        virtual bool syncIdle() const = 0;
        virtual CircuitBreaker &batchBreaker() = 0;
        virtual void laneFailed(const QString &error) = 0;
        virtual void flush() = 0;
        virtual void laneProgressed() = 0;
        // Nothing of the lane open or assembling: the runner looks for what is left.
        virtual void laneIdle() = 0;
        virtual void budgetRefused(double extraUsd, bool ownWorkInFlight) = 0;
        virtual void pumpLater() = 0;
    };

    struct Options
    {
        qint64 jobId = 0;
        QString workerId;
        qint64 leaseMs = 30'000;
        int maxBatchSize = 10'000;
        int maxConcurrentBatches = 4;
        qint64 idlePollMs = 1'000;
        qint64 maxWaitMs = 60'000;        // a batch-API job's batch (job setting batch_max_wait_ms)
        qint64 loweredMaxWaitMs = 60'000; // a sync job's lowered tasks
    };

    BatchApiDispatch(Host *host, store::Store *store, BatchLane *lane, const TaskLanes *lanes,
                     ClaimedWork *work, QTimer *wakeTimer, const Options &options);

    void setMaxConcurrentBatches(int batches) { m_options.maxConcurrentBatches = batches; }
    void setMaxWaitMs(qint64 ms) { m_options.maxWaitMs = ms; }
    // Priorities may have changed: the next pumpBatches() looks for raised tasks first.
    void lookForRaised() { m_lookForRaised = true; }

    // A batch-API job: claims and sends provider batches while slots are free.
    void pumpBatches(qint64 now);
    // A sync job: its lowered tasks go out as a provider batch once it is full, has waited
    // its maximum or nothing else can join.
    void pumpLowered(qint64 now);

private:
    // Tasks raised above the job's priority on their own, claimed into the queue of sync
    // calls even while every provider batch slot is taken.
    void claimRaised(qint64 now);
    // True while the batch endpoints' breaker holds batches back (the wake timer is set).
    bool endpointsHeld(qint64 now);
    enum class Sending
    {
        Sent,    // opened (or every line answered from the cache)
        Stopped, // refused by the budget, or the runner failed
    };
    Sending send(const QList<ClaimedTask> &tasks, qint64 now);
    void wakeIn(qint64 ms);

    Host *m_host;
    store::Store *m_store;
    BatchLane *m_lane;
    const TaskLanes *m_lanes;
    ClaimedWork *m_work;
    QTimer *m_wakeTimer;
    Options m_options;
    bool m_lookForRaised = true;
};

} // namespace bd::dispatch
