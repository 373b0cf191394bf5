#include "sqlitestoreprivate.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSet>
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
    bool add(const SqliteStatement &row, SqliteStatement &batchLane)
    {
        // Compared as the row's own bytes: a group has a line or two, and copying model, tier
        // and lane out of every row to compare them was three allocations a completion.
        const qint64 jobId = row.int64(0);
        const QByteArrayView model = row.bytes(1);
        const qint64 day = row.isNull(4) ? -1 : row.int64(4);
        const QByteArrayView tier = row.bytes(5);
        QByteArrayView lane;
        if (row.int64(2) == 1) {
            lane = "response-cache";
        } else if (row.isNull(3)) {
            lane = "sync";
        } else {
            ResetGuard guard(batchLane);
            batchLane.bind(1, row.int64(3));
            const int rc = batchLane.step();
            if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return false;
            lane = rc == SQLITE_ROW && batchLane.bytes(0) == "batch-api" ? "batch-api" : "sync";
        }
        auto line = std::find_if(m_lines.begin(), m_lines.end(), [&](const Line &l) {
            return l.jobId == jobId && l.day == day && l.lane == lane && l.model == model &&
                   l.tier == tier;
        });
        if (line == m_lines.end()) {
            Line added;
            added.jobId = jobId;
            added.lane = lane.toByteArray();
            added.model = model.toByteArray();
            added.day = day;
            added.tier = tier.toByteArray();
            m_lines.append(std::move(added));
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
    bool write(SqliteStatement &upsert) const
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

// How many transitions from `first` on can go through completeMany: kRowsPerInsert when
// that many plain completions (no error to record) of distinct tasks follow, else 0.
int completionRun(const QList<TaskTransition> &transitions, qsizetype first)
{
    if (transitions.size() - first < kRowsPerInsert)
        return 0;
    QSet<qint64> ids;
    ids.reserve(kRowsPerInsert);
    for (qsizetype i = first; i < first + kRowsPerInsert; ++i) {
        const TaskTransition &t = transitions.at(i);
        if (t.action != OutcomeAction::Complete || t.outcome.error != ErrorClass::None)
            return 0;
        ids.insert(t.outcome.taskId);
    }
    // One task twice: the one-row statements decide which of the two applies.
    return ids.size() == kRowsPerInsert ? kRowsPerInsert : 0;
}

// The completions transitions[first, first + kRowsPerInsert) in one statement, each checked
// against the lease owner as the one-row completion is; those it did not change are skipped.
bool completeRows(SqliteStatement &update, SqliteStatement &batchLane,
                  const QList<TaskTransition> &transitions, qsizetype first,
                  const QByteArray &ownerUtf8, qint64 nowMs, CostLines &lines, double *spentUsd,
                  int *skipped)
{
    ResetGuard guard(update);
    for (int row = 0; row < kRowsPerInsert; ++row) {
        const TaskTransition &t = transitions.at(first + row);
        const TaskOutcome &o = t.outcome;
        const int at = row * kCompletionColumns;
        update.bind(at + 1, o.taskId);
        update.bind(at + 2, o.output);
        update.bindText(at + 3, o.model);
        update.bind(at + 4, o.usage.inputTokens);
        update.bind(at + 5, o.usage.outputTokens);
        update.bind(at + 6, o.usage.cachedTokens);
        update.bind(at + 7, o.usage.cacheWriteTokens);
        if (o.costUsd)
            update.bind(at + 8, *o.costUsd);
        else
            update.bindNull(at + 8);
        update.bind(at + 9, qint64(o.cacheHit ? 1 : 0));
        update.bind(at + 10, qint64(o.httpStatus));
        update.bind(at + 11, qint64(t.chargeAttempt ? 1 : 0));
        update.bind(at + 12, nowMs);
        bindRoute(&update, at + 13, o);
        bindClassification(&update, at + 15, o);
    }
    update.bind(kRowsPerInsert * kCompletionColumns + 1, ownerUtf8);
    QSet<qint64> changed;
    changed.reserve(kRowsPerInsert);
    int rc;
    while ((rc = update.step()) == SQLITE_ROW) {
        if (!lines.add(update, batchLane))
            return false;
        changed.insert(update.int64(14));
    }
    if (rc != SQLITE_DONE)
        return false;
    for (int row = 0; row < kRowsPerInsert; ++row) {
        const TaskOutcome &o = transitions.at(first + row).outcome;
        if (!changed.contains(o.taskId)) {
            if (skipped)
                ++*skipped;
            continue;
        }
        *spentUsd += o.costUsd.value_or(0.0) + o.rejectedCostUsd;
    }
    return true;
}

} // namespace

// --- claims and transitions (leases and batches are SqlStore's)

bool SqliteStore::claimTasks(qint64 jobId, const QString &owner, int limit, qint64 nowMs,
                             qint64 leaseUntilMs, QList<ClaimedTask> *out)
{
    QList<ClaimedTask> &claimed = *out;
    claimed.clear();
    SqliteStatement &claim = m_statements->claim;
    ResetGuard guard(claim);
    claim.bind(1, owner);
    claim.bind(2, leaseUntilMs);
    claim.bind(3, nowMs);
    claim.bind(4, jobId);
    claim.bind(5, qint64(limit));
    claimed.reserve(limit);
    int rc;
    while ((rc = claim.step()) == SQLITE_ROW)
        claimed.append(claimedTask(claim, jobId));
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
    for (qsizetype next = 0; next < transitions.size(); ++next) {
        // Runs of completions go many per statement (the triggers' frame is set up once
        // per statement), the rest one at a time.
        if (completionRun(transitions, next) > 0) {
            if (!completeRows(s.completeMany, s.batchLane, transitions, next, ownerUtf8, nowMs,
                              lines, &spentUsd, skipped)) {
                failSql(u"cannot record the outcome of tasks %1 to %2"_s
                            .arg(transitions.at(next).outcome.taskId)
                            .arg(transitions.at(next + kRowsPerInsert - 1).outcome.taskId));
                exec(u"ROLLBACK"_s);
                return false;
            }
            next += kRowsPerInsert - 1;
            continue;
        }
        const TaskTransition &t = transitions.at(next);
        const TaskOutcome &o = t.outcome;
        const qint64 charge = t.chargeAttempt ? 1 : 0;
        SqliteStatement *statement = bindTransition(s, t, ownerUtf8, nowMs);
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
            SqliteStatement &attempt = s.insertAttempt;
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
        SqliteStatement &spend = s.addSpend;
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

} // namespace bd::store
