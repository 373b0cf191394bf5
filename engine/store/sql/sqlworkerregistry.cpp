#include "sqlworkerregistry.h"

#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

using namespace Qt::StringLiterals;

namespace {

// A batch still at the provider (or being handed to it): someone has to poll it.
const QString kOpenBatch = u"state IN ('assembling', 'submitted')"_s;

// The owner of a batch is alive: its heartbeat is recent. Binds staleBeforeMs.
const QString kOwnerAlive =
    u"EXISTS (SELECT 1 FROM workers w WHERE w.id = provider_batches.owner AND w.last_seen >= ?)"_s;

} // namespace

SqlWorkerRegistry::SqlWorkerRegistry(QSqlDatabase db, std::shared_ptr<void> keepAlive)
    : m_db(std::move(db))
    , m_keepAlive(std::move(keepAlive))
{
}

SqlWorkerRegistry::~SqlWorkerRegistry() = default;

bool SqlWorkerRegistry::fail(const QSqlQuery &query, const QString &what)
{
    m_error = what + u": "_s + query.lastError().text();
    return false;
}

bool SqlWorkerRegistry::heartbeat(const WorkerRecord &worker)
{
    m_error.clear();
    if (!m_db.isOpen()) { // the session ended (PostgreSQL away): no query, and no Qt warning
        m_error = u"cannot record the heartbeat of %1: the database is not open"_s.arg(worker.id);
        return false;
    }
    QSqlQuery query(m_db);
    query.prepare(
        u"INSERT INTO workers (id, host, pid, lanes, started_at, last_seen, completed, in_flight, "
        "rate, rescued, stopped_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO "
        "UPDATE SET lanes = excluded.lanes, last_seen = excluded.last_seen, "
        "completed = excluded.completed, in_flight = excluded.in_flight, rate = excluded.rate, "
        "rescued = excluded.rescued, stopped_at = excluded.stopped_at"_s);
    query.addBindValue(worker.id);
    query.addBindValue(worker.host.isNull() ? u""_s : worker.host);
    query.addBindValue(worker.pid);
    query.addBindValue(worker.lanes.isNull() ? u""_s : worker.lanes);
    query.addBindValue(worker.startedAtMs);
    query.addBindValue(worker.lastSeenMs);
    query.addBindValue(worker.completed);
    query.addBindValue(worker.inFlight);
    query.addBindValue(worker.rate);
    query.addBindValue(worker.rescued);
    query.addBindValue(worker.stoppedAtMs);
    if (!query.exec())
        return fail(query, u"cannot record the heartbeat of %1"_s.arg(worker.id));
    query.finish();
    QSqlQuery prune(m_db);
    prune.prepare(u"DELETE FROM workers WHERE last_seen < ?"_s);
    prune.addBindValue(worker.lastSeenMs - kForgetAfterMs);
    if (!prune.exec())
        qWarning("old workers not pruned: %s", qPrintable(prune.lastError().text()));
    return true;
}

QList<WorkerRecord> SqlWorkerRegistry::workers(qint64 seenSinceMs)
{
    m_error.clear();
    QList<WorkerRecord> result;
    QSqlQuery query(m_db);
    query.prepare(
        u"SELECT id, host, pid, lanes, started_at, last_seen, completed, in_flight, rate, "
        "rescued, stopped_at FROM workers WHERE last_seen >= ? ORDER BY id"_s);
    query.addBindValue(seenSinceMs);
    if (!query.exec()) {
        fail(query, u"cannot read the workers"_s);
        return result;
    }
    while (query.next()) {
        WorkerRecord worker;
        worker.id = query.value(0).toString();
        worker.host = query.value(1).toString();
        worker.pid = query.value(2).toLongLong();
        worker.lanes = query.value(3).toString();
        worker.startedAtMs = query.value(4).toLongLong();
        worker.lastSeenMs = query.value(5).toLongLong();
        worker.completed = query.value(6).toLongLong();
        worker.inFlight = query.value(7).toLongLong();
        worker.rate = query.value(8).toDouble();
        worker.rescued = query.value(9).toLongLong();
        worker.stoppedAtMs = query.value(10).toLongLong();
        result.append(worker);
    }
    return result;
}

bool SqlWorkerRegistry::takeBatch(qint64 batchId, const QString &workerId, qint64 staleBeforeMs)
{
    m_error.clear();
    // One statement: of two workers taking the same batch, one updates the row and the other
    // then finds a live owner.
    QSqlQuery query(m_db);
    query.prepare(
        u"UPDATE provider_batches SET owner = ? WHERE id = ? AND (owner = '' OR owner = ? "
        "OR NOT "_s +
        kOwnerAlive + u")"_s);
    query.addBindValue(workerId);
    query.addBindValue(batchId);
    query.addBindValue(workerId);
    query.addBindValue(staleBeforeMs);
    if (!query.exec())
        return fail(query, u"cannot take batch %1"_s.arg(batchId));
    return query.numRowsAffected() == 1;
}

QList<qint64> SqlWorkerRegistry::orphanedBatches(qint64 jobId, const QString &workerId,
                                                 qint64 staleBeforeMs)
{
    m_error.clear();
    QList<qint64> ids;
    // An unowned batch is an orphan once it is older than the stale time: a new one is
    // taken by its creator within moments of its row being written.
    QSqlQuery query(m_db);
    query.prepare(
        u"SELECT id FROM provider_batches WHERE job_id = ? AND "_s + kOpenBatch +
        u" AND owner <> ? AND ((owner = '' AND created_at < ?) OR (owner <> '' AND NOT "_s +
        kOwnerAlive + u")) ORDER BY id"_s);
    query.addBindValue(jobId);
    query.addBindValue(workerId);
    query.addBindValue(staleBeforeMs);
    query.addBindValue(staleBeforeMs);
    if (!query.exec()) {
        fail(query, u"cannot read the batches of job %1"_s.arg(jobId));
        return ids;
    }
    while (query.next())
        ids.append(query.value(0).toLongLong());
    return ids;
}

int SqlWorkerRegistry::releaseBatches(const QString &workerId)
{
    m_error.clear();
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE provider_batches SET owner = '' WHERE owner = ? AND "_s + kOpenBatch);
    query.addBindValue(workerId);
    if (!query.exec()) {
        fail(query, u"cannot hand back the batches of %1"_s.arg(workerId));
        return -1;
    }
    return query.numRowsAffected();
}

} // namespace bd::store
