#pragma once

#include "api/types.h"

#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>

#include <optional>

// What views read about tasks through the facade: a filter, one line of the tasks table,
// one task's whole story, dead letters by class.
namespace bd {

struct TaskFilter
{
    qint64 jobId = 0;   // 0: every job
    int state = -1;     // -1: any, else a TaskState
    int priority = 0;   // 0: any, else 1..3
    QString errorClass; // empty: any (an ErrorClass name)
    QString text;       // substring of the row's values, output or error message
    // Structured answers: completed tasks whose answer's field `field` reads `fieldValue`
    // (numbers as written, yes/no as true/false). Only for a job with output fields.
    QString field;
    QString fieldValue;

    bool isJobOnly() const
    {
        return state < 0 && priority == 0 && errorClass.isEmpty() && text.isEmpty() &&
               field.isEmpty();
    }
    bool operator==(const TaskFilter &other) const = default;
};

// The order of a page of tasks: by one column, ties broken by id in the same direction.
// Rows without a value (the cost of a pending task, the latency of one not finished) sort
// as the lowest. The database sorts; a page is read by keyset (after the row before it)
// or by offset, never by reading the rows before it.
// A job with at least this many tasks gets a sort index for a key the first time it is
// sorted on it (EngineOptions::sortIndexMinTasks); sorting every job that big reads every
// task's key per page (the Tasks view says so).
inline constexpr qint64 kSortIndexMinTasks = 50'000;
// Sort indexes kept at most (EngineOptions::maxSortIndexes): each one taxes its job's
// writes and takes disk; beyond it the least recently used goes.
inline constexpr int kMaxSortIndexes = 6;

enum class TaskSortKey : int
{
    Id,
    Job,
    Row,
    State,
    Priority,
    Attempts,
    Tokens, // input + output
    Cost,
    Latency, // finished - started, of the last attempt
};

struct TaskOrder
{
    TaskSortKey key = TaskSortKey::Id;
    bool descending = false;

    bool isIdOrder() const { return key == TaskSortKey::Id && !descending; }
    bool operator==(const TaskOrder &other) const = default;
};

// One line of the tasks table: short texts only (the detail has the rest).
struct TaskRow
{
    qint64 id = 0;
    qint64 jobId = 0;
    qint64 rowNumber = 0;
    TaskState state = TaskState::Pending;
    int priority = 2;
    int attempts = 0;
    QString errorClass;
    QString model;
    qint64 inputTokens = 0;
    qint64 outputTokens = 0;
    std::optional<double> costUsd;
    QString inputPreview;  // the row's values, cut short
    QString outputPreview; // the answer or the error message, cut short
    QString answerJson;    // a completed structured answer (a JSON object) whole, else empty
    qint64 finishedAtMs = 0;
    qint64 latencyMs = -1; // of the last attempt; -1 when it did not finish
};

struct TaskDetail
{
    qint64 id = 0;
    qint64 jobId = 0;
    qint64 rowNumber = 0;
    TaskState state = TaskState::Pending;
    int priority = 2;
    int attempts = 0;
    QStringList columns; // the job's header
    QStringList values;  // the row, in header order
    QString templateText;
    QString systemPrompt;
    int templateRevision = 0; // 0: the job's own template; else a replay's edit
    QString output;
    QString errorClass;
    QString errorMessage;
    int httpStatus = 0;
    QString model;
    Usage usage;
    std::optional<double> costUsd;
    // The price table entry a dated model id was priced at (claude-sonnet-4-5 for
    // claude-sonnet-4-5-20250929); empty when the model has an entry of its own or none.
    QString pricedAs;
    bool cacheHit = false;
    qint64 createdAtMs = 0;
    qint64 startedAtMs = 0;
    qint64 finishedAtMs = 0;
    QList<AttemptRecord> attemptHistory;
};

struct DeadClassCount
{
    QString errorClass;
    qint64 count = 0;
    QString sampleMessage;
};

} // namespace bd

Q_DECLARE_METATYPE(bd::TaskFilter)
Q_DECLARE_METATYPE(bd::TaskOrder)
Q_DECLARE_METATYPE(bd::TaskSortKey)
Q_DECLARE_METATYPE(bd::TaskRow)
Q_DECLARE_METATYPE(bd::TaskDetail)
Q_DECLARE_METATYPE(bd::DeadClassCount)
