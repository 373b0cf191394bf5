#include "sqlstore.h"

#include "sqlstatement.h"

#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- dead tasks, attempts, replay and template revisions (counts, totals and the export walk
// are the backends' own)

QList<DeadTask> SqlStore::deadTasks(qint64 jobId, int limit, qint64 afterTaskId)
{
    QList<DeadTask> result;
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    query.prepare(u"SELECT id, job_id, row_no, attempts, error_class, error_message, finished_at "
                  "FROM tasks WHERE state = 3"_s
                  + activeStatesHint(m_dialect)
                  + u" AND (? = 0 OR job_id = ?) AND id > ? ORDER BY id LIMIT ?"_s);
    query.addBindValue(jobId);
    query.addBindValue(jobId);
    query.addBindValue(afterTaskId);
    query.addBindValue(limit);
    if (!query.exec()) {
        fail(query.lastError().text());
        return result;
    }
    while (query.next()) {
        DeadTask task;
        task.id = query.value(0).toLongLong();
        task.jobId = query.value(1).toLongLong();
        task.rowNumber = query.value(2).toLongLong();
        task.attempts = query.value(3).toInt();
        task.errorClass = query.value(4).toString();
        task.errorMessage = query.value(5).toString();
        task.updatedAt = QDateTime::fromMSecsSinceEpoch(query.value(6).toLongLong());
        result.append(task);
    }
    if (query.lastError().isValid())
        fail(query.lastError().text());
    return result;
}

QList<AttemptRecord> SqlStore::attempts(qint64 taskId)
{
    QList<AttemptRecord> result;
    QSqlQuery query(m_db);
    query.prepare(u"SELECT attempt_no, at, outcome, http_status, message FROM attempts "
                  "WHERE task_id = ? ORDER BY id"_s);
    query.addBindValue(taskId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return result;
    }
    while (query.next()) {
        AttemptRecord record;
        record.taskId = taskId;
        record.attemptNo = query.value(0).toInt();
        record.at = QDateTime::fromMSecsSinceEpoch(query.value(1).toLongLong());
        record.outcome = query.value(2).toString();
        record.httpStatus = query.value(3).toInt();
        record.message = query.value(4).toString();
        result.append(record);
    }
    if (query.lastError().isValid())
        fail(query.lastError().text());
    return result;
}

int SqlStore::replayDead(qint64 jobId, const QList<qint64> &taskIds, qint64 nowMs)
{
    return replayDead(jobId, taskIds, nowMs, QString(), -1);
}

int SqlStore::replayDead(qint64 jobId, const QList<qint64> &taskIds, qint64 nowMs,
                            const QString &errorClass, int templateRevision)
{
    // One statement for both selections: every dead task of the job (or of all jobs), or
    // the given ids; either narrowed to an error class.
    const QString sql =
        u"UPDATE tasks SET state = 0, attempts = 0, provider_cancels = 0, not_before = ?, "
        "finished_at = NULL, error_class = NULL, error_message = NULL, http_status = NULL, "
        "template_rev = CASE WHEN ? < 0 THEN template_rev ELSE ? END "
        "WHERE state = 3 AND (? = 0 OR job_id = ?) AND (? = '' OR error_class = ?)"_s
        + (taskIds.isEmpty() ? QString() : u" AND id = ?"_s);
    QSqlQuery query(m_db);
    query.prepare(sql);
    const auto bindCommon = [&] {
        query.addBindValue(nowMs);
        query.addBindValue(templateRevision);
        query.addBindValue(templateRevision);
        query.addBindValue(jobId);
        query.addBindValue(jobId);
        query.addBindValue(errorClass.isNull() ? u""_s : errorClass);
        query.addBindValue(errorClass.isNull() ? u""_s : errorClass);
    };
    if (taskIds.isEmpty()) {
        bindCommon();
        if (!query.exec()) {
            fail(query.lastError().text());
            return -1;
        }
        return query.numRowsAffected();
    }
    if (!m_db.transaction()) {
        fail(m_db.lastError().text());
        return -1;
    }
    int changed = 0;
    for (qint64 id : taskIds) {
        bindCommon();
        query.addBindValue(id);
        if (!query.exec()) {
            fail(query.lastError().text());
            m_db.rollback();
            return -1;
        }
        changed += query.numRowsAffected();
    }
    if (!m_db.commit()) {
        fail(m_db.lastError().text());
        return -1;
    }
    return changed;
}

int SqlStore::addTemplateRevision(qint64 jobId, const QString &templateText,
                                     const QString &systemPrompt, qint64 nowMs)
{
    QSqlQuery query(m_db);
    query.prepare(u"INSERT INTO job_templates (job_id, revision, template, system_prompt, created_at) "
                  "SELECT CAST(? AS bigint), COALESCE(MAX(revision), 0) + 1, CAST(? AS text), "
                  "CAST(? AS text), CAST(? AS bigint) FROM job_templates "
                  "WHERE job_id = ? RETURNING revision"_s);
    query.addBindValue(jobId);
    query.addBindValue(text(templateText));
    query.addBindValue(text(systemPrompt));
    query.addBindValue(nowMs);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next()) {
        fail(u"cannot store a template revision of job %1: %2"_s.arg(jobId).arg(query.lastError().text()));
        return -1;
    }
    const int revision = query.value(0).toInt();
    query.finish();
    return revision;
}

std::optional<std::pair<QString, QString>> SqlStore::templateRevision(qint64 jobId, int revision)
{
    QSqlQuery query(m_db);
    if (revision == 0)
        query.prepare(u"SELECT template, system_prompt FROM jobs WHERE id = ?"_s);
    else
        query.prepare(u"SELECT template, system_prompt FROM job_templates WHERE job_id = ? AND revision = ?"_s);
    query.addBindValue(jobId);
    if (revision != 0)
        query.addBindValue(revision);
    if (!query.exec() || !query.next()) {
        fail(u"job %1 has no template revision %2"_s.arg(jobId).arg(revision));
        return std::nullopt;
    }
    return std::pair{query.value(0).toString(), query.value(1).toString()};
}

} // namespace bd::store
