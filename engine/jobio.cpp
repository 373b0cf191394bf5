#include "jobio.h"

#include "api/jobsettings.h"
#include "core/crashpoint.h"
#include "cost/tiering.h"
#include "ingest/csvreader.h"
#include "ingest/exportwriter.h"
#include "ingest/outputschema.h"
#include "ingest/prompttemplate.h"
#include "ingest/textfile.h"
#include "store/store.h"

#include <QCryptographicHash>
#include <QFile>
#include <QFileInfo>
#include <QScopeGuard>
#include <QtConcurrent/QtConcurrentRun>

#include <condition_variable>
#include <deque>
#include <mutex>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

struct ParsedChunk
{
    QList<QStringList> rows;
    qint64 bytesRead = 0;
    bool last = false;
    QString error;
};

// A small blocking queue between the parsing thread and the writing thread.
class ChunkQueue
{
public:
    explicit ChunkQueue(int capacity) : m_capacity(capacity) {}

    // Blocks while full; false once the consumer has closed the queue.
    bool push(ParsedChunk chunk)
    {
        std::unique_lock lock(m_mutex);
        m_notFull.wait(lock, [this] { return m_closed || int(m_chunks.size()) < m_capacity; });
        if (m_closed)
            return false;
        m_chunks.push_back(std::move(chunk));
        m_notEmpty.notify_one();
        return true;
    }

    std::optional<ParsedChunk> pop()
    {
        std::unique_lock lock(m_mutex);
        m_notEmpty.wait(lock, [this] { return m_closed || !m_chunks.empty(); });
        if (m_chunks.empty())
            return std::nullopt;
        ParsedChunk chunk = std::move(m_chunks.front());
        m_chunks.pop_front();
        m_notFull.notify_one();
        return chunk;
    }

    void close()
    {
        std::lock_guard lock(m_mutex);
        m_closed = true;
        m_notFull.notify_all();
        m_notEmpty.notify_all();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_notFull;
    std::condition_variable m_notEmpty;
    std::deque<ParsedChunk> m_chunks;
    int m_capacity;
    bool m_closed = false;
};

} // namespace

// The encoding and delimiter the user chose (the import wizard stores them), else sniffing.
static ingest::CsvReader::Options readerOptions(const JobSpec &spec)
{
    ingest::CsvReader::Options options;
    const QString delimiter = spec.settings.value(settingkeys::csvDelimiter).toString();
    if (delimiter.size() == 1)
        options.delimiter = delimiter.at(0);
    else if (delimiter == u"\\t"_s || delimiter == u"tab"_s)
        options.delimiter = u'\t';
    options.encoding = spec.settings.value(settingkeys::csvEncoding).toString();
    return options;
}

QByteArray fileSha256(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = u"%1: %2"_s.arg(path, file.errorString());
        return {};
    }
    QCryptographicHash hash(QCryptographicHash::Sha256);
    if (!hash.addData(&file)) {
        *error = u"%1: read error: %2"_s.arg(path, file.errorString());
        return {};
    }
    return hash.result().toHex();
}

bool validateJobSpec(JobSpec &spec, QStringList *columns, QString *error)
{
    // A directory, FIFO or device is named as such, not as a missing file.
    if (!ingest::checkRegularFile(spec.sourcePath, error))
        return false;
    ingest::CsvReader reader;
    if (!reader.open(spec.sourcePath, readerOptions(spec))) {
        *error = reader.errorString();
        return false;
    }
    ingest::PromptTemplate prompt(spec.templateText);
    if (spec.templateText.trimmed().isEmpty()) {
        *error = u"the prompt template is empty"_s;
        return false;
    }
    if (!prompt.syntaxError().isEmpty()) {
        *error = u"template: "_s + prompt.syntaxError();
        return false;
    }
    if (!prompt.bind(reader.header(), error)) {
        *error = u"template: "_s + *error;
        return false;
    }
    if (columns)
        *columns = reader.header();
    if (spec.sourceSha256.isEmpty())
        spec.sourceSha256 = fileSha256(spec.sourcePath, error);
    return !spec.sourceSha256.isEmpty();
}

namespace {

// Rows whose prompt renders to nothing but white space: providers refuse an empty message
// (Anthropic with a 400), so the import says how many and where the first one is.
class EmptyPromptCounter
{
public:
    EmptyPromptCounter(const QString &templateText, const QStringList &header)
        : m_prompt(templateText)
    {
        QString error;
        // Only a template that is blank without its values can render blank at all.
        m_possible = m_prompt.bind(header, &error) &&
                     m_prompt.render(QStringList(header.size(), QString())).trimmed().isEmpty();
    }

    void count(const QList<QStringList> &rows, qint64 firstRowNumber)
    {
        if (!m_possible)
            return;
        for (qsizetype i = 0; i < rows.size(); ++i) {
            if (!m_prompt.render(rows.at(i)).trimmed().isEmpty())
                continue;
            if (m_count++ == 0)
                m_firstRow = firstRowNumber + i;
        }
    }

    QString warning(const QString &path) const
    {
        if (m_count == 0)
            return {};
        return u"%1: %2 row(s) render an empty prompt (first: data row %3); providers refuse "
               "an empty message, so those rows will be dead-lettered"_s.arg(path)
                   .arg(m_count)
                   .arg(m_firstRow);
    }

private:
    ingest::PromptTemplate m_prompt;
    bool m_possible = false;
    qint64 m_count = 0;
    qint64 m_firstRow = 0;
};

// Reads the validated spec's file into a job, all rows or none: a new job (jobId 0), or the
// job of an interrupted import, whose rows so far are dropped first. On failure the job is
// deleted.
ImportResult importRows(store::Store &store, const JobSpec &spec, qint64 jobId, qint64 nowMs,
                        const ImportProgress &progress, const std::atomic<bool> *cancel)
{
    ImportResult result;
    ingest::CsvReader reader;
    if (!reader.open(spec.sourcePath, readerOptions(spec))) {
        result.error = reader.errorString();
        return result;
    }
    result.warnings = reader.headerWarnings();
    if (jobId == 0)
        jobId = store.createJob(spec, reader.header(), nowMs);
    else if (!store.discardTasks(jobId))
        jobId = 0;
    if (jobId == 0) {
        result.error = store.errorString();
        result.databaseFailed = true;
        return result;
    }
    const auto abandon = [&](const QString &error) {
        result.error = error;
        store.deleteJob(jobId);
        return result;
    };
    const auto databaseRefused = [&] {
        result.databaseFailed = true;
        return abandon(store.errorString());
    };

    // Parsing runs on a pool thread while this thread writes, so an import costs about
    // the larger of the two rather than their sum. The queue holds a few chunks at most:
    // a slow disk slows the parser down instead of letting memory grow. The job stays in
    // Importing (never claimable) until the last chunk is in, and is deleted on failure.
    ChunkQueue queue(4);
    QFuture<void> parser = QtConcurrent::run([&reader, &queue] {
        constexpr int kChunkRows = 8192;
        QStringList fields;
        for (;;) {
            ParsedChunk chunk;
            chunk.rows.reserve(kChunkRows);
            bool more = true;
            while (chunk.rows.size() < kChunkRows && (more = reader.readRow(fields)))
                chunk.rows.append(fields);
            chunk.bytesRead = reader.bytesRead();
            chunk.last = !more;
            if (reader.hasError())
                chunk.error = reader.errorString();
            if (!queue.push(std::move(chunk)) || !more)
                return;
        }
    });
    const auto stopParser = qScopeGuard([&] {
        queue.close();
        parser.waitForFinished();
    });

    EmptyPromptCounter emptyPrompts(spec.templateText, reader.header());
    qint64 firstRowOfChunk = 1;
    for (;;) {
        std::optional<ParsedChunk> chunk = queue.pop();
        if (!chunk)
            break;
        if (!chunk->error.isEmpty())
            return abandon(chunk->error);
        if (cancel && cancel->load())
            return abandon(u"import of %1 cancelled"_s.arg(spec.sourcePath));
        if (!chunk->rows.isEmpty()) {
            if (!store.appendTasks(jobId, firstRowOfChunk, chunk->rows, spec.priority, nowMs))
                return databaseRefused();
            crashPoint("import.chunk-stored");
            emptyPrompts.count(chunk->rows, firstRowOfChunk);
            firstRowOfChunk += chunk->rows.size();
            result.rows += chunk->rows.size();
            if (progress)
                progress(result.rows, chunk->bytesRead, reader.totalBytes());
        }
        if (chunk->last)
            break;
    }
    if (result.rows == 0)
        return abandon(u"%1: no data rows after the header"_s.arg(spec.sourcePath));
    if (const QString warning = emptyPrompts.warning(spec.sourcePath); !warning.isEmpty())
        result.warnings.append(warning);
    crashPoint("import.rows-stored");
    // Known only now: a fallback to Windows-1252 may come late in the file.
    result.encoding = reader.encoding();
    result.encodingNote = reader.encodingNote();
    if (!result.encodingNote.isEmpty())
        result.warnings.append(spec.sourcePath + u": "_s + result.encodingNote);
    if (!store.setJobState(jobId, JobState::Paused, stopCauseReason(StopCause::Imported), nowMs))
        return databaseRefused();
    result.ok = true;
    result.jobId = jobId;
    return result;
}

} // namespace

ImportResult importJob(store::Store &store, JobSpec spec, qint64 nowMs,
                       const ImportProgress &progress, const std::atomic<bool> *cancel)
{
    ImportResult result;
    QStringList columns;
    if (!validateJobSpec(spec, &columns, &result.error))
        return result;

    // Same file, template, system prompt, provider and model: continue, never import twice.
    qint64 interrupted = 0;
    if (const auto existing = store.findJobByFingerprint(spec.fingerprint())) {
        const auto info = store.job(*existing);
        if (info && info->state != JobState::Importing) {
            result.ok = true;
            result.jobId = *existing;
            result.continued = true;
            result.rows = info->counts.total();
            return result;
        }
        // An import that was interrupted: start it again from scratch under its own id.
        interrupted = *existing;
    }
    return importRows(store, spec, interrupted, nowMs, progress, cancel);
}

ImportResult finishInterruptedImport(store::Store &store, qint64 jobId, qint64 nowMs,
                                     const ImportProgress &progress,
                                     const std::atomic<bool> *cancel)
{
    ImportResult result;
    const auto info = store.job(jobId);
    if (!info || info->state != JobState::Importing) {
        result.error = info ? u"job %1 is not importing"_s.arg(jobId)
                            : u"no job %1 in the database"_s.arg(jobId);
        return result;
    }
    // Its input as it is now: gone, unreadable or changed, the rows cannot be made whole.
    JobSpec spec = info->spec;
    spec.sourceSha256.clear();
    QString problem;
    if (!validateJobSpec(spec, nullptr, &problem) || spec.sourceSha256 != info->spec.sourceSha256) {
        if (problem.isEmpty())
            problem = u"%1 changed since"_s.arg(spec.sourcePath);
        if (!store.deleteJob(jobId)) {
            result.error = store.errorString();
            result.databaseFailed = true;
            return result;
        }
        result.error = u"job %1: its import was interrupted and cannot be finished (%2); the "
                       "half-imported job was removed, run the file again"_s.arg(jobId)
                           .arg(problem);
        return result;
    }
    return importRows(store, spec, jobId, nowMs, progress, cancel);
}

bool exportJob(store::Store &store, qint64 jobId, const QString &path, QString *error,
               const std::function<void(qint64 rows)> &progress,
               const std::function<bool()> &cancelled, QStringList *warnings)
{
    if (warnings)
        warnings->clear();
    const auto info = store.job(jobId);
    if (!info) {
        *error = u"no job %1 in the database"_s.arg(jobId);
        return false;
    }
    auto writer = ingest::ExportWriter::create(path, error);
    if (!writer)
        return false;
    // A tiered job's export says each row's tier, after the contract's columns.
    const bool tiered = info->spec.model == cost::kAutoModel;
    // Structured answers: one column per field, right after output.
    std::optional<ingest::OutputSchema> schema;
    const QString schemaText = info->spec.settings.value(settingkeys::outputSchema).toString();
    if (!schemaText.isEmpty()) {
        schema = ingest::OutputSchema::parse(schemaText.toUtf8(), u"the job's output schema"_s,
                                             error);
        if (!schema)
            return false;
    }
    if (!writer->begin(info->columns, tiered ? QStringList{u"tier"_s} : QStringList(),
                       schema ? schema->fieldNames() : QStringList())) {
        *error = writer->errorString();
        return false;
    }
    qint64 rows = 0;
    bool writeOk = true;
    bool stopped = cancelled && cancelled();
    const bool readOk = stopped || store.forEachExportRow(jobId, [&](const ingest::ExportRow &stored) {
        if (cancelled && rows % 1'000 == 0 && cancelled()) {
            stopped = true;
            return false;
        }
        const ingest::ExportRow *row = &stored;
        ingest::ExportRow completed;
        if (tiered || schema) {
            completed = stored;
            if (tiered)
                completed.extraValues = {stored.tier};
            if (schema) // an unfinished task's empty output gives empty fields
                completed.fieldValues = schema->fieldValues(stored.output);
            row = &completed;
        }
        if (!writer->writeRow(*row)) {
            writeOk = false;
            return false;
        }
        crashPoint("export.row-written");
        if (++rows % 10'000 == 0 && progress)
            progress(rows);
        return true;
    });
    if (stopped) {
        // The writer goes without finish(): its temporary file is discarded.
        *error = u"export cancelled"_s;
        return false;
    }
    if (!readOk) {
        *error = store.errorString();
        return false;
    }
    if (writeOk)
        crashPoint("export.rows-written");
    if (!writeOk || !writer->finish()) {
        *error = writer->errorString();
        return false;
    }
    if (warnings)
        *warnings = writer->warnings();
    return true;
}

} // namespace bd

namespace bd {

ReplayResult replayDeadTasks(store::Store &store, const ReplayRequest &request, qint64 nowMs)
{
    ReplayResult result;
    if (!request.errorClass.isEmpty() && errorClassFromName(request.errorClass) == ErrorClass::None) {
        QStringList known;
        for (int e = int(ErrorClass::RateLimited); e <= int(kLastErrorClass); ++e)
            known.append(errorClassName(static_cast<ErrorClass>(e)));
        result.error = u"unknown error class '%1' (one of: %2)"_s.arg(request.errorClass,
                                                                     known.join(u", "_s));
        result.invalid = true;
        return result;
    }
    int revision = -1;
    if (request.templateText || request.systemPrompt) {
        if (request.jobId <= 0) {
            result.error = u"replaying with an edited template needs the job it belongs to"_s;
            result.invalid = true;
            return result;
        }
        const auto job = store.job(request.jobId);
        if (!job) {
            result.error = u"no job %1 in the database"_s.arg(request.jobId);
            result.invalid = true;
            return result;
        }
        const QString templateText = request.templateText.value_or(job->spec.templateText);
        const QString systemPrompt = request.systemPrompt.value_or(job->spec.systemPrompt);
        ingest::PromptTemplate prompt(templateText);
        QString error;
        if (!prompt.bind(job->columns, &error)) {
            result.error = u"edited template for job %1: %2"_s.arg(request.jobId).arg(error);
            result.invalid = true;
            return result;
        }
        revision = store.addTemplateRevision(request.jobId, templateText, systemPrompt, nowMs);
        if (revision < 0) {
            result.error = store.errorString();
            return result;
        }
        result.templateRevision = revision;
        crashPoint("replay.revision-stored");
    }
    result.changed = store.replayDead(request.jobId, request.taskIds, nowMs, request.errorClass,
                                      revision);
    crashPoint("replay.requeued");
    if (result.changed < 0) {
        result.error = store.errorString();
        result.changed = 0;
        return result;
    }
    result.skipped = request.taskIds.isEmpty() ? 0 : int(request.taskIds.size()) - result.changed;
    return result;
}

} // namespace bd
