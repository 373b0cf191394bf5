#include "jobio.h"

#include "api/jobsettings.h"
#include "core/crashpoint.h"
#include "core/sha256.h"
#include "cost/tiering.h"
#include "ingest/csvreader.h"
#include "ingest/exportwriter.h"
#include "ingest/outputschema.h"
#include "ingest/prompttemplate.h"
#include "ingest/textfile.h"
#include "store/store.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QtConcurrent/QtConcurrentRun>

namespace bd {

using namespace Qt::StringLiterals;

namespace {

struct ParsedChunk
{
    QList<QStringList> rows;
    QList<qint64> rowNumbers; // a sample's rows: each one's data row number; else empty
    qint64 bytesRead = 0;
    bool last = false;
    QString error;
};

// A small queue between the parsing thread (blocks while it is full) and the writing thread
// (never blocks: each queued chunk also posts it a call to take one).
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
        return true;
    }

    // Never blocks: nullopt when nothing is queued.
    std::optional<ParsedChunk> tryPop()
    {
        std::lock_guard lock(m_mutex);
        if (m_chunks.empty())
            return std::nullopt;
        ParsedChunk chunk = std::move(m_chunks.front());
        m_chunks.pop_front();
        m_notFull.notify_one();
        return chunk;
    }

    // The parser thread takes the reader over here: the engine thread opened it and calls
    // this before starting the parser, which calls it first. The pool hands a task over
    // with a futex ThreadSanitizer cannot see; this lock makes the hand-over visible.
    void handOver() { std::lock_guard lock(m_mutex); }

    void close()
    {
        std::lock_guard lock(m_mutex);
        m_closed = true;
        m_notFull.notify_all();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_notFull;
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
    Sha256 hash;
    if (!hash.addData(&file)) {
        *error = u"%1: read error: %2"_s.arg(path, file.errorString());
        return {};
    }
    return hash.hexResult();
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

// The data rows of the input: a pass of the CSV parser, as quoted fields may hold newlines.
static qint64 countDataRows(const JobSpec &spec, QString *error)
{
    ingest::CsvReader reader;
    if (!reader.open(spec.sourcePath, readerOptions(spec))) {
        *error = reader.errorString();
        return -1;
    }
    QStringList fields;
    qint64 rows = 0;
    while (reader.readRow(fields))
        ++rows;
    if (reader.hasError()) {
        *error = reader.errorString();
        return -1;
    }
    return rows;
}

QList<qint64> sampleRowNumbers(qint64 inputRows, qint64 wanted)
{
    QList<qint64> numbers;
    if (inputRows <= 0 || wanted <= 0)
        return numbers;
    wanted = qMin(wanted, inputRows);
    numbers.reserve(wanted);
    // Row i of the sample stands for the i-th of `wanted` equal stretches of the input, so
    // the first row is always in and the last stretch reaches the end of the file.
    for (qint64 i = 0; i < wanted; ++i)
        numbers.append(1 + qint64((long double)(i) * inputRows / wanted));
    return numbers;
}

// What the pool thread found before anything is stored.
struct JobImport::Checked
{
    JobSpec spec; // with its checksum, and a sample's input row count
    QString error;
    QList<qint64> sampleRows; // a sample: the data row numbers to import
};

// The reader and the parsing thread once the job exists. The queue holds a few chunks at
// most: a slow disk slows the parser down instead of letting memory grow.
struct JobImport::Pipeline
{
    ingest::CsvReader reader;
    ChunkQueue queue{4};
    QFuture<void> parser;
    QList<qint64> sampleRows;           // a sample: the only rows imported, ascending
    qint64 totalBytes = -1;             // the reader's, read before the parser owns it
    std::optional<ParsedChunk> current; // being stored, a slice per turn
    qsizetype stored = 0;               // its rows stored so far
    int sliceRows = 1024;               // rows per transaction, kept to about kTurnMs
    bool sliceScheduled = false;
};

JobImport::JobImport(store::Store &store, JobSpec spec, qint64 nowMs,
                     std::shared_ptr<std::atomic<bool>> cancel, QObject *parent)
    : QObject(parent)
    , m_store(store)
    , m_spec(std::move(spec))
    , m_nowMs(nowMs)
    , m_cancel(std::move(cancel))
{
}

std::unique_ptr<JobImport> JobImport::finishing(store::Store &store, qint64 jobId, qint64 nowMs,
                                                std::shared_ptr<std::atomic<bool>> cancel,
                                                QString *error, QObject *parent)
{
    const auto info = store.job(jobId);
    if (!info || info->state != JobState::Importing) {
        *error = info ? u"job %1 is not importing"_s.arg(jobId) : noSuchJobText(jobId);
        return nullptr;
    }
    // Its input as it is now: gone, unreadable or changed, the rows cannot be made whole.
    JobSpec spec = info->spec;
    spec.sourceSha256.clear();
    auto import = std::make_unique<JobImport>(store, spec, nowMs, std::move(cancel), parent);
    import->m_interruptedJobId = jobId;
    import->m_interruptedSha256 = info->spec.sourceSha256;
    return import;
}

JobImport::~JobImport()
{
    if (m_pipeline) {
        m_pipeline->queue.close();
        m_pipeline->parser.waitForFinished();
    }
}

void JobImport::start()
{
    // Opening the file, checking the template against its header and hashing it (a pass
    // over the whole file) stay off the writer's thread.
    auto *watcher = new QFutureWatcher<Checked>(this);
    connect(watcher, &QFutureWatcher<Checked>::finished, this, [this, watcher] {
        watcher->deleteLater();
        checked(watcher->result());
    });
    watcher->setFuture(QtConcurrent::run([spec = m_spec]() mutable {
        Checked check;
        QStringList columns;
        if (!validateJobSpec(spec, &columns, &check.error))
            return check;
        if (spec.settings.contains(settingkeys::sampleRows)) {
            const qint64 inputRows = countDataRows(spec, &check.error);
            if (inputRows < 0)
                return check;
            spec.settings.insert(settingkeys::sampleOfRows, inputRows);
            check.sampleRows = sampleRowNumbers(
                inputRows, spec.settings.value(settingkeys::sampleRows).toInteger());
        }
        check.spec = std::move(spec);
        return check;
    }));
}

void JobImport::checked(const Checked &check)
{
    if (m_done)
        return;
    if (m_interruptedJobId) {
        // Finishing a job whose import was cut short: only from the very same file.
        QString problem = check.error;
        if (problem.isEmpty() && check.spec.sourceSha256 != m_interruptedSha256)
            problem = u"%1 changed since"_s.arg(m_spec.sourcePath);
        if (!problem.isEmpty()) {
            if (!m_store.deleteJob(m_interruptedJobId)) {
                m_result.databaseFailed = true;
                m_result.error = m_store.errorString();
            } else {
                m_result.error = u"job %1: its import was interrupted and cannot be finished (%2); "
                                 "the half-imported job was removed, run the file again"_s
                                     .arg(m_interruptedJobId)
                                     .arg(problem);
            }
            finish();
            return;
        }
    }
    if (!check.error.isEmpty()) {
        m_result.error = check.error;
        finish();
        return;
    }
    m_spec = check.spec;
    // Same file, template, system prompt, provider and model: continue, never import twice.
    if (m_interruptedJobId) {
        // Handled above.
    } else if (const auto existing = m_store.findJobByFingerprint(m_spec.fingerprint())) {
        const auto info = m_store.job(*existing);
        if (info && info->state != JobState::Importing) {
            m_result.ok = true;
            m_result.jobId = *existing;
            m_result.continued = true;
            m_result.rows = info->counts.total();
            finish();
            return;
        }
        // An import that was interrupted: start it again from scratch under its own id.
        m_interruptedJobId = *existing;
    }
    m_pipeline = std::make_unique<Pipeline>();
    m_pipeline->sampleRows = check.sampleRows;
    ingest::CsvReader &reader = m_pipeline->reader;
    if (!reader.open(m_spec.sourcePath, readerOptions(m_spec))) {
        m_result.error = reader.errorString();
        finish();
        return;
    }
    m_result.warnings = reader.headerWarnings();
    if (m_interruptedJobId)
        m_jobId = m_store.discardTasks(m_interruptedJobId) ? m_interruptedJobId : 0;
    else
        m_jobId = m_store.createJob(m_spec, reader.header(), m_nowMs);
    if (!m_jobId) {
        m_result.error = m_store.errorString();
        m_result.databaseFailed = true;
        finish();
        return;
    }
    m_emptyPrompts = std::make_unique<EmptyPromptCounter>(m_spec.templateText, reader.header());
    m_pipeline->totalBytes = reader.totalBytes();
    // From here until the last chunk is queued the reader is the parser thread's alone.
    m_pipeline->queue.handOver();
    // Each chunk the parser queues wakes this thread, which stores it a slice per turn of
    // the event loop: other work (a priority-1 job's claims and answers) waits one slice.
    m_pipeline->parser = QtConcurrent::run([this, pipeline = m_pipeline.get()] {
        pipeline->queue.handOver();
        constexpr int kChunkRows = 8192;
        QStringList fields;
        const QList<qint64> &sample = pipeline->sampleRows;
        qint64 rowNumber = 0;
        qsizetype sampled = 0;
        for (;;) {
            ParsedChunk chunk;
            chunk.rows.reserve(sample.isEmpty() ? kChunkRows : qMin<qsizetype>(kChunkRows, sample.size()));
            bool more = true;
            while (chunk.rows.size() < kChunkRows && (more = pipeline->reader.readRow(fields))) {
                ++rowNumber;
                if (!sample.isEmpty()) {
                    if (sample.at(sampled) != rowNumber)
                        continue;
                    chunk.rowNumbers.append(rowNumber);
                    if (++sampled == sample.size()) {
                        chunk.rows.append(fields);
                        more = false; // the rest of the file is not needed
                        break;
                    }
                }
                chunk.rows.append(fields);
            }
            chunk.bytesRead = pipeline->reader.bytesRead();
            chunk.last = !more;
            if (pipeline->reader.hasError())
                chunk.error = pipeline->reader.errorString();
            if (!pipeline->queue.push(std::move(chunk)))
                return;
            QMetaObject::invokeMethod(this, &JobImport::wake, Qt::QueuedConnection);
            if (!more)
                return;
        }
    });
}

void JobImport::wake()
{
    if (m_done || !m_pipeline || m_pipeline->sliceScheduled)
        return;
    m_pipeline->sliceScheduled = true;
    QMetaObject::invokeMethod(this, &JobImport::storeSlice, Qt::QueuedConnection);
}

void JobImport::storeSlice()
{
    if (m_done || !m_pipeline)
        return;
    Pipeline &pipeline = *m_pipeline;
    pipeline.sliceScheduled = false;
    if (!pipeline.current) {
        pipeline.current = pipeline.queue.tryPop();
        pipeline.stored = 0;
        if (!pipeline.current)
            return; // the parser wakes this thread with the next chunk
    }
    ParsedChunk &chunk = *pipeline.current;
    if (!chunk.error.isEmpty())
        return fail(chunk.error);
    if (m_cancel && m_cancel->load())
        return fail(u"import of %1 cancelled"_s.arg(m_spec.sourcePath));
    const qsizetype count = qMin<qsizetype>(pipeline.sliceRows, chunk.rows.size() - pipeline.stored);
    if (count > 0) {
        QElapsedTimer took;
        took.start();
        const QList<QStringList> slice = chunk.rows.mid(pipeline.stored, count);
        const qint64 firstRowNumber =
            chunk.rowNumbers.isEmpty() ? m_nextRow : chunk.rowNumbers.at(pipeline.stored);
        if (!appendSlice(slice, chunk.rowNumbers.mid(pipeline.stored, count)))
            return failInDatabase();
        crashPoint("import.chunk-stored");
        m_emptyPrompts->count(slice, firstRowNumber);
        // A turn of about kTurnMs whatever the disk and the machine's load: halve the slice
        // when it took longer, double it when it took less than half.
        const qint64 ms = took.elapsed();
        if (ms > kTurnMs)
            pipeline.sliceRows = qMax(kMinSliceRows, pipeline.sliceRows / 2);
        else if (ms < kTurnMs / 2)
            pipeline.sliceRows = qMin(kMaxSliceRows, pipeline.sliceRows * 2);
        pipeline.stored += count;
        m_nextRow += count;
        m_result.rows += count;
        Q_EMIT progressed(m_result.rows, chunk.bytesRead, pipeline.totalBytes);
    }
    if (pipeline.stored < chunk.rows.size() || !chunk.last) {
        if (pipeline.stored >= chunk.rows.size())
            pipeline.current.reset();
        wake(); // the next slice after whatever else waits in the event loop
        return;
    }
    m_pipeline->parser.waitForFinished(); // it returned after queueing the last chunk
    if (m_result.rows == 0)
        return fail(u"%1: no data rows after the header"_s.arg(m_spec.sourcePath));
    if (const QString warning = m_emptyPrompts->warning(m_spec.sourcePath); !warning.isEmpty())
        m_result.warnings.append(warning);
    crashPoint("import.rows-stored");
    // Known only now: a fallback to Windows-1252 may come late in the file.
    m_result.encoding = m_pipeline->reader.encoding();
    m_result.encodingNote = m_pipeline->reader.encodingNote();
    if (!m_result.encodingNote.isEmpty())
        m_result.warnings.append(m_spec.sourcePath + u": "_s + m_result.encodingNote);
    if (!m_store.setJobState(m_jobId, JobState::Paused, stopCauseReason(StopCause::Imported),
                             m_nowMs))
        return failInDatabase();
    m_result.ok = true;
    m_result.jobId = m_jobId;
    finish();
}

bool JobImport::appendSlice(const QList<QStringList> &rows, const QList<qint64> &rowNumbers)
{
    if (rowNumbers.isEmpty())
        return m_store.appendTasks(m_jobId, m_nextRow, rows, m_spec.priority, m_nowMs);
    // A sample: each row under its number in the input, neighbours in one call.
    for (qsizetype first = 0; first < rows.size();) {
        qsizetype run = 1;
        while (first + run < rows.size()
               && rowNumbers.at(first + run) == rowNumbers.at(first) + run)
            ++run;
        if (!m_store.appendTasks(m_jobId, rowNumbers.at(first), rows.mid(first, run),
                                 m_spec.priority, m_nowMs))
            return false;
        first += run;
    }
    return true;
}

void JobImport::abandon(const QString &why)
{
    if (!m_done)
        fail(why);
}

void JobImport::failInDatabase()
{
    fail(m_store.errorString(), true);
}

void JobImport::fail(const QString &error, bool databaseFailed)
{
    if (m_pipeline) {
        m_pipeline->queue.close();
        m_pipeline->parser.waitForFinished();
    }
    if (m_jobId)
        m_store.deleteJob(m_jobId);
    m_result = ImportResult{};
    m_result.error = error;
    m_result.databaseFailed = databaseFailed;
    finish();
}

void JobImport::finish()
{
    m_done = true;
    Q_EMIT finished(m_result);
}

ImportResult importJob(store::Store &store, JobSpec spec, qint64 nowMs)
{
    JobImport import(store, std::move(spec), nowMs, nullptr);
    ImportResult result;
    QEventLoop loop;
    QObject::connect(&import, &JobImport::finished, &loop, [&](const ImportResult &finished) {
        result = finished;
        loop.quit();
    });
    import.start();
    loop.exec();
    return result;
}


bool exportJob(store::Store &store, const JobInfo &job, const QString &path, QString *error,
               const std::function<void(qint64 rows)> &progress,
               const std::function<bool()> &cancelled, QStringList *warnings)
{
    if (warnings)
        warnings->clear();
    auto writer = ingest::ExportWriter::create(path, error);
    if (!writer)
        return false;
    // A tiered job's export says each row's tier, after the contract's columns.
    const bool tiered = job.spec.model == cost::kAutoModel;
    // Structured answers: one column per field, right after output.
    std::optional<ingest::OutputSchema> schema;
    const QString schemaText = job.spec.settings.value(settingkeys::outputSchema).toString();
    if (!schemaText.isEmpty()) {
        schema = ingest::OutputSchema::parse(schemaText.toUtf8(), u"the job's output schema"_s,
                                             error);
        if (!schema)
            return false;
    }
    if (!writer->begin(job.columns, tiered ? QStringList{u"tier"_s} : QStringList(),
                       schema ? schema->fieldNames() : QStringList())) {
        *error = writer->errorString();
        return false;
    }
    qint64 rows = 0;
    bool writeOk = true;
    bool stopped = cancelled && cancelled();
    const bool readOk = stopped || store.forEachExportRow(job.id, [&](const ingest::ExportRow &stored) {
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
            result.error = noSuchJobText(request.jobId);
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
