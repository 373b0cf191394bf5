#pragma once

// What both stores' per-row prepared statements share. Each backend has its own statement
// class with one interface (bind, bindNull, step, reset …): SqliteStatement over a native
// sqlite3_stmt, PostgresStatement over a server-side prepared QSqlQuery. The helpers that
// bind a task's outcome are written once, here, for either.

#include "core/tasktypes.h"

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

// Qt binds a null QString as SQL NULL; NOT NULL text columns want ''.
inline QString text(const QString &value)
{
    return value.isNull() ? QString(QLatin1StringView("")) : value;
}

} // namespace bd::store
