#pragma once

#include "api/jobs.h"
#include "core/tasktypes.h"

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

// Finishes a job whose import was interrupted (a crash, a kill): its rows so far are
// dropped and its input read again under the same job id, when the file is still there
// unchanged; otherwise the job is deleted and the error says why.
ImportResult finishInterruptedImport(store::Store &store, qint64 jobId, qint64 nowMs,
                                     const ImportProgress &progress = {},
                                     const std::atomic<bool> *cancel = nullptr);

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
