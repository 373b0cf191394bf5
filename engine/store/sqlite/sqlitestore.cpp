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

// --- connection, jobs and import

SqliteStore::SqliteStore(std::shared_ptr<SqliteConnection> connection)
    : m_connection(std::move(connection))
    , m_db(m_connection->db())
    , m_handle(m_connection->handle())
{
    if (!m_connection->isOpen()) {
        fail(m_connection->errorString());
        return;
    }
    m_statements = std::make_unique<Statements>();
    Statements &s = *m_statements;
    const bool prepared =
        s.insertTask.prepare(m_handle, "INSERT INTO tasks (job_id, row_no, vals, priority, "
                                       "created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
        && s.claim.prepare(m_handle,
                           "UPDATE tasks SET state = 1, lease_owner = ?1, lease_expires = ?2, "
                           "started_at = ?3 WHERE id IN (SELECT id FROM tasks WHERE job_id = ?4 "
                           "AND state = 0 AND not_before <= ?3 ORDER BY priority, id LIMIT ?5) "
                           "RETURNING id, job_id, row_no, priority, attempts, vals, "
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

bool SqliteStore::exec(const QString &sql)
{
    QSqlQuery query(m_db);
    if (!query.exec(sql))
        return fail(u"%1: %2"_s.arg(sql, query.lastError().text()));
    return true;
}

std::optional<qint64> SqliteStore::findJobByFingerprint(const QByteArray &fingerprint)
{
    QSqlQuery query(m_db);
    query.prepare(u"SELECT id FROM jobs WHERE fingerprint = ? AND state <> ? "
                  "ORDER BY id DESC LIMIT 1"_s);
    query.addBindValue(QString::fromLatin1(fingerprint));
    query.addBindValue(int(JobState::Cancelled));
    if (!query.exec() || !query.next())
        return std::nullopt;
    return query.value(0).toLongLong();
}

qint64 SqliteStore::createJob(const JobSpec &spec, const QStringList &columns, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO jobs (fingerprint, source_path, source_sha256, template, "
                  "system_prompt, provider, model, base_url, priority, mode, max_retries, "
                  "max_output_tokens, settings, columns, state, created_at, updated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"_s);
    query.addBindValue(QString::fromLatin1(spec.fingerprint()));
    query.addBindValue(text(spec.sourcePath));
    query.addBindValue(text(QString::fromLatin1(spec.sourceSha256)));
    query.addBindValue(text(spec.templateText));
    query.addBindValue(text(spec.systemPrompt));
    query.addBindValue(text(spec.provider));
    query.addBindValue(text(spec.model));
    query.addBindValue(text(spec.baseUrl));
    query.addBindValue(spec.priority);
    query.addBindValue(text(spec.mode));
    query.addBindValue(spec.maxRetries);
    query.addBindValue(spec.maxOutputTokens);
    query.addBindValue(QString::fromUtf8(QJsonDocument(spec.settings).toJson(QJsonDocument::Compact)));
    query.addBindValue(QString::fromUtf8(json::encodeStringArray(columns)));
    query.addBindValue(int(JobState::Importing));
    query.addBindValue(nowMs);
    query.addBindValue(nowMs);
    if (!query.exec()) {
        fail(u"cannot create the job: "_s + query.lastError().text());
        return 0;
    }
    return query.lastInsertId().toLongLong();
}

static const QString kJobColumns =
    u"id, source_path, source_sha256, template, system_prompt, provider, model, base_url, "
    "priority, mode, max_retries, max_output_tokens, settings, columns, state, state_reason, "
    "created_at, updated_at, runner, "
    "(SELECT max_pending FROM intake_queues WHERE intake_queues.job_id = jobs.id)"_s;

JobInfo SqliteStore::jobFromQuery(const QSqlQuery &query) const
{
    JobInfo info;
    info.id = query.value(0).toLongLong();
    info.spec.sourcePath = query.value(1).toString();
    info.spec.sourceSha256 = query.value(2).toString().toLatin1();
    info.spec.templateText = query.value(3).toString();
    info.spec.systemPrompt = query.value(4).toString();
    info.spec.provider = query.value(5).toString();
    info.spec.model = query.value(6).toString();
    info.spec.baseUrl = query.value(7).toString();
    info.spec.priority = query.value(8).toInt();
    info.spec.mode = query.value(9).toString();
    info.spec.maxRetries = query.value(10).toInt();
    info.spec.maxOutputTokens = query.value(11).toInt();
    info.spec.settings = QJsonDocument::fromJson(query.value(12).toString().toUtf8()).object();
    info.columns = json::decodeStringArray(query.value(13).toString().toUtf8()).value_or(QStringList());
    info.state = static_cast<JobState>(query.value(14).toInt());
    info.stateReason = query.value(15).toString();
    info.createdAt = QDateTime::fromMSecsSinceEpoch(query.value(16).toLongLong());
    info.updatedAt = QDateTime::fromMSecsSinceEpoch(query.value(17).toLongLong());
    info.runner = query.value(18).toString();
    info.queueMaxPending = query.value(19).toLongLong();
    return info;
}

std::optional<JobInfo> SqliteStore::job(qint64 jobId)
{
    QSqlQuery query(m_db);
    query.prepare(u"SELECT "_s + kJobColumns + u" FROM jobs WHERE id = ?"_s);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next())
        return std::nullopt;
    JobInfo info = jobFromQuery(query);
    info.counts = taskCounts(jobId);
    jobTotals(jobId, &info.usage, &info.costUsd, nullptr);
    return info;
}

QList<JobInfo> SqliteStore::jobs()
{
    QList<JobInfo> result;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    if (!query.exec(u"SELECT "_s + kJobColumns + u" FROM jobs ORDER BY id"_s)) {
        fail(query.lastError().text());
        return result;
    }
    while (query.next())
        result.append(jobFromQuery(query));
    if (query.lastError().isValid())
        fail(query.lastError().text());
    for (JobInfo &info : result) {
        info.counts = taskCounts(info.id);
        jobTotals(info.id, &info.usage, &info.costUsd, nullptr);
    }
    return result;
}

bool SqliteStore::setJobState(qint64 jobId, JobState state, const QString &reason, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE jobs SET state = ?, state_reason = ?, updated_at = ?, "
                  "runner = CASE WHEN ? = 1 THEN runner ELSE '' END WHERE id = ?"_s);
    query.addBindValue(int(state));
    query.addBindValue(text(reason));
    query.addBindValue(nowMs);
    query.addBindValue(state == JobState::Running ? 1 : 0);
    query.addBindValue(jobId);
    if (!query.exec())
        return fail(query.lastError().text());
    return query.numRowsAffected() == 1 || fail(u"no job %1"_s.arg(jobId));
}

bool SqliteStore::setJobRunner(qint64 jobId, const QString &workerId, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE jobs SET runner = ?, updated_at = ? WHERE id = ?"_s);
    query.addBindValue(text(workerId));
    query.addBindValue(nowMs);
    query.addBindValue(jobId);
    if (!query.exec())
        return fail(query.lastError().text());
    return query.numRowsAffected() == 1 || fail(u"no job %1"_s.arg(jobId));
}

QList<JobStamp> SqliteStore::jobStamps()
{
    QList<JobStamp> stamps;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    if (!query.exec(u"SELECT id, state, runner, updated_at FROM jobs ORDER BY id"_s)) {
        fail(query.lastError().text());
        return stamps;
    }
    while (query.next()) {
        stamps.append({query.value(0).toLongLong(), static_cast<JobState>(query.value(1).toInt()),
                       query.value(2).toString(), query.value(3).toLongLong()});
    }
    return stamps;
}

bool SqliteStore::setJobSettings(qint64 jobId, const QJsonObject &settings)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE jobs SET settings = ? WHERE id = ?"_s);
    query.addBindValue(QString::fromUtf8(QJsonDocument(settings).toJson(QJsonDocument::Compact)));
    query.addBindValue(jobId);
    if (!query.exec())
        return fail(query.lastError().text());
    return query.numRowsAffected() == 1 || fail(u"no job %1"_s.arg(jobId));
}

bool SqliteStore::urgentWorkElsewhere(const QString &workerId, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    query.prepare(u"SELECT 1 FROM jobs j WHERE j.state = ? AND j.priority = 1 AND EXISTS ("
                  "SELECT 1 FROM tasks t WHERE t.job_id = j.id AND t.state = 1 AND t.state NOT IN (0, 2) "
                  "AND t.lease_owner <> ? AND t.lease_owner NOT LIKE 'batch:%' "
                  "AND t.lease_expires > ?) LIMIT 1"_s);
    query.addBindValue(int(JobState::Running));
    query.addBindValue(workerId);
    query.addBindValue(nowMs);
    if (!query.exec()) {
        fail(query.lastError().text());
        return false;
    }
    return query.next();
}

bool SqliteStore::discardTasks(qint64 jobId)
{
    QSqlQuery query(m_db);
    query.prepare(u"DELETE FROM tasks WHERE job_id = ?"_s);
    query.addBindValue(jobId);
    return query.exec() || fail(query.lastError().text());
}

// The names of the tasks table's sort indexes (and a few others LIKE's '_' lets through).
static const QString kSortIndexNamesSql =
    u"SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' "
    "AND name LIKE 'tasks_sort_%'"_s;

bool SqliteStore::deleteJob(qint64 jobId)
{
    // Its sort indexes first: the cascade then has none of them to update.
    QString error;
    if (!taskordersql::dropSortIndexes(m_db, kSortIndexNamesSql, jobId, &error))
        return fail(error);
    QSqlQuery query(m_db);
    query.prepare(u"DELETE FROM jobs WHERE id = ?"_s);
    query.addBindValue(jobId);
    return query.exec() || fail(query.lastError().text());
}

bool SqliteStore::ensureSortIndex(qint64 jobId, TaskSortKey key)
{
    const QString statement = taskordersql::sortIndexStatement(jobId, key);
    // Built under the write lock: writers wait for it (a million tasks: a few seconds of
    // the busy timeout), the readers go on.
    return statement.isEmpty() || exec(statement);
}

QList<std::pair<qint64, TaskSortKey>> SqliteStore::sortIndexes()
{
    QString error;
    const auto indexes = taskordersql::sortIndexes(m_db, kSortIndexNamesSql, &error);
    if (!indexes)
        fail(error);
    return indexes.value_or(QList<std::pair<qint64, TaskSortKey>>());
}

bool SqliteStore::dropSortIndex(qint64 jobId, TaskSortKey key)
{
    QString error;
    return taskordersql::dropSortIndex(m_db, jobId, key, &error) || fail(error);
}

bool SqliteStore::appendTasks(qint64 jobId, qint64 firstRowNumber, const QList<QStringList> &rows,
                              int priority, qint64 nowMs)
{
    if (!exec(u"BEGIN IMMEDIATE"_s))
        return false;
    SqliteStatement &insert = m_statements->insertTask;
    qint64 rowNumber = firstRowNumber;
    for (const QStringList &row : rows) {
        ResetGuard guard(insert);
        insert.bind(1, jobId);
        insert.bind(2, rowNumber++);
        insert.bind(3, json::encodeStringArray(row));
        insert.bind(4, qint64(priority));
        insert.bind(5, nowMs);
        if (insert.step() != SQLITE_DONE) {
            failSql(u"cannot store row %1"_s.arg(rowNumber - 1));
            exec(u"ROLLBACK"_s);
            return false;
        }
    }
    return exec(u"COMMIT"_s);
}

} // namespace bd::store
