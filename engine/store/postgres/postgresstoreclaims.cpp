#include "postgresstoreprivate.h"

#include "core/jsonutil.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- claims, leases, transitions and batches

bool PostgresStore::claimTasks(qint64 jobId, const QString &owner, int limit, qint64 nowMs,
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
    while ((rc = claim.step()) == Statement::Row) {
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
    if (rc != Statement::Done) {
        claimed.clear();
        return failSql(u"claim failed: "_s + claim.errorText());
    }
    // RETURNING gives no order; dispatch wants best priority, then input order.
    std::sort(claimed.begin(), claimed.end(), [](const ClaimedTask &a, const ClaimedTask &b) {
        return a.priority != b.priority ? a.priority < b.priority : a.id < b.id;
    });
    return true;
}

bool PostgresStore::renewLeases(const QString &owner, qint64 leaseUntilMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE tasks SET lease_expires = ? WHERE state = 1 AND lease_owner = ?"_s);
    query.addBindValue(leaseUntilMs);
    query.addBindValue(owner);
    return query.exec() || fail(query.lastError().text());
}

QStringList PostgresStore::leaseOwners()
{
    QStringList owners;
    QSqlQuery query(m_db);
    if (!query.exec(u"SELECT DISTINCT lease_owner FROM tasks WHERE state = 1"_s)) {
        fail(query.lastError().text());
        return owners;
    }
    while (query.next())
        owners.append(query.value(0).toString());
    return owners;
}

int PostgresStore::releaseLeasesOf(const QString &owner)
{
    QSqlQuery query(m_db);
    if (!run(query,
             u"UPDATE tasks SET state = 0, lease_owner = NULL, lease_expires = NULL "
             "WHERE state = 1 AND lease_owner = ?"_s,
             {owner}))
        return -1;
    return query.numRowsAffected();
}

int PostgresStore::releaseExpiredLeases(qint64 nowMs)
{
    QSqlQuery query(m_db);
    if (!run(query,
             // Pending again from now: its wait (metric and alerts) starts at the release.
             u"UPDATE tasks SET state = 0, lease_owner = NULL, lease_expires = NULL, "
             "not_before = ? WHERE state = 1 AND lease_expires < ?"_s,
             {nowMs, nowMs}))
        return -1;
    return query.numRowsAffected();
}

namespace {

// A plain answer: stored by the group statement (completeGroup).
bool isPlainAnswer(const TaskTransition &t)
{
    return t.action == OutcomeAction::Complete && t.outcome.error == ErrorClass::None;
}

// The group statement's rows: one JSON object per answer, keys as in its recordset.
QByteArray answerRows(const QList<TaskTransition> &transitions)
{
    QJsonArray rows;
    for (const TaskTransition &t : transitions) {
        if (!isPlainAnswer(t))
            continue;
        const TaskOutcome &o = t.outcome;
        const auto orNull = [](const QString &text) {
            return text.isEmpty() ? QJsonValue() : QJsonValue(text);
        };
        rows.append(QJsonObject{
            {u"id"_s, o.taskId},
            {u"o"_s, o.output.isNull() ? u""_s : o.output},
            {u"m"_s, o.model.isNull() ? QJsonValue() : QJsonValue(o.model)},
            {u"it"_s, o.usage.inputTokens},
            {u"ot"_s, o.usage.outputTokens},
            {u"ct"_s, o.usage.cachedTokens},
            {u"cw"_s, o.usage.cacheWriteTokens},
            {u"c"_s, o.costUsd ? QJsonValue(*o.costUsd) : QJsonValue()},
            {u"h"_s, o.cacheHit ? 1 : 0},
            {u"s"_s, o.httpStatus},
            {u"a"_s, t.chargeAttempt ? 1 : 0},
            {u"ti"_s, orNull(o.tier)},
            {u"rm"_s, orNull(o.routedModel)},
            {u"cit"_s, o.classifyUsage.inputTokens},
            {u"cot"_s, o.classifyUsage.outputTokens},
            {u"cc"_s, o.classifyCostUsd},
            {u"rc"_s, o.rejectedCostUsd},
        });
    }
    return QJsonDocument(rows).toJson(QJsonDocument::Compact);
}

} // namespace

bool PostgresStore::completeGroup(const QString &owner, const QList<TaskTransition> &transitions,
                                  qint64 nowMs, int *stored)
{
    Statement &group = m_statements->completeGroup;
    ResetGuard guard(group);
    group.bind(1, answerRows(transitions));
    group.bind(2, nowMs);
    group.bind(3, owner);
    group.bind(4, nowMs / 86'400'000);
    if (group.step() != Statement::Row)
        return failSql(u"cannot record a group of answers: "_s + group.errorText());
    *stored = int(group.int64(0));
    return true;
}

bool PostgresStore::applyTransitions(const QString &owner, const QList<TaskTransition> &transitions,
                                   qint64 nowMs, int *skipped)
{
    if (skipped)
        *skipped = 0;
    if (transitions.isEmpty())
        return true;
    // Answers go in one statement per group, whatever its size; the rest (failures, hand-
    // backs: few) row by row. A group naming a task twice goes row by row, in its order.
    QSet<qint64> ids;
    ids.reserve(transitions.size());
    int answers = 0;
    for (const TaskTransition &t : transitions) {
        ids.insert(t.outcome.taskId);
        answers += isPlainAnswer(t) ? 1 : 0;
    }
    const bool grouped = answers > 0 && ids.size() == transitions.size();
    const bool answersOnly = grouped && answers == transitions.size();
    // Answers alone are one statement: atomic without a transaction round trip.
    if (!answersOnly && !exec(u"BEGIN"_s))
        return false;
    if (grouped) {
        int stored = 0;
        if (!completeGroup(owner, transitions, nowMs, &stored)) {
            if (!answersOnly)
                exec(u"ROLLBACK"_s);
            return false;
        }
        if (skipped)
            *skipped += answers - stored;
        if (answersOnly)
            return true;
    }
    Statements &s = *m_statements;
    const QByteArray ownerUtf8 = owner.toUtf8();
    double spentUsd = 0.0; // what the answers stored here cost, for the spend ledger
    for (const TaskTransition &t : transitions) {
        if (grouped && isPlainAnswer(t))
            continue;
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
        int changes = 0;
        {
            ResetGuard guard(*statement);
            rc = statement->step();
            changes = statement->changes();
            if (rc == Statement::Error)
                failSql(u"cannot record the outcome of task %1: %2"_s.arg(o.taskId).arg(
                    statement->errorText()));
        }
        if (rc == Statement::Error) {
            exec(u"ROLLBACK"_s);
            return false;
        }
        if (changes == 0) {
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
            if (attempt.step() == Statement::Error) {
                failSql(u"cannot record the attempt of task %1: %2"_s.arg(o.taskId).arg(
                    attempt.errorText()));
                exec(u"ROLLBACK"_s);
                return false;
            }
        }
    }
    if (spentUsd > 0) {
        // One row per UTC day across every job: a global budget reads a few rows, never
        // the task table, and the sum commits with the completions it counts.
        Statement &spend = s.addSpend;
        ResetGuard guard(spend);
        spend.bind(1, nowMs / 86'400'000);
        spend.bind(2, spentUsd);
        if (spend.step() == Statement::Error) {
            failSql(u"cannot record the spend: "_s + spend.errorText());
            exec(u"ROLLBACK"_s);
            return false;
        }
    }
    return exec(u"COMMIT"_s);
}

std::optional<qint64> PostgresStore::nextPendingAtMs(qint64 jobId)
{
    QSqlQuery query(m_db);
    query.prepare(u"SELECT MIN(not_before) FROM tasks WHERE job_id = ? AND state = 0"_s);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next() || query.isNull(0))
        return std::nullopt;
    return query.value(0).toLongLong();
}

qint64 PostgresStore::createBatch(qint64 jobId, const QString &provider, const QString &lane,
                               int size, int maxSize, const QString &state, qint64 nowMs)
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

int PostgresStore::assignTasksToBatch(qint64 batchId, const QString &fromOwner,
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

bool PostgresStore::updateBatch(qint64 batchId, const QString &state, const QString &providerBatchId,
                              qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE provider_batches SET state = ?, "
                  "provider_batch_id = COALESCE(?, provider_batch_id), updated_at = ? WHERE id = ?"_s);
    query.addBindValue(text(state));
    query.addBindValue(providerBatchId.isEmpty() ? QVariant(QMetaType::fromType<QString>())
                                                 : QVariant(providerBatchId));
    query.addBindValue(nowMs);
    query.addBindValue(batchId);
    return query.exec() || fail(query.lastError().text());
}

QList<ProviderBatchRecord> PostgresStore::batches(qint64 jobId, const QStringList &states)
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

QList<ClaimedTask> PostgresStore::leasedTasksOfBatch(qint64 batchId)
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
        task.values = json::decodeStringArray(query.value(5).toString().toUtf8()).value_or(QStringList());
        task.providerCancels = query.value(6).toInt();
        task.templateRevision = query.value(7).toInt();
        tasks.append(task);
    }
    return tasks;
}

} // namespace bd::store
