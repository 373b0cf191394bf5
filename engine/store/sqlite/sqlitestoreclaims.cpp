#include "sqlitestoreprivate.h"

#include "core/jsonutil.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>

namespace bd::store {

using namespace Qt::StringLiterals;

namespace {

// The cost lines (job_cost_lines) a group of completions adds to: since migration 17 a
// running task's completion is not counted by the tasks trigger but here, one upsert per
// line and group in the group's transaction, from what the completion returned.
class CostLines
{
public:
    // The completion statement's RETURNING row; batchLane looks up a provider batch's lane.
    bool add(const Statement &row, Statement &batchLane)
    {
        Line key;
        key.jobId = row.int64(0);
        key.model = row.bytes(1).toByteArray();
        key.day = row.isNull(4) ? -1 : row.int64(4);
        key.tier = row.bytes(5).toByteArray();
        if (row.int64(2) == 1) {
            key.lane = "response-cache";
        } else if (row.isNull(3)) {
            key.lane = "sync";
        } else {
            ResetGuard guard(batchLane);
            batchLane.bind(1, row.int64(3));
            const int rc = batchLane.step();
            if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return false;
            key.lane = rc == SQLITE_ROW && batchLane.bytes(0) == "batch-api" ? "batch-api" : "sync";
        }
        auto line = std::find_if(m_lines.begin(), m_lines.end(), [&](const Line &l) {
            return l.jobId == key.jobId && l.day == key.day && l.lane == key.lane &&
                   l.model == key.model && l.tier == key.tier;
        });
        if (line == m_lines.end()) {
            m_lines.append(std::move(key));
            line = m_lines.end() - 1;
        }
        ++line->tasks;
        if (row.isNull(6))
            ++line->unpriced;
        line->costUsd += row.real(6);
        for (int i = 0; i < 6; ++i)
            line->tokens[i] += row.int64(7 + i);
        line->classifyCostUsd += row.real(13);
        return true;
    }

    // Writes every line through the upsert (migrations.h costLineUpsertSql).
    bool write(Statement &upsert) const
    {
        for (const Line &line : m_lines) {
            ResetGuard guard(upsert);
            upsert.bind(1, line.jobId);
            upsert.bind(2, line.lane);
            upsert.bind(3, line.model);
            upsert.bind(4, line.day);
            upsert.bind(5, line.tier);
            upsert.bind(6, line.tasks);
            upsert.bind(7, line.unpriced);
            upsert.bind(8, line.costUsd);
            for (int i = 0; i < 6; ++i)
                upsert.bind(9 + i, line.tokens[i]);
            upsert.bind(15, line.classifyCostUsd);
            if (upsert.step() != SQLITE_DONE)
                return false;
        }
        return true;
    }

private:
    struct Line
    {
        qint64 jobId = 0;
        QByteArray lane;
        QByteArray model;
        qint64 day = -1;
        QByteArray tier;
        qint64 tasks = 0;
        qint64 unpriced = 0;
        double costUsd = 0;
        qint64 tokens[6] = {}; // input, output, cached, cache write, classifier in and out
        double classifyCostUsd = 0;
    };
    QList<Line> m_lines;
};

} // namespace

// --- claims, leases, transitions and batches

bool SqliteStore::claimTasks(qint64 jobId, const QString &owner, int limit, qint64 nowMs,
                             qint64 leaseUntilMs, QList<ClaimedTask> *out)
{
    QList<ClaimedTask> &claimed = *out;
    claimed.clear();
    Statement &claim = m_statements->claim;
    ResetGuard guard(claim);
    claim.bind(1, owner);
    claim.bind(2, leaseUntilMs);
    claim.bind(3, nowMs);
    claim.bind(4, jobId);
    claim.bind(5, qint64(limit));
    claimed.reserve(limit);
    int rc;
    while ((rc = claim.step()) == SQLITE_ROW) {
        ClaimedTask task;
        task.id = claim.int64(0);
        task.jobId = claim.int64(1);
        task.rowNumber = claim.int64(2);
        task.priority = int(claim.int64(3));
        task.attempts = int(claim.int64(4));
        task.values = json::decodeStringArray(claim.bytes(5)).value_or(QStringList());
        task.queuedAtMs = claim.int64(6);
        task.providerCancels = int(claim.int64(7));
        task.templateRevision = int(claim.int64(8));
        claimed.append(std::move(task));
    }
    if (rc != SQLITE_DONE) {
        claimed.clear();
        return failSql(u"claim failed"_s);
    }
    // RETURNING gives no order; dispatch wants best priority, then input order.
    std::sort(claimed.begin(), claimed.end(), [](const ClaimedTask &a, const ClaimedTask &b) {
        return a.priority != b.priority ? a.priority < b.priority : a.id < b.id;
    });
    return true;
}

bool SqliteStore::renewLeases(const QString &owner, qint64 leaseUntilMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE tasks SET lease_expires = ? WHERE state = 1 AND state NOT IN (0, 2) "
                  "AND lease_owner = ?"_s);
    query.addBindValue(leaseUntilMs);
    query.addBindValue(owner);
    return query.exec() || fail(query.lastError().text());
}

QStringList SqliteStore::leaseOwners()
{
    QStringList owners;
    QSqlQuery query(m_db);
    if (!query.exec(
            u"SELECT DISTINCT lease_owner FROM tasks WHERE state = 1 AND state NOT IN (0, 2)"_s)) {
        fail(query.lastError().text());
        return owners;
    }
    while (query.next())
        owners.append(query.value(0).toString());
    return owners;
}

int SqliteStore::releaseLeasesOf(const QString &owner)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE tasks SET state = 0, lease_owner = NULL, lease_expires = NULL "
                  "WHERE state = 1 AND state NOT IN (0, 2) AND lease_owner = ?"_s);
    query.addBindValue(owner);
    if (!query.exec()) {
        fail(query.lastError().text());
        return -1;
    }
    return query.numRowsAffected();
}

int SqliteStore::releaseExpiredLeases(qint64 nowMs)
{
    QSqlQuery query(m_db);
    // Pending again from now: its wait (metric and alerts) starts at the release.
    query.prepare(u"UPDATE tasks SET state = 0, lease_owner = NULL, lease_expires = NULL, "
                  "not_before = ? WHERE state = 1 AND state NOT IN (0, 2) AND lease_expires < ?"_s);
    query.addBindValue(nowMs);
    query.addBindValue(nowMs);
    if (!query.exec()) {
        fail(query.lastError().text());
        return -1;
    }
    return query.numRowsAffected();
}

bool SqliteStore::applyTransitions(const QString &owner, const QList<TaskTransition> &transitions,
                                   qint64 nowMs, int *skipped)
{
    if (skipped)
        *skipped = 0;
    if (transitions.isEmpty())
        return true;
    if (!exec(u"BEGIN IMMEDIATE"_s))
        return false;
    Statements &s = *m_statements;
    const QByteArray ownerUtf8 = owner.toUtf8();
    double spentUsd = 0.0; // what the answers stored here cost, for the spend ledger
    CostLines lines;
    for (const TaskTransition &t : transitions) {
        const TaskOutcome &o = t.outcome;
        const qint64 charge = t.chargeAttempt ? 1 : 0;
        Statement *statement = nullptr;
        switch (t.action) {
        case OutcomeAction::Complete:
            statement = &s.complete;
            statement->bind(1, o.output);
            statement->bindText(2, o.model);
            statement->bind(3, o.usage.inputTokens);
            statement->bind(4, o.usage.outputTokens);
            statement->bind(5, o.usage.cachedTokens);
            statement->bind(6, o.usage.cacheWriteTokens);
            if (o.costUsd)
                statement->bind(7, *o.costUsd);
            else
                statement->bindNull(7);
            statement->bind(8, qint64(o.cacheHit ? 1 : 0));
            statement->bind(9, qint64(o.httpStatus));
            statement->bind(10, charge);
            statement->bind(11, nowMs);
            statement->bind(12, o.taskId);
            statement->bind(13, ownerUtf8);
            bindRoute(statement, 14, o);
            bindClassification(statement, 16, o);
            break;
        case OutcomeAction::Release:
            if (o.error == ErrorClass::Cancelled) {
                // Handed back unsent: the task keeps what it had, including an earlier error.
                statement = &s.release;
                statement->bind(1, t.notBeforeMs);
                statement->bind(2, o.taskId);
                statement->bind(3, ownerUtf8);
                bindClassification(statement, 4, o);
                break;
            }
            [[fallthrough]];
        case OutcomeAction::Retry:
            statement = &s.retry;
            statement->bind(1, charge);
            statement->bind(2, t.notBeforeMs);
            statement->bind(3, errorClassName(o.error));
            statement->bind(4, o.errorMessage);
            statement->bind(5, qint64(o.httpStatus));
            statement->bind(6, o.taskId);
            statement->bind(7, ownerUtf8);
            statement->bind(8, qint64(o.error == ErrorClass::ProviderCancelled ? 1 : 0));
            bindRoute(statement, 9, o);
            bindClassification(statement, 11, o);
            bindRejected(statement, 14, o);
            break;
        case OutcomeAction::DeadLetter:
            statement = &s.dead;
            statement->bind(1, charge);
            statement->bind(2, errorClassName(o.error));
            statement->bind(3, o.errorMessage);
            statement->bind(4, qint64(o.httpStatus));
            statement->bind(5, nowMs);
            statement->bind(6, o.taskId);
            statement->bind(7, ownerUtf8);
            bindRoute(statement, 8, o);
            bindClassification(statement, 10, o);
            bindRejected(statement, 13, o);
            break;
        }
        int rc;
        {
            ResetGuard guard(*statement);
            rc = statement->step();
            if (rc == SQLITE_ROW) { // a completion, with what its cost line adds
                rc = lines.add(*statement, s.batchLane) ? statement->step() : SQLITE_ERROR;
            }
        }
        if (rc != SQLITE_DONE) {
            failSql(u"cannot record the outcome of task %1"_s.arg(o.taskId));
            exec(u"ROLLBACK"_s);
            return false;
        }
        if (sqlite3_changes(m_handle) == 0) {
            if (skipped)
                ++*skipped;
            continue;
        }
        if (t.action == OutcomeAction::Complete)
            spentUsd += o.costUsd.value_or(0.0);
        spentUsd += o.rejectedCostUsd; // answers the schema refused were billed too
        // The history keeps every failure; a success is on the task row itself.
        if (o.error != ErrorClass::None && o.error != ErrorClass::Cancelled) {
            Statement &attempt = s.insertAttempt;
            ResetGuard guard(attempt);
            attempt.bind(1, o.taskId);
            attempt.bind(2, o.finishedAtMs ? o.finishedAtMs : nowMs);
            attempt.bind(3, errorClassName(o.error));
            attempt.bind(4, qint64(o.httpStatus));
            attempt.bind(5, o.errorMessage);
            attempt.bind(6, charge);
            if (attempt.step() != SQLITE_DONE) {
                failSql(u"cannot record the attempt of task %1"_s.arg(o.taskId));
                exec(u"ROLLBACK"_s);
                return false;
            }
        }
    }
    if (!lines.write(s.addCostLine)) {
        failSql(u"cannot record the cost lines"_s);
        exec(u"ROLLBACK"_s);
        return false;
    }
    if (spentUsd > 0) {
        // One row per UTC day across every job: a global budget reads a few rows, never
        // the task table, and the sum commits with the completions it counts.
        Statement &spend = s.addSpend;
        ResetGuard guard(spend);
        spend.bind(1, nowMs / 86'400'000);
        spend.bind(2, spentUsd);
        if (spend.step() != SQLITE_DONE) {
            failSql(u"cannot record the spend"_s);
            exec(u"ROLLBACK"_s);
            return false;
        }
    }
    return exec(u"COMMIT"_s);
}

std::optional<qint64> SqliteStore::nextPendingAtMs(qint64 jobId)
{
    QSqlQuery query(m_db);
    query.prepare(u"SELECT MIN(not_before) FROM tasks INDEXED BY tasks_claim WHERE job_id = ? "
                  "AND state = 0"_s);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next() || query.isNull(0))
        return std::nullopt;
    return query.value(0).toLongLong();
}

qint64 SqliteStore::createBatch(qint64 jobId, const QString &provider, const QString &lane,
                               int size, int maxSize, const QString &state, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO provider_batches (job_id, provider, lane, size, max_size, state, "
                  "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"_s);
    query.addBindValue(jobId);
    query.addBindValue(text(provider));
    query.addBindValue(text(lane));
    query.addBindValue(size);
    query.addBindValue(maxSize);
    query.addBindValue(text(state));
    query.addBindValue(nowMs);
    query.addBindValue(nowMs);
    if (!query.exec()) {
        fail(u"cannot record a batch: "_s + query.lastError().text());
        return 0;
    }
    return query.lastInsertId().toLongLong();
}

int SqliteStore::assignTasksToBatch(qint64 batchId, const QString &fromOwner,
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

bool SqliteStore::updateBatch(qint64 batchId, const QString &state, const QString &providerBatchId,
                              qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE provider_batches SET state = ?, "
                  "provider_batch_id = COALESCE(?, provider_batch_id), updated_at = ? WHERE id = ?"_s);
    query.addBindValue(text(state));
    query.addBindValue(providerBatchId.isEmpty() ? QVariant() : QVariant(providerBatchId));
    query.addBindValue(nowMs);
    query.addBindValue(batchId);
    return query.exec() || fail(query.lastError().text());
}

QList<ProviderBatchRecord> SqliteStore::batches(qint64 jobId, const QStringList &states)
{
    QList<ProviderBatchRecord> result;
    QSqlQuery query(m_db);
    query.prepare(u"SELECT id, job_id, provider, provider_batch_id, lane, size, max_size, state, "
                  "created_at, updated_at FROM provider_batches WHERE job_id = ? ORDER BY id"_s);
    query.addBindValue(jobId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return result;
    }
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

QList<ClaimedTask> SqliteStore::leasedTasksOfBatch(qint64 batchId)
{
    QList<ClaimedTask> tasks;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    query.prepare(u"SELECT id, job_id, row_no, priority, attempts, vals, provider_cancels, "
                  "template_rev FROM tasks WHERE batch_id = ? AND state = 1 ORDER BY id"_s);
    query.addBindValue(batchId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return tasks;
    }
    while (query.next()) {
        ClaimedTask task;
        task.id = query.value(0).toLongLong();
        task.jobId = query.value(1).toLongLong();
        task.rowNumber = query.value(2).toLongLong();
        task.priority = query.value(3).toInt();
        task.attempts = query.value(4).toInt();
        task.values = json::decodeStringArray(query.value(5).toString().toUtf8()).value_or(QStringList());
        task.providerCancels = query.value(6).toInt();
        task.templateRevision = query.value(7).toInt();
        tasks.append(task);
    }
    return tasks;
}

} // namespace bd::store
