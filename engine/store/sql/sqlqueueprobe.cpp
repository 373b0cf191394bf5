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
    // Since when the longest-waiting task has waited: it became pending then, at its import
    // (not_before 0) or when it came back from a retry, a hand-back or a replay (not_before
    // then, later than created_at). Of the first kind the oldest is the first by id in
    // tasks_claim (created_at grows with id); the others are few and kept in tasks_requeued
    // by MAX(created_at, not_before). One seek in each; MIN skips the side that has none.
    const bool sqlite = dialect == SqlDialect::Sqlite;
    const QString since =
        sqlite ? u"MAX(created_at, not_before)"_s : u"GREATEST(created_at, not_before)"_s;
    return u"SELECT MIN(since) FROM (SELECT (SELECT created_at FROM tasks%1 WHERE job_id = ? "
           "AND state = 0 AND priority = ? AND not_before = 0 ORDER BY id LIMIT 1) AS since "
           "UNION ALL SELECT (SELECT %2 FROM tasks%3 WHERE job_id = ? AND state = 0 AND "
           "not_before > 0 AND priority = ? ORDER BY %2 LIMIT 1)) AS waits"_s.arg(
               claimIndexHint(dialect), since,
               sqlite ? u" INDEXED BY tasks_requeued"_s : QString());
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
        for (int side = 0; side < 2; ++side) {
            query.bindValue(2 * side, jobId);
            query.bindValue(2 * side + 1, priority);
        }
        if (!query.exec()) {
            m_error = query.lastError().text();
            return result;
        }
        if (query.next() && !query.isNull(0))
            result.insert(priority, query.value(0).toLongLong());
        query.finish();
    }
    return result;
}

} // namespace bd::store
