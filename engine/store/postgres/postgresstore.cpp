#include "postgresstoreprivate.h"

#include "core/jsonutil.h"
#include "store/taskreader.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- connection, sort index and import (the job statements are SqlStore's)

PostgresStore::PostgresStore(std::shared_ptr<PostgresConnection> connection)
    : SqlStore(connection->db(), SqlDialect::Postgres, connection)
    , m_connection(std::move(connection))
{
    if (!m_connection->isOpen()) {
        fail(m_connection->errorString());
        return;
    }
    m_statements = std::make_unique<Statements>();
    Statements &s = *m_statements;
    const bool prepared =
        // Rows of an import many per statement (one round trip each): ?5 is a JSON array of
        // the rows' vals arrays, each stored as its own text (json keeps it as written),
        // numbered from ?2 in the array's order, which is the order of their ids too.
        s.insertTasks.prepare(*m_connection,
                              "INSERT INTO tasks (job_id, row_no, vals, priority, created_at) "
                              "SELECT ?1::bigint, ?2::bigint + r.n - 1, r.v::text, ?3::integer, "
                              "?4::bigint FROM json_array_elements(?5::json) WITH ORDINALITY "
                              "AS r(v, n) ORDER BY r.n")
        && s.claim.prepare(*m_connection,
                           "UPDATE tasks SET state = 1, lease_owner = ?1::text, lease_expires = ?2::bigint, "
                           "started_at = ?3::bigint WHERE id IN (SELECT id FROM tasks "
                           "WHERE job_id = ?4::bigint AND state = 0 AND not_before <= ?3::bigint "
                           "ORDER BY priority, id LIMIT ?5::bigint FOR UPDATE SKIP LOCKED) "
                           "RETURNING id, row_no, priority, attempts, vals, "
                           "GREATEST(created_at, not_before), provider_cancels, template_rev")
        && s.complete.prepare(
            *m_connection,
            "UPDATE tasks SET state = 2, output = ?1, model = ?2, input_tokens = ?3, "
            "output_tokens = ?4, cached_tokens = ?5, cache_write_tokens = ?6, "
            // The task's classifications and its answers the schema refused included.
            "cost_usd = ?7::float8 + classify_cost_usd + ?18::float8 + rejected_cost_usd, "
            "classify_input_tokens = classify_input_tokens + ?16, "
            "classify_output_tokens = classify_output_tokens + ?17, "
            "classify_cost_usd = classify_cost_usd + ?18::float8, "
            "cache_hit = ?8, http_status = ?9, attempts = attempts + ?10, finished_at = ?11, "
            "error_class = NULL, error_message = NULL, lease_owner = NULL, lease_expires = NULL, "
            "tier = COALESCE(?14, tier), routed_model = COALESCE(?15, routed_model) "
            "WHERE id = ?12 AND state = 1 AND lease_owner = ?13")
        // A group's answers in one statement (the per-row `complete` above stays for groups
        // that repeat a task): rows come as a JSON array, the spend ledger's row of the day
        // grows by what the rows actually stored cost, and the stored ids come back.
        && s.completeGroup.prepare(
            *m_connection,
            "WITH v AS (SELECT * FROM json_to_recordset(?1::json) AS v(id bigint, o text, m text, "
            "it bigint, ot bigint, ct bigint, cw bigint, c float8, h integer, s integer, "
            "a integer, ti text, rm text, cit bigint, cot bigint, cc float8, rc float8)), "
            "done AS (UPDATE tasks t SET state = 2, output = v.o, model = v.m, "
            "input_tokens = v.it, output_tokens = v.ot, cached_tokens = v.ct, "
            "cache_write_tokens = v.cw, "
            "cost_usd = v.c + t.classify_cost_usd + v.cc + t.rejected_cost_usd, "
            "classify_input_tokens = t.classify_input_tokens + v.cit, "
            "classify_output_tokens = t.classify_output_tokens + v.cot, "
            "classify_cost_usd = t.classify_cost_usd + v.cc, cache_hit = v.h, "
            "http_status = v.s, attempts = t.attempts + v.a, finished_at = ?2::bigint, "
            "error_class = NULL, error_message = NULL, lease_owner = NULL, lease_expires = NULL, "
            "tier = COALESCE(v.ti, t.tier), routed_model = COALESCE(v.rm, t.routed_model) "
            // "+ 0" and "|| ''" keep the planner off the lease index: estimating one leased
            // row it looped over the JSON for each task (quadratic: 0.5 s for 400 rows);
            // led by the rows, each task is one primary-key probe.
            "FROM v WHERE t.id = v.id AND t.state + 0 = 1 AND t.lease_owner || '' = ?3::text "
            "RETURNING t.id, COALESCE(v.c, 0) + v.rc AS spent), "
            "spend AS (INSERT INTO spend_days (day, usd) SELECT ?4::bigint, x.usd FROM "
            "(SELECT SUM(spent) AS usd FROM done) x WHERE x.usd > 0 ON CONFLICT (day) DO UPDATE "
            "SET usd = spend_days.usd + excluded.usd) SELECT COUNT(*) FROM done")
        && s.retry.prepare(*m_connection,
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
                           "rejected_cost_usd = rejected_cost_usd + ?16::float8 "
                           "WHERE id = ?6 AND state = 1 AND lease_owner = ?7")
        && s.release.prepare(*m_connection,
                             "UPDATE tasks SET state = 0, not_before = ?1, lease_owner = NULL, "
                             "lease_expires = NULL, "
                             "classify_input_tokens = classify_input_tokens + ?4, "
                             "classify_output_tokens = classify_output_tokens + ?5, "
                             "classify_cost_usd = classify_cost_usd + ?6 "
                             "WHERE id = ?2 AND state = 1 AND lease_owner = ?3")
        && s.dead.prepare(*m_connection,
                          "UPDATE tasks SET state = 3, attempts = attempts + ?1, error_class = ?2, "
                          "error_message = ?3, http_status = ?4, finished_at = ?5, "
                          "lease_owner = NULL, lease_expires = NULL, tier = COALESCE(?8, tier), "
                          "routed_model = COALESCE(?9, routed_model), "
                          "classify_input_tokens = classify_input_tokens + ?10, "
                          "classify_output_tokens = classify_output_tokens + ?11, "
                          "classify_cost_usd = classify_cost_usd + ?12, "
                          "rejected_input_tokens = rejected_input_tokens + ?13, "
                          "rejected_output_tokens = rejected_output_tokens + ?14, "
                          "rejected_cost_usd = rejected_cost_usd + ?15::float8 "
                          "WHERE id = ?6 AND state = 1 AND lease_owner = ?7")
        && s.insertAttempt.prepare(
            *m_connection, "INSERT INTO attempts (task_id, attempt_no, at, outcome, http_status, "
                      "message, charged) SELECT ?1::bigint, attempts, ?2::bigint, ?3::text, "
                      "?4::integer, ?5::text, ?6::integer FROM tasks WHERE id = ?1::bigint")
        && s.addSpend.prepare(*m_connection, "INSERT INTO spend_days (day, usd) VALUES (?1, ?2) "
                                        "ON CONFLICT (day) DO UPDATE SET usd = spend_days.usd + excluded.usd")
        && s.cacheLookup.prepare(*m_connection, "SELECT t.output, t.model, t.input_tokens, "
                                       "t.output_tokens, t.cached_tokens, t.cache_write_tokens, "
                                       "c.created_at FROM response_cache c JOIN tasks t "
                                       "ON t.id = c.task_id WHERE c.key = ?1 AND t.state = 2")
        && s.cacheLookupMany.prepare(
            *m_connection, "SELECT encode(c.key, 'hex'), t.output, t.model, t.input_tokens, "
                  "t.output_tokens, t.cached_tokens, t.cache_write_tokens, c.created_at "
                  "FROM response_cache c JOIN tasks t ON t.id = c.task_id WHERE c.key = ANY "
                  "(SELECT decode(k, 'hex') FROM unnest(string_to_array(?1::text, ',')) k) "
                  "AND t.state = 2")
        // The first answer per key wins, as in SQLite's INSERT OR IGNORE (rows go in the
        // array's order, and DO NOTHING skips a key met again in the same statement).
        && s.cacheInsertMany.prepare(
            *m_connection, "INSERT INTO response_cache (key, task_id, created_at) "
                  "SELECT decode(v.k, 'hex'), v.t, v.c FROM json_to_recordset(?1::json) "
                  "AS v(k text, t bigint, c bigint) ON CONFLICT (key) DO NOTHING");
    if (!prepared) {
        fail(u"cannot prepare statements: %1"_s.arg(m_db.lastError().text()));
        return;
    }
    m_open = true;
}

PostgresStore::~PostgresStore() = default;

QString PostgresStore::databasePath() const
{
    return m_connection->databasePath();
}

QString PostgresStore::migrationBackupPath() const
{
    return m_connection->migrationBackupPath();
}

QString PostgresStore::connectionName() const
{
    return m_connection->name();
}

bool PostgresStore::fail(const QString &what)
{
    m_error = what;
    return false;
}

bool PostgresStore::failSql(const QString &what)
{
    return fail(what);
}

// Counts and totals of the jobs listed (one job's when jobId is set) in one pass over their
// tasks and one over their charges, whatever their number: every worker lists the jobs
// every 2 s, and a scan per job and figure was most of the server's work on a large job.
// The figures are those of taskCounts() and jobTotals().
void PostgresStore::fillJobFigures(QList<JobInfo> &jobs, qint64 jobId)
{
    if (jobs.isEmpty())
        return;
    QHash<qint64, JobInfo *> byId;
    for (JobInfo &info : jobs)
        byId.insert(info.id, &info);
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    if (!run(query,
             u"SELECT job_id, state, COUNT(*), COALESCE(SUM(input_tokens), 0), "
             "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0), "
             "COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(CASE WHEN state = 2 THEN "
             "cost_usd ELSE classify_cost_usd + rejected_cost_usd END), 0) FROM tasks "
             "WHERE ($1::bigint = 0 OR job_id = $1::bigint) GROUP BY job_id, state"_s,
             {jobId}))
        return;
    while (query.next()) {
        JobInfo *info = byId.value(query.value(0).toLongLong());
        if (!info)
            continue;
        const qint64 n = query.value(2).toLongLong();
        switch (static_cast<TaskState>(query.value(1).toInt())) {
        case TaskState::Pending: info->counts.pending = n; break;
        case TaskState::Leased: info->counts.leased = n; break;
        case TaskState::Completed:
            info->counts.completed = n;
            // Answers are billed when they complete (jobTotals).
            info->usage.inputTokens = qint64(query.value(3).toDouble());
            info->usage.outputTokens = qint64(query.value(4).toDouble());
            info->usage.cachedTokens = qint64(query.value(5).toDouble());
            info->usage.cacheWriteTokens = qint64(query.value(6).toDouble());
            break;
        case TaskState::Dead: info->counts.dead = n; break;
        case TaskState::Cancelled: info->counts.cancelled = n; break;
        }
        info->costUsd += query.value(7).toDouble();
    }
    query.finish();
    if (!run(query,
             u"SELECT job_id, SUM(usd) FROM job_charges WHERE ($1::bigint = 0 OR "
             "job_id = $1::bigint) GROUP BY job_id"_s,
             {jobId}))
        return;
    while (query.next()) {
        if (JobInfo *info = byId.value(query.value(0).toLongLong()))
            info->costUsd += query.value(1).toDouble();
    }
}

bool PostgresStore::ensureSortIndex(qint64 jobId, TaskSortKey key)
{
    const QString name = taskordersql::sortIndexName(jobId, key);
    if (name.isEmpty())
        return true;
    // CONCURRENTLY: other workers' drain goes on while it is built. A build cut short leaves
    // an invalid index that IF NOT EXISTS would keep: it goes first.
    QSqlQuery invalid(m_db);
    invalid.prepare(u"SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE c.relname = ? AND NOT i.indisvalid AND pg_table_is_visible(c.oid)"_s);
    invalid.addBindValue(name);
    if (!invalid.exec())
        return fail(invalid.lastError().text());
    if (invalid.next() && !exec(u"DROP INDEX IF EXISTS "_s + name))
        return false;
    return exec(taskordersql::sortIndexStatement(jobId, key, true));
}

bool PostgresStore::appendTasks(qint64 jobId, qint64 firstRowNumber, const QList<QStringList> &rows,
                              int priority, qint64 nowMs)
{
    if (!exec(u"BEGIN"_s))
        return false;
    PostgresStatement &insert = m_statements->insertTasks;
    for (qsizetype first = 0; first < rows.size(); first += kRowsPerImportStatement) {
        const qsizetype count = qMin<qsizetype>(kRowsPerImportStatement, rows.size() - first);
        QByteArray values;
        values.reserve(count * 256);
        values += '[';
        for (qsizetype i = first; i < first + count; ++i) {
            if (i > first)
                values += ',';
            values += json::encodeStringArray(rows.at(i));
        }
        values += ']';
        ResetGuard guard(insert);
        insert.bind(1, jobId);
        insert.bind(2, firstRowNumber + first);
        insert.bind(3, qint64(priority));
        insert.bind(4, nowMs);
        insert.bind(5, values);
        if (insert.step() == PostgresStatement::Error) {
            failSql(u"cannot store rows %1 to %2: %3"_s.arg(firstRowNumber + first)
                        .arg(firstRowNumber + first + count - 1)
                        .arg(insert.errorText()));
            exec(u"ROLLBACK"_s);
            return false;
        }
    }
    if (!exec(u"COMMIT"_s))
        return false;
    // The planner's figures for tasks come from autovacuum's ANALYZE, which follows a big
    // import only after a while. Until then it takes the new job's pending tasks for a
    // handful, and each claim reads and sorts every one of them (110-160 ms a claim at
    // 300,000 rows, against a few ms over the claim index). So the importer analyzes at
    // 10,000 rows, then at each fourfold. A failure costs plans, not data: said nowhere.
    m_rowsImported += rows.size();
    if (m_rowsImported >= m_analyzeAtRows) {
        m_analyzeAtRows = m_rowsImported * 4;
        QSqlQuery(m_db).exec(u"ANALYZE tasks"_s);
    }
    return true;
}

} // namespace bd::store
