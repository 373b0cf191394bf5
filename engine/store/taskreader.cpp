#include "taskreader.h"

#include "core/jsonutil.h"

#include <QHash>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

#include <iterator>

namespace bd::store::taskordersql {

using namespace Qt::StringLiterals;

namespace {

// The start of a JSON string array, made readable: ["a","b"] -> a · b. Cut texts may
// end in the middle of an escape; that only shows as a stray backslash.
QString previewOfValues(const QString &json)
{
    if (const auto values = json::decodeStringArray(json.toUtf8()))
        return values->join(u" · "_s).simplified();
    QString text = json;
    if (text.startsWith(u"[\""_s))
        text.remove(0, 2);
    text.replace(u"\",\""_s, u" · "_s);
    text.replace(u"\\\""_s, u"\""_s);
    text.replace(u"\\n"_s, u" "_s);
    return text.simplified();
}

std::optional<QList<qint64>> readIds(const QSqlDatabase &db, const QString &sql,
                                     const QVariantList &binds, QString *error)
{
    QSqlQuery query(db);
    query.setForwardOnly(true);
    query.prepare(sql);
    for (const QVariant &value : binds)
        query.addBindValue(value);
    if (!query.exec()) {
        *error = query.lastError().text();
        return std::nullopt;
    }
    QList<qint64> ids;
    while (query.next())
        ids.append(query.value(0).toLongLong());
    return ids;
}

// The rows of these ids, in this order (a row gone since is left out).
std::optional<QList<TaskRow>> rowsOf(const QSqlDatabase &db, const QList<qint64> &ids,
                                     QString *error)
{
    QList<TaskRow> rows;
    if (ids.isEmpty())
        return rows;
    QString marks = u"?"_s;
    for (qsizetype i = 1; i < ids.size(); ++i)
        marks += u",?"_s;
    QSqlQuery query(db);
    query.setForwardOnly(true);
    query.prepare(u"SELECT "_s + QLatin1StringView(rowColumns()) + latency() +
                  u" FROM tasks WHERE id IN ("_s + marks + u')');
    for (const qint64 id : ids)
        query.addBindValue(id);
    if (!query.exec()) {
        *error = query.lastError().text();
        return std::nullopt;
    }
    QHash<qint64, TaskRow> byId;
    byId.reserve(ids.size());
    while (query.next()) {
        TaskRow row = rowFromQuery(query);
        byId.insert(row.id, std::move(row));
    }
    rows.reserve(ids.size());
    for (const qint64 id : ids) {
        if (auto it = byId.find(id); it != byId.end())
            rows.append(std::move(*it));
    }
    return rows;
}

} // namespace

QString key(TaskSortKey key)
{
    switch (key) {
    case TaskSortKey::Id:
        return u"id"_s;
    case TaskSortKey::Job:
        return u"job_id"_s;
    case TaskSortKey::Row:
        return u"row_no"_s;
    case TaskSortKey::State:
        return u"state"_s;
    case TaskSortKey::Priority:
        return u"priority"_s;
    case TaskSortKey::Attempts:
        return u"attempts"_s;
    case TaskSortKey::Tokens:
        return u"(input_tokens + output_tokens)"_s;
    case TaskSortKey::Cost:
        return u"COALESCE(cost_usd, -1)"_s;
    case TaskSortKey::Latency:
        return u"COALESCE("_s + latency() + u", -1)"_s;
    }
    return u"id"_s;
}

namespace {
// The part of a sort index's name after the job; empty: the key needs no index (id, job).
QString sortIndexSuffix(TaskSortKey key)
{
    static const char *const suffixes[] = {"",         "",       "row",  "state",  "priority",
                                           "attempts", "tokens", "cost", "latency"};
    static_assert(std::size(suffixes) == int(TaskSortKey::Latency) + 1);
    const int at = int(key);
    return at >= 0 && at < int(std::size(suffixes)) ? QString::fromLatin1(suffixes[at])
                                                    : QString();
}

QString sortIndexPrefix(qint64 jobId)
{
    return u"tasks_sort_"_s + QString::number(jobId) + u'_';
}
} // namespace

QString sortIndexName(qint64 jobId, TaskSortKey key)
{
    const QString suffix = sortIndexSuffix(key);
    return suffix.isEmpty() || jobId <= 0 ? QString() : sortIndexPrefix(jobId) + suffix;
}

QString sortIndexStatement(qint64 jobId, TaskSortKey key, bool concurrently)
{
    const QString name = sortIndexName(jobId, key);
    if (name.isEmpty())
        return {};
    return (concurrently ? u"CREATE INDEX CONCURRENTLY IF NOT EXISTS "_s
                         : u"CREATE INDEX IF NOT EXISTS "_s) +
           name + u" ON tasks (job_id, ("_s + taskordersql::key(key) + u"), id) WHERE job_id = "_s +
           QString::number(jobId);
}

namespace {
// The names namesSql lists that are sort indexes; nullopt when it cannot be read.
std::optional<QStringList> sortIndexNames(const QSqlDatabase &db, const QString &namesSql,
                                          QString *error)
{
    QSqlQuery query(db);
    query.setForwardOnly(true);
    if (!query.exec(namesSql)) {
        *error = query.lastError().text();
        return std::nullopt;
    }
    QStringList names;
    while (query.next())
        names.append(query.value(0).toString());
    return names;
}

bool dropIndex(const QSqlDatabase &db, const QString &name, QString *error)
{
    QSqlQuery drop(db);
    if (drop.exec(u"DROP INDEX IF EXISTS "_s + name))
        return true;
    *error = drop.lastError().text();
    return false;
}
} // namespace

bool dropSortIndexes(const QSqlDatabase &db, const QString &namesSql, qint64 jobId, QString *error)
{
    const auto names = sortIndexNames(db, namesSql, error);
    if (!names)
        return false;
    for (const QString &name : *names) {
        // Matched here, not by LIKE: '_' is a wildcard there (job 5 would match job 50's).
        if (name.startsWith(sortIndexPrefix(jobId)) && !dropIndex(db, name, error))
            return false;
    }
    return true;
}

std::optional<QList<std::pair<qint64, TaskSortKey>>>
sortIndexes(const QSqlDatabase &db, const QString &namesSql, QString *error)
{
    const auto names = sortIndexNames(db, namesSql, error);
    if (!names)
        return std::nullopt;
    QList<std::pair<qint64, TaskSortKey>> indexes;
    for (const QString &name : *names) {
        // tasks_sort_<job>_<key>: read back through sortIndexName, so only names it makes count.
        const QStringList parts = name.split(u'_');
        if (parts.size() != 4)
            continue;
        const qint64 jobId = parts.at(2).toLongLong();
        for (int k = 0; k <= int(TaskSortKey::Latency); ++k) {
            if (sortIndexName(jobId, TaskSortKey(k)) == name)
                indexes.append({jobId, TaskSortKey(k)});
        }
    }
    return indexes;
}

bool dropSortIndex(const QSqlDatabase &db, qint64 jobId, TaskSortKey key, QString *error)
{
    const QString name = sortIndexName(jobId, key);
    return name.isEmpty() || dropIndex(db, name, error);
}

QString latency()
{
    return u"CASE WHEN state IN (2, 3) AND finished_at > 0 AND started_at > 0 "
           "THEN finished_at - started_at END"_s;
}

QString orderBy(const TaskOrder &order)
{
    const QString direction = order.descending ? u" DESC"_s : QString();
    if (order.key == TaskSortKey::Id)
        return u" ORDER BY id"_s + direction;
    return u" ORDER BY "_s + key(order.key) + direction + u", id"_s + direction;
}

QString idAfter(const TaskOrder &order, qint64 afterId, QVariantList *binds)
{
    binds->append(afterId);
    return order.descending ? u"id < ?"_s : u"id > ?"_s;
}

bool rowExists(const QSqlDatabase &db, qint64 taskId)
{
    QSqlQuery query(db);
    query.setForwardOnly(true);
    query.prepare(u"SELECT 1 FROM tasks WHERE id = ?"_s);
    query.addBindValue(taskId);
    return query.exec() && query.next();
}

OrderedSql orderedSql(const QString &fromWhere, const TaskOrder &order)
{
    const QString select = u"SELECT id"_s + fromWhere;
    const QString conj = fromWhere.contains(u" WHERE "_s) ? u" AND "_s : u" WHERE "_s;
    // The row before's key, read where it is compared (no rounding on the way).
    const QString k = key(order.key);
    const QString before = u"(SELECT "_s + k + u" FROM tasks b WHERE b.id = ?)"_s;
    OrderedSql sql;
    if (order.key != TaskSortKey::Id) {
        sql.ties =
            select + conj + k + u" = "_s + before +
            (order.descending ? u" AND id < ? ORDER BY id DESC"_s : u" AND id > ? ORDER BY id"_s) +
            u" LIMIT ?"_s;
    }
    sql.beyond = select + conj + k + (order.descending ? u" < "_s : u" > "_s) + before +
                 orderBy(order) + u" LIMIT ?"_s;
    sql.offset = select + orderBy(order) + u" LIMIT ? OFFSET ?"_s;
    return sql;
}

std::optional<QList<TaskRow>> orderedPage(const QSqlDatabase &db, const QString &fromWhere,
                                          const QVariantList &binds, const TaskOrder &order,
                                          qint64 offset, qint64 afterId, int limit,
                                          TaskReader::Stats *stats, QString *error, bool indexed)
{
    const OrderedSql sql = orderedSql(fromWhere, order);
    const bool byKeyset = offset > 0 && afterId >= 0 && rowExists(db, afterId);
    std::optional<QList<qint64>> ids = QList<qint64>();
    if (byKeyset) {
        if (!sql.ties.isEmpty())
            ids = readIds(db, sql.ties, binds + QVariantList{afterId, afterId, limit}, error);
        if (ids && ids->size() < limit) {
            const QVariantList more = {afterId, limit - ids->size()};
            if (auto beyond = readIds(db, sql.beyond, binds + more, error))
                ids->append(*beyond);
            else
                ids.reset();
        }
    } else {
        ids = readIds(db, sql.offset, binds + QVariantList{limit, offset}, error);
    }
    if (!ids)
        return std::nullopt;
    auto rows = rowsOf(db, *ids, error);
    if (!rows)
        return std::nullopt;
    ++stats->pages;
    ++stats->orderedPages;
    if (indexed)
        ++stats->indexedPages;
    if (byKeyset)
        ++stats->keysetPages;
    else if (offset > 0)
        ++stats->offsetPages;
    return rows;
}

const char *rowColumns()
{
    return "id, job_id, row_no, state, priority, attempts, error_class, model, input_tokens, "
           "output_tokens, cost_usd, substr(vals, 1, 400), "
           "CASE WHEN state = 2 THEN substr(output, 1, 300) ELSE substr(error_message, 1, 300) "
           "END, "
           "finished_at, CASE WHEN state = 2 AND output LIKE '{%' THEN output END, ";
}

TaskRow rowFromQuery(const QSqlQuery &query)
{
    TaskRow row;
    row.id = query.value(0).toLongLong();
    row.jobId = query.value(1).toLongLong();
    row.rowNumber = query.value(2).toLongLong();
    row.state = static_cast<TaskState>(query.value(3).toInt());
    row.priority = query.value(4).toInt();
    row.attempts = query.value(5).toInt();
    row.errorClass = query.value(6).toString();
    row.model = query.value(7).toString();
    row.inputTokens = query.value(8).toLongLong();
    row.outputTokens = query.value(9).toLongLong();
    if (!query.isNull(10))
        row.costUsd = query.value(10).toDouble();
    row.inputPreview = previewOfValues(query.value(11).toString());
    row.outputPreview = query.value(12).toString().simplified();
    row.finishedAtMs = query.value(13).toLongLong();
    row.answerJson = query.value(14).toString();
    if (!query.isNull(15))
        row.latencyMs = query.value(15).toLongLong();
    return row;
}

QString likePattern(const QString &text)
{
    QString escaped = text;
    escaped.replace(u"\\"_s, u"\\\\"_s).replace(u"%"_s, u"\\%"_s).replace(u"_"_s, u"\\_"_s);
    return u"%"_s + escaped + u"%"_s;
}

} // namespace bd::store::taskordersql
