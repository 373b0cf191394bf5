#pragma once

#include "api/tasks.h"
#include "core/tasktypes.h"

#include <QList>
#include <QString>

#include <optional>

namespace bd::store {

// The read side of the task table for views: counts, pages in task-id order, one task's
// whole story, dead letters by class. The task-reader role of a Database (database.h): it
// works over that database's connection and belongs to the thread that opened it (the
// engine's reader thread); every call is synchronous.
//
// Paging is by row index. A backend answers with a keyset query when the caller knows the
// id of the row before the page, by arithmetic when a job's ids are dense and unfiltered,
// and with OFFSET otherwise, so scrolling a million rows reads one page at a time and
// never the whole table; stats() says which way each page went.
class TaskReader
{
public:
    virtual ~TaskReader() = default;

    virtual QString errorString() const = 0;

    virtual std::optional<qint64> count(const TaskFilter &filter) = 0;
    // Rows [offset, offset + limit) of the filter's result in id order. afterId is the id
    // of row offset - 1 when the caller knows it (-1: unknown).
    virtual std::optional<QList<TaskRow>> page(const TaskFilter &filter, qint64 offset,
                                               qint64 afterId, int limit) = 0;
    // nullopt (with errorString()) when there is no such task.
    virtual std::optional<TaskDetail> detail(qint64 taskId) = 0;
    // Dead tasks by error class, most first. jobId 0: every job.
    virtual QList<DeadClassCount> deadByClass(qint64 jobId) = 0;
    // Ids matching the filter in id order, at most limit (for actions on "all matching").
    virtual QList<qint64> ids(const TaskFilter &filter, qint64 limit) = 0;

    // How the page() calls so far were answered (tests, benchmarks).
    struct Stats
    {
        qint64 pages = 0;
        qint64 keysetPages = 0;
        qint64 densePages = 0;
        qint64 offsetPages = 0;
    };
    virtual Stats stats() const = 0;
};

} // namespace bd::store
