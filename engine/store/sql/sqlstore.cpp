#include "sqlstore.h"

#include "core/jsonutil.h"
#include "sqlstatement.h"
#include "store/taskreader.h"

#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

using namespace Qt::StringLiterals;

namespace {

const QString kJobColumns =
    u"id, source_path, source_sha256, template, system_prompt, provider, model, base_url, "
    "priority, mode, max_retries, max_output_tokens, settings, columns, state, state_reason, "
    "created_at, updated_at, runner, "
    "(SELECT max_pending FROM intake_queues WHERE intake_queues.job_id = jobs.id)"_s;

JobInfo jobFromQuery(const QSqlQuery &query)
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

// The names of the tasks table's sort indexes (and a few others LIKE's '_' lets through).
QString sortIndexNamesSql(SqlDialect dialect)
{
    return dialect == SqlDialect::Sqlite
               ? u"SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' "
                 "AND name LIKE 'tasks_sort_%'"_s
               : u"SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                 "WHERE i.indrelid = 'tasks'::regclass AND c.relname LIKE 'tasks_sort_%'"_s;
}

} // namespace

SqlStore::SqlStore(QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> keepAlive)
    : m_keepAlive(std::move(keepAlive))
    , m_db(std::move(db))
    , m_dialect(dialect)
{
}

SqlStore::~SqlStore() = default;

bool SqlStore::fail(const QString &what)
{
    m_error = what;
    return false;
}

bool SqlStore::run(QSqlQuery &query, const QString &sql, const QVariantList &values)
{
    query.prepare(sql);
    for (const QVariant &value : values)
        query.addBindValue(value);
    return query.exec() || fail(query.lastError().text());
}

bool SqlStore::exec(const QString &sql)
{
    QSqlQuery query(m_db);
    if (!query.exec(sql))
        return fail(u"%1: %2"_s.arg(sql, query.lastError().text()));
    return true;
}

// --- jobs

std::optional<qint64> SqlStore::findJobByFingerprint(const QByteArray &fingerprint)
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

qint64 SqlStore::createJob(const JobSpec &spec, const QStringList &columns, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO jobs (fingerprint, source_path, source_sha256, template, "
                  "system_prompt, provider, model, base_url, priority, mode, max_retries, "
                  "max_output_tokens, settings, columns, state, created_at, updated_at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"_s);
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
    if (!query.exec() || !query.next()) {
        fail(u"cannot create the job: "_s + query.lastError().text());
        return 0;
    }
    return query.value(0).toLongLong();
}

std::optional<JobInfo> SqlStore::job(qint64 jobId)
{
    QSqlQuery query(m_db);
    query.prepare(u"SELECT "_s + kJobColumns + u" FROM jobs WHERE id = ?"_s);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next())
        return std::nullopt;
    QList<JobInfo> one{jobFromQuery(query)};
    fillJobFigures(one, jobId);
    return one.constFirst();
}

QList<JobInfo> SqlStore::jobs()
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
    fillJobFigures(result, 0);
    return result;
}

bool SqlStore::setJobState(qint64 jobId, JobState state, const QString &reason, qint64 nowMs)
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

bool SqlStore::setJobRunner(qint64 jobId, const QString &workerId, qint64 nowMs)
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

QList<JobStamp> SqlStore::jobStamps()
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

bool SqlStore::setJobSettings(qint64 jobId, const QJsonObject &settings)
{
    QSqlQuery query(m_db);
    query.prepare(u"UPDATE jobs SET settings = ? WHERE id = ?"_s);
    query.addBindValue(QString::fromUtf8(QJsonDocument(settings).toJson(QJsonDocument::Compact)));
    query.addBindValue(jobId);
    if (!query.exec())
        return fail(query.lastError().text());
    return query.numRowsAffected() == 1 || fail(u"no job %1"_s.arg(jobId));
}

bool SqlStore::urgentWorkElsewhere(const QString &workerId, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    if (!run(query,
             u"SELECT 1 FROM jobs j WHERE j.state = ? AND j.priority = 1 AND EXISTS ("
             "SELECT 1 FROM tasks t WHERE t.job_id = j.id AND t.state = 1"_s
                 + activeStatesHint(m_dialect, u"t.state"_s)
                 + u" AND t.lease_owner <> ? AND t.lease_owner NOT LIKE 'batch:%' "
                   "AND t.lease_expires > ?) LIMIT 1"_s,
             {int(JobState::Running), workerId, nowMs}))
        return false;
    return query.next();
}

bool SqlStore::discardTasks(qint64 jobId)
{
    QSqlQuery query(m_db);
    query.prepare(u"DELETE FROM tasks WHERE job_id = ?"_s);
    query.addBindValue(jobId);
    return query.exec() || fail(query.lastError().text());
}

bool SqlStore::deleteJob(qint64 jobId)
{
    // Its sort indexes first: the cascade then has none of them to update.
    QString error;
    if (!taskordersql::dropSortIndexes(m_db, sortIndexNamesSql(m_dialect), jobId, &error))
        return fail(error);
    QSqlQuery query(m_db);
    query.prepare(u"DELETE FROM jobs WHERE id = ?"_s);
    query.addBindValue(jobId);
    return query.exec() || fail(query.lastError().text());
}

QList<std::pair<qint64, TaskSortKey>> SqlStore::sortIndexes()
{
    QString error;
    const auto indexes = taskordersql::sortIndexes(m_db, sortIndexNamesSql(m_dialect), &error);
    if (!indexes)
        fail(error);
    return indexes.value_or(QList<std::pair<qint64, TaskSortKey>>());
}

bool SqlStore::dropSortIndex(qint64 jobId, TaskSortKey key)
{
    QString error;
    return taskordersql::dropSortIndex(m_db, jobId, key, &error) || fail(error);
}

} // namespace bd::store
