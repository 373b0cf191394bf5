#pragma once

#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QMetaType>
#include <QtNumeric>
#include <QString>
#include <QStringList>

#include <limits>
#include <optional>

// Value types of the public engine API: jobs, tasks, usage, alerts. They cross threads
// (and the facade) by value.
namespace bd {

enum class TaskState : int
{
    Pending = 0,
    Leased = 1,
    Completed = 2,
    Dead = 3,
    Cancelled = 4,
};

enum class JobState : int
{
    Importing = 0,
    Running = 1,
    Paused = 2,
    Finished = 3,
    Cancelled = 4,
};

// Why a provider call did not produce an answer. Stored as text in the store.
enum class ErrorClass : int
{
    None = 0,
    RateLimited,       // 429 rate_limit: wait and retry, not charged as an attempt
    QuotaExhausted,    // 429 insufficient_quota: pause the job
    InvalidRequest,    // 400/404/413/422: dead-letter at once
    Auth,              // 401/403: pause the job
    Overloaded,        // 503/529: retry with backoff
    ServerError,       // 5xx: retry with backoff
    Timeout,           // request timeout: retry with backoff
    Network,           // connection refused/reset: retry, feeds the circuit breaker
    Malformed,         // reply did not parse: retry with backoff
    Cancelled,         // cancelled by the user or by preemption: not an attempt
    ProviderCancelled, // a batch line the provider cancelled: free a few times, then charged
    InvalidOutput,     // a structured answer that is not JSON or does not match the job's schema
};
inline constexpr ErrorClass kLastErrorClass = ErrorClass::InvalidOutput;

QString taskStateName(TaskState state);
std::optional<TaskState> taskStateFromName(const QString &name);
QString jobStateName(JobState state);
// What a request about a job the database does not hold answers, word for word (batchctl
// tells it from other failures by it).
QString noSuchJobText(qint64 jobId);
std::optional<JobState> jobStateFromName(const QString &name);
QString errorClassName(ErrorClass errorClass);
ErrorClass errorClassFromName(const QString &name);

// True for failures that the task itself is to blame for (they count against --max-retries).
bool errorCountsAsAttempt(ErrorClass errorClass);
// True for failures worth another try later.
bool errorIsRetryable(ErrorClass errorClass);

struct Usage
{
    qint64 inputTokens = 0;      // uncached input tokens
    qint64 outputTokens = 0;
    qint64 cachedTokens = 0;     // input tokens read from the provider's prompt cache
    qint64 cacheWriteTokens = 0; // input tokens written to the provider's prompt cache

    // Saturating: a total never wraps negative, whatever was added (the providers refuse
    // implausible figures, but a total must hold even if one slipped through).
    Usage &operator+=(const Usage &other)
    {
        inputTokens = saturatingAdd(inputTokens, other.inputTokens);
        outputTokens = saturatingAdd(outputTokens, other.outputTokens);
        cachedTokens = saturatingAdd(cachedTokens, other.cachedTokens);
        cacheWriteTokens = saturatingAdd(cacheWriteTokens, other.cacheWriteTokens);
        return *this;
    }

    static qint64 saturatingAdd(qint64 a, qint64 b)
    {
        qint64 sum = 0;
        if (!qAddOverflow(a, b, &sum))
            return sum;
        return b > 0 ? std::numeric_limits<qint64>::max() : std::numeric_limits<qint64>::min();
    }
};

// What a user asks for when starting a job. The fingerprint decides whether a second
// `run` continues an existing job instead of importing again.
struct JobSpec
{
    QString sourcePath;
    QByteArray sourceSha256; // hex digest of the input file's bytes
    QString templateText;
    QString systemPrompt;
    QString provider = QStringLiteral("simulator");
    QString model;
    QString baseUrl;
    int priority = 2;
    QString mode = QStringLiteral("auto");
    int maxRetries = 3;
    int maxOutputTokens = 256;
    QJsonObject settings; // concurrency, rpm, tpm, budget, simulator knobs ...

    QByteArray fingerprint() const;
};

struct TaskCounts
{
    qint64 pending = 0;
    qint64 leased = 0;
    qint64 completed = 0;
    qint64 dead = 0;
    qint64 cancelled = 0;

    qint64 total() const { return pending + leased + completed + dead + cancelled; }
    qint64 unfinished() const { return pending + leased; }
};

struct JobInfo
{
    qint64 id = 0;
    JobSpec spec;
    JobState state = JobState::Importing;
    QString stateReason;
    QStringList columns;
    QDateTime createdAt;
    QDateTime updatedAt;
    TaskCounts counts;
    Usage usage;
    double costUsd = 0.0;
    // The worker running the job ("host:pid:nonce", as Engine::workerId()); empty when no
    // process runs it.
    QString runner;
    // A standing queue's (intake API) cap on its unfinished tasks; 0 for other jobs.
    qint64 queueMaxPending = 0;
};

struct DeadTask
{
    qint64 id = 0;
    qint64 jobId = 0;
    qint64 rowNumber = 0;
    int attempts = 0;
    QString errorClass;
    QString errorMessage;
    QDateTime updatedAt;
};

struct AttemptRecord
{
    qint64 taskId = 0;
    int attemptNo = 0;
    QDateTime at;
    QString outcome; // error class name
    int httpStatus = 0;
    QString message;
};

struct AlertRecord
{
    qint64 id = 0;
    qint64 jobId = 0; // 0: global
    QString kind;
    QString message;
    QDateTime raisedAt;
    QDateTime clearedAt;
    // What the rule measured: "value", "threshold", "window_s", "baseline" where the rule
    // has them, its own keys besides, and "cleared" with the figures at clearing.
    QJsonObject figures;
};

} // namespace bd

Q_DECLARE_METATYPE(bd::JobInfo)
