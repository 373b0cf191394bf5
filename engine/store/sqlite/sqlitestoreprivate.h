#pragma once

// The SQLite store's private parts, shared by its source files (one per concern): native
// prepared statements kept for the connection's lifetime (the helpers that bind them are in
// store/sql/sqlstatement.h).

#include "sqlitestore.h"

#include "store/sql/sqlstatement.h"

#include <QByteArrayView>

#include <sqlite3.h>

namespace bd::store {

// A prepared statement kept for the connection's lifetime.
class SqliteStatement
{
public:
    SqliteStatement() = default;
    ~SqliteStatement() { sqlite3_finalize(m_stmt); }
    Q_DISABLE_COPY_MOVE(SqliteStatement)

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

// Rows per import INSERT: each execution of a statement sets up the tasks triggers' frame
// (SQLite allocates and initialises it once per execution, whatever the rows), so one row
// per INSERT paid that for every row. Runs of completions go as many per UPDATE.
constexpr int kRowsPerInsert = 32;
constexpr int kCompletionColumns = 17; // values of one completion in completeMany

class SqliteStore::Statements
{
public:
    SqliteStatement insertTask;
    SqliteStatement insertTasks; // kRowsPerInsert rows at once (appendTasks)
    SqliteStatement claim;
    SqliteStatement complete;
    SqliteStatement completeMany; // kRowsPerInsert completions at once (applyTransitions)
    SqliteStatement retry;
    SqliteStatement release;
    SqliteStatement dead;
    SqliteStatement insertAttempt;
    SqliteStatement addCostLine; // migrations.h costLineUpsertSql
    SqliteStatement batchLane;
    SqliteStatement addSpend;
    SqliteStatement exportPage;
    // Response cache (prepared on first use).
    SqliteStatement cacheLookup;
    SqliteStatement cacheInsert;
    // The last job totals read, and the database's state then (jobTotals).
    SqliteStatement dataVersion; // prepared on first use
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


} // namespace bd::store
