#include "sqlcharges.h"

#include <QSqlError>
#include <QSqlQuery>

namespace bd::store::sqlcharges {

using namespace Qt::StringLiterals;

namespace {

constexpr qint64 kDayMs = 86'400'000;

bool failed(QSqlDatabase &db, const QSqlQuery &query, const QString &what, QString *error)
{
    *error = u"%1: %2"_s.arg(what, query.lastError().text());
    QSqlQuery(db).exec(u"ROLLBACK"_s);
    return false;
}

} // namespace

bool record(QSqlDatabase &db, bool postgres, qint64 jobId, const JobCharge &charge, qint64 nowMs,
            double *deltaUsd, QString *error)
{
    if (deltaUsd)
        *deltaUsd = 0.0;
    QSqlQuery query(db);
    if (!query.exec(postgres ? u"BEGIN"_s : u"BEGIN IMMEDIATE"_s)) {
        *error = u"cannot record a charge: "_s + query.lastError().text();
        return false;
    }
    query.prepare(postgres
                      ? u"SELECT usd, created_at FROM job_charges WHERE job_id = ? AND key = ? "
                        "FOR UPDATE"_s
                      : u"SELECT usd, created_at FROM job_charges WHERE job_id = ? AND key = ?"_s);
    query.addBindValue(jobId);
    query.addBindValue(charge.key);
    if (!query.exec())
        return failed(db, query, u"cannot read a charge"_s, error);
    const bool known = query.next();
    const double before = known ? query.value(0).toDouble() : 0.0;
    const qint64 since = known ? query.value(1).toLongLong() : nowMs;
    query.finish();
    if (known) {
        query.prepare(u"UPDATE job_charges SET usd = ?, detail = ?, updated_at = ? "
                      "WHERE job_id = ? AND key = ?"_s);
        query.addBindValue(charge.usd);
        query.addBindValue(charge.detail);
        query.addBindValue(nowMs);
        query.addBindValue(jobId);
        query.addBindValue(charge.key);
    } else {
        query.prepare(
            u"INSERT INTO job_charges (job_id, key, kind, model, usd, detail, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"_s);
        query.addBindValue(jobId);
        query.addBindValue(charge.key);
        query.addBindValue(charge.kind);
        query.addBindValue(charge.model);
        query.addBindValue(charge.usd);
        query.addBindValue(charge.detail);
        query.addBindValue(nowMs);
        query.addBindValue(nowMs);
    }
    if (!query.exec())
        return failed(db, query, u"cannot record a charge"_s, error);
    const double delta = charge.usd - before;
    if (delta != 0.0) {
        // The ledger keeps the charge on the day it was first recorded.
        query.prepare(u"INSERT INTO spend_days (day, usd) VALUES (?, ?) "
                      "ON CONFLICT (day) DO UPDATE SET usd = spend_days.usd + excluded.usd"_s);
        query.addBindValue(since / kDayMs);
        query.addBindValue(delta);
        if (!query.exec())
            return failed(db, query, u"cannot record the spend of a charge"_s, error);
    }
    if (!query.exec(u"COMMIT"_s))
        return failed(db, query, u"cannot commit a charge"_s, error);
    if (deltaUsd)
        *deltaUsd = delta;
    return true;
}

QList<JobCharge> list(QSqlDatabase &db, qint64 jobId, QString *error)
{
    QList<JobCharge> charges;
    QSqlQuery query(db);
    query.prepare(u"SELECT key, kind, model, usd, detail, created_at, updated_at FROM job_charges "
                  "WHERE job_id = ? ORDER BY id"_s);
    query.addBindValue(jobId);
    if (!query.exec()) {
        *error = u"cannot read the job's charges: "_s + query.lastError().text();
        return charges;
    }
    while (query.next()) {
        JobCharge charge;
        charge.key = query.value(0).toString();
        charge.kind = query.value(1).toString();
        charge.model = query.value(2).toString();
        charge.usd = query.value(3).toDouble();
        charge.detail = query.value(4).toString();
        charge.createdAtMs = query.value(5).toLongLong();
        charge.updatedAtMs = query.value(6).toLongLong();
        charges.append(charge);
    }
    return charges;
}

double total(QSqlDatabase &db, qint64 jobId, QString *error)
{
    QSqlQuery query(db);
    query.prepare(u"SELECT COALESCE(SUM(usd), 0) FROM job_charges WHERE job_id = ?"_s);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next()) {
        *error = u"cannot sum the job's charges: "_s + query.lastError().text();
        return 0.0;
    }
    return query.value(0).toDouble();
}

} // namespace bd::store::sqlcharges
