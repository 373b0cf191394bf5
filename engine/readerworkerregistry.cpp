// The reader's answers about the engines on the database (the worker registry).

#include "readerworker.h"
#include "store/database.h"
#include "store/workerregistry.h"

namespace bd {

using namespace Qt::StringLiterals;

void ReaderWorker::listWorkers(qint64 seenSinceMs)
{
    if (!ensureOpen())
        return;
    store::WorkerRegistry &registry = m_database->workers();
    const QList<store::WorkerRecord> records = registry.workers(seenSinceMs);
    if (!registry.errorString().isEmpty()) {
        Q_EMIT readFailed(0, registry.errorString());
        return;
    }
    QList<WorkerInfo> workers;
    workers.reserve(records.size());
    for (const store::WorkerRecord &record : records) {
        WorkerInfo worker;
        worker.id = record.id;
        worker.host = record.host;
        worker.pid = record.pid;
        for (const QString &lane : record.lanes.split(u',', Qt::SkipEmptyParts))
            worker.lanes.append(lane.toInt());
        worker.startedAt = QDateTime::fromMSecsSinceEpoch(record.startedAtMs, Qt::UTC);
        worker.lastSeen = QDateTime::fromMSecsSinceEpoch(record.lastSeenMs, Qt::UTC);
        worker.completed = record.completed;
        worker.inFlight = record.inFlight;
        worker.tasksPerSecond = record.rate;
        worker.rescued = record.rescued;
        if (record.stoppedAtMs > 0)
            worker.stoppedAt = QDateTime::fromMSecsSinceEpoch(record.stoppedAtMs, Qt::UTC);
        workers.append(worker);
    }
    if (!damaged())
        Q_EMIT workersListed(workers);
}

} // namespace bd
