#include "sqlitestoreprivate.h"

#include "core/jsonutil.h"
#include "migrations.h"
#include "store/taskreader.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- connection, sort index and import (the job statements are SqlStore's)

SqliteStore::SqliteStore(std::shared_ptr<SqliteConnection> connection)
    : SqlStore(connection->db(), SqlDialect::Sqlite, connection)
    , m_connection(std::move(connection))
    , m_handle(m_connection->handle())
{
    if (!m_connection->isOpen()) {
        fail(m_connection->errorString());
        return;
    }
    m_statements = std::make_unique<Statements>();
    Statements &s = *m_statements;
    const QByteArray insertHead =
        "INSERT INTO tasks (job_id, row_no, vals, priority, created_at) VALUES ";
    QByteArrayList insertRows;
    for (int i = 0; i < kRowsPerInsert; ++i)
        insertRows.append("(?, ?, ?, ?, ?)");
    const QByteArray insertOne = insertHead + insertRows.constFirst();
    const QByteArray insertMany = insertHead + insertRows.join(", ");
    // A run of completions: the one-row completion below, its values from a VALUES row
    // each (column1 the task's id, then its ?1..?18 without ?12 and ?13, in order: see
    // completeRows()), the owner the last parameter; the same RETURNING, then the id.
    QByteArrayList completionRows;
    for (int row = 0; row < kRowsPerInsert; ++row) {
        QByteArrayList marks;
        for (int column = 1; column <= kCompletionColumns; ++column)
            marks.append('?' + QByteArray::number(row * kCompletionColumns + column));
        completionRows.append('(' + marks.join(", ") + ')');
    }
    const QByteArray completeMany =
        "UPDATE tasks SET state = 2, output = v.column2, model = v.column3, "
        "input_tokens = v.column4, output_tokens = v.column5, cached_tokens = v.column6, "
        "cache_write_tokens = v.column7, "
        "cost_usd = v.column8 + classify_cost_usd + v.column17 + rejected_cost_usd, "
        "classify_input_tokens = classify_input_tokens + v.column15, "
        "classify_output_tokens = classify_output_tokens + v.column16, "
        "classify_cost_usd = classify_cost_usd + v.column17, "
        "cache_hit = v.column9, http_status = v.column10, attempts = attempts + v.column11, "
        "finished_at = v.column12, error_class = NULL, error_message = NULL, "
        "lease_owner = NULL, lease_expires = NULL, tier = COALESCE(v.column13, tier), "
        "routed_model = COALESCE(v.column14, routed_model) FROM (VALUES "
        + completionRows.join(", ") + ") AS v WHERE tasks.id = v.column1 AND tasks.state = 1 "
        "AND tasks.lease_owner = ?" + QByteArray::number(kRowsPerInsert * kCompletionColumns + 1)
        + " RETURNING job_id, model, cache_hit, batch_id, finished_at / 86400000, tier, "
          "cost_usd, input_tokens, output_tokens, cached_tokens, cache_write_tokens, "
          "classify_input_tokens, classify_output_tokens, classify_cost_usd, tasks.id";
    const bool prepared =
        s.insertTask.prepare(m_handle, insertOne.constData())
        && s.completeMany.prepare(m_handle, completeMany.constData())
        && s.insertTasks.prepare(m_handle, insertMany.constData())
        && s.claim.prepare(m_handle,
                           "UPDATE tasks SET state = 1, lease_owner = ?1, lease_expires = ?2, "
                           "started_at = ?3 WHERE id IN (SELECT id FROM tasks WHERE job_id = ?4 "
                           "AND state = 0 AND not_before <= ?3 ORDER BY priority, id LIMIT ?5) "
                           "RETURNING id, row_no, priority, attempts, vals, "
                           "MAX(created_at, not_before), provider_cancels, template_rev")
        && s.complete.prepare(
            m_handle,
            "UPDATE tasks SET state = 2, output = ?1, model = ?2, input_tokens = ?3, "
            "output_tokens = ?4, cached_tokens = ?5, cache_write_tokens = ?6, "
            // The task's classifications and its answers the schema refused included.
            "cost_usd = ?7 + classify_cost_usd + ?18 + rejected_cost_usd, "
            "classify_input_tokens = classify_input_tokens + ?16, "
            "classify_output_tokens = classify_output_tokens + ?17, "
            "classify_cost_usd = classify_cost_usd + ?18, "
            "cache_hit = ?8, http_status = ?9, attempts = attempts + ?10, finished_at = ?11, "
            "error_class = NULL, error_message = NULL, lease_owner = NULL, lease_expires = NULL, "
            "tier = COALESCE(?14, tier), routed_model = COALESCE(?15, routed_model) "
            "WHERE id = ?12 AND state = 1 AND lease_owner = ?13 "
            // What its cost line adds (CostLines; the triggers leave this completion out).
            "RETURNING job_id, model, cache_hit, batch_id, finished_at / 86400000, tier, "
            "cost_usd, input_tokens, output_tokens, cached_tokens, cache_write_tokens, "
            "classify_input_tokens, classify_output_tokens, classify_cost_usd")
        && s.retry.prepare(m_handle,
                           "UPDATE tasks SET state = 0, attempts = attempts + ?1, not_before = ?2, "
                           "error_class = ?3, error_message = ?4, http_status = ?5, "
                           "provider_cancels = provider_cancels + ?8, "
                           "lease_owner = NULL, lease_expires = NULL, tier = COALESCE(?9, tier), "
                           "routed_model = COALESCE(?10, routed_model), "
                           "classify_input_tokens = classify_input_tokens + ?11, "
                           "classify_output_tokens = classify_output_tokens + ?12, "
                           "classify_cost_usd = classify_cost_usd + ?13, "
                           "rejected_input_tokens = rejected_input_tokens + ?14, "
                           "rejected_output_tokens = rejected_output_tokens + ?15, "
                           "rejected_cost_usd = rejected_cost_usd + ?16 "
                           "WHERE id = ?6 AND state = 1 AND lease_owner = ?7")
        && s.release.prepare(m_handle,
                             "UPDATE tasks SET state = 0, not_before = ?1, lease_owner = NULL, "
                             "lease_expires = NULL, "
                             "classify_input_tokens = classify_input_tokens + ?4, "
                             "classify_output_tokens = classify_output_tokens + ?5, "
                             "classify_cost_usd = classify_cost_usd + ?6 "
                             "WHERE id = ?2 AND state = 1 AND lease_owner = ?3")
        && s.dead.prepare(m_handle,
                          "UPDATE tasks SET state = 3, attempts = attempts + ?1, error_class = ?2, "
                          "error_message = ?3, http_status = ?4, finished_at = ?5, "
                          "lease_owner = NULL, lease_expires = NULL, tier = COALESCE(?8, tier), "
                          "routed_model = COALESCE(?9, routed_model), "
                          "classify_input_tokens = classify_input_tokens + ?10, "
                          "classify_output_tokens = classify_output_tokens + ?11, "
                          "classify_cost_usd = classify_cost_usd + ?12, "
                          "rejected_input_tokens = rejected_input_tokens + ?13, "
                          "rejected_output_tokens = rejected_output_tokens + ?14, "
                          "rejected_cost_usd = rejected_cost_usd + ?15 "
                          "WHERE id = ?6 AND state = 1 AND lease_owner = ?7")
        && s.insertAttempt.prepare(
            m_handle, "INSERT INTO attempts (task_id, attempt_no, at, outcome, http_status, "
                      "message, charged) SELECT ?1, attempts, ?2, ?3, ?4, ?5, ?6 FROM tasks "
                      "WHERE id = ?1")
        && s.addCostLine.prepare(m_handle, costLineUpsertSql().toUtf8().constData())
        && s.batchLane.prepare(m_handle, "SELECT lane FROM provider_batches WHERE id = ?1")
        && s.addSpend.prepare(m_handle, "INSERT INTO spend_days (day, usd) VALUES (?1, ?2) "
                                        "ON CONFLICT (day) DO UPDATE SET usd = usd + excluded.usd")
        // A walk along the primary key through the job's id range (forEachExportRow): the
        // unary + keeps the planner off tasks_job (tasks_job_state before migration 17), which
        // would re-read and sort the rest of the job at every page.
        && s.exportPage.prepare(
            m_handle, "SELECT id, vals, state, output, error_class, error_message, model, "
                      "input_tokens, output_tokens, cached_tokens, cost_usd, attempts, tier "
                      "FROM tasks WHERE id > ?2 AND id <= ?3 AND +job_id = ?1 ORDER BY id LIMIT ?4");
    if (!prepared) {
        fail(u"cannot prepare statements: %1"_s.arg(QString::fromUtf8(sqlite3_errmsg(m_handle))));
        return;
    }
    m_open = true;
}

SqliteStore::SqliteStore(const QString &databasePath)
    : SqliteStore(std::make_shared<SqliteConnection>(databasePath, Database::Access::ReadWrite))
{
}

SqliteStore::~SqliteStore() = default;

QString SqliteStore::databasePath() const
{
    return m_connection->databasePath();
}

QString SqliteStore::migrationBackupPath() const
{
    return m_connection->migrationBackupPath();
}

QString SqliteStore::connectionName() const
{
    return m_connection->name();
}

bool SqliteStore::fail(const QString &what)
{
    // Called right after the failing call, so the connection's error code is still its.
    const QString instead = m_connection->noteFailure();
    m_error = instead.isEmpty() ? what : instead;
    return false;
}

bool SqliteStore::failSql(const QString &what)
{
    return fail(what + u": "_s + QString::fromUtf8(sqlite3_errmsg(m_handle)));
}

// One job at a time: taskCounts() and jobTotals() answer from memory while the database is
// as they last read it.
void SqliteStore::fillJobFigures(QList<JobInfo> &jobs, qint64 jobId)
{
    Q_UNUSED(jobId);
    for (JobInfo &info : jobs) {
        info.counts = taskCounts(info.id);
        jobTotals(info.id, &info.usage, &info.costUsd, nullptr);
    }
}

bool SqliteStore::ensureSortIndex(qint64 jobId, TaskSortKey key)
{
    const QString statement = taskordersql::sortIndexStatement(jobId, key);
    // Built under the write lock: writers wait for it (a million tasks: a few seconds of
    // the busy timeout), the readers go on.
    return statement.isEmpty() || exec(statement);
}

bool SqliteStore::appendTasks(qint64 jobId, qint64 firstRowNumber, const QList<QStringList> &rows,
                              int priority, qint64 nowMs)
{
    if (!exec(u"BEGIN IMMEDIATE"_s))
        return false;
    // kRowsPerInsert rows per statement while that many are left, then one at a time.
    qsizetype next = 0;
    while (next < rows.size()) {
        const bool many = rows.size() - next >= kRowsPerInsert;
        SqliteStatement &insert = many ? m_statements->insertTasks : m_statements->insertTask;
        const int count = many ? kRowsPerInsert : 1;
        ResetGuard guard(insert);
        for (int i = 0; i < count; ++i) {
            const int first = 5 * i;
            insert.bind(first + 1, jobId);
            insert.bind(first + 2, firstRowNumber + next + i);
            insert.bind(first + 3, json::encodeStringArray(rows.at(next + i)));
            insert.bind(first + 4, qint64(priority));
            insert.bind(first + 5, nowMs);
        }
        if (insert.step() != SQLITE_DONE) {
            failSql(u"cannot store rows %1 to %2"_s.arg(firstRowNumber + next)
                        .arg(firstRowNumber + next + count - 1));
            exec(u"ROLLBACK"_s);
            return false;
        }
        next += count;
    }
    return exec(u"COMMIT"_s);
}

} // namespace bd::store
