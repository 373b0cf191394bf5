#pragma once

#include <QList>
#include <QString>

// Writes on tasks that the Store interface does not offer yet (reprioritise, cancel).
// They run on the engine thread over the writer's own connection (by its Qt connection
// name), so there is still one writer. Each is one transaction and returns how many tasks
// changed, or -1 with errorString(). Leased tasks are left alone: they finish or come
// back to pending, and the next call takes them. Meant to move into Store (and its
// PostgreSQL twin) when the dispatch work gives it these verbs.
namespace bd::store {

class TaskActions
{
public:
    explicit TaskActions(const QString &writerConnectionName);

    // Pending tasks of the job get the priority, and so does the job (for its next runs).
    int reprioritiseJob(qint64 jobId, int priority, qint64 nowMs);
    int reprioritiseTasks(const QList<qint64> &taskIds, int priority);
    // Pending tasks of the job become cancelled (never dispatched, exported as cancelled).
    int cancelPending(qint64 jobId, qint64 nowMs);
    int cancelTasks(const QList<qint64> &taskIds, qint64 nowMs);

    QString errorString() const { return m_error; }

private:
    int updateIds(const QString &sql, const QList<qint64> &taskIds, const QVariantList &leading);

    QString m_connectionName;
    QString m_error;
};

} // namespace bd::store
