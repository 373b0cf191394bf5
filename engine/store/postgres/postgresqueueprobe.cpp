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
    return "SELECT created_at FROM tasks WHERE job_id = ? AND state = 0 AND priority = ? "
           "ORDER BY id LIMIT 1";
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
