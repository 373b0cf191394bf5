#pragma once

#include <QList>
#include <QString>

namespace bd::store {

// A change to a job asked of every engine on the database (batchctl job, a console in
// another process): the engine that took the request applied it to the database and to its
// own runner, and records it here; every other engine reads it within its next poll and
// applies it to the runner it has of the job.
struct JobControl
{
    enum class Action : int
    {
        Pause = 0,
        Resume = 1,
        Cancel = 2,
        Reprioritise = 3, // argument: the priority
        RunNow = 4,
        TasksChanged =
            5, // tasks of the job reprioritised one by one: unsent ones are claimed again
    };
    qint64 id = 0; // in the order recorded
    qint64 jobId = 0;
    Action action = Action::Pause;
    int argument = 0;
    QString detail; // a pause's or cancellation's reason
    QString issuer; // the engine that applied it already
    qint64 atMs = 0;

    // Every engine polls each second or so; a day covers one that was busy or asleep.
    static constexpr qint64 kRetentionMs = 24LL * 3600 * 1000;
};

// Writes on tasks that the queue-writer role does not offer (reprioritise, cancel), and the
// log of job controls. The
// task-actions role of a Database (database.h): the engine thread takes it from the
// database it writes with, so there is still one writer. Each call is synchronous, one
// transaction, and returns how many tasks changed, or -1 with errorString(). A new priority
// reaches leased tasks too: their holder sends them as claimed (or hands them back to be
// claimed again), and one that comes back to pending has the new priority. Cancelling
// leaves leased tasks alone: they finish or come back to pending, and the next call takes
// them.
class TaskActions
{
public:
    virtual ~TaskActions() = default;

    // Unfinished tasks of the job get the priority, and the job the priority and the lane
    // (mode) for this and its next runs.
    virtual int reprioritiseJob(qint64 jobId, int priority, const QString &mode, qint64 nowMs) = 0;
    virtual int reprioritiseTasks(const QList<qint64> &taskIds, int priority) = 0;
    // Pending tasks of the job become cancelled (never dispatched, exported as cancelled).
    virtual int cancelPending(qint64 jobId, qint64 nowMs) = 0;
    virtual int cancelTasks(const QList<qint64> &taskIds, qint64 nowMs) = 0;

    // --- job controls. record() returns the control's id (0 on failure) and drops those
    // older than a day (every engine has long read them); after() lists them in order.
    virtual qint64 recordControl(const JobControl &control) = 0;
    virtual QList<JobControl> controlsAfter(qint64 afterId) = 0;
    // The newest control's id (0: none; -1 on failure): where an engine starts reading.
    virtual qint64 lastControlId() = 0;

    virtual QString errorString() const = 0;
};

} // namespace bd::store
