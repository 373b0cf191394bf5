#pragma once

#include "api/tasks.h"
#include "core/tasktypes.h"

#include <QHash>
#include <QList>
#include <QMetaType>
#include <QSqlDatabase>
#include <QString>

#include <optional>

// The read side of the task table for views: counts, pages in task-id order, one task's
// whole story, dead letters by class. One instance is one read connection and belongs to
// the thread that created it (the engine's reader thread); every call is synchronous.
//
// Paging is by row index, answered with a keyset query when the caller knows the id of the
// row before the page, by arithmetic when a job's ids are dense and unfiltered, and with
// OFFSET otherwise, so scrolling a million rows reads one page at a time and never the
// whole table. The SQL is plain apart from dialect(): a PostgreSQL reader keeps the shape.
namespace bd::store {

class TaskQuery
{
public:
    // Opens a connection of its own; the database must exist and be migrated (the engine
    // opens it first). connectionName must be unique per thread.
    TaskQuery(const QString &databasePath, const QString &connectionName);
    ~TaskQuery();
    Q_DISABLE_COPY_MOVE(TaskQuery)

    bool isOpen() const { return m_open; }
    QString errorString() const { return m_error; }

    std::optional<qint64> count(const TaskFilter &filter);
    // Rows [offset, offset + limit) of the filter's result in id order. afterId is the id
    // of row offset - 1 when the caller knows it (-1: unknown).
    std::optional<QList<TaskRow>> page(const TaskFilter &filter, qint64 offset, qint64 afterId,
                                       int limit);
    std::optional<TaskDetail> detail(qint64 taskId);
    // Dead tasks by error class, most first. jobId 0: every job.
    QList<DeadClassCount> deadByClass(qint64 jobId);
    // Ids matching the filter in id order, at most limit (for actions on "all matching").
    QList<qint64> ids(const TaskFilter &filter, qint64 limit);

    // How many statements a page() needed and whether it used OFFSET (tests, benchmarks).
    struct Stats
    {
        qint64 pages = 0;
        qint64 keysetPages = 0;
        qint64 densePages = 0;
        qint64 offsetPages = 0;
    };
    Stats stats() const { return m_stats; }

private:
    struct Dense
    {
        qint64 minId = 0;
        qint64 maxId = 0;
        qint64 count = -1;
    };
    QString where(const TaskFilter &filter, QVariantList *binds) const;
    std::optional<Dense> denseRange(qint64 jobId);
    bool fail(const QString &what);

    QString m_connectionName;
    QSqlDatabase m_db;
    QString m_error;
    bool m_open = false;
    QHash<qint64, Dense> m_dense;
    Stats m_stats;
};

} // namespace bd::store

