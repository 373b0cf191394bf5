#pragma once

#include <QList>
#include <QString>

namespace bd::store {

// One engine working on the database, as its last heartbeat described it.
struct WorkerRecord
{
    QString id; // the engine's worker id, host:pid:nonce
    QString host;
    qint64 pid = 0;
    QString lanes; // the lanes it serves, "1,2,3"
    qint64 startedAtMs = 0;
    qint64 lastSeenMs = 0;
    qint64 completed = 0; // tasks it completed since it started
    qint64 inFlight = 0;  // requests it had in flight
    double rate = 0.0;    // tasks per second it completed since its previous heartbeat
    qint64 rescued = 0;   // expired leases of other workers it handed back to pending
    qint64 stoppedAtMs = 0; // when it stopped (its last heartbeat); 0 while it runs

    bool operator==(const WorkerRecord &other) const = default;
};

// The registry of engines on a database (the workers role of a Database, database.h): every
// writing engine upserts its row every few seconds, so any process can tell which workers
// are alive, and a worker whose heartbeat is stale loses what it owns (its leases run out,
// its provider batches are adopted). Each call is synchronous, one statement or transaction.
class WorkerRegistry
{
public:
    // A worker not seen for this long is gone from listings and its row is removed.
    static constexpr qint64 kForgetAfterMs = 24LL * 3600 * 1000;

    virtual ~WorkerRegistry() = default;

    // Creates or refreshes the worker's row (startedAtMs is kept from its first heartbeat);
    // removes rows of workers not seen for kForgetAfterMs.
    virtual bool heartbeat(const WorkerRecord &worker) = 0;
    // Workers seen at or after seenSinceMs, by id.
    virtual QList<WorkerRecord> workers(qint64 seenSinceMs) = 0;

    // --- provider batches: one worker at a time polls each. The batch becomes the worker's
    // when nobody owns it, it owns it already, or its owner's last heartbeat is older than
    // staleBeforeMs (or it has none); false when another live worker has it.
    virtual bool takeBatch(qint64 batchId, const QString &workerId, qint64 staleBeforeMs) = 0;
    // Batches of the job owned by a worker whose heartbeat is older than staleBeforeMs (or
    // that never had one), still open at the provider: the ones to adopt.
    virtual QList<qint64> orphanedBatches(qint64 jobId, const QString &workerId,
                                          qint64 staleBeforeMs) = 0;
    // A worker that stops hands its batches back at once (returns how many).
    virtual int releaseBatches(const QString &workerId) = 0;

    virtual QString errorString() const = 0;
};

} // namespace bd::store
