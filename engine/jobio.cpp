#include "jobio.h"

#include "ingest/csvreader.h"
#include "ingest/exportwriter.h"
#include "ingest/prompttemplate.h"
#include "store/store.h"

#include <QCryptographicHash>
#include <QFile>
#include <QFileInfo>

namespace bd {

using namespace Qt::StringLiterals;

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
    if (!QFileInfo(spec.sourcePath).isFile()) {
        *error = u"%1: no such file"_s.arg(spec.sourcePath);
        return false;
    }
    ingest::CsvReader reader;
    if (!reader.open(spec.sourcePath)) {
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
    spec.sourceSha256 = fileSha256(spec.sourcePath, error);
    return !spec.sourceSha256.isEmpty();
}

ImportResult importJob(store::Store &store, JobSpec spec, qint64 nowMs,
                       const ImportProgress &progress, const std::atomic<bool> *cancel)
{
    ImportResult result;
    QStringList columns;
    if (!validateJobSpec(spec, &columns, &result.error))
        return result;

    // Same file, template, system prompt, provider and model: continue, never import twice.
    if (const auto existing = store.findJobByFingerprint(spec.fingerprint())) {
        const auto info = store.job(*existing);
        if (info && info->state != JobState::Importing) {
            result.ok = true;
            result.jobId = *existing;
            result.continued = true;
            result.rows = info->counts.total();
            return result;
        }
        // An import that was interrupted: start it again from scratch.
        store.deleteJob(*existing);
    }

    ingest::CsvReader reader;
    if (!reader.open(spec.sourcePath)) {
        result.error = reader.errorString();
        return result;
    }
    result.warnings = reader.headerWarnings();
    const qint64 jobId = store.createJob(spec, reader.header(), nowMs);
    if (!jobId) {
        result.error = store.errorString();
        return result;
    }

    // Chunks keep memory flat and let the writer interleave with other work; the job stays
    // in Importing (never claimable) until the last chunk is in, and is deleted on failure.
    constexpr int kChunkRows = 8192;
    QList<QStringList> chunk;
    chunk.reserve(kChunkRows);
    QStringList fields;
    qint64 firstRowOfChunk = 1;
    const auto abandon = [&](const QString &error) {
        result.error = error;
        store.deleteJob(jobId);
        return result;
    };
    for (;;) {
        const bool more = reader.readRow(fields);
        if (more)
            chunk.append(fields);
        if (reader.hasError())
            return abandon(reader.errorString());
        if (chunk.size() == kChunkRows || (!more && !chunk.isEmpty())) {
            if (cancel && cancel->load())
                return abandon(u"import of %1 cancelled"_s.arg(spec.sourcePath));
            if (!store.appendTasks(jobId, firstRowOfChunk, chunk, spec.priority, nowMs))
                return abandon(store.errorString());
            firstRowOfChunk += chunk.size();
            result.rows += chunk.size();
            chunk.clear();
            if (progress)
                progress(result.rows, reader.bytesRead(), reader.totalBytes());
        }
        if (!more)
            break;
    }
    if (result.rows == 0)
        return abandon(u"%1: no data rows after the header"_s.arg(spec.sourcePath));
    if (!store.setJobState(jobId, JobState::Paused, u"imported"_s, nowMs))
        return abandon(store.errorString());
    result.ok = true;
    result.jobId = jobId;
    return result;
}

bool exportJob(store::Store &store, qint64 jobId, const QString &path, QString *error,
               const std::function<void(qint64 rows)> &progress)
{
    const auto info = store.job(jobId);
    if (!info) {
        *error = u"no job %1 in the database"_s.arg(jobId);
        return false;
    }
    auto writer = ingest::ExportWriter::create(path, error);
    if (!writer)
        return false;
    if (!writer->begin(info->columns)) {
        *error = writer->errorString();
        return false;
    }
    qint64 rows = 0;
    bool writeOk = true;
    const bool readOk = store.forEachExportRow(jobId, [&](const ingest::ExportRow &row) {
        if (!writer->writeRow(row)) {
            writeOk = false;
            return false;
        }
        if (progress && (++rows % 10'000) == 0)
            progress(rows);
        return true;
    });
    if (!readOk) {
        *error = store.errorString();
        return false;
    }
    if (!writeOk || !writer->finish()) {
        *error = writer->errorString();
        return false;
    }
    return true;
}

} // namespace bd
