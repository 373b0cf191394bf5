#pragma once

#include "api/tasks.h"
#include "core/tasktypes.h"

#include <QList>
#include <QSqlDatabase>
#include <QString>
#include <QVariantList>

#include <optional>

class QSqlQuery;

namespace bd::store {

// The read side of the task table for views: counts, pages in task-id order, one task's
// whole story, dead letters by class. The task-reader role of a Database (database.h): it
// works over that database's connection and belongs to the thread that opened it (the
// engine's reader thread); every call is synchronous.
//
// Paging is by row index. A backend answers with a keyset query when the caller knows the
// id of the row before the page, by arithmetic when a job's ids are dense and unfiltered,
// and with OFFSET otherwise, so scrolling a million rows reads one page at a time and
// never the whole table; stats() says which way each page went. A page of a job in another
// order than by id (TaskOrder) is a range of that key's index, found by keyset on
// (sort key, id) after the row before it, or by OFFSET over the index
// (taskordersql::orderedPage). There is no such index on the whole table (four of them
// cost the drain about 30 %): the store's writer makes one for a job and key when asked
// (Store::ensureSortIndex, the first time a big job is sorted on it); without one a
// sorted page reads the keys of every matching task.
class TaskReader
{
public:
    virtual ~TaskReader() = default;

    virtual QString errorString() const = 0;

    virtual std::optional<qint64> count(const TaskFilter &filter) = 0;
    // Rows [offset, offset + limit) of the filter's result in the order. afterId is the
    // id of row offset - 1 in that order when the caller knows it (-1: unknown).
    virtual std::optional<QList<TaskRow>> page(const TaskFilter &filter, qint64 offset,
                                               qint64 afterId, int limit,
                                               const TaskOrder &order = {}) = 0;
    // nullopt (with errorString()) when there is no such task.
    virtual std::optional<TaskDetail> detail(qint64 taskId) = 0;
    // Dead tasks by error class, most first. jobId 0: every job.
    virtual QList<DeadClassCount> deadByClass(qint64 jobId) = 0;
    // Ids matching the filter in id order, at most limit (for actions on "all matching").
    virtual QList<qint64> ids(const TaskFilter &filter, qint64 limit) = 0;
    // Whether the job's sort index for the key is there and usable (built in full); page()
    // over that job in that order then reads a range of it.
    virtual bool hasSortIndex(qint64 jobId, TaskSortKey key) = 0;

    // How the page() calls so far were answered (tests, benchmarks).
    struct Stats
    {
        qint64 pages = 0;
        qint64 keysetPages = 0;
        qint64 densePages = 0;
        qint64 offsetPages = 0;
        qint64 orderedPages = 0; // in another order than by id (counted in the above too)
        qint64 indexedPages = 0; // of those, read over a job's sort index
    };
    virtual Stats stats() const = 0;
};

// The SQL both backends page with.
namespace taskordersql {
// The expression rows are sorted by; never NULL (rows without a value read -1). A job's
// sort index holds (this expression to the letter, id).
QString key(TaskSortKey key);

// One job's sort index for a key: a partial index on (job_id, key, id) WHERE job_id = the
// job (job_id in it too, so a query's job term is read from the index), so
// tasks of every other job (the drain of a job nobody sorted) never touch it, and only the
// keys a user sorted a big job on are kept up to date. Made by the store's writer
// (Store::ensureSortIndex), dropped with the job (Store::deleteJob). Its name is empty for
// the keys that need none (id, job: a job's rows are in id order already).
QString sortIndexName(qint64 jobId, TaskSortKey key);
// "CREATE INDEX [CONCURRENTLY] IF NOT EXISTS name ON tasks (job_id, key, id) WHERE job_id
// = N"; empty when the key needs none. The job is a literal: only a query naming the job
// as a literal can use a partial index (taskreaders' where(…, literalJob)).
QString sortIndexStatement(qint64 jobId, TaskSortKey key, bool concurrently = false);
// Drops the job's sort indexes. namesSql lists the names of the task table's indexes
// that start with "tasks_sort_" (a catalog query of the backend).
bool dropSortIndexes(const QSqlDatabase &db, const QString &namesSql, qint64 jobId, QString *error);
// The sort indexes namesSql lists, as (job, key); nullopt when it cannot be read.
std::optional<QList<std::pair<qint64, TaskSortKey>>>
sortIndexes(const QSqlDatabase &db, const QString &namesSql, QString *error);
// Drops one job's sort index for a key (none there: fine).
bool dropSortIndex(const QSqlDatabase &db, qint64 jobId, TaskSortKey key, QString *error);
// " ORDER BY key, id" in the order's direction.
QString orderBy(const TaskOrder &order);
// The condition for the rows after the one with id afterId in id order (either direction),
// its value appended to binds.
QString idAfter(const TaskOrder &order, qint64 afterId, QVariantList *binds);
// Whether the row before a page is still there to page after.
bool rowExists(const QSqlDatabase &db, qint64 taskId);
// The latency column of a page row.
QString latency();

// One page in an order other than by id. fromWhere is " FROM tasks WHERE …" of the filter
// (or " FROM tasks"), binds its values. The ids are read first, each as a range of the
// key's index where the filter names a job: by keyset after the row afterId (its key read
// by a subquery, so comparisons are exact: first its ties after it, then the keys beyond),
// or by OFFSET over the index when that row is unknown or gone. Only ids pass through a
// sort or an OFFSET, never whole rows; the rows are then read by id. Counted in stats.
// The statements it runs (tests EXPLAIN them), each binding the filter's values first:
// ties (afterId, afterId, limit; empty for the id order), beyond (afterId, limit) and
// offset (limit, offset).
struct OrderedSql
{
    QString ties;
    QString beyond;
    QString offset;
};
OrderedSql orderedSql(const QString &fromWhere, const TaskOrder &order);
// indexed: fromWhere reads over the job's sort index (counted in stats).
std::optional<QList<TaskRow>> orderedPage(const QSqlDatabase &db, const QString &fromWhere,
                                          const QVariantList &binds, const TaskOrder &order,
                                          qint64 offset, qint64 afterId, int limit,
                                          TaskReader::Stats *stats, QString *error,
                                          bool indexed = false);
// The columns of a page row (rowFromQuery reads them) up to the latency, which the caller
// appends (latency()).
const char *rowColumns();
TaskRow rowFromQuery(const QSqlQuery &query);
// A LIKE pattern for a substring, with '\' as its escape.
QString likePattern(const QString &text);
} // namespace taskordersql

} // namespace bd::store
