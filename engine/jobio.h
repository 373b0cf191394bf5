#pragma once

#include "core/types.h"

#include <QString>

#include <atomic>
#include <functional>
#include <optional>

namespace bd::store {
class Store;
}

// Moving whole jobs in and out of the store: streaming, page by page, on the calling
// thread (the engine thread for the console, the main thread for batchctl's exports).
namespace bd {

struct ImportResult
{
    bool ok = false;
    qint64 jobId = 0;
    qint64 rows = 0;
    bool continued = false; // an identical job existed and was continued, nothing imported
    QString error;          // names the file, line and field
    QStringList warnings;   // renamed header columns, an encoding guessed from invalid UTF-8
    QString encoding;       // as the file was read: "UTF-8", "Windows-1252" ...
    QString encodingNote;   // why, when Windows-1252 was a fallback (CsvReader::encodingNote())
};

using ImportProgress = std::function<void(qint64 rows, qint64 bytesRead, qint64 totalBytes)>;

// SHA-256 of a file's bytes as hex, streamed; empty with *error set on failure.
QByteArray fileSha256(const QString &path, QString *error);

// Checks what can be checked before anything is stored: the file opens and has a header,
// the template parses and names only existing columns. Fills spec.sourceSha256.
bool validateJobSpec(JobSpec &spec, QStringList *columns, QString *error);

// Imports spec.sourcePath as a new job (all rows or none), or continues the job with the
// same fingerprint. cancel may be set from another thread to stop an import; the job is
// then removed.
ImportResult importJob(store::Store &store, JobSpec spec, qint64 nowMs,
                       const ImportProgress &progress = {},
                       const std::atomic<bool> *cancel = nullptr);

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

// Validates, stores the template revision and requeues, on the calling thread.
ReplayResult replayDeadTasks(store::Store &store, const ReplayRequest &request, qint64 nowMs);

// Writes the job's rows to path (.csv, .jsonl, .xlsx) in input order.
// cancelled, asked every thousand rows, stops the export: false with "export cancelled",
// and nothing is written at path. warnings (when given) receives what the user should be
// told about a successful export, e.g. "3 cell(s) longer than ... were truncated" (XLSX).
// Any failure (a full disk included) returns false and leaves nothing at path.
bool exportJob(store::Store &store, qint64 jobId, const QString &path, QString *error,
               const std::function<void(qint64 rows)> &progress = {},
               const std::function<bool()> &cancelled = {}, QStringList *warnings = nullptr);

} // namespace bd
