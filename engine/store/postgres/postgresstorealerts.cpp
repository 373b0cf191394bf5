#include "postgresstoreprivate.h"

#include "core/jsonutil.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- cost: the response cache and the cost lines (alerts, settings, the spend ledger and
// calibration are in store/sql/sqlstorealerts.cpp)

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

} // namespace bd::store
