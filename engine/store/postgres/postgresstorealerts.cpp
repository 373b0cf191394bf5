#include "postgresstoreprivate.h"

#include "core/jsonutil.h"
#include "store/sql/sqlcharges.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- alerts, settings, the spend ledger and cost

qint64 PostgresStore::raiseAlert(qint64 jobId, const QString &kind, const QString &message,
                               qint64 nowMs, const QJsonObject &figures, bool *created)
{
    if (created)
        *created = false;
    const QString figuresText = QString::fromUtf8(QJsonDocument(figures).toJson(QJsonDocument::Compact));
    // The unique index on open alerts makes this atomic across processes: the insert
    // either opens the alert or does nothing, and then the open one is refreshed.
    QSqlQuery query(m_db);
    if (!run(query,
             u"INSERT INTO alerts (job_id, kind, message, raised_at, figures) "
             "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"_s,
             {jobId ? QVariant(jobId) : QVariant(), kind, message, nowMs, figuresText}))
        return 0;
    if (query.next()) {
        if (created)
            *created = true;
        return query.value(0).toLongLong();
    }
    query.finish();
    if (!run(query,
             u"UPDATE alerts SET message = ?, figures = ? WHERE kind = ? "
             "AND COALESCE(job_id, 0) = ?::bigint AND cleared_at IS NULL RETURNING id"_s,
             {message, figuresText, kind, jobId}))
        return 0;
    return query.next() ? query.value(0).toLongLong() : 0;
}

bool PostgresStore::clearAlerts(qint64 jobId, const QString &kind, qint64 nowMs,
                              const QJsonObject &figures, int *cleared)
{
    if (cleared)
        *cleared = 0;
    QSqlQuery query(m_db);
    // The raised figures stay; the ones at clearing go under "cleared".
    query.prepare(u"UPDATE alerts SET cleared_at = ?, figures = CASE WHEN ?::text = '{}' THEN figures "
                  "ELSE (COALESCE(NULLIF(figures, '')::jsonb, '{}'::jsonb) "
                  "|| jsonb_build_object('cleared', ?::jsonb))::text END "
                  "WHERE cleared_at IS NULL AND COALESCE(job_id, 0) = ?::bigint AND (? = '' OR kind = ?)"_s);
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

QList<AlertRecord> PostgresStore::alerts(bool includeCleared)
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

std::optional<QString> PostgresStore::setting(const QString &key)
{
    QSqlQuery query(m_db);
    if (!run(query, u"SELECT value FROM settings WHERE key = ?"_s, {key}))
        return std::nullopt;
    if (!query.next())
        return std::nullopt;
    return query.value(0).toString();
}

bool PostgresStore::setSetting(const QString &key, const QString &value)
{
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO settings (key, value) VALUES (?, ?) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value"_s);
    query.addBindValue(key);
    query.addBindValue(value);
    return query.exec() || fail(query.lastError().text());
}

double PostgresStore::spendSince(qint64 fromMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"SELECT COALESCE(SUM(usd), 0) FROM spend_days WHERE day >= ?"_s);
    query.addBindValue(qMax<qint64>(0, fromMs) / 86'400'000);
    if (!query.exec() || !query.next()) {
        fail(query.lastError().text());
        return 0.0;
    }
    return query.value(0).toDouble();
}

bool PostgresStore::recordJobCharge(qint64 jobId, const JobCharge &charge, qint64 nowMs,
                              double *deltaUsd)
{
    QString error;
    return sqlcharges::record(m_db, true, jobId, charge, nowMs, deltaUsd, &error) || fail(error);
}

QList<JobCharge> PostgresStore::jobCharges(qint64 jobId)
{
    QString error;
    const QList<JobCharge> charges = sqlcharges::list(m_db, jobId, &error);
    if (!error.isEmpty())
        fail(error);
    return charges;
}

// --- cost: response cache, cost lines, calibration

namespace {

// 128 bits of the SHA-256 are plenty to tell requests apart and keep the tree small.
QByteArray packedKey(const QByteArray &hexKey)
{
    return QByteArray::fromHex(hexKey).left(16);
}

CachedResponse cachedFrom(const PostgresStatement &row, int first, const QByteArray &key)
{
    CachedResponse entry;
    entry.key = key;
    entry.output = row.text(first);
    entry.model = row.text(first + 1);
    entry.usage.inputTokens = row.int64(first + 2);
    entry.usage.outputTokens = row.int64(first + 3);
    entry.usage.cachedTokens = row.int64(first + 4);
    entry.usage.cacheWriteTokens = row.int64(first + 5);
    entry.createdAtMs = row.int64(first + 6);
    return entry;
}

} // namespace

std::optional<CachedResponse> PostgresStore::cachedResponse(const QByteArray &key)
{
    PostgresStatement &lookup = m_statements->cacheLookup;
    ResetGuard guard(lookup);
    lookup.bindBlob(1, packedKey(key));
    const int rc = lookup.step();
    if (rc != PostgresStatement::Row) {
        if (rc != PostgresStatement::Done)
            failSql(u"response cache lookup failed: "_s + lookup.errorText());
        return std::nullopt;
    }
    return cachedFrom(lookup, 0, key);
}

QHash<QByteArray, CachedResponse> PostgresStore::cachedResponses(const QList<QByteArray> &keys)
{
    QHash<QByteArray, CachedResponse> found;
    if (keys.isEmpty())
        return found;
    // The keys go as one text of packed hex keys; rows come back with theirs.
    QHash<QByteArray, QByteArray> keyOfPacked;
    QByteArray packedKeys;
    for (const QByteArray &key : keys) {
        const QByteArray packed = packedKey(key).toHex();
        keyOfPacked.insert(packed, key);
        if (!packedKeys.isEmpty())
            packedKeys += ',';
        packedKeys += packed;
    }
    PostgresStatement &lookup = m_statements->cacheLookupMany;
    ResetGuard guard(lookup);
    lookup.bind(1, packedKeys);
    int rc;
    while ((rc = lookup.step()) == PostgresStatement::Row) {
        const QByteArray key = keyOfPacked.value(lookup.bytes(0));
        if (!key.isEmpty())
            found.insert(key, cachedFrom(lookup, 1, key));
    }
    if (rc != PostgresStatement::Done)
        failSql(u"response cache lookup failed: "_s + lookup.errorText());
    return found;
}

bool PostgresStore::storeCachedResponses(const QList<CachedResponse> &entries)
{
    if (entries.isEmpty())
        return true;
    // One statement for the lot, in their order: the first answer per key wins.
    QJsonArray rows;
    for (const CachedResponse &entry : entries) {
        rows.append(QJsonObject{{u"k"_s, QString::fromLatin1(packedKey(entry.key).toHex())},
                                {u"t"_s, entry.taskId},
                                {u"c"_s, entry.createdAtMs}});
    }
    PostgresStatement &insert = m_statements->cacheInsertMany;
    ResetGuard guard(insert);
    insert.bind(1, QJsonDocument(rows).toJson(QJsonDocument::Compact));
    if (insert.step() == PostgresStatement::Error)
        return failSql(u"cannot store responses in the cache: "_s + insert.errorText());
    return true;
}

qint64 PostgresStore::cachedResponseCount()
{
    QSqlQuery query(m_db);
    if (!query.exec(u"SELECT COUNT(*) FROM response_cache"_s) || !query.next()) {
        fail(query.lastError().text());
        return -1;
    }
    return query.value(0).toLongLong();
}

QList<CostLine> PostgresStore::costLines(qint64 jobId)
{
    QList<CostLine> lines;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    if (!run(query,
             u"SELECT COALESCE(t.model, ''), "
             "CASE WHEN t.cache_hit = 1 THEN 'response-cache' "
             "WHEN b.lane = 'batch-api' THEN 'batch-api' ELSE 'sync' END AS lane, "
             "COALESCE(to_char(to_timestamp(t.finished_at / 1000) AT TIME ZONE 'UTC', "
             "'YYYY-MM-DD'), '') AS day, "
             "COUNT(*), COUNT(*) - COUNT(t.cost_usd), COALESCE(SUM(t.input_tokens), 0), "
             "COALESCE(SUM(t.output_tokens), 0), COALESCE(SUM(t.cached_tokens), 0), "
             "COALESCE(SUM(t.cache_write_tokens), 0), "
             "COALESCE(SUM(t.cost_usd), 0), COALESCE(t.tier, ''), "
             "COALESCE(SUM(t.classify_input_tokens), 0), "
             "COALESCE(SUM(t.classify_output_tokens), 0), COALESCE(SUM(t.classify_cost_usd), 0) "
             "FROM tasks t "
             "LEFT JOIN provider_batches b ON b.id = t.batch_id "
             "WHERE t.job_id = ? AND t.state = 2 GROUP BY 1, 2, 3, 11 ORDER BY 1, 2, 3, 11"_s,
             {jobId}))
        return lines;
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

UsageCalibration PostgresStore::usageCalibration(const QString &templateText,
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
