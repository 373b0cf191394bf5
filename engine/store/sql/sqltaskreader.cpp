#include "sqltaskreader.h"

#include "core/jsonutil.h"

#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

using namespace Qt::StringLiterals;

using taskordersql::likePattern;
using taskordersql::rowFromQuery;

namespace {

// What differs between the dialects, all of it: the rest of the reader is the same SQL.

// The term for a job. SQLite: with a state, an index yields the job's rows in id order
// (tasks_active (state, job_id) for the states neither pending nor completed, tasks_job
// (job_id) otherwise); without one, the unary + keeps SQLite on the id order of the table
// instead of sorting a whole job after an index lookup. PostgreSQL's planner picks between
// the (job_id, state) index and the primary key itself.
QString jobTerm(SqlDialect dialect, const TaskFilter &filter)
{
    return dialect == SqlDialect::Sqlite && filter.state < 0 ? u"+job_id = ?"_s : u"job_id = ?"_s;
}

// A completed answer's output field equal to a value.
QString fieldTerm(SqlDialect dialect, const TaskFilter &filter, QVariantList *binds)
{
    if (dialect == SqlDialect::Sqlite) {
        // CASE keeps the JSON functions off answers that are not JSON (SQLite may order the
        // terms of a WHERE as it likes); a true/false field reads as the word, not as 1/0.
        const QString path = u"$.\""_s + QString(filter.field).replace(u"\""_s, u"\\\""_s) + u'"';
        binds->append(path);
        binds->append(path);
        binds->append(filter.fieldValue);
        return u"(CASE WHEN state = 2 AND json_valid(output) THEN CASE json_type(output, ?) "
               "WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
               "ELSE CAST(json_extract(output, ?) AS TEXT) END END) = ?"_s;
    }
    // PostgreSQL: the answers of a job with output fields are JSON objects (validated before
    // they completed a task); CASE keeps the cast off every other row.
    binds->append(filter.field);
    binds->append(filter.fieldValue);
    return u"(CASE WHEN state = 2 AND output LIKE '{%' THEN (output::jsonb ->> CAST(? AS text)) "
           "END) = CAST(? AS text)"_s;
}

// One row when an index of that name exists (and, in PostgreSQL, is valid: one that CREATE
// INDEX CONCURRENTLY has not finished, or left behind, is not).
QString sortIndexLookup(SqlDialect dialect)
{
    return dialect == SqlDialect::Sqlite
               ? u"SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?"_s
               : u"SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                 "WHERE c.relname = ? AND i.indisvalid AND pg_table_is_visible(c.oid)"_s;
}

} // namespace

SqlTaskReader::SqlTaskReader(QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> keepAlive)
    : m_db(std::move(db))
    , m_dialect(dialect)
    , m_keepAlive(std::move(keepAlive))
{
}

SqlTaskReader::~SqlTaskReader() = default;

bool SqlTaskReader::fail(const QString &what)
{
    m_error = what;
    return false;
}

bool SqlTaskReader::run(QSqlQuery &query, const QString &sql, const QVariantList &values)
{
    query.prepare(sql);
    for (const QVariant &value : values)
        query.addBindValue(value);
    return query.exec() || fail(query.lastError().text());
}

QString SqlTaskReader::where(const TaskFilter &filter, QVariantList *binds, bool literalJob) const
{
    QStringList terms;
    if (filter.jobId > 0 && literalJob) {
        terms << u"job_id = "_s + QString::number(filter.jobId);
    } else if (filter.jobId > 0) {
        terms << jobTerm(m_dialect, filter);
        binds->append(filter.jobId);
    }
    if (filter.state >= 0) {
        QString term = u"state = ?"_s;
        if (filter.state != int(TaskState::Pending) && filter.state != int(TaskState::Completed))
            term += activeStatesHint(m_dialect);
        terms << term;
        binds->append(filter.state);
    }
    if (filter.priority > 0) {
        terms << u"priority = ?"_s;
        binds->append(filter.priority);
    }
    if (!filter.errorClass.isEmpty()) {
        terms << u"error_class = ?"_s;
        binds->append(filter.errorClass);
    }
    if (!filter.text.isEmpty()) {
        terms << u"(vals LIKE ? ESCAPE '\\' OR output LIKE ? ESCAPE '\\' "
                 "OR error_message LIKE ? ESCAPE '\\')"_s;
        const QString pattern = likePattern(filter.text);
        binds->append(pattern);
        binds->append(pattern);
        binds->append(pattern);
    }
    if (!filter.field.isEmpty())
        terms << fieldTerm(m_dialect, filter, binds);
    return terms.isEmpty() ? QString() : u" WHERE "_s + terms.join(u" AND "_s);
}

std::optional<qint64> SqlTaskReader::count(const TaskFilter &filter)
{
    QVariantList binds;
    QString sql = u"SELECT COUNT(*) FROM tasks"_s + where(filter, &binds);
    // Counting a job uses its index whatever the filter says.
    sql.replace(u"+job_id"_s, u"job_id"_s);
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    query.prepare(sql);
    for (const QVariant &value : std::as_const(binds))
        query.addBindValue(value);
    if (!query.exec() || !query.next()) {
        fail(query.lastError().text());
        return std::nullopt;
    }
    const qint64 n = query.value(0).toLongLong();
    if (filter.jobId > 0 && filter.isJobOnly()) {
        const auto it = m_dense.constFind(filter.jobId);
        if (it != m_dense.constEnd() && it->count != n)
            m_dense.remove(filter.jobId);
    }
    return n;
}

std::optional<SqlTaskReader::Dense> SqlTaskReader::denseRange(qint64 jobId)
{
    auto it = m_dense.constFind(jobId);
    if (it == m_dense.constEnd()) {
        QSqlQuery query(m_db);
        query.setForwardOnly(true);
        query.prepare(u"SELECT MIN(id), MAX(id), COUNT(*) FROM tasks WHERE job_id = ?"_s);
        query.addBindValue(jobId);
        if (!query.exec() || !query.next()) {
            fail(query.lastError().text());
            return std::nullopt;
        }
        Dense dense;
        dense.minId = query.value(0).toLongLong();
        dense.maxId = query.value(1).toLongLong();
        dense.count = query.value(2).toLongLong();
        it = m_dense.insert(jobId, dense);
    }
    if (it->count <= 0 || it->maxId - it->minId + 1 != it->count)
        return std::nullopt;
    return *it;
}

std::optional<QList<TaskRow>> SqlTaskReader::page(const TaskFilter &filter, qint64 offset,
                                                  qint64 afterId, int limit, const TaskOrder &order)
{
    if (!order.isIdOrder())
        return sortedPage(filter, offset, afterId, limit, order);
    QVariantList binds;
    const QString filterSql = where(filter, &binds);
    QString sql = u"SELECT "_s + QLatin1StringView(taskordersql::rowColumns()) +
                  taskordersql::latency() + u" FROM tasks"_s + filterSql;
    const QString conj = binds.isEmpty() ? u" WHERE "_s : u" AND "_s;
    bool useOffset = false;
    if (offset == 0) {
        // the first page: nothing to skip
    } else if (afterId >= 0 && taskordersql::rowExists(m_db, afterId)) {
        sql += conj + taskordersql::idAfter(order, afterId, &binds);
        ++m_stats.keysetPages;
    } else if (filter.jobId > 0 && filter.isJobOnly()) {
        if (const auto dense = denseRange(filter.jobId)) {
            sql += conj + u"id >= ?"_s;
            binds.append(dense->minId + offset);
            ++m_stats.densePages;
        } else {
            useOffset = true;
        }
    } else {
        useOffset = true;
    }
    sql += taskordersql::orderBy(order) + u" LIMIT ?"_s;
    binds.append(limit);
    if (useOffset) {
        sql += u" OFFSET ?"_s;
        binds.append(offset);
        ++m_stats.offsetPages;
    }
    ++m_stats.pages;

    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    query.prepare(sql);
    for (const QVariant &value : std::as_const(binds))
        query.addBindValue(value);
    if (!query.exec()) {
        fail(query.lastError().text());
        return std::nullopt;
    }
    QList<TaskRow> rows;
    rows.reserve(limit);
    while (query.next())
        rows.append(rowFromQuery(query));
    return rows;
}

std::optional<QList<TaskRow>> SqlTaskReader::sortedPage(const TaskFilter &filter, qint64 offset,
                                                        qint64 afterId, int limit,
                                                        const TaskOrder &order)
{
    // A job's rows in the order of a key it has a sort index for are a range of it. Only
    // unfiltered: with a state, the planner would walk the whole index in order to find a
    // job's few dead tasks rather than sort them.
    // SQLite reads them in one read transaction: the look for the index and the reads over it
    // see one snapshot of the schema, so another process dropping the index meanwhile (its cap
    // on sort indexes) cannot fail them ("no such index", "database schema has changed").
    const bool snapshot = m_dialect == SqlDialect::Sqlite && m_db.transaction();
    QVariantList binds;
    const bool indexed =
        filter.isJobOnly() && filter.jobId > 0 && hasSortIndex(filter.jobId, order.key);
    QString fromWhere = u" FROM tasks"_s;
    // SQLite: INDEXED BY, or the (job_id, state) index would read the whole job and sort it.
    if (indexed && m_dialect == SqlDialect::Sqlite)
        fromWhere += u" INDEXED BY "_s + taskordersql::sortIndexName(filter.jobId, order.key);
    fromWhere += where(filter, &binds, indexed);
    fromWhere.replace(u"+job_id"_s, u"job_id"_s);
    auto rows = taskordersql::orderedPage(m_db, fromWhere, binds, order, offset, afterId, limit,
                                          &m_stats, &m_error, indexed);
    if (snapshot)
        m_db.commit();
    return rows;
}

std::optional<TaskDetail> SqlTaskReader::detail(qint64 taskId)
{
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    if (!run(query,
             u"SELECT t.id, t.job_id, t.row_no, t.state, t.priority, t.attempts, t.vals, "
             "t.output, t.error_class, t.error_message, t.http_status, t.model, "
             "t.input_tokens, t.output_tokens, t.cached_tokens, t.cache_write_tokens, "
             "t.cost_usd, t.cache_hit, t.created_at, t.started_at, t.finished_at, "
             "j.columns, COALESCE(r.template, j.template), "
             "COALESCE(r.system_prompt, j.system_prompt), t.template_rev "
             // A replayed task renders with the template revision it was replayed with.
             "FROM tasks t JOIN jobs j ON j.id = t.job_id "
             "LEFT JOIN job_templates r ON r.job_id = t.job_id AND r.revision = t.template_rev "
             "WHERE t.id = ?"_s,
             {taskId}))
        return std::nullopt;
    if (!query.next()) {
        fail(u"no task %1"_s.arg(taskId));
        return std::nullopt;
    }
    TaskDetail d;
    d.id = query.value(0).toLongLong();
    d.jobId = query.value(1).toLongLong();
    d.rowNumber = query.value(2).toLongLong();
    d.state = static_cast<TaskState>(query.value(3).toInt());
    d.priority = query.value(4).toInt();
    d.attempts = query.value(5).toInt();
    d.values = json::decodeStringArray(query.value(6).toString().toUtf8()).value_or(QStringList());
    d.output = query.value(7).toString();
    d.errorClass = query.value(8).toString();
    d.errorMessage = query.value(9).toString();
    d.httpStatus = query.value(10).toInt();
    d.model = query.value(11).toString();
    d.usage.inputTokens = query.value(12).toLongLong();
    d.usage.outputTokens = query.value(13).toLongLong();
    d.usage.cachedTokens = query.value(14).toLongLong();
    d.usage.cacheWriteTokens = query.value(15).toLongLong();
    if (!query.isNull(16))
        d.costUsd = query.value(16).toDouble();
    d.cacheHit = query.value(17).toInt() != 0;
    d.createdAtMs = query.value(18).toLongLong();
    d.startedAtMs = query.value(19).toLongLong();
    d.finishedAtMs = query.value(20).toLongLong();
    d.columns =
        json::decodeStringArray(query.value(21).toString().toUtf8()).value_or(QStringList());
    d.templateText = query.value(22).toString();
    d.systemPrompt = query.value(23).toString();
    d.templateRevision = query.value(24).toInt();

    QSqlQuery attempts(m_db);
    attempts.setForwardOnly(true);
    attempts.prepare(u"SELECT attempt_no, at, outcome, http_status, message FROM attempts "
                     "WHERE task_id = ? ORDER BY id"_s);
    attempts.addBindValue(taskId);
    if (attempts.exec()) {
        while (attempts.next()) {
            AttemptRecord record;
            record.taskId = taskId;
            record.attemptNo = attempts.value(0).toInt();
            record.at = QDateTime::fromMSecsSinceEpoch(attempts.value(1).toLongLong());
            record.outcome = attempts.value(2).toString();
            record.httpStatus = attempts.value(3).toInt();
            record.message = attempts.value(4).toString();
            d.attemptHistory.append(record);
        }
    }
    return d;
}

QList<DeadClassCount> SqlTaskReader::deadByClass(qint64 jobId)
{
    QList<DeadClassCount> result;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    const QString jobClause = jobId > 0 ? u"job_id = ? AND "_s : QString();
    query.prepare(u"SELECT error_class, COUNT(*), MAX(error_message) FROM tasks WHERE "_s +
                  jobClause + u"state = 3"_s + activeStatesHint(m_dialect) +
                  u" GROUP BY error_class ORDER BY COUNT(*) DESC"_s);
    if (jobId > 0)
        query.addBindValue(jobId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return result;
    }
    while (query.next()) {
        DeadClassCount entry;
        entry.errorClass = query.value(0).toString();
        entry.count = query.value(1).toLongLong();
        entry.sampleMessage = query.value(2).toString();
        result.append(entry);
    }
    return result;
}

bool SqlTaskReader::hasSortIndex(qint64 jobId, TaskSortKey key)
{
    const QString name = taskordersql::sortIndexName(jobId, key);
    if (name.isEmpty())
        return false;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    query.prepare(sortIndexLookup(m_dialect));
    query.addBindValue(name);
    return query.exec() && query.next();
}

QList<qint64> SqlTaskReader::ids(const TaskFilter &filter, qint64 limit)
{
    QVariantList binds;
    QString sql = u"SELECT id FROM tasks"_s + where(filter, &binds) + u" ORDER BY id LIMIT ?"_s;
    binds.append(limit);
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    query.prepare(sql);
    for (const QVariant &value : std::as_const(binds))
        query.addBindValue(value);
    QList<qint64> result;
    if (!query.exec()) {
        fail(query.lastError().text());
        return result;
    }
    while (query.next())
        result.append(query.value(0).toLongLong());
    return result;
}

} // namespace bd::store
