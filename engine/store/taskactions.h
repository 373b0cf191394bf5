#pragma once

#include <QList>
#include <QString>

namespace bd::store {

// Writes on tasks that the queue-writer role does not offer (reprioritise, cancel). The
// task-actions role of a Database (database.h): the engine thread takes it from the
// database it writes with, so there is still one writer. Each call is synchronous, one
// transaction, and returns how many tasks changed, or -1 with errorString(). Leased tasks
// are left alone: they finish or come back to pending, and the next call takes them.
class TaskActions
{
public:
    virtual ~TaskActions() = default;

    // Pending tasks of the job get the priority, and so does the job (for its next runs).
    virtual int reprioritiseJob(qint64 jobId, int priority, qint64 nowMs) = 0;
    virtual int reprioritiseTasks(const QList<qint64> &taskIds, int priority) = 0;
    // Pending tasks of the job become cancelled (never dispatched, exported as cancelled).
    virtual int cancelPending(qint64 jobId, qint64 nowMs) = 0;
    virtual int cancelTasks(const QList<qint64> &taskIds, qint64 nowMs) = 0;

    virtual QString errorString() const = 0;
};

} // namespace bd::store
