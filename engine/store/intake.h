#pragma once

#include "api/intake.h"
#include "api/types.h"

#include <optional>
#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

namespace bd::store {

// A standing queue (`batchctl serve`, API.md): a named job fed by the API that never
// finishes by itself. The job row holds what dispatch needs (template, provider, model,
// settings); this holds what intake needs.
struct QueueRecord
{
    QString name;
    qint64 jobId = 0;
    QJsonObject definition; // as it was asked for, defaults filled in: a second ask compares
    qint64 maxPending = 0;  // unfinished tasks (pending + leased) it may hold
    QString webhook;        // empty: none
    QJsonObject schema;     // empty: none
    qint64 createdAtMs = 0;
};

// One task of a submission: the row in the job's column order, the optional idempotency
// key (empty: none) and its priority.
struct NewQueueTask
{
    QString key;
    QStringList values;
    int priority = 2;
};

struct SubmitOutcome
{
    bool ok = false;       // false: a database error (errorString) or refused (full)
    bool full = false;     // refused whole: unfinished + new would pass max_pending
    qint64 unfinished = 0; // the queue's pending + leased tasks before this submission
    int accepted = 0;
    int duplicates = 0;
    QList<qint64> taskIds; // one per task submitted, in order (a duplicate's is the earlier task's)
};

// A task of a queue as its submitter sees it: the store fills all but the queue's name and
// the schema's fields.
using QueueTaskRecord = QueueTaskResult;

// The intake role of a Database (database.h): standing queues, keyed submissions with
// backpressure, results and the webhook outbox. Every call is synchronous; a submission is
// one transaction that first locks its queue's row, so concurrent submitters (threads or
// processes) see each other's keys and counts.
class Intake
{
public:
    virtual ~Intake() = default;

    virtual QString errorString() const = 0;

    // Records a queue over its (already created) job. When the name is taken, nothing is
    // written, *existing holds the queue that has it and the result is false with an empty
    // errorString().
    virtual bool addQueue(const QueueRecord &queue, qint64 nowMs,
                          std::optional<QueueRecord> *existing) = 0;
    // nullopt: no such queue (errorString() empty) or a database error.
    virtual std::optional<QueueRecord> queue(const QString &name) = 0;
    virtual QList<QueueRecord> queues() = 0;
    // All or nothing: refused whole (full) when the queue's unfinished tasks plus the new ones
    // would pass its max_pending. A key already in the queue (or earlier in the same
    // submission) adds nothing and answers with the existing task. With a webhook, each new
    // task is put in the outbox.
    virtual SubmitOutcome submit(const QueueRecord &queue, const QList<NewQueueTask> &tasks,
                                 qint64 nowMs) = 0;
    // The given tasks of any queue (unknown ids are left out), in id order.
    virtual QList<QueueTaskRecord> results(const QList<qint64> &taskIds) = 0;
    // Finished (completed, dead, cancelled) tasks of the queue whose webhook has not been
    // acknowledged yet, oldest first.
    virtual QList<QueueTaskRecord> undelivered(qint64 jobId, int limit) = 0;
    virtual bool markDelivered(const QList<qint64> &taskIds) = 0;
};

} // namespace bd::store
