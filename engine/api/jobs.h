#pragma once

#include "api/types.h"

#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>

#include <optional>

namespace bd {

struct ImportResult
{
    bool ok = false;
    qint64 jobId = 0;
    qint64 rows = 0;
    bool continued = false; // an identical job existed and was continued, nothing imported
    QString error;          // names the file, line and field
    // The database refused the import (full disk, read only, damaged): not the input's fault.
    bool databaseFailed = false;
    QStringList warnings;   // renamed header columns, an encoding guessed from invalid UTF-8
    QString encoding;       // as the file was read: "UTF-8", "Windows-1252" ...
    QString encodingNote;   // why, when Windows-1252 was a fallback
};

// Dead-lettered tasks to run again: the given ids, or every dead task of the job (of all
// jobs when jobId is 0), narrowed to one error class when errorClass is set. With a
// template or system prompt, the replayed tasks move to a new template revision of the job
// (what is not given stays the job's original); the template must name only the job's
// columns.
struct ReplayRequest
{
    qint64 jobId = 0;
    QList<qint64> taskIds;
    QString errorClass; // e.g. "server_error"; empty: any
    std::optional<QString> templateText;
    std::optional<QString> systemPrompt;
};

struct ReplayResult
{
    int changed = 0;  // back to pending, attempts reset
    int skipped = 0;  // given ids that were not dead-lettered (or not of that class/job)
    int templateRevision = -1; // the new revision, or -1
    QString error;
    bool invalid = false; // the request itself is wrong (error class, template, job): nothing changed
};

// What the whole input would cost, from what a sample job (CLI.md --sample) really cost:
// its completed rows' cost and tokens per row, times the input's rows.
struct SampleProjection
{
    qint64 sampledRows = 0;   // rows of the sample job
    qint64 inputRows = 0;     // data rows of the whole input
    qint64 completedRows = 0; // the sample rows the projection stands on
    double costUsd = 0.0;
    qint64 tokens = 0;        // input (cached included) and output tokens
};
// Empty for a job that is not a sample or has no completed row yet.
std::optional<SampleProjection> sampleProjection(const JobInfo &job);

// Two or three sample jobs over the same rows (say one per model or template), side by
// side: how often their answers agree, field by field for structured answers (else the
// whole answer, trimmed and case-folded), and what each would cost for the whole input.
struct SampleComparison
{
    struct Candidate
    {
        qint64 jobId = 0;
        QString model;
        QString templateText;
        qint64 completed = 0;
        qint64 dead = 0;
        std::optional<SampleProjection> projection;
    };
    struct FieldAgreement
    {
        QString field;       // an output field, or "output" for free-text answers
        qint64 agreeing = 0; // rows where every candidate gave the same value
        qint64 compared = 0; // rows every candidate answered
    };
    QList<Candidate> candidates;
    QList<FieldAgreement> fields;
    qint64 rows = 0;          // rows of each sample
    qint64 comparedRows = 0;  // rows every candidate answered
    QString error;            // the jobs cannot be compared (not the same rows ...)
};

} // namespace bd

Q_DECLARE_METATYPE(bd::ImportResult)
Q_DECLARE_METATYPE(bd::SampleComparison)
