#include "csvpreview.h"

#include "ingest/csvreader.h"

#include <QCoreApplication>
#include <QFile>
#include <QFileInfo>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("bd::ui::CsvPreview", text);
}

} // namespace

CsvRowEstimate estimateCsvRows(const QString &path, qint64 sampleBytes)
{
    CsvRowEstimate estimate;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return estimate;
    const qint64 total = file.size();
    const QByteArray head = file.read(sampleBytes);
    const bool whole = head.size() >= total;
    // Scanned as bytes: '"', '\n' and '\r' are single bytes in UTF-8 and Windows-1252, and
    // their low bytes in UTF-16, so quotes and record ends are found without decoding.
    qint64 records = 0;
    qint64 headerEnd = -1; // byte after the header record
    qint64 lastEnd = 0;    // byte after the last whole record
    bool quoted = false;
    bool content = false;
    for (qsizetype i = 0; i < head.size(); ++i) {
        const char c = head.at(i);
        if (c == '"') {
            quoted = !quoted;
            content = true;
        } else if (c == '\n' && !quoted) {
            if (content) {
                ++records;
                lastEnd = i + 1;
                if (headerEnd < 0)
                    headerEnd = lastEnd;
            }
            content = false;
        } else if (c != '\r' && c != '\0') {
            content = true;
        }
    }
    if (whole) {
        if (content)
            ++records; // the last record has no line break
        estimate.rows = qMax<qint64>(0, records - 1);
        estimate.exact = true;
        return estimate;
    }
    const qint64 sampled = records - 1;
    if (headerEnd < 0 || sampled <= 0 || lastEnd <= headerEnd)
        return estimate; // not one whole data record in the sample
    estimate.rows =
        qint64(double(sampled) * double(total - headerEnd) / double(lastEnd - headerEnd) + 0.5);
    return estimate;
}

CsvPreview readCsvPreview(const QString &path, const QString &encoding, QChar delimiter,
                          int maxRows, qint64 sampleBytes)
{
    CsvPreview preview;
    preview.path = path;
    const QFileInfo info(path);
    if (!info.isFile()) {
        preview.error = tr("%1: not a file").arg(path);
        return preview;
    }
    if (info.size() == 0) {
        preview.error = tr("%1:1: the file is empty").arg(info.fileName());
        return preview;
    }
    ingest::CsvReader reader;
    ingest::CsvReader::Options options;
    options.encoding = encoding;
    options.delimiter = delimiter;
    if (!reader.open(path, options)) {
        preview.error = reader.errorString();
        return preview;
    }
    preview.encoding = reader.encoding();
    preview.delimiter = reader.delimiter();
    preview.header = reader.header();
    preview.warnings = reader.headerWarnings();
    QStringList fields;
    while (preview.rows.size() < maxRows) {
        if (!reader.readRow(fields)) {
            if (reader.hasError()) {
                preview.error = reader.errorString();
                return preview;
            }
            preview.complete = true;
            break;
        }
        preview.rows.append(fields);
    }
    preview.bytesRead = reader.bytesRead();
    preview.totalBytes = reader.totalBytes();
    if (preview.complete) {
        preview.estimatedRows = preview.rows.size();
        preview.rowsExact = true;
    } else {
        // Not from bytesRead: that counts the reader's whole buffered chunk, not the bytes
        // of the rows parsed (a 2,000-row file read as "≈ 151 rows").
        const CsvRowEstimate estimate = estimateCsvRows(path, sampleBytes);
        preview.estimatedRows = qMax<qint64>(estimate.rows, preview.rows.size());
        preview.rowsExact = estimate.exact && estimate.rows >= preview.rows.size();
    }
    if (preview.rows.isEmpty()) {
        preview.error = tr("%1: no data rows after the header").arg(info.fileName());
        return preview;
    }
    preview.ok = true;
    return preview;
}

CsvScan scanCsv(const QString &path, const QString &encoding, QChar delimiter,
                const std::atomic<bool> *cancel)
{
    CsvScan scan;
    ingest::CsvReader reader;
    ingest::CsvReader::Options options;
    options.encoding = encoding;
    options.delimiter = delimiter;
    if (!reader.open(path, options)) {
        scan.error = reader.errorString();
        return scan;
    }
    QStringList fields;
    while (reader.readRow(fields)) {
        ++scan.rows;
        for (const QString &field : std::as_const(fields))
            scan.totalChars += field.size();
        if ((scan.rows & 1023) == 0 && cancel && cancel->load()) {
            scan.cancelled = true;
            return scan;
        }
    }
    if (reader.hasError()) {
        scan.error = reader.errorString();
        return scan;
    }
    scan.ok = true;
    return scan;
}

} // namespace bd::ui
