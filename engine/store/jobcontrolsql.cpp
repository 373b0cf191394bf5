#include "jobcontrolsql.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store::jobcontrolsql {

using namespace Qt::StringLiterals;

qint64 record(QSqlDatabase &db, const JobControl &control, QString *error)
{
    QSqlQuery query(db);
    query.prepare(
        u"INSERT INTO job_controls (job_id, action, argument, detail, issuer, requested_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id"_s);
    query.addBindValue(control.jobId);
    query.addBindValue(int(control.action));
    query.addBindValue(control.argument);
    query.addBindValue(control.detail.isNull() ? u""_s : control.detail);
    query.addBindValue(control.issuer);
    query.addBindValue(control.atMs);
    if (!query.exec() || !query.next()) {
        *error = query.lastError().text();
        return 0;
    }
    const qint64 id = query.value(0).toLongLong();
    query.finish();
    query.prepare(u"DELETE FROM job_controls WHERE requested_at < ?"_s);
    query.addBindValue(control.atMs - JobControl::kRetentionMs);
    if (!query.exec())
        qWarning("job controls not pruned: %s", qPrintable(query.lastError().text()));
    return id;
}

QList<JobControl> after(QSqlDatabase &db, qint64 afterId, QString *error)
{
    QList<JobControl> controls;
    QSqlQuery query(db);
    query.prepare(
        u"SELECT id, job_id, action, argument, detail, issuer, requested_at FROM job_controls "
        "WHERE id > ? ORDER BY id"_s);
    query.addBindValue(afterId);
    if (!query.exec()) {
        *error = query.lastError().text();
        return controls;
    }
    while (query.next()) {
        JobControl control;
        control.id = query.value(0).toLongLong();
        control.jobId = query.value(1).toLongLong();
        control.action = JobControl::Action(query.value(2).toInt());
        control.argument = query.value(3).toInt();
        control.detail = query.value(4).toString();
        control.issuer = query.value(5).toString();
        control.atMs = query.value(6).toLongLong();
        controls.append(control);
    }
    return controls;
}

qint64 lastId(QSqlDatabase &db, QString *error)
{
    QSqlQuery query(db);
    if (!query.exec(u"SELECT COALESCE(MAX(id), 0) FROM job_controls"_s) || !query.next()) {
        *error = query.lastError().text();
        return -1;
    }
    return query.value(0).toLongLong();
}

} // namespace bd::store::jobcontrolsql
