// The engine's heartbeat in the database's worker registry, the rescuer of expired leases
// and the adoption of provider batches whose worker stopped answering.

#include "core/clock.h"
#include "engineworker.h"
#include "store/database.h"
#include "store/workerregistry.h"

#include <algorithm>
#include <QCoreApplication>
#include <QHostInfo>

namespace bd {

using namespace Qt::StringLiterals;

void EngineWorker::startHeartbeat()
{
    if (!m_heartbeatTimer) {
        m_heartbeatTimer = new QTimer(this);
        connect(m_heartbeatTimer, &QTimer::timeout, this, &EngineWorker::heartbeat);
    }
    m_startedAtMs = m_clock->nowMs();
    m_lastBeatMs = m_startedAtMs;
    m_lastBeatWrittenMs = m_startedAtMs;
    m_stoppedHeartbeat = false;
    m_heartbeatTimer->start(int(std::clamp<qint64>(m_runnerOptions.heartbeatMs, 100, 60'000)));
    heartbeat();
}

void EngineWorker::heartbeat()
{
    if (!m_store)
        return;
    const qint64 now = m_clock->nowMs();
    // The rescuer: any live engine hands back the tasks of a worker whose lease ran out (it
    // died, or stalled longer than the lease), so the others go on within the lease time.
    const int rescued = m_store->releaseExpiredLeases(now);
    if (rescued > 0) {
        m_rescued += rescued;
        qInfo("%d task(s) whose lease had run out are pending again", rescued);
    }
    store::WorkerRecord record;
    record.id = m_workerId;
    record.host = QHostInfo::localHostName();
    record.pid = QCoreApplication::applicationPid();
    const QList<int> paused = m_lanes.pausedLanes();
    QStringList lanes;
    for (const Lane lane : {Lane::Realtime, Lane::Grouped, Lane::Batch}) {
        if (!paused.contains(int(lane)))
            lanes.append(QString::number(int(lane)));
    }
    record.lanes = lanes.join(u',');
    record.startedAtMs = m_startedAtMs;
    record.lastSeenMs = now;
    record.completed = m_completedByRemoved;
    for (dispatch::JobRunner *runner : std::as_const(m_runners)) {
        record.completed += runner->completedHere();
        record.inFlight += runner->inFlightCount();
    }
    const qint64 elapsed = now - m_lastBeatMs;
    if (elapsed > 0)
        record.rate = double(record.completed - m_lastBeatCompleted) * 1000.0 / double(elapsed);
    m_lastBeatCompleted = record.completed;
    m_lastBeatMs = now;
    record.rescued = m_rescued;
    if (m_stoppedHeartbeat) {
        // The last word of an engine that stops: lists show it stopped, not alive.
        record.stoppedAtMs = now;
        record.rate = 0.0;
    }
    store::WorkerRegistry &registry = m_database->workers();
    if (m_listedAsWorker) {
        if (registry.heartbeat(record)) {
            m_lastBeatWrittenMs = now;
        } else {
            const QString error = registry.errorString();
            qWarning("%s", qPrintable(error));
            // Past a lease without a beat, this engine's leases are others' to take: going on
            // would send what another worker sends too, so it gives up (exactly once holds).
            if (m_heartbeatTimer->isActive() &&
                now - m_lastBeatWrittenMs > m_runnerOptions.leaseMs) {
                m_heartbeatTimer->stop();
                Q_EMIT databaseLost(error);
                return;
            }
        }
    }
    // Provider batches of workers gone quiet are polled here from now on, never resubmitted.
    const QList<dispatch::JobRunner *> runners = m_runners.values();
    for (dispatch::JobRunner *runner : runners)
        runner->adoptOrphanedBatches();
}

void EngineWorker::stopHeartbeat()
{
    if (!m_heartbeatTimer || !m_store)
        return;
    m_heartbeatTimer->stop();
    // The provider batches this engine polled are another live engine's to take at once.
    store::WorkerRegistry &registry = m_database->workers();
    if (registry.releaseBatches(m_workerId) < 0)
        qWarning("%s", qPrintable(registry.errorString()));
    m_stoppedHeartbeat = true;
    heartbeat(); // its last figures, nothing in flight, and that it stopped
}

} // namespace bd
