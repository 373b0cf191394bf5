// The engine's heartbeat in the database's worker registry, the rescuer of expired leases
// and the adoption of provider batches whose worker stopped answering.

#include "core/clock.h"
#include "engineworker.h"
#include "store/database.h"
#include "store/workerregistry.h"

#include <algorithm>
#include <QCoreApplication>
#include <QHostInfo>
#include <QRandomGenerator>

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
    if (!m_store || !databaseReachable())
        return;
    const qint64 now = m_clock->nowMs();
    // The rescuer: any live engine hands back the tasks of a worker whose lease ran out (it
    // died, or stalled longer than the lease), so the others go on within the lease time.
    const int rescued = m_store->releaseExpiredLeases(now);
    if (rescued < 0 && !databaseReachable())
        return; // the server went away in that query: the reconnect timer takes over
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
        } else if (databaseAwayAfter(registry.errorString())) {
            return;
        } else {
            const QString error = registry.errorString();
            qWarning("%s", qPrintable(error));
            // Connected but refused (not a lost connection, which is reconnected to): past
            // a lease without a beat, this engine's leases are others' to take, and going on
            // would send what another worker sends too, so it gives up.
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

bool EngineWorker::databaseAwayAfter(const QString &error)
{
    if (!m_database || !m_database->connectionLost())
        return false;
    if (m_databaseAway)
        return true;
    m_databaseAway = true;
    m_awaySinceMs = m_clock->nowMs();
    m_reconnectAttempts = 0;
    for (dispatch::JobRunner *runner : std::as_const(m_runners))
        runner->databaseAway();
    if (!m_reconnectTimer) {
        m_reconnectTimer = new QTimer(this);
        m_reconnectTimer->setSingleShot(true);
        connect(m_reconnectTimer, &QTimer::timeout, this, &EngineWorker::reconnect);
    }
    Q_EMIT databaseAway(error.trimmed());
    m_reconnectTimer->start(0); // a blip (pg_terminate_backend) is over at once
    return true;
}

bool EngineWorker::databaseReachable()
{
    if (m_databaseAway)
        return false;
    // Met here, before a query fails on it (the notifier of LISTEN sees the session end).
    return !databaseAwayAfter(u"the server closed the connection"_s);
}

void EngineWorker::reconnect()
{
    if (!m_databaseAway || !m_database)
        return;
    QString error;
    const qint64 now = m_clock->nowMs();
    if (m_database->reconnect(&error)) {
        m_databaseAway = false;
        // Answers kept meanwhile first (the rescuer below would otherwise hand back the
        // tasks of this worker's own leases that ran out), then the beat and the claims.
        const QList<dispatch::JobRunner *> runners = m_runners.values();
        for (dispatch::JobRunner *runner : runners)
            runner->databaseBack();
        Q_EMIT databaseBack(now - m_awaySinceMs);
        heartbeat();
        listJobs();
        return;
    }
    if (now - m_awaySinceMs > m_runnerOptions.databaseWaitMs) {
        // Long enough: a service manager restarting the worker does better than waiting on.
        // The engine stays away (nothing more is sent to the server) while it stops.
        m_heartbeatTimer->stop();
        const QList<dispatch::JobRunner *> runners = m_runners.values();
        for (dispatch::JobRunner *runner : runners)
            runner->abandonForLostDatabase(error.trimmed());
        Q_EMIT databaseLost(error.trimmed());
        return;
    }
    // Capped exponential backoff with jitter, so a fleet does not knock all at once on a
    // server coming back: 250 ms, 500 ms, 1 s ... 8 s, each ±25 %.
    constexpr qint64 kFirstMs = 250;
    constexpr qint64 kCapMs = 8'000;
    const qint64 base = qMin(kCapMs, kFirstMs << qMin(m_reconnectAttempts++, 5));
    const qint64 jitter = QRandomGenerator::global()->bounded(base / 2 + 1) - base / 4;
    m_reconnectTimer->start(int(base + jitter));
}

void EngineWorker::stopHeartbeat()
{
    if (!m_heartbeatTimer || !m_store)
        return;
    m_heartbeatTimer->stop();
    if (m_databaseAway)
        return; // nothing to hand back through
    // The provider batches this engine polled are another live engine's to take at once.
    store::WorkerRegistry &registry = m_database->workers();
    if (registry.releaseBatches(m_workerId) < 0)
        qWarning("%s", qPrintable(registry.errorString()));
    m_stoppedHeartbeat = true;
    heartbeat(); // its last figures, nothing in flight, and that it stopped
}

} // namespace bd
