#include "sqlmetricsstore.h"

#include "core/clock.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

namespace bd::store {

using namespace bd::metrics;

using namespace Qt::StringLiterals;

namespace {

qint64 alignDown(qint64 t, qint64 step)
{
    qint64 q = t / step;
    if (t % step < 0)
        --q;
    return q * step;
}

} // namespace

SqlMetricsStore::SqlMetricsStore(QSqlDatabase db, SqlDialect dialect,
                                 std::shared_ptr<void> keepAlive, const Clock *clock,
                                 const MetricsRecorder::Options &options)
    : m_keepAlive(std::move(keepAlive))
    , m_db(std::move(db))
    , m_dialect(dialect)
    , m_clock(clock)
    , m_options(options.normalized())
{
}

bool SqlMetricsStore::fail(const QString &what)
{
    m_error = what;
    return false;
}

bool SqlMetricsStore::run(QSqlQuery &query, const QString &sql, const QVariantList &values)
{
    bool ok = query.prepare(sql);
    for (const QVariant &value : values)
        query.addBindValue(value);
    return (ok && query.exec()) || fail(query.lastError().text());
}

qint64 SqlMetricsStore::seriesId(const QString &metric, const QString &labels, bool create)
{
    const std::pair<QString, QString> key{metric, labels};
    if (const auto it = m_seriesIds.constFind(key); it != m_seriesIds.cend())
        return it.value();
    QSqlDatabase &db = this->db();
    QSqlQuery query(db);
    if (create) {
        query.prepare(
            u"INSERT INTO metric_series (metric, labels, kind) VALUES (?, ?, ?) "
            "ON CONFLICT (metric, labels) DO UPDATE SET kind = excluded.kind RETURNING id"_s);
        query.addBindValue(metric);
        query.addBindValue(labels.isNull() ? u""_s : labels);
        query.addBindValue(int(metricKind(metric)));
    } else {
        query.prepare(u"SELECT id FROM metric_series WHERE metric = ? AND labels = ?"_s);
        query.addBindValue(metric);
        query.addBindValue(labels.isNull() ? u""_s : labels);
    }
    if (!query.exec()) {
        fail(query.lastError().text());
        return -1;
    }
    if (!query.next())
        return 0;
    const qint64 id = query.value(0).toLongLong();
    m_seriesIds.insert(key, id);
    return id;
}

bool SqlMetricsStore::writeSamples(const QList<MetricSample> &samples)
{
    if (samples.isEmpty())
        return true;
    QSqlDatabase &db = this->db();
    if (!db.isOpen())
        return fail(u"metrics: the database is not open"_s);
    if (!db.transaction())
        return fail(db.lastError().text());
    {
        // Merge rules per kind (see MetricsSink::writeSamples). In the DO UPDATE clause s.* is
        // the stored row, excluded.* the new one. SQLite's two-argument MIN/MAX are
        // PostgreSQL's LEAST/GREATEST, and PostgreSQL needs the kind's type said.
        const bool sqlite = m_dialect == SqlDialect::Sqlite;
        const QString least = sqlite ? u"MIN"_s : u"LEAST"_s;
        const QString greatest = sqlite ? u"MAX"_s : u"GREATEST"_s;
        QSqlQuery insert(db);
        const bool prepared = insert.prepare(
            u"INSERT INTO metric_samples AS s (series_id, resolution_ms, at_ms, value, n, total, "
            "lo, hi) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (series_id, resolution_ms, at_ms) DO UPDATE SET "
            "n = s.n + excluded.n, total = s.total + excluded.total, "
            "lo = %1(s.lo, excluded.lo), hi = %2(s.hi, excluded.hi), "
            "value = CASE %3 "
            "  WHEN 0 THEN (s.total + excluded.total) * 1000.0 / s.resolution_ms "
            "  WHEN 3 THEN %2(s.value, excluded.value) "
            "  ELSE CASE WHEN s.n + excluded.n > 0 "
            "            THEN (s.total + excluded.total) / (s.n + excluded.n) "
            "            ELSE excluded.value END END"_s.arg(least, greatest,
                                                            sqlite ? u"?"_s : u"?::integer"_s));
        if (!prepared) {
            const QString error = insert.lastError().text();
            db.rollback();
            return fail(error);
        }
        for (const MetricSample &sample : samples) {
            const qint64 id = seriesId(sample.metric, sample.labels, true);
            if (id <= 0) {
                db.rollback();
                m_seriesIds.clear(); // ids made in the rolled-back transaction are gone
                return false;
            }
            insert.bindValue(0, id);
            insert.bindValue(1, sample.resolutionMs);
            insert.bindValue(2, sample.atMs);
            insert.bindValue(3, sample.value);
            insert.bindValue(4, sample.count);
            insert.bindValue(5, sample.sum);
            insert.bindValue(6, sample.min);
            insert.bindValue(7, sample.max);
            insert.bindValue(8, int(metricKind(sample.metric)));
            if (!insert.exec()) {
                const QString error = insert.lastError().text();
                db.rollback();
                m_seriesIds.clear();
                return fail(error);
            }
        }
    }
    if (!db.commit()) {
        const QString error = db.lastError().text();
        db.rollback();
        m_seriesIds.clear();
        return fail(error);
    }
    return true;
}

bool SqlMetricsStore::prune(qint64 resolutionMs, qint64 beforeMs)
{
    QSqlDatabase &db = this->db();
    if (!db.isOpen()) // the session ended (PostgreSQL away): no query, and no Qt warning
        return fail(u"metrics: the database is not open"_s);
    QSqlQuery query(db);
    query.prepare(u"DELETE FROM metric_samples WHERE resolution_ms = ? AND at_ms < ?"_s);
    query.addBindValue(resolutionMs);
    query.addBindValue(beforeMs);
    return query.exec() || fail(query.lastError().text());
}

SeriesData SqlMetricsStore::series(const QString &metric, const QString &labels, qint64 fromMs,
                                   qint64 toMs, int maxPoints)
{
    SeriesData data;
    data.metric = metric;
    data.labels = labels;
    data.kind = metricKind(metric);
    maxPoints = qMax(1, maxPoints);
    if (toMs <= fromMs)
        return data;

    // Finest resolution that still holds fromMs and is not too many rows; else the rollups.
    const qint64 now = m_clock->nowMs();
    const qint64 span = toMs - fromMs;
    qint64 resolution = m_options.rollupMs;
    if (fromMs >= now - m_options.fineRetentionMs && span / m_options.intervalMs <= kMaxRowsRead)
        resolution = m_options.intervalMs;
    data.resolutionMs = resolution;
    const qint64 perPoint = (span + maxPoints - 1) / maxPoints;
    data.bucketMs = qMax(resolution, (perPoint + resolution - 1) / resolution * resolution);

    const qint64 id = seriesId(metric, labels, false);
    if (id <= 0)
        return data;
    const qint64 origin = alignDown(fromMs, resolution);
    QSqlQuery query(db());
    if (!run(query,
             u"SELECT (at_ms - ?) / ? AS b, AVG(value), SUM(n), SUM(total), MIN(lo), MAX(hi), "
             "MAX(value) FROM metric_samples WHERE series_id = ? AND resolution_ms = ? "
             "AND at_ms >= ? AND at_ms < ? GROUP BY b ORDER BY b"_s,
             {origin, data.bucketMs, id, resolution, origin, toMs}))
        return data;
    while (query.next()) {
        MetricPoint point;
        point.atMs = origin + query.value(0).toLongLong() * data.bucketMs;
        point.count = query.value(2).toLongLong();
        const double total = query.value(3).toDouble();
        switch (data.kind) {
        case MetricKind::Counter:
            point.value = query.value(1).toDouble();
            break;
        case MetricKind::Gauge:
        case MetricKind::Ratio:
            point.value = point.count > 0 ? total / double(point.count) : query.value(1).toDouble();
            break;
        case MetricKind::Quantile:
            point.value = query.value(6).toDouble();
            break;
        }
        point.min = query.value(4).toDouble();
        point.max = query.value(5).toDouble();
        data.points.append(point);
    }
    return data;
}

QStringList SqlMetricsStore::labelSets(const QString &metric)
{
    QStringList result;
    QSqlQuery query(db());
    if (!run(query, u"SELECT labels FROM metric_series WHERE metric = ? ORDER BY labels"_s,
             {metric}))
        return result;
    while (query.next())
        result.append(query.value(0).toString());
    return result;
}

QList<MetricSample> SqlMetricsStore::samples(const QStringList &metrics, qint64 resolutionMs,
                                             qint64 fromMs, qint64 toMs)
{
    QList<MetricSample> result;
    if (metrics.isEmpty())
        return result;
    QString placeholders;
    for (qsizetype i = 0; i < metrics.size(); ++i)
        placeholders += i ? u", ?"_s : u"?"_s;
    QSqlQuery query(db());
    query.prepare(u"SELECT s.metric, s.labels, m.at_ms, m.value, m.n, m.total, m.lo, m.hi "
                  "FROM metric_samples m JOIN metric_series s ON s.id = m.series_id "
                  "WHERE m.resolution_ms = ? AND m.at_ms >= ? AND m.at_ms < ? AND s.metric IN ("_s +
                  placeholders + u") ORDER BY m.at_ms, s.metric, s.labels"_s);
    query.addBindValue(resolutionMs);
    query.addBindValue(fromMs);
    query.addBindValue(toMs);
    for (const QString &metric : metrics)
        query.addBindValue(metric);
    if (!query.exec()) {
        fail(query.lastError().text());
        return result;
    }
    while (query.next()) {
        MetricSample sample;
        sample.metric = query.value(0).toString();
        sample.labels = query.value(1).toString();
        sample.atMs = query.value(2).toLongLong();
        sample.resolutionMs = resolutionMs;
        sample.value = query.value(3).toDouble();
        sample.count = query.value(4).toLongLong();
        sample.sum = query.value(5).toDouble();
        sample.min = query.value(6).toDouble();
        sample.max = query.value(7).toDouble();
        result.append(sample);
    }
    return result;
}

qint64 SqlMetricsStore::sampleCount(qint64 resolutionMs, const QString &metric)
{
    QSqlQuery query(db());
    if (metric.isEmpty()) {
        query.prepare(u"SELECT COUNT(*) FROM metric_samples WHERE resolution_ms = ?"_s);
        query.addBindValue(resolutionMs);
    } else {
        query.prepare(u"SELECT COUNT(*) FROM metric_samples m JOIN metric_series s "
                      "ON s.id = m.series_id WHERE m.resolution_ms = ? AND s.metric = ?"_s);
        query.addBindValue(resolutionMs);
        query.addBindValue(metric);
    }
    if (!query.exec() || !query.next()) {
        fail(query.lastError().text());
        return -1;
    }
    return query.value(0).toLongLong();
}

} // namespace bd::store
