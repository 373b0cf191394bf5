#pragma once

#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QString>

namespace bd {

// An engine working on the database (a worker, a run, a console ...), as its last heartbeat
// described it (Engine::requestWorkers).
struct WorkerInfo
{
    QString id; // host:pid:nonce, as Engine::workerId()
    QString host;
    qint64 pid = 0;
    QList<int> lanes; // the priorities it serves
    QDateTime startedAt;
    QDateTime lastSeen;
    qint64 completed = 0; // tasks it completed
    qint64 inFlight = 0;  // requests in flight at its last heartbeat
    double tasksPerSecond = 0.0;
    qint64 rescued = 0; // expired leases of other workers it returned to pending
    QDateTime stoppedAt; // when it stopped (its last heartbeat); invalid while it runs
};

} // namespace bd

Q_DECLARE_METATYPE(bd::WorkerInfo)
