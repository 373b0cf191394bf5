#include "sqltaskactions.h"

#include "store/jobcontrolsql.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

using namespace Qt::StringLiterals;

SqlTaskActions::SqlTaskActions(QSqlDatabase db, SqlDialect dialect,
                               std::shared_ptr<void> keepAlive)
    : m_db(std::move(db))
    , m_dialect(dialect)
    , m_keepAlive(std::move(keepAlive))
{
}

int SqlTaskActions::reprioritiseJob(qint64 jobId, int priority, const QString &mode, qint64 nowMs)
{
    QSqlDatabase &db = m_db;
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

int SqlTaskActions::cancelPending(qint64 jobId, qint64 nowMs)
{
    QSqlDatabase &db = m_db;
    if (!db.isOpen()) {
        m_error = u"the database is not open"_s;
        return -1;
    }
    QSqlQuery query(db);
    // SQLite: the pending tasks through tasks_claim (its planner would rather walk the whole
    // job in tasks_job).
    const QString claimIndex = claimIndexHint(m_dialect);
    query.prepare(
        u"UPDATE tasks%1 SET state = 4, finished_at = ? WHERE job_id = ? AND state = 0"_s.arg(
            claimIndex));
    query.addBindValue(nowMs);
    query.addBindValue(jobId);
    if (!query.exec()) {
        m_error = query.lastError().text();
        return -1;
    }
    return query.numRowsAffected();
}

int SqlTaskActions::updateIds(const QString &sql, const QList<qint64> &taskIds,
                              const QVariantList &leading)
{
    QSqlDatabase &db = m_db;
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

int SqlTaskActions::reprioritiseTasks(const QList<qint64> &taskIds, int priority)
{
    return updateIds(u"UPDATE tasks SET priority = ? WHERE id = ? AND state IN (0, 1)"_s, taskIds,
                     {priority});
}

int SqlTaskActions::cancelTasks(const QList<qint64> &taskIds, qint64 nowMs)
{
    return updateIds(u"UPDATE tasks SET state = 4, finished_at = ? WHERE id = ? AND state = 0"_s,
                     taskIds, {nowMs});
}

qint64 SqlTaskActions::recordControl(const JobControl &control)
{
    return jobcontrolsql::record(m_db, control, &m_error);
}

QList<JobControl> SqlTaskActions::controlsAfter(qint64 afterId)
{
    return jobcontrolsql::after(m_db, afterId, &m_error);
}

qint64 SqlTaskActions::lastControlId()
{
    return jobcontrolsql::lastId(m_db, &m_error);
}

} // namespace bd::store
