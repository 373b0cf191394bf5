#pragma once

// What both stores' per-row prepared statements share. Each backend has its own statement
// class with one interface (bind, bindNull, step, reset …): SqliteStatement over a native
// sqlite3_stmt, PostgresStatement over a server-side prepared QSqlQuery. The helpers that
// pick a transition's statement and bind a task's outcome are written once, here, for either.

#include "core/jsonutil.h"
#include "core/tasktypes.h"

#include <QByteArray>
#include <QString>

namespace bd::store {

// Resets a statement when the scope ends, whatever path leaves it.
template <typename Statement> class ResetGuard
{
public:
    explicit ResetGuard(Statement &statement)
        : m_statement(statement)
    {
    }
    ~ResetGuard() { m_statement.reset(); }
    Q_DISABLE_COPY_MOVE(ResetGuard)

private:
    Statement &m_statement;
};

// A tiered task's route; a job on one model leaves both NULL (COALESCE keeps what is there).
template <typename Statement>
void bindRoute(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    if (!outcome.tier.isEmpty())
        statement->bind(firstIndex, outcome.tier);
    if (!outcome.routedModel.isEmpty())
        statement->bind(firstIndex + 1, outcome.routedModel);
}

// A tiering classifier's tokens and cost, added to the task's (zero without one).
template <typename Statement>
void bindClassification(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    statement->bind(firstIndex, outcome.classifyUsage.inputTokens);
    statement->bind(firstIndex + 1, outcome.classifyUsage.outputTokens);
    statement->bind(firstIndex + 2, outcome.classifyCostUsd);
}

// An answer the job's schema refused (invalid_output): billed, added to the task's (zero
// for any other outcome).
template <typename Statement>
void bindRejected(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    statement->bind(firstIndex, outcome.rejectedUsage.inputTokens +
                                    outcome.rejectedUsage.cachedTokens +
                                    outcome.rejectedUsage.cacheWriteTokens);
    statement->bind(firstIndex + 1, outcome.rejectedUsage.outputTokens);
    statement->bind(firstIndex + 2, outcome.rejectedCostUsd);
}

// Picks the statement a transition runs from a backend's set (complete, release, retry, dead:
// the same parameters in both backends' SQL) and binds it; the caller steps it.
template <typename Statements>
auto *bindTransition(Statements &s, const TaskTransition &t, const QByteArray &ownerUtf8,
                     qint64 nowMs)
{
    const TaskOutcome &o = t.outcome;
    const qint64 charge = t.chargeAttempt ? 1 : 0;
    decltype(&s.complete) statement = nullptr;
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
    return statement;
}

// A claimed task of job jobId from the claim's RETURNING row: id, row_no, priority, attempts,
// vals, since when it waited, provider_cancels, template_rev (the job is the caller's).
template <typename Statement> ClaimedTask claimedTask(const Statement &row, qint64 jobId)
{
    ClaimedTask task;
    task.id = row.int64(0);
    task.jobId = jobId;
    task.rowNumber = row.int64(1);
    task.priority = int(row.int64(2));
    task.attempts = int(row.int64(3));
    task.values = json::decodeStringArray(row.bytes(4)).value_or(QStringList());
    task.queuedAtMs = row.int64(5);
    task.providerCancels = int(row.int64(6));
    task.templateRevision = int(row.int64(7));
    return task;
}

// Qt binds a null QString as SQL NULL; NOT NULL text columns want ''.
inline QString text(const QString &value)
{
    return value.isNull() ? QString(QLatin1StringView("")) : value;
}

} // namespace bd::store
