#pragma once

#include "api/types.h"

#include <optional>
#include <QJsonObject>
#include <QList>
#include <QMetaType>
#include <QString>

// Standing queues fed by programs (`batchctl serve`, API.md): what a front end asks of the
// engine and what it hears back.
namespace bd {

// The queue a job is (empty: an ordinary job).
QString queueOfJob(const JobSpec &spec);
// A job's state as front ends name it: "serving" for a queue that runs, else jobStateName().
QString jobDisplayState(const JobInfo &job);

// Tasks one submission may carry.
inline constexpr int kMaxTasksPerSubmission = 10'000;

// A queue as POST /v1/queues defines it. Only name and template are required.
struct QueueSpec
{
    QString name;
    QString templateText;
    QString systemPrompt;
    QString provider = QStringLiteral("simulator");
    QString model;               // empty: the provider's default
    QString baseUrl;             // empty: the provider's variable
    int priority = 2;            // of tasks that do not say theirs
    qint64 maxPending = 100'000; // unfinished tasks the queue may hold
    QJsonObject schema;          // a JSON Schema whose top level is an object; empty: none
    QString webhook;             // http(s) URL each finished task is POSTed to; empty: none
    QJsonObject settings;        // job settings (concurrency, rpm, simulator knobs ...)
    int maxRetries = 3;
    int maxOutputTokens = 256;

    // The definition with every default filled in: two asks define the same queue when
    // these are equal.
    QJsonObject toJson() const;
    // nullopt and the reason (naming the field) when the object does not describe a queue.
    static std::optional<QueueSpec> fromJson(const QJsonObject &json, QString *error);
};

struct QueueDefinition
{
    enum class Outcome
    {
        Created,
        Existing, // the same definition was there: nothing changed
        Conflict, // a queue of that name has another definition
        Invalid,  // the spec itself is wrong (error names the field)
        Failed,   // the database refused
    };
    Outcome outcome = Outcome::Failed;
    QString name;
    qint64 jobId = 0;
    QString error;
};

struct QueueInfo
{
    QString name;
    qint64 jobId = 0; // 0: no such queue
    QueueSpec spec;
    JobState state = JobState::Paused;
    QString stateReason;
    TaskCounts counts;
    double costUsd = 0.0;
};

// One task of a submission: values for the template's placeholders (strings as they are,
// other JSON values as their JSON text), an optional idempotency key, a priority (0: the
// queue's).
struct QueueTask
{
    QString key;
    QJsonObject vars;
    int priority = 0;
};

struct SubmitResult
{
    enum class Outcome
    {
        Accepted,
        Full, // refused whole: the queue would pass max_pending
        UnknownQueue,
        Invalid, // a task is wrong (error names it and the field); nothing accepted
        TooMany, // more than kMaxTasksPerSubmission tasks
        Failed,  // the database refused
    };
    Outcome outcome = Outcome::Failed;
    qint64 jobId = 0;
    int accepted = 0;
    int duplicates = 0;
    QList<qint64> taskIds; // one per task sent, in order
    qint64 pending = 0;    // the queue's unfinished tasks before this submission
    qint64 maxPending = 0;
    QString error;
};

// A queue's task as its submitter sees it (GET /v1/tasks/ID and the webhook).
struct QueueTaskResult
{
    qint64 taskId = 0;
    qint64 jobId = 0;
    QString queue;
    QString key;
    TaskState state = TaskState::Pending;
    int priority = 2;
    int attempts = 0;
    QString output;
    QString errorClass;
    QString errorMessage;
    QString model;
    Usage usage;
    std::optional<double> costUsd;
    bool hasSchema = false;
    QJsonObject fields; // the schema's top-level properties read from the output

    bool isFinal() const
    {
        return state == TaskState::Completed || state == TaskState::Dead ||
               state == TaskState::Cancelled;
    }
};

} // namespace bd

Q_DECLARE_METATYPE(bd::QueueSpec)
Q_DECLARE_METATYPE(bd::QueueDefinition)
Q_DECLARE_METATYPE(bd::QueueInfo)
Q_DECLARE_METATYPE(bd::QueueTask)
Q_DECLARE_METATYPE(bd::SubmitResult)
Q_DECLARE_METATYPE(bd::QueueTaskResult)
