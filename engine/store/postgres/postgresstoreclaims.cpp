#include "postgresstoreprivate.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSet>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- claims and transitions (leases and batches are SqlStore's)

bool PostgresStore::claimTasks(qint64 jobId, const QString &owner, int limit, qint64 nowMs,
                             qint64 leaseUntilMs, QList<ClaimedTask> *out)
{
    QList<ClaimedTask> &claimed = *out;
    claimed.clear();
    PostgresStatement &claim = m_statements->claim;
    ResetGuard guard(claim);
    claim.bind(1, owner);
    claim.bind(2, leaseUntilMs);
    claim.bind(3, nowMs);
    claim.bind(4, jobId);
    claim.bind(5, qint64(limit));
    claimed.reserve(limit);
    int rc;
    while ((rc = claim.step()) == PostgresStatement::Row)
        claimed.append(claimedTask(claim, jobId));
    if (rc != PostgresStatement::Done) {
        claimed.clear();
        return failSql(u"claim failed: "_s + claim.errorText());
    }
    // RETURNING gives no order; dispatch wants best priority, then input order.
    std::sort(claimed.begin(), claimed.end(), [](const ClaimedTask &a, const ClaimedTask &b) {
        return a.priority != b.priority ? a.priority < b.priority : a.id < b.id;
    });
    return true;
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
    PostgresStatement &group = m_statements->completeGroup;
    ResetGuard guard(group);
    group.bind(1, answerRows(transitions));
    group.bind(2, nowMs);
    group.bind(3, owner);
    group.bind(4, nowMs / 86'400'000);
    if (group.step() != PostgresStatement::Row)
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
        PostgresStatement *statement = bindTransition(s, t, ownerUtf8, nowMs);
        int rc;
        int changes = 0;
        {
            ResetGuard guard(*statement);
            rc = statement->step();
            changes = statement->changes();
            if (rc == PostgresStatement::Error)
                failSql(u"cannot record the outcome of task %1: %2"_s.arg(o.taskId).arg(
                    statement->errorText()));
        }
        if (rc == PostgresStatement::Error) {
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
            PostgresStatement &attempt = s.insertAttempt;
            ResetGuard guard(attempt);
            attempt.bind(1, o.taskId);
            attempt.bind(2, o.finishedAtMs ? o.finishedAtMs : nowMs);
            attempt.bind(3, errorClassName(o.error));
            attempt.bind(4, qint64(o.httpStatus));
            attempt.bind(5, o.errorMessage);
            attempt.bind(6, charge);
            if (attempt.step() == PostgresStatement::Error) {
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
        PostgresStatement &spend = s.addSpend;
        ResetGuard guard(spend);
        spend.bind(1, nowMs / 86'400'000);
        spend.bind(2, spentUsd);
        if (spend.step() == PostgresStatement::Error) {
            failSql(u"cannot record the spend: "_s + spend.errorText());
            exec(u"ROLLBACK"_s);
            return false;
        }
    }
    return exec(u"COMMIT"_s);
}

} // namespace bd::store
