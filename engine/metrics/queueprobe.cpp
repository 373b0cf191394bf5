#include "queueprobe.h"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>

namespace bd::metrics {

using namespace Qt::StringLiterals;

QueueProbe::QueueProbe(const QString &connectionName)
    : m_connectionName(connectionName)
{
}

const char *QueueProbe::statement()
{
    return "SELECT created_at FROM tasks WHERE job_id = ? AND state = 0 AND priority = ? "
           "ORDER BY id LIMIT 1";
}

QList<QueueLevel> QueueProbe::levels(int jobPriority, const QString &mode, qint64 pending,
                                     qint64 leased, const QMap<int, qint64> &oldestByPriority)
{
    QList<QueueLevel> result{QueueLevel{jobPriority, laneName(jobPriority, mode), pending, leased,
                                        oldestByPriority.value(jobPriority)}};
    for (auto it = oldestByPriority.cbegin(); it != oldestByPriority.cend(); ++it) {
        if (it.key() != jobPriority)
            result.append(QueueLevel{it.key(), laneName(it.key(), mode), 0, 0, it.value()});
    }
    return result;
}

QMap<int, qint64> QueueProbe::oldestPendingSince(qint64 jobId, const QList<int> &priorities)
{
    QMap<int, qint64> result;
    QSqlQuery query(QSqlDatabase::database(m_connectionName, false));
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

} // namespace bd::metrics
