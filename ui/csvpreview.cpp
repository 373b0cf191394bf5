#include "csvpreview.h"

#include "ingest/csvreader.h"

#include <QCoreApplication>
#include <QFileInfo>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

QString tr(const char *text)
{
    return QCoreApplication::translate("bd::ui::CsvPreview", text);
}

} // namespace

CsvPreview readCsvPreview(const QString &path, const QString &encoding, QChar delimiter,
                          int maxRows)
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
    } else if (preview.bytesRead > 0 && preview.totalBytes > 0) {
        preview.estimatedRows = qint64(double(preview.totalBytes) / double(preview.bytesRead)
                                       * double(preview.rows.size()));
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
