#pragma once

// The SQLite store's private parts, shared by its source files (one per concern): native
// prepared statements kept for the connection's lifetime and the helpers that bind them.

#include "sqlitestore.h"

#include <QByteArrayView>

#include <sqlite3.h>

namespace bd::store {


// A prepared statement kept for the connection's lifetime.
class Statement
{
public:
    Statement() = default;
    ~Statement() { sqlite3_finalize(m_stmt); }
    Q_DISABLE_COPY_MOVE(Statement)

    bool prepare(sqlite3 *db, const char *sql)
    {
        return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &m_stmt, nullptr)
               == SQLITE_OK;
    }
    sqlite3_stmt *get() const { return m_stmt; }
    void reset()
    {
        sqlite3_reset(m_stmt);
        sqlite3_clear_bindings(m_stmt);
    }
    void bind(int index, qint64 value) { sqlite3_bind_int64(m_stmt, index, value); }
    void bind(int index, double value) { sqlite3_bind_double(m_stmt, index, value); }
    void bindNull(int index) { sqlite3_bind_null(m_stmt, index); }
    void bind(int index, const QByteArray &utf8)
    {
        sqlite3_bind_text(m_stmt, index, utf8.constData(), int(utf8.size()), SQLITE_TRANSIENT);
    }
    void bind(int index, const QString &text) { bind(index, text.toUtf8()); }
    void bindText(int index, const QString &text)
    {
        if (text.isNull())
            bindNull(index);
        else
            bind(index, text);
    }
    int step() { return sqlite3_step(m_stmt); }
    qint64 int64(int column) const { return sqlite3_column_int64(m_stmt, column); }
    double real(int column) const { return sqlite3_column_double(m_stmt, column); }
    bool isNull(int column) const { return sqlite3_column_type(m_stmt, column) == SQLITE_NULL; }
    QByteArrayView bytes(int column) const
    {
        const auto *data = reinterpret_cast<const char *>(sqlite3_column_text(m_stmt, column));
        return QByteArrayView(data, sqlite3_column_bytes(m_stmt, column));
    }
    QString text(int column) const
    {
        if (isNull(column))
            return {};
        return QString::fromUtf8(bytes(column));
    }

private:
    sqlite3_stmt *m_stmt = nullptr;
};

// Resets a statement when the scope ends, whatever path leaves it.
class ResetGuard
{
public:
    explicit ResetGuard(Statement &statement) : m_statement(statement) {}
    ~ResetGuard() { m_statement.reset(); }
    Q_DISABLE_COPY_MOVE(ResetGuard)

private:
    Statement &m_statement;
};

// A tiered task's route; a job on one model leaves both NULL (COALESCE keeps what is there).
inline void bindRoute(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    if (!outcome.tier.isEmpty())
        statement->bind(firstIndex, outcome.tier);
    if (!outcome.routedModel.isEmpty())
        statement->bind(firstIndex + 1, outcome.routedModel);
}

// A tiering classifier's tokens and cost, added to the task's (zero without one).
inline void bindClassification(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    statement->bind(firstIndex, outcome.classifyUsage.inputTokens);
    statement->bind(firstIndex + 1, outcome.classifyUsage.outputTokens);
    statement->bind(firstIndex + 2, outcome.classifyCostUsd);
}

// An answer the job's schema refused (invalid_output): billed, added to the task's (zero
// for any other outcome).
inline void bindRejected(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    statement->bind(firstIndex, outcome.rejectedUsage.inputTokens + outcome.rejectedUsage.cachedTokens
                                    + outcome.rejectedUsage.cacheWriteTokens);
    statement->bind(firstIndex + 1, outcome.rejectedUsage.outputTokens);
    statement->bind(firstIndex + 2, outcome.rejectedCostUsd);
}

class SqliteStore::Statements
{
public:
    Statement insertTask;
    Statement claim;
    Statement complete;
    Statement retry;
    Statement release;
    Statement dead;
    Statement insertAttempt;
    Statement addCostLine; // migrations.h costLineUpsertSql
    Statement batchLane;
    Statement addSpend;
    Statement exportPage;
    // Response cache (prepared on first use).
    Statement cacheLookup;
    Statement cacheInsert;
    // The last job totals read, and the database's state then (jobTotals).
    Statement dataVersion; // prepared on first use
    struct Totals
    {
        qint64 jobId = 0;
        qint64 dataVersion = -1;
        qint64 changes = -1;
        Usage usage;
        double costUsd = 0;
        qint64 billedTasks = 0;
    };
    Totals lastTotals;
    // The last task counts read (taskCounts), and the database's state then.
    struct Counts
    {
        qint64 jobId = 0;
        qint64 dataVersion = -1;
        qint64 changes = -1;
        TaskCounts counts;
    };
    Counts lastCounts;
};

// Qt binds a null QString as SQL NULL; NOT NULL text columns want ''.
inline QString text(const QString &value)
{
    return value.isNull() ? QString(QLatin1StringView("")) : value;
}


} // namespace bd::store
