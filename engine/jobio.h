#pragma once

#include "api/jobs.h"
#include "core/tasktypes.h"

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <QObject>
#include <QString>

namespace bd::store {
class Store;
}

// Moving whole jobs in and out of the store: streaming, page by page (exports on the calling
// thread: the reader thread; imports beside the engine thread, see JobImport).
namespace bd {

// SHA-256 of a file's bytes as hex, streamed; empty with *error set on failure.
QByteArray fileSha256(const QString &path, QString *error);

// Checks what can be checked before anything is stored: the file opens and has a header,
// the template parses and names only existing columns. Fills spec.sourceSha256.
bool validateJobSpec(JobSpec &spec, QStringList *columns, QString *error);

// Imports spec.sourcePath as a new job (all rows or none), or continues the job with the
// same fingerprint, without holding the thread it lives on: checking and hashing the file,
// then parsing it, run on pool threads, and the owner's thread (the engine thread, the one
// writer) stores a slice of rows per event-loop turn, one transaction of about kTurnMs, so
// dispatch goes on between slices. The job stays in Importing, never
// claimable, until the last chunk is in. cancel may be set from another thread; the job is
// then removed. finished() comes once; the owner deletes the import after it.
class EmptyPromptCounter;

class JobImport final : public QObject
{
    Q_OBJECT

public:
    JobImport(store::Store &store, JobSpec spec, qint64 nowMs,
              std::shared_ptr<std::atomic<bool>> cancel, QObject *parent = nullptr);
    ~JobImport() override; // waits for its pool threads
    Q_DISABLE_COPY_MOVE(JobImport)

    // Finishes a job whose import was interrupted (a crash, a kill): its rows so far are
    // dropped and its input read again under the same job id, when the file is still there
    // unchanged; otherwise the job is deleted and finished() says why. Null with *error
    // when the job is not importing.
    static std::unique_ptr<JobImport> finishing(store::Store &store, qint64 jobId, qint64 nowMs,
                                                std::shared_ptr<std::atomic<bool>> cancel,
                                                QString *error, QObject *parent = nullptr);

    void start();
    // Stops at once and removes the job (the engine is shutting down).
    void abandon(const QString &why);

Q_SIGNALS:
    void progressed(qint64 rows, qint64 bytesRead, qint64 totalBytes);
    void finished(const bd::ImportResult &result);

private:
    struct Checked;
    struct Pipeline;
    void checked(const Checked &check);
    void wake();       // a slice is due: once in the event loop at most
    void storeSlice(); // one transaction of rows
    // Rows numbered from m_nextRow, or (a sample) each by its number in the input.
    bool appendSlice(const QList<QStringList> &rows, const QList<qint64> &rowNumbers);
    static constexpr qint64 kTurnMs = 20;
    static constexpr int kMinSliceRows = 128;
    static constexpr int kMaxSliceRows = 8192;
    void finish();
    void fail(const QString &error, bool databaseFailed = false);
    void failInDatabase(); // the store refused a write: its error, databaseFailed

    store::Store &m_store;
    JobSpec m_spec;
    qint64 m_nowMs;
    std::shared_ptr<std::atomic<bool>> m_cancel;
    ImportResult m_result;
    qint64 m_jobId = 0;
    qint64 m_nextRow = 1;
    bool m_done = false;
    std::unique_ptr<Pipeline> m_pipeline;
    std::unique_ptr<EmptyPromptCounter> m_emptyPrompts;
    qint64 m_interruptedJobId = 0; // a job whose earlier import was cut short: refilled
    QByteArray m_interruptedSha256;  // finishing(): the file must still hash to this
};

// A JobImport run to its end in a local event loop on the calling thread, for tools and
// tests; the engine never waits like this.
ImportResult importJob(store::Store &store, JobSpec spec, qint64 nowMs);

// A sample of `wanted` rows spread evenly over `inputRows` data rows (CLI.md --sample):
// their data row numbers, from 1, ascending; the first row is always among them.
QList<qint64> sampleRowNumbers(qint64 inputRows, qint64 wanted);

// Validates, stores the template revision and requeues, on the calling thread.
ReplayResult replayDeadTasks(store::Store &store, const ReplayRequest &request, qint64 nowMs);

// Writes the job's rows to path (.csv, .jsonl, .xlsx) in input order.
// cancelled, asked every thousand rows, stops the export: false with "export cancelled",
// and nothing is written at path. warnings (when given) receives what the user should be
// told about a successful export, e.g. "3 cell(s) longer than ... were truncated" (XLSX).
// Any failure (a full disk included) returns false and leaves nothing at path.
// The job as read by the caller (its spec and columns: on PostgreSQL each read of a job
// sums its tasks, so the caller's read is not done again).
bool exportJob(store::Store &store, const JobInfo &job, const QString &path, QString *error,
               const std::function<void(qint64 rows)> &progress = {},
               const std::function<bool()> &cancelled = {}, QStringList *warnings = nullptr);

} // namespace bd
