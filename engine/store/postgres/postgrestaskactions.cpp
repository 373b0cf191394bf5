#include "postgrestaskactions.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

using namespace Qt::StringLiterals;

PostgresTaskActions::PostgresTaskActions(std::shared_ptr<PostgresConnection> connection)
    : m_connection(std::move(connection))
{
}

int PostgresTaskActions::reprioritiseJob(qint64 jobId, int priority, const QString &mode,
                                         qint64 nowMs)
{
    QSqlDatabase &db = m_connection->db();
    if (!db.isOpen() || !db.transaction()) {
        m_error = u"the database is not open"_s;
        return -1;
    }
    QSqlQuery query(db);
    query.prepare(u"UPDATE tasks SET priority = ? WHERE job_id = ? AND state IN (0, 1)"_s);
    query.addBindValue(priority);
    query.addBindValue(jobId);
    if (!query.exec()) {
        m_error = query.lastError().text();
        db.rollback();
        return -1;
    }
    const int changed = query.numRowsAffected();
    query.prepare(u"UPDATE jobs SET priority = ?, mode = ?, updated_at = ? WHERE id = ?"_s);
    query.addBindValue(priority);
    query.addBindValue(mode);
    query.addBindValue(nowMs);
    query.addBindValue(jobId);
    if (!query.exec() || !db.commit()) {
        m_error = query.lastError().text();
        db.rollback();
        return -1;
    }
    return changed;
}

int PostgresTaskActions::cancelPending(qint64 jobId, qint64 nowMs)
{
    QSqlDatabase &db = m_connection->db();
    if (!db.isOpen()) {
        m_error = u"the database is not open"_s;
        return -1;
    }
    QSqlQuery query(db);
    query.prepare(u"UPDATE tasks SET state = 4, finished_at = ? WHERE job_id = ? AND state = 0"_s);
    query.addBindValue(nowMs);
    query.addBindValue(jobId);
    if (!query.exec()) {
        m_error = query.lastError().text();
        return -1;
    }
    return query.numRowsAffected();
}

int PostgresTaskActions::updateIds(const QString &sql, const QList<qint64> &taskIds,
                           const QVariantList &leading)
{
    QSqlDatabase &db = m_connection->db();
    if (!db.isOpen() || !db.transaction()) {
        m_error = u"the database is not open"_s;
        return -1;
    }
    QSqlQuery query(db);
    query.prepare(sql);
    int changed = 0;
    for (qint64 id : taskIds) {
        for (const QVariant &value : leading)
            query.addBindValue(value);
        query.addBindValue(id);
        if (!query.exec()) {
            m_error = query.lastError().text();
            db.rollback();
            return -1;
        }
        changed += query.numRowsAffected();
    }
    if (!db.commit()) {
        m_error = db.lastError().text();
        return -1;
    }
    return changed;
}

int PostgresTaskActions::reprioritiseTasks(const QList<qint64> &taskIds, int priority)
{
    return updateIds(u"UPDATE tasks SET priority = ? WHERE id = ? AND state IN (0, 1)"_s, taskIds,
                     {priority});
}

int PostgresTaskActions::cancelTasks(const QList<qint64> &taskIds, qint64 nowMs)
{
    return updateIds(u"UPDATE tasks SET state = 4, finished_at = ? WHERE id = ? AND state = 0"_s,
                     taskIds, {nowMs});
}

qint64 PostgresTaskActions::recordControl(const JobControl &control)
{
    QSqlDatabase &db = m_connection->db();
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
        m_error = query.lastError().text();
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

QList<JobControl> PostgresTaskActions::controlsAfter(qint64 afterId)
{
    QList<JobControl> controls;
    QSqlQuery query(m_connection->db());
    query.prepare(
        u"SELECT id, job_id, action, argument, detail, issuer, requested_at FROM job_controls "
        "WHERE id > ? ORDER BY id"_s);
    query.addBindValue(afterId);
    if (!query.exec()) {
        m_error = query.lastError().text();
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

qint64 PostgresTaskActions::lastControlId()
{
    QSqlQuery query(m_connection->db());
    if (!query.exec(u"SELECT COALESCE(MAX(id), 0) FROM job_controls"_s) || !query.next()) {
        m_error = query.lastError().text();
        return -1;
    }
    return query.value(0).toLongLong();
}

} // namespace bd::store
