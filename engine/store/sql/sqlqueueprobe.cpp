#include "sqlqueueprobe.h"

#include <QSqlError>
#include <QSqlQuery>

namespace bd::store {

using namespace Qt::StringLiterals;

SqlQueueProbe::SqlQueueProbe(QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> keepAlive)
    : m_db(std::move(db))
    , m_dialect(dialect)
    , m_keepAlive(std::move(keepAlive))
{
}

QString SqlQueueProbe::statement(SqlDialect dialect)
{
    // Since when the longest-waiting task has waited: it became pending then (created, or
    // back from a retry, a hand-back or a replay), on the tasks_waiting index.
    const QString since = dialect == SqlDialect::Sqlite ? u"MAX(created_at, not_before)"_s
                                                        : u"GREATEST(created_at, not_before)"_s;
    return u"SELECT %1 FROM tasks WHERE job_id = ? AND state = 0 AND priority = ? ORDER BY %1 "
           "LIMIT 1"_s.arg(since);
}

QMap<int, qint64> SqlQueueProbe::oldestPendingSince(qint64 jobId, const QList<int> &priorities)
{
    QMap<int, qint64> result;
    QSqlQuery query(m_db);
    if (!query.prepare(statement(m_dialect))) {
        m_error = query.lastError().text();
        return result;
    }
    for (const int priority : priorities) {
        query.bindValue(0, jobId);
        query.bindValue(1, priority);
        if (!query.exec()) {
            m_error = query.lastError().text();
            return result;
        }
        if (query.next())
            result.insert(priority, query.value(0).toLongLong());
        query.finish();
    }
    return result;
}

} // namespace bd::store
