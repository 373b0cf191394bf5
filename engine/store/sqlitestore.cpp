#include "sqlitestore.h"

#include "core/jsonutil.h"
#include "ingest/exportwriter.h"
#include "migrations.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>

#include <sqlite3.h>

#include <algorithm>

namespace bd::store {

using namespace Qt::StringLiterals;

namespace {

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
void bindRoute(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    if (!outcome.tier.isEmpty())
        statement->bind(firstIndex, outcome.tier);
    if (!outcome.routedModel.isEmpty())
        statement->bind(firstIndex + 1, outcome.routedModel);
}

// A tiering classifier's tokens and cost, added to the task's (zero without one).
void bindClassification(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    statement->bind(firstIndex, outcome.classifyUsage.inputTokens);
    statement->bind(firstIndex + 1, outcome.classifyUsage.outputTokens);
    statement->bind(firstIndex + 2, outcome.classifyCostUsd);
}

} // namespace

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
    Statement addSpend;
    Statement exportPage;
    // Response cache (prepared on first use).
    Statement cacheLookup;
    Statement cacheInsert;
};

SqliteStore::SqliteStore(const QString &databasePath, const QString &connectionName)
    : m_path(databasePath)
    , m_connectionName(connectionName)
{
    if (databasePath != u":memory:"_s) {
        const QFileInfo info(databasePath);
        if (!QDir().mkpath(info.absolutePath())) {
            fail(u"cannot create the folder %1"_s.arg(info.absolutePath()));
            return;
        }
    }
    m_db = QSqlDatabase::addDatabase(u"QSQLITE"_s, connectionName);
    if (!m_db.isValid()) {
        fail(u"the Qt SQLite driver (QSQLITE) is not installed"_s);
        return;
    }
    m_db.setDatabaseName(databasePath);
    m_db.setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=10000"_s);
    if (!m_db.open()) {
        fail(u"cannot open %1: %2"_s.arg(databasePath, m_db.lastError().text()));
        return;
    }
    const QVariant handle = m_db.driver()->handle();
    if (handle.isValid() && qstrcmp(handle.typeName(), "sqlite3*") == 0)
        m_handle = *static_cast<sqlite3 *const *>(handle.constData());
    if (!m_handle) {
        fail(u"the SQLite driver gave no native handle"_s);
        return;
    }
    // WAL lets readers (views, status) run while the engine writes; NORMAL syncs at
    // checkpoints only, which WAL makes safe against corruption (a power cut can lose the
    // last commits, never the file).
    for (const char *pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL",
                               "PRAGMA foreign_keys = ON", "PRAGMA temp_store = MEMORY",
                               "PRAGMA cache_size = -65536"}) {
        if (!exec(QString::fromLatin1(pragma)))
            return;
    }
    QString error;
    if (!migrateSqlite(m_db, databasePath, &error, &m_backupPath)) {
        fail(error);
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
            "cost_usd = ?7 + classify_cost_usd + ?18, " // the task's classifications included
            "classify_input_tokens = classify_input_tokens + ?16, "
            "classify_output_tokens = classify_output_tokens + ?17, "
            "classify_cost_usd = classify_cost_usd + ?18, "
            "cache_hit = ?8, http_status = ?9, attempts = attempts + ?10, finished_at = ?11, "
            "error_class = NULL, error_message = NULL, lease_owner = NULL, lease_expires = NULL, "
            "tier = COALESCE(?14, tier), routed_model = COALESCE(?15, routed_model) "
            "WHERE id = ?12 AND state = 1 AND lease_owner = ?13")
        && s.retry.prepare(m_handle,
                           "UPDATE tasks SET state = 0, attempts = attempts + ?1, not_before = ?2, "
                           "error_class = ?3, error_message = ?4, http_status = ?5, "
                           "provider_cancels = provider_cancels + ?8, "
                           "lease_owner = NULL, lease_expires = NULL, tier = COALESCE(?9, tier), "
                           "routed_model = COALESCE(?10, routed_model), "
                           "classify_input_tokens = classify_input_tokens + ?11, "
                           "classify_output_tokens = classify_output_tokens + ?12, "
                           "classify_cost_usd = classify_cost_usd + ?13 "
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
                          "classify_cost_usd = classify_cost_usd + ?12 "
                          "WHERE id = ?6 AND state = 1 AND lease_owner = ?7")
        && s.insertAttempt.prepare(
            m_handle, "INSERT INTO attempts (task_id, attempt_no, at, outcome, http_status, "
                      "message, charged) SELECT ?1, attempts, ?2, ?3, ?4, ?5, ?6 FROM tasks "
                      "WHERE id = ?1")
        && s.addSpend.prepare(m_handle, "INSERT INTO spend_days (day, usd) VALUES (?1, ?2) "
                                        "ON CONFLICT (day) DO UPDATE SET usd = usd + excluded.usd")
        && s.exportPage.prepare(
            m_handle, "SELECT id, vals, state, output, error_class, error_message, model, "
                      "input_tokens, output_tokens, cached_tokens, cost_usd, attempts, tier "
                      "FROM tasks WHERE job_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
    if (!prepared) {
        fail(u"cannot prepare statements: %1"_s.arg(QString::fromUtf8(sqlite3_errmsg(m_handle))));
        return;
    }
    m_open = true;
}

SqliteStore::~SqliteStore()
{
    m_statements.reset();
    m_db.close();
    m_db = QSqlDatabase();
    QSqlDatabase::removeDatabase(m_connectionName);
}

// Qt binds a null QString as SQL NULL; NOT NULL text columns want ''.
static QString text(const QString &value)
{
    return value.isNull() ? u""_s : value;
}

bool SqliteStore::fail(const QString &what)
{
    m_error = what;
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
    "created_at, updated_at"_s;

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
    for (JobInfo &info : result) {
        info.counts = taskCounts(info.id);
        jobTotals(info.id, &info.usage, &info.costUsd, nullptr);
    }
    return result;
}

bool SqliteStore::setJobState(qint64 jobId, JobState state, const QString &reason, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE jobs SET state = ?, state_reason = ?, updated_at = ? WHERE id = ?"_s);
    query.addBindValue(int(state));
    query.addBindValue(text(reason));
    query.addBindValue(nowMs);
    query.addBindValue(jobId);
    if (!query.exec())
        return fail(query.lastError().text());
    return query.numRowsAffected() == 1 || fail(u"no job %1"_s.arg(jobId));
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
                  "SELECT 1 FROM tasks t WHERE t.job_id = j.id AND t.state = 1 "
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

bool SqliteStore::deleteJob(qint64 jobId)
{
    QSqlQuery query(m_db);
    query.prepare(u"DELETE FROM jobs WHERE id = ?"_s);
    query.addBindValue(jobId);
    return query.exec() || fail(query.lastError().text());
}

bool SqliteStore::appendTasks(qint64 jobId, qint64 firstRowNumber, const QList<QStringList> &rows,
                              int priority, qint64 nowMs)
{
    if (!exec(u"BEGIN IMMEDIATE"_s))
        return false;
    Statement &insert = m_statements->insertTask;
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

bool SqliteStore::claimTasks(qint64 jobId, const QString &owner, int limit, qint64 nowMs,
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
    while ((rc = claim.step()) == SQLITE_ROW) {
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

bool SqliteStore::renewLeases(const QString &owner, qint64 leaseUntilMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE tasks SET lease_expires = ? WHERE state = 1 AND lease_owner = ?"_s);
    query.addBindValue(leaseUntilMs);
    query.addBindValue(owner);
    return query.exec() || fail(query.lastError().text());
}

QStringList SqliteStore::leaseOwners()
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

int SqliteStore::releaseLeasesOf(const QString &owner)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE tasks SET state = 0, lease_owner = NULL, lease_expires = NULL "
                  "WHERE state = 1 AND lease_owner = ?"_s);
    query.addBindValue(owner);
    if (!query.exec()) {
        fail(query.lastError().text());
        return -1;
    }
    return query.numRowsAffected();
}

int SqliteStore::releaseExpiredLeases(qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE tasks SET state = 0, lease_owner = NULL, lease_expires = NULL "
                  "WHERE state = 1 AND lease_expires < ?"_s);
    query.addBindValue(nowMs);
    if (!query.exec()) {
        fail(query.lastError().text());
        return -1;
    }
    return query.numRowsAffected();
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
    double spentUsd = 0.0; // what the completions stored here cost, for the spend ledger
    for (const TaskTransition &t : transitions) {
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
            break;
        }
        int rc;
        {
            ResetGuard guard(*statement);
            rc = statement->step();
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
            if (attempt.step() != SQLITE_DONE) {
                failSql(u"cannot record the attempt of task %1"_s.arg(o.taskId));
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
        if (spend.step() != SQLITE_DONE) {
            failSql(u"cannot record the spend"_s);
            exec(u"ROLLBACK"_s);
            return false;
        }
    }
    return exec(u"COMMIT"_s);
}

std::optional<qint64> SqliteStore::nextPendingAtMs(qint64 jobId)
{
    QSqlQuery query(m_db);
    query.prepare(u"SELECT MIN(not_before) FROM tasks WHERE job_id = ? AND state = 0"_s);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next() || query.isNull(0))
        return std::nullopt;
    return query.value(0).toLongLong();
}

qint64 SqliteStore::createBatch(qint64 jobId, const QString &provider, const QString &lane,
                               int size, int maxSize, const QString &state, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO provider_batches (job_id, provider, lane, size, max_size, state, "
                  "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"_s);
    query.addBindValue(jobId);
    query.addBindValue(text(provider));
    query.addBindValue(text(lane));
    query.addBindValue(size);
    query.addBindValue(maxSize);
    query.addBindValue(text(state));
    query.addBindValue(nowMs);
    query.addBindValue(nowMs);
    if (!query.exec()) {
        fail(u"cannot record a batch: "_s + query.lastError().text());
        return 0;
    }
    return query.lastInsertId().toLongLong();
}

int SqliteStore::assignTasksToBatch(qint64 batchId, const QString &fromOwner,
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

bool SqliteStore::updateBatch(qint64 batchId, const QString &state, const QString &providerBatchId,
                              qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE provider_batches SET state = ?, "
                  "provider_batch_id = COALESCE(?, provider_batch_id), updated_at = ? WHERE id = ?"_s);
    query.addBindValue(text(state));
    query.addBindValue(providerBatchId.isEmpty() ? QVariant() : QVariant(providerBatchId));
    query.addBindValue(nowMs);
    query.addBindValue(batchId);
    return query.exec() || fail(query.lastError().text());
}

QList<ProviderBatchRecord> SqliteStore::batches(qint64 jobId, const QStringList &states)
{
    QList<ProviderBatchRecord> result;
    QSqlQuery query(m_db);
    query.prepare(u"SELECT id, job_id, provider, provider_batch_id, lane, size, max_size, state, "
                  "created_at, updated_at FROM provider_batches WHERE job_id = ? ORDER BY id"_s);
    query.addBindValue(jobId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return result;
    }
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

QList<ClaimedTask> SqliteStore::leasedTasksOfBatch(qint64 batchId)
{
    QList<ClaimedTask> tasks;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    query.prepare(u"SELECT id, job_id, row_no, priority, attempts, vals, provider_cancels, "
                  "template_rev FROM tasks WHERE batch_id = ? AND state = 1 ORDER BY id"_s);
    query.addBindValue(batchId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return tasks;
    }
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

TaskCounts SqliteStore::taskCounts(qint64 jobId)
{
    TaskCounts counts;
    QSqlQuery query(m_db);
    query.prepare(u"SELECT state, COUNT(*) FROM tasks WHERE job_id = ? GROUP BY state"_s);
    query.addBindValue(jobId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return counts;
    }
    while (query.next()) {
        const qint64 n = query.value(1).toLongLong();
        switch (static_cast<TaskState>(query.value(0).toInt())) {
        case TaskState::Pending: counts.pending = n; break;
        case TaskState::Leased: counts.leased = n; break;
        case TaskState::Completed: counts.completed = n; break;
        case TaskState::Dead: counts.dead = n; break;
        case TaskState::Cancelled: counts.cancelled = n; break;
        }
    }
    return counts;
}

bool SqliteStore::jobTotals(qint64 jobId, Usage *usage, double *costUsd, qint64 *billedTasks)
{
    QSqlQuery query(m_db);
    // Answers are billed when they complete; a tiering classifier's calls whatever became
    // of the task (a completed task's cost_usd already holds them).
    query.prepare(u"SELECT TOTAL(CASE WHEN state = 2 THEN input_tokens END), "
                  "TOTAL(CASE WHEN state = 2 THEN output_tokens END), "
                  "TOTAL(CASE WHEN state = 2 THEN cached_tokens END), "
                  "TOTAL(CASE WHEN state = 2 THEN cache_write_tokens END), "
                  "TOTAL(CASE WHEN state = 2 THEN cost_usd ELSE classify_cost_usd END), "
                  "COUNT(CASE WHEN state = 2 THEN cost_usd END) FROM tasks WHERE job_id = ?"_s);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next())
        return fail(query.lastError().text());
    if (usage) {
        usage->inputTokens = qint64(query.value(0).toDouble());
        usage->outputTokens = qint64(query.value(1).toDouble());
        usage->cachedTokens = qint64(query.value(2).toDouble());
        usage->cacheWriteTokens = qint64(query.value(3).toDouble());
    }
    if (costUsd)
        *costUsd = query.value(4).toDouble();
    if (billedTasks)
        *billedTasks = query.value(5).toLongLong();
    return true;
}

QList<DeadTask> SqliteStore::deadTasks(qint64 jobId, int limit, qint64 afterTaskId)
{
    QList<DeadTask> result;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    query.prepare(u"SELECT id, job_id, row_no, attempts, error_class, error_message, finished_at "
                  "FROM tasks WHERE state = 3 AND (? = 0 OR job_id = ?) AND id > ? "
                  "ORDER BY id LIMIT ?"_s);
    query.addBindValue(jobId);
    query.addBindValue(jobId);
    query.addBindValue(afterTaskId);
    query.addBindValue(limit);
    if (!query.exec()) {
        fail(query.lastError().text());
        return result;
    }
    while (query.next()) {
        DeadTask task;
        task.id = query.value(0).toLongLong();
        task.jobId = query.value(1).toLongLong();
        task.rowNumber = query.value(2).toLongLong();
        task.attempts = query.value(3).toInt();
        task.errorClass = query.value(4).toString();
        task.errorMessage = query.value(5).toString();
        task.updatedAt = QDateTime::fromMSecsSinceEpoch(query.value(6).toLongLong());
        result.append(task);
    }
    return result;
}

QList<AttemptRecord> SqliteStore::attempts(qint64 taskId)
{
    QList<AttemptRecord> result;
    QSqlQuery query(m_db);
    query.prepare(u"SELECT attempt_no, at, outcome, http_status, message FROM attempts "
                  "WHERE task_id = ? ORDER BY id"_s);
    query.addBindValue(taskId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return result;
    }
    while (query.next()) {
        AttemptRecord record;
        record.taskId = taskId;
        record.attemptNo = query.value(0).toInt();
        record.at = QDateTime::fromMSecsSinceEpoch(query.value(1).toLongLong());
        record.outcome = query.value(2).toString();
        record.httpStatus = query.value(3).toInt();
        record.message = query.value(4).toString();
        result.append(record);
    }
    return result;
}

bool SqliteStore::forEachExportRow(qint64 jobId,
                                   const std::function<bool(const ingest::ExportRow &)> &sink)
{
    constexpr int kPageSize = 2000;
    Statement &page = m_statements->exportPage;
    qint64 lastId = 0;
    ingest::ExportRow row;
    for (;;) {
        // Read a page, then hand it out, so no statement stays open while the sink writes.
        QList<ingest::ExportRow> rows;
        rows.reserve(kPageSize);
        {
            ResetGuard guard(page);
            page.bind(1, jobId);
            page.bind(2, lastId);
            page.bind(3, qint64(kPageSize));
            int rc;
            while ((rc = page.step()) == SQLITE_ROW) {
                row.taskId = page.int64(0);
                row.inputValues = json::decodeStringArray(page.bytes(1)).value_or(QStringList());
                const auto state = static_cast<TaskState>(page.int64(2));
                row.status = state == TaskState::Leased ? u"pending"_s : taskStateName(state);
                row.output = state == TaskState::Completed ? page.text(3) : QString();
                const QString errorClass = page.text(4);
                const QString errorMessage = page.text(5);
                row.error = errorClass.isEmpty() ? QString()
                            : errorMessage.isEmpty() ? errorClass
                                                     : errorClass + u": "_s + errorMessage;
                row.model = page.text(6);
                row.inputTokens = page.int64(7);
                row.outputTokens = page.int64(8);
                row.cachedTokens = page.int64(9);
                row.costUsd = page.isNull(10) ? std::optional<double>() : page.real(10);
                if (state != TaskState::Completed)
                    row.costUsd = 0.0;
                row.attempts = int(page.int64(11));
                row.tier = page.text(12);
                lastId = row.taskId;
                rows.append(row);
            }
            if (rc != SQLITE_DONE)
                return failSql(u"export query failed"_s);
        }
        for (const ingest::ExportRow &r : std::as_const(rows)) {
            if (!sink(r))
                return true;
        }
        if (rows.size() < kPageSize)
            return true;
    }
}

int SqliteStore::replayDead(qint64 jobId, const QList<qint64> &taskIds, qint64 nowMs)
{
    return replayDead(jobId, taskIds, nowMs, QString(), -1);
}

int SqliteStore::replayDead(qint64 jobId, const QList<qint64> &taskIds, qint64 nowMs,
                            const QString &errorClass, int templateRevision)
{
    // One statement for both selections: every dead task of the job (or of all jobs), or
    // the given ids; either narrowed to an error class.
    const QString sql =
        u"UPDATE tasks SET state = 0, attempts = 0, provider_cancels = 0, not_before = ?, "
        "finished_at = NULL, error_class = NULL, error_message = NULL, http_status = NULL, "
        "template_rev = CASE WHEN ? < 0 THEN template_rev ELSE ? END "
        "WHERE state = 3 AND (? = 0 OR job_id = ?) AND (? = '' OR error_class = ?)"_s
        + (taskIds.isEmpty() ? QString() : u" AND id = ?"_s);
    QSqlQuery query(m_db);
    query.prepare(sql);
    const auto bindCommon = [&] {
        query.addBindValue(nowMs);
        query.addBindValue(templateRevision);
        query.addBindValue(templateRevision);
        query.addBindValue(jobId);
        query.addBindValue(jobId);
        query.addBindValue(errorClass.isNull() ? u""_s : errorClass);
        query.addBindValue(errorClass.isNull() ? u""_s : errorClass);
    };
    if (taskIds.isEmpty()) {
        bindCommon();
        if (!query.exec()) {
            fail(query.lastError().text());
            return -1;
        }
        return query.numRowsAffected();
    }
    if (!m_db.transaction()) {
        fail(m_db.lastError().text());
        return -1;
    }
    int changed = 0;
    for (qint64 id : taskIds) {
        bindCommon();
        query.addBindValue(id);
        if (!query.exec()) {
            fail(query.lastError().text());
            m_db.rollback();
            return -1;
        }
        changed += query.numRowsAffected();
    }
    if (!m_db.commit()) {
        fail(m_db.lastError().text());
        return -1;
    }
    return changed;
}

int SqliteStore::addTemplateRevision(qint64 jobId, const QString &templateText,
                                     const QString &systemPrompt, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO job_templates (job_id, revision, template, system_prompt, created_at) "
                  "SELECT ?, COALESCE(MAX(revision), 0) + 1, ?, ?, ? FROM job_templates "
                  "WHERE job_id = ? RETURNING revision"_s);
    query.addBindValue(jobId);
    query.addBindValue(text(templateText));
    query.addBindValue(text(systemPrompt));
    query.addBindValue(nowMs);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next()) {
        fail(u"cannot store a template revision of job %1: %2"_s.arg(jobId).arg(query.lastError().text()));
        return -1;
    }
    const int revision = query.value(0).toInt();
    query.finish();
    return revision;
}

std::optional<std::pair<QString, QString>> SqliteStore::templateRevision(qint64 jobId, int revision)
{
    QSqlQuery query(m_db);
    if (revision == 0)
        query.prepare(u"SELECT template, system_prompt FROM jobs WHERE id = ?"_s);
    else
        query.prepare(u"SELECT template, system_prompt FROM job_templates WHERE job_id = ? AND revision = ?"_s);
    query.addBindValue(jobId);
    if (revision != 0)
        query.addBindValue(revision);
    if (!query.exec() || !query.next()) {
        fail(u"job %1 has no template revision %2"_s.arg(jobId).arg(revision));
        return std::nullopt;
    }
    return std::pair{query.value(0).toString(), query.value(1).toString()};
}

qint64 SqliteStore::raiseAlert(qint64 jobId, const QString &kind, const QString &message,
                               qint64 nowMs, const QJsonObject &figures, bool *created)
{
    if (created)
        *created = false;
    const QString figuresText = QString::fromUtf8(QJsonDocument(figures).toJson(QJsonDocument::Compact));
    // The unique index on open alerts makes this atomic across processes: the insert
    // either opens the alert or does nothing, and then the open one is refreshed.
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO alerts (job_id, kind, message, raised_at, figures) "
                  "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"_s);
    query.addBindValue(jobId ? QVariant(jobId) : QVariant());
    query.addBindValue(kind);
    query.addBindValue(message);
    query.addBindValue(nowMs);
    query.addBindValue(figuresText);
    if (!query.exec()) {
        fail(query.lastError().text());
        return 0;
    }
    if (query.next()) {
        if (created)
            *created = true;
        return query.value(0).toLongLong();
    }
    query.finish();
    query.prepare(u"UPDATE alerts SET message = ?, figures = ? WHERE kind = ? "
                  "AND IFNULL(job_id, 0) = ? AND cleared_at IS NULL RETURNING id"_s);
    query.addBindValue(message);
    query.addBindValue(figuresText);
    query.addBindValue(kind);
    query.addBindValue(jobId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return 0;
    }
    return query.next() ? query.value(0).toLongLong() : 0;
}

bool SqliteStore::clearAlerts(qint64 jobId, const QString &kind, qint64 nowMs,
                              const QJsonObject &figures, int *cleared)
{
    if (cleared)
        *cleared = 0;
    QSqlQuery query(m_db);
    // The raised figures stay; the ones at clearing go under "cleared".
    query.prepare(u"UPDATE alerts SET cleared_at = ?, figures = CASE WHEN ? = '{}' THEN figures "
                  "ELSE json_set(IFNULL(json(figures), '{}'), '$.cleared', json(?)) END "
                  "WHERE cleared_at IS NULL AND IFNULL(job_id, 0) = ? AND (? = '' OR kind = ?)"_s);
    const QString figuresText = QString::fromUtf8(QJsonDocument(figures).toJson(QJsonDocument::Compact));
    query.addBindValue(nowMs);
    query.addBindValue(figuresText);
    query.addBindValue(figuresText);
    query.addBindValue(jobId);
    // A null kind (QString()) means every kind too; Qt would bind it as NULL, never ''.
    query.addBindValue(text(kind));
    query.addBindValue(text(kind));
    if (!query.exec())
        return fail(query.lastError().text());
    if (cleared)
        *cleared = query.numRowsAffected();
    return true;
}

QList<AlertRecord> SqliteStore::alerts(bool includeCleared)
{
    QList<AlertRecord> result;
    QSqlQuery query(m_db);
    if (!query.exec(u"SELECT id, job_id, kind, message, raised_at, cleared_at, figures FROM alerts "_s
                    + (includeCleared ? QString() : u"WHERE cleared_at IS NULL "_s)
                    + u"ORDER BY id"_s)) {
        fail(query.lastError().text());
        return result;
    }
    while (query.next()) {
        AlertRecord alert;
        alert.id = query.value(0).toLongLong();
        alert.jobId = query.value(1).toLongLong();
        alert.kind = query.value(2).toString();
        alert.message = query.value(3).toString();
        alert.raisedAt = QDateTime::fromMSecsSinceEpoch(query.value(4).toLongLong());
        if (!query.isNull(5))
            alert.clearedAt = QDateTime::fromMSecsSinceEpoch(query.value(5).toLongLong());
        alert.figures = QJsonDocument::fromJson(query.value(6).toString().toUtf8()).object();
        result.append(alert);
    }
    return result;
}

// --- settings and the spend ledger

std::optional<QString> SqliteStore::setting(const QString &key)
{
    QSqlQuery query(m_db);
    query.prepare(u"SELECT value FROM settings WHERE key = ?"_s);
    query.addBindValue(key);
    if (!query.exec()) {
        fail(query.lastError().text());
        return std::nullopt;
    }
    if (!query.next())
        return std::nullopt;
    return query.value(0).toString();
}

bool SqliteStore::setSetting(const QString &key, const QString &value)
{
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO settings (key, value) VALUES (?, ?) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value"_s);
    query.addBindValue(key);
    query.addBindValue(value);
    return query.exec() || fail(query.lastError().text());
}

double SqliteStore::spendSince(qint64 fromMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"SELECT TOTAL(usd) FROM spend_days WHERE day >= ?"_s);
    query.addBindValue(qMax<qint64>(0, fromMs) / 86'400'000);
    if (!query.exec() || !query.next()) {
        fail(query.lastError().text());
        return 0.0;
    }
    return query.value(0).toDouble();
}

// --- cost: response cache, cost lines, calibration

std::optional<CachedResponse> SqliteStore::cachedResponse(const QByteArray &key)
{
    Statement &lookup = m_statements->cacheLookup;
    if (!lookup.get()
        && !lookup.prepare(m_handle, "SELECT t.output, t.model, t.input_tokens, t.output_tokens, "
                                     "t.cached_tokens, t.cache_write_tokens, c.created_at "
                                     "FROM response_cache c JOIN tasks t ON t.id = c.task_id "
                                     "WHERE c.key = ?1 AND t.state = 2")) {
        failSql(u"cannot prepare the response cache lookup"_s);
        return std::nullopt;
    }
    ResetGuard guard(lookup);
    const QByteArray packed = QByteArray::fromHex(key).left(16);
    sqlite3_bind_blob(lookup.get(), 1, packed.constData(), int(packed.size()), SQLITE_TRANSIENT);
    const int rc = lookup.step();
    if (rc != SQLITE_ROW) {
        if (rc != SQLITE_DONE)
            failSql(u"response cache lookup failed"_s);
        return std::nullopt;
    }
    CachedResponse entry;
    entry.key = key;
    entry.output = lookup.text(0);
    entry.model = lookup.text(1);
    entry.usage.inputTokens = lookup.int64(2);
    entry.usage.outputTokens = lookup.int64(3);
    entry.usage.cachedTokens = lookup.int64(4);
    entry.usage.cacheWriteTokens = lookup.int64(5);
    entry.createdAtMs = lookup.int64(6);
    return entry;
}

bool SqliteStore::storeCachedResponses(const QList<CachedResponse> &entries)
{
    if (entries.isEmpty())
        return true;
    Statement &insert = m_statements->cacheInsert;
    if (!insert.get()
        && !insert.prepare(m_handle, "INSERT OR IGNORE INTO response_cache (key, task_id, "
                                     "created_at) VALUES (?1, ?2, ?3)"))
        return failSql(u"cannot prepare the response cache insert"_s);
    if (!exec(u"BEGIN IMMEDIATE"_s))
        return false;
    for (const CachedResponse &entry : entries) {
        ResetGuard guard(insert);
        // 128 bits of the SHA-256 are plenty to tell requests apart and keep the tree small.
        const QByteArray packed = QByteArray::fromHex(entry.key).left(16);
        sqlite3_bind_blob(insert.get(), 1, packed.constData(), int(packed.size()), SQLITE_TRANSIENT);
        insert.bind(2, entry.taskId);
        insert.bind(3, entry.createdAtMs);
        if (insert.step() != SQLITE_DONE) {
            failSql(u"cannot store a response in the cache"_s);
            exec(u"ROLLBACK"_s);
            return false;
        }
    }
    return exec(u"COMMIT"_s);
}

qint64 SqliteStore::cachedResponseCount()
{
    QSqlQuery query(m_db);
    if (!query.exec(u"SELECT COUNT(*) FROM response_cache"_s) || !query.next()) {
        fail(query.lastError().text());
        return -1;
    }
    return query.value(0).toLongLong();
}

QList<CostLine> SqliteStore::costLines(qint64 jobId)
{
    QList<CostLine> lines;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    query.prepare(u"SELECT COALESCE(t.model, ''), "
                  "CASE WHEN t.cache_hit = 1 THEN 'response-cache' "
                  "WHEN b.lane = 'batch-api' THEN 'batch-api' ELSE 'sync' END AS lane, "
                  "COALESCE(strftime('%Y-%m-%d', t.finished_at / 1000, 'unixepoch'), '') AS day, "
                  "COUNT(*), SUM(t.cost_usd IS NULL), TOTAL(t.input_tokens), "
                  "TOTAL(t.output_tokens), TOTAL(t.cached_tokens), TOTAL(t.cache_write_tokens), "
                  "TOTAL(t.cost_usd), COALESCE(t.tier, ''), TOTAL(t.classify_input_tokens), "
                  "TOTAL(t.classify_output_tokens), TOTAL(t.classify_cost_usd) FROM tasks t "
                  "LEFT JOIN provider_batches b ON b.id = t.batch_id "
                  "WHERE t.job_id = ? AND t.state = 2 GROUP BY 1, 2, 3, 11 ORDER BY 1, 2, 3, 11"_s);
    query.addBindValue(jobId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return lines;
    }
    while (query.next()) {
        CostLine line;
        line.model = query.value(0).toString();
        line.lane = query.value(1).toString();
        line.day = query.value(2).toString();
        line.tasks = query.value(3).toLongLong();
        line.unpricedTasks = query.value(4).toLongLong();
        line.usage.inputTokens = qint64(query.value(5).toDouble());
        line.usage.outputTokens = qint64(query.value(6).toDouble());
        line.usage.cachedTokens = qint64(query.value(7).toDouble());
        line.usage.cacheWriteTokens = qint64(query.value(8).toDouble());
        line.costUsd = query.value(9).toDouble();
        line.tier = query.value(10).toString();
        line.classifyUsage.inputTokens = qint64(query.value(11).toDouble());
        line.classifyUsage.outputTokens = qint64(query.value(12).toDouble());
        line.classifyCostUsd = query.value(13).toDouble();
        lines.append(line);
    }
    return lines;
}

UsageCalibration SqliteStore::usageCalibration(const QString &templateText,
                                               const QString &systemPrompt, const QString &model)
{
    UsageCalibration calibration;
    QSqlQuery query(m_db);
    query.prepare(u"SELECT COUNT(*), AVG(t.input_tokens + t.cached_tokens + t.cache_write_tokens), "
                  "AVG(t.output_tokens), MAX(t.output_tokens) FROM tasks t "
                  "JOIN jobs j ON j.id = t.job_id WHERE j.template = ? AND j.system_prompt = ? "
                  "AND j.model = ? AND t.state = 2 AND t.cache_hit = 0"_s);
    query.addBindValue(templateText);
    query.addBindValue(text(systemPrompt));
    query.addBindValue(model);
    if (!query.exec() || !query.next()) {
        fail(query.lastError().text());
        return calibration;
    }
    calibration.tasks = query.value(0).toLongLong();
    calibration.meanPromptTokens = query.value(1).toDouble();
    calibration.meanOutputTokens = query.value(2).toDouble();
    calibration.maxOutputTokens = query.value(3).toLongLong();
    return calibration;
}

} // namespace bd::store
