#include "sqlstore.h"

#include "core/jsonutil.h"
#include "sqlstatement.h"

#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- leases and provider batches (the claims and transitions are the backends' own)

bool SqlStore::renewLeases(const QString &owner, qint64 leaseUntilMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE tasks SET lease_expires = ? WHERE state = 1"_s +
                  activeStatesHint(m_dialect) + u" AND lease_owner = ?"_s);
    query.addBindValue(leaseUntilMs);
    query.addBindValue(owner);
    return query.exec() || fail(query.lastError().text());
}

QStringList SqlStore::leaseOwners()
{
    QStringList owners;
    QSqlQuery query(m_db);
    if (!query.exec(u"SELECT DISTINCT lease_owner FROM tasks WHERE state = 1"_s +
                    activeStatesHint(m_dialect))) {
        fail(query.lastError().text());
        return owners;
    }
    while (query.next())
        owners.append(query.value(0).toString());
    return owners;
}

int SqlStore::releaseLeasesOf(const QString &owner, qint64 nowMs)
{
    QSqlQuery query(m_db);
    // As releaseExpiredLeases(): the wait starts again at the hand-back, so a stopped
    // worker's time in flight is not counted as waiting.
    if (!run(query,
             u"UPDATE tasks SET state = 0, lease_owner = NULL, lease_expires = NULL, "
             "not_before = ? WHERE state = 1"_s +
                 activeStatesHint(m_dialect) + u" AND lease_owner = ?"_s,
             {nowMs, owner}))
        return -1;
    return query.numRowsAffected();
}

int SqlStore::releaseExpiredLeases(qint64 nowMs)
{
    QSqlQuery query(m_db);
    // Pending again from now: its wait (metric and alerts) starts at the release.
    if (!run(query,
             u"UPDATE tasks SET state = 0, lease_owner = NULL, lease_expires = NULL, "
             "not_before = ? WHERE state = 1"_s +
                 activeStatesHint(m_dialect) + u" AND lease_expires < ?"_s,
             {nowMs, nowMs}))
        return -1;
    return query.numRowsAffected();
}

std::optional<qint64> SqlStore::nextPendingAtMs(qint64 jobId)
{
    QSqlQuery query(m_db);
    query.prepare(u"SELECT MIN(not_before) FROM tasks"_s + claimIndexHint(m_dialect) +
                  u" WHERE job_id = ? AND state = 0"_s);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next() || query.isNull(0))
        return std::nullopt;
    return query.value(0).toLongLong();
}

qint64 SqlStore::createBatch(qint64 jobId, const QString &provider, const QString &lane, int size,
                             int maxSize, const QString &state, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO provider_batches (job_id, provider, lane, size, max_size, state, "
                  "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"_s);
    query.addBindValue(jobId);
    query.addBindValue(text(provider));
    query.addBindValue(text(lane));
    query.addBindValue(size);
    query.addBindValue(maxSize);
    query.addBindValue(text(state));
    query.addBindValue(nowMs);
    query.addBindValue(nowMs);
    if (!query.exec() || !query.next()) {
        fail(u"cannot record a batch: "_s + query.lastError().text());
        return 0;
    }
    return query.value(0).toLongLong();
}

int SqlStore::assignTasksToBatch(qint64 batchId, const QString &fromOwner,
                                 const QList<qint64> &taskIds, const QString &batchOwner,
                                 qint64 leaseUntilMs)
{
    if (!m_db.transaction()) {
        fail(m_db.lastError().text());
        return -1;
    }
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE tasks SET batch_id = ?, lease_owner = ?, lease_expires = ? "
                  "WHERE id = ? AND state = 1 AND lease_owner = ?"_s);
    int moved = 0;
    for (qint64 id : taskIds) {
        query.addBindValue(batchId);
        query.addBindValue(batchOwner);
        query.addBindValue(leaseUntilMs);
        query.addBindValue(id);
        query.addBindValue(fromOwner);
        if (!query.exec()) {
            fail(query.lastError().text());
            m_db.rollback();
            return -1;
        }
        moved += query.numRowsAffected();
    }
    query.prepare(u"UPDATE provider_batches SET size = ? WHERE id = ?"_s);
    query.addBindValue(moved);
    query.addBindValue(batchId);
    if (!query.exec() || !m_db.commit()) {
        fail(query.lastError().text());
        m_db.rollback();
        return -1;
    }
    return moved;
}

bool SqlStore::updateBatch(qint64 batchId, const QString &state, const QString &providerBatchId,
                           qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(
        u"UPDATE provider_batches SET state = ?, "
        "provider_batch_id = COALESCE(?, provider_batch_id), updated_at = ? WHERE id = ?"_s);
    query.addBindValue(text(state));
    query.addBindValue(providerBatchId.isEmpty() ? QVariant(QMetaType::fromType<QString>())
                                                 : QVariant(providerBatchId));
    query.addBindValue(nowMs);
    query.addBindValue(batchId);
    return query.exec() || fail(query.lastError().text());
}

QList<ProviderBatchRecord> SqlStore::batches(qint64 jobId, const QStringList &states)
{
    QList<ProviderBatchRecord> result;
    QSqlQuery query(m_db);
    if (!run(query,
             u"SELECT id, job_id, provider, provider_batch_id, lane, size, max_size, state, "
             "created_at, updated_at FROM provider_batches WHERE job_id = ? ORDER BY id"_s,
             {jobId}))
        return result;
    while (query.next()) {
        ProviderBatchRecord batch;
        batch.id = query.value(0).toLongLong();
        batch.jobId = query.value(1).toLongLong();
        batch.provider = query.value(2).toString();
        batch.providerBatchId = query.value(3).toString();
        batch.lane = query.value(4).toString();
        batch.size = query.value(5).toInt();
        batch.maxSize = query.value(6).toInt();
        batch.state = query.value(7).toString();
        batch.createdAtMs = query.value(8).toLongLong();
        batch.updatedAtMs = query.value(9).toLongLong();
        if (states.isEmpty() || states.contains(batch.state))
            result.append(batch);
    }
    return result;
}

QList<ClaimedTask> SqlStore::leasedTasksOfBatch(qint64 batchId)
{
    QList<ClaimedTask> tasks;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    if (!run(query,
             u"SELECT id, job_id, row_no, priority, attempts, vals, provider_cancels, "
             "template_rev FROM tasks WHERE batch_id = ? AND state = 1 ORDER BY id"_s,
             {batchId}))
        return tasks;
    while (query.next()) {
        ClaimedTask task;
        task.id = query.value(0).toLongLong();
        task.jobId = query.value(1).toLongLong();
        task.rowNumber = query.value(2).toLongLong();
        task.priority = query.value(3).toInt();
        task.attempts = query.value(4).toInt();
        task.values =
            json::decodeStringArray(query.value(5).toString().toUtf8()).value_or(QStringList());
        task.providerCancels = query.value(6).toInt();
        task.templateRevision = query.value(7).toInt();
        tasks.append(task);
    }
    return tasks;
}

} // namespace bd::store
