#include "sqlitestoreprivate.h"

#include "core/jsonutil.h"

#include <QDate>
#include <QtEndian>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- cost: the response cache and the cost lines (alerts, settings, the spend ledger and
// calibration are in store/sql/sqlstorealerts.cpp)

namespace {

// The stored key: the first 128 bits of the hex SHA-256 (plenty to tell requests apart,
// and a small tree), decoded in place; per task, QByteArray::fromHex's two allocations
// showed in the drain's profile.
struct PackedKey
{
    unsigned char bytes[16] = {};
    int size = 0;
    bool operator<(const PackedKey &other) const
    {
        // BLOB order, as the primary key sorts them: bytes, then length. The runner's keys
        // (16 bytes) compare as two big-endian words: a group's sort of 50,000 keys called
        // memcmp about 800,000 times.
        if (size == 16 && other.size == 16) {
            const quint64 high = qFromBigEndian<quint64>(bytes);
            const quint64 otherHigh = qFromBigEndian<quint64>(other.bytes);
            if (high != otherHigh)
                return high < otherHigh;
            return qFromBigEndian<quint64>(bytes + 8) < qFromBigEndian<quint64>(other.bytes + 8);
        }
        const int common = std::min(size, other.size);
        const int order = std::memcmp(bytes, other.bytes, size_t(common));
        return order != 0 ? order < 0 : size < other.size;
    }
};

// Each byte's value as a hex digit, 0x10 for any other byte: one load a character, and a key
// is checked by OR-ing its 64 values (the branches of a digit-by-digit test were about 900
// instructions a key, a task's share of storeCachedResponses).
constexpr std::array<unsigned char, 256> kHexValues = [] {
    std::array<unsigned char, 256> values{};
    values.fill(0x10);
    for (int i = 0; i < 10; ++i)
        values['0' + i] = static_cast<unsigned char>(i);
    for (int i = 0; i < 6; ++i) {
        values['a' + i] = static_cast<unsigned char>(10 + i);
        values['A' + i] = static_cast<unsigned char>(10 + i);
    }
    return values;
}();

unsigned char hexValue(char c)
{
    return kHexValues[static_cast<unsigned char>(c)];
}

PackedKey packKey(const QByteArray &key)
{
    PackedKey packed;
    if (key.size() == 64) {
        unsigned char seen = 0;
        for (const char c : key)
            seen |= hexValue(c);
        if (seen < 0x10) {
            const char *hex = key.constData();
            for (int i = 0; i < 16; ++i)
                packed.bytes[i] = static_cast<unsigned char>(hexValue(hex[2 * i]) << 4 |
                                                             hexValue(hex[2 * i + 1]));
            packed.size = 16;
            return packed;
        }
    }
    // Anything else (never a key the runner makes) packs as it always did.
    const QByteArray decoded = QByteArray::fromHex(key).left(16);
    packed.size = int(decoded.size());
    std::memcpy(packed.bytes, decoded.constData(), size_t(packed.size));
    return packed;
}

} // namespace

bool SqliteStore::lookUpCached(const QByteArray &key, CachedResponse *entry)
{
    const PackedKey packed = packKey(key);
    return lookUpPacked(&packed, key, entry);
}

bool SqliteStore::lookUpPacked(const void *packedKey, const QByteArray &key, CachedResponse *entry)
{
    SqliteStatement &lookup = m_statements->cacheLookup;
    if (!lookup.get()
        && !lookup.prepare(m_handle, "SELECT t.output, t.model, t.input_tokens, t.output_tokens, "
                                     "t.cached_tokens, t.cache_write_tokens, c.created_at "
                                     "FROM response_cache c JOIN tasks t ON t.id = c.task_id "
                                     "WHERE c.key = ?1 AND t.state = 2")) {
        failSql(u"cannot prepare the response cache lookup"_s);
        return false;
    }
    ResetGuard guard(lookup);
    const auto &packed = *static_cast<const PackedKey *>(packedKey);
    sqlite3_bind_blob(lookup.get(), 1, packed.bytes, packed.size, SQLITE_TRANSIENT);
    const int rc = lookup.step();
    if (rc != SQLITE_ROW) {
        if (rc != SQLITE_DONE)
            failSql(u"response cache lookup failed"_s);
        return false;
    }
    entry->key = key;
    entry->output = lookup.text(0);
    entry->model = lookup.text(1);
    entry->usage.inputTokens = lookup.int64(2);
    entry->usage.outputTokens = lookup.int64(3);
    entry->usage.cachedTokens = lookup.int64(4);
    entry->usage.cacheWriteTokens = lookup.int64(5);
    entry->createdAtMs = lookup.int64(6);
    return true;
}

std::optional<CachedResponse> SqliteStore::cachedResponse(const QByteArray &key)
{
    CachedResponse entry;
    if (!lookUpCached(key, &entry))
        return std::nullopt;
    return entry;
}

QHash<QByteArray, CachedResponse> SqliteStore::cachedResponses(const QList<QByteArray> &keys)
{
    QHash<QByteArray, CachedResponse> found;
    if (keys.isEmpty())
        return found;
    // One read transaction for the lot: alone, each lookup began and ended its own (WAL
    // read lock, a look at the WAL index), two thirds of its time at 300,000 tasks.
    // In key order, each probe goes down next to the last one.
    std::vector<std::pair<PackedKey, const QByteArray *>> sorted;
    sorted.reserve(size_t(keys.size()));
    for (const QByteArray &key : keys)
        sorted.emplace_back(packKey(key), &key);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto &a, const auto &b) { return a.first < b.first; });
    const bool own = sqlite3_get_autocommit(m_handle) != 0 && exec(u"BEGIN"_s);
    for (const auto &[packed, key] : sorted) {
        CachedResponse entry;
        if (!found.contains(*key) && lookUpPacked(&packed, *key, &entry))
            found.insert(*key, entry);
    }
    if (own)
        exec(u"COMMIT"_s);
    return found;
}

bool SqliteStore::storeCachedResponses(const QList<CachedResponse> &entries)
{
    if (entries.isEmpty())
        return true;
    SqliteStatement &insert = m_statements->cacheInsert;
    if (!insert.get()
        && !insert.prepare(m_handle, "INSERT OR IGNORE INTO response_cache (key, task_id, "
                                     "created_at) VALUES (?1, ?2, ?3)"))
        return failSql(u"cannot prepare the response cache insert"_s);
    // In key order: random keys inserted as they come dirty pages all over the tree; sorted,
    // each page is reached once per group. Equal keys keep their order (the first wins).
    struct Row
    {
        PackedKey key;
        const CachedResponse *entry;
    };
    std::vector<Row> rows;
    rows.reserve(size_t(entries.size()));
    for (const CachedResponse &entry : entries)
        rows.push_back(Row{packKey(entry.key), &entry});
    std::stable_sort(rows.begin(), rows.end(),
                     [](const Row &a, const Row &b) { return a.key < b.key; });
    if (!exec(u"BEGIN IMMEDIATE"_s))
        return false;
    for (const Row &row : rows) {
        ResetGuard guard(insert);
        sqlite3_bind_blob(insert.get(), 1, row.key.bytes, row.key.size, SQLITE_TRANSIENT);
        insert.bind(2, row.entry->taskId);
        insert.bind(3, row.entry->createdAtMs);
        if (insert.step() != SQLITE_DONE) {
            failSql(u"cannot store a response in the cache"_s);
            exec(u"ROLLBACK"_s);
            return false;
        }
    }
    return exec(u"COMMIT"_s);
}

QList<CostLine> SqliteStore::costLines(qint64 jobId)
{
    QList<CostLine> lines;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    // The job's lines as triggers on tasks keep them (migration 14): a few rows, however
    // many tasks the job has. The line with lane '' is not one (classifier spend of tasks
    // not completed, in the job's total only).
    query.prepare(u"SELECT model, lane, day, tasks, unpriced, input_tokens, output_tokens, "
                  "cached_tokens, cache_write_tokens, cost_usd, tier, classify_input_tokens, "
                  "classify_output_tokens, classify_cost_usd FROM job_cost_lines "
                  "WHERE job_id = ? AND lane <> '' ORDER BY model, lane, day, tier"_s);
    query.addBindValue(jobId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return lines;
    }
    while (query.next()) {
        CostLine line;
        line.model = query.value(0).toString();
        line.lane = query.value(1).toString();
        const qint64 day = query.value(2).toLongLong(); // UTC days since the epoch
        line.day = day >= 0 ? QDate(1970, 1, 1).addDays(day).toString(u"yyyy-MM-dd"_s) : QString();
        line.tasks = query.value(3).toLongLong();
        line.unpricedTasks = query.value(4).toLongLong();
        line.usage.inputTokens = query.value(5).toLongLong();
        line.usage.outputTokens = query.value(6).toLongLong();
        line.usage.cachedTokens = query.value(7).toLongLong();
        line.usage.cacheWriteTokens = query.value(8).toLongLong();
        line.costUsd = query.value(9).toDouble();
        line.tier = query.value(10).toString();
        line.classifyUsage.inputTokens = query.value(11).toLongLong();
        line.classifyUsage.outputTokens = query.value(12).toLongLong();
        line.classifyCostUsd = query.value(13).toDouble();
        lines.append(line);
    }
    if (query.lastError().isValid())
        fail(query.lastError().text());
    return lines;
}

} // namespace bd::store
