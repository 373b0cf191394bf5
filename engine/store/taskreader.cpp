#include "taskreader.h"

#include <QSqlQuery>
#include <QVariant>

namespace bd::store::taskordersql {

using namespace Qt::StringLiterals;

QString key(TaskSortKey key)
{
    switch (key) {
    case TaskSortKey::Id:
        return u"id"_s;
    case TaskSortKey::Job:
        return u"job_id"_s;
    case TaskSortKey::Row:
        return u"row_no"_s;
    case TaskSortKey::State:
        return u"state"_s;
    case TaskSortKey::Priority:
        return u"priority"_s;
    case TaskSortKey::Attempts:
        return u"attempts"_s;
    case TaskSortKey::Tokens:
        return u"(input_tokens + output_tokens)"_s;
    case TaskSortKey::Cost:
        return u"COALESCE(cost_usd, -1)"_s;
    case TaskSortKey::Latency:
        return u"COALESCE("_s + latency() + u", -1)"_s;
    }
    return u"id"_s;
}

QString latency()
{
    return u"CASE WHEN state IN (2, 3) AND finished_at > 0 AND started_at > 0 "
           "THEN finished_at - started_at END"_s;
}

QString orderBy(const TaskOrder &order)
{
    const QString direction = order.descending ? u" DESC"_s : QString();
    if (order.key == TaskSortKey::Id)
        return u" ORDER BY id"_s + direction;
    return u" ORDER BY "_s + key(order.key) + direction + u", id"_s + direction;
}

QString after(const TaskOrder &order, qint64 afterId, QVariantList *binds)
{
    const QString beyond = order.descending ? u" < "_s : u" > "_s;
    if (order.key == TaskSortKey::Id) {
        binds->append(afterId);
        return u"id"_s + beyond + u'?';
    }
    // Unqualified columns in the subquery are the row before's (the nearest table).
    const QString k = key(order.key);
    const QString before = u"(SELECT "_s + k + u" FROM tasks b WHERE b.id = ?)"_s;
    binds->append({afterId, afterId, afterId});
    return u"("_s + k + beyond + before + u" OR ("_s + k + u" = "_s + before + u" AND id"_s +
           beyond + u"?))"_s;
}

bool rowExists(const QSqlDatabase &db, qint64 taskId)
{
    QSqlQuery query(db);
    query.setForwardOnly(true);
    query.prepare(u"SELECT 1 FROM tasks WHERE id = ?"_s);
    query.addBindValue(taskId);
    return query.exec() && query.next();
}

} // namespace bd::store::taskordersql
