#include "postgresqueueprobe.h"

#include <QSqlError>
#include <QSqlQuery>

namespace bd::store {

PostgresQueueProbe::PostgresQueueProbe(std::shared_ptr<PostgresConnection> connection)
    : m_connection(std::move(connection))
{
}

const char *PostgresQueueProbe::statement()
{
    // Since when the longest-waiting task has waited: it became pending then (created, or
    // back from a retry, a hand-back or a replay), on the tasks_waiting index.
    return "SELECT GREATEST(created_at, not_before) FROM tasks WHERE job_id = ? AND state = 0 "
           "AND priority = ? ORDER BY GREATEST(created_at, not_before) LIMIT 1";
}

QMap<int, qint64> PostgresQueueProbe::oldestPendingSince(qint64 jobId, const QList<int> &priorities)
{
    QMap<int, qint64> result;
    QSqlQuery query(m_connection->db());
    if (!query.prepare(QString::fromLatin1(statement()))) {
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
