#include "sqlstore.h"

#include "sqlcharges.h"
#include "sqlstatement.h"

#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- alerts, settings, the spend ledger and the cost figures both read alike (the response
// cache and the cost lines are the backends' own)

namespace {

// The figures of an alert as it is cleared: the raised ones stay, the ones at clearing (the
// one parameter) go under "cleared". Each dialect has its own JSON functions.
QString figuresWithCleared(SqlDialect dialect)
{
    return dialect == SqlDialect::Sqlite
               ? u"json_set(IFNULL(json(figures), '{}'), '$.cleared', json(?))"_s
               : u"(COALESCE(NULLIF(figures, '')::jsonb, '{}'::jsonb) "
                 "|| jsonb_build_object('cleared', ?::jsonb))::text"_s;
}

} // namespace

qint64 SqlStore::raiseAlert(qint64 jobId, const QString &kind, const QString &message,
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
                  "AND COALESCE(job_id, 0) = CAST(? AS bigint) AND cleared_at IS NULL RETURNING id"_s);
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

bool SqlStore::clearAlerts(qint64 jobId, const QString &kind, qint64 nowMs,
                              const QJsonObject &figures, int *cleared)
{
    if (cleared)
        *cleared = 0;
    QSqlQuery query(m_db);
    // The raised figures stay; the ones at clearing go under "cleared".
    query.prepare(u"UPDATE alerts SET cleared_at = ?, figures = CASE WHEN CAST(? AS text) = '{}' "
                  "THEN figures ELSE %1 END WHERE cleared_at IS NULL "
                  "AND COALESCE(job_id, 0) = CAST(? AS bigint) AND (? = '' OR kind = ?)"_s.arg(
                      figuresWithCleared(m_dialect)));
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

QList<AlertRecord> SqlStore::alerts(bool includeCleared)
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
    if (query.lastError().isValid())
        fail(query.lastError().text());
    return result;
}

// --- settings and the spend ledger

std::optional<QString> SqlStore::setting(const QString &key)
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

bool SqlStore::setSetting(const QString &key, const QString &value)
{
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO settings (key, value) VALUES (?, ?) "
                  "ON CONFLICT (key) DO UPDATE SET value = excluded.value"_s);
    query.addBindValue(key);
    query.addBindValue(value);
    return query.exec() || fail(query.lastError().text());
}

double SqlStore::spendSince(qint64 fromMs)
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

bool SqlStore::recordJobCharge(qint64 jobId, const JobCharge &charge, qint64 nowMs,
                              double *deltaUsd)
{
    QString error;
    return sqlcharges::record(m_db, m_dialect == SqlDialect::Postgres, jobId, charge, nowMs,
                              deltaUsd, &error)
           || fail(error);
}

QList<JobCharge> SqlStore::jobCharges(qint64 jobId)
{
    QString error;
    const QList<JobCharge> charges = sqlcharges::list(m_db, jobId, &error);
    if (!error.isEmpty())
        fail(error);
    return charges;
}

qint64 SqlStore::cachedResponseCount()
{
    QSqlQuery query(m_db);
    if (!query.exec(u"SELECT COUNT(*) FROM response_cache"_s) || !query.next()) {
        fail(query.lastError().text());
        return -1;
    }
    return query.value(0).toLongLong();
}

UsageCalibration SqlStore::usageCalibration(const QString &templateText,
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
