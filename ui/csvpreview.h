#pragma once

#include <QChar>
#include <QList>
#include <QString>
#include <QStringList>

#include <atomic>

// Reading the head of a CSV for the import wizard, and counting the rest. Both are plain
// functions meant for QtConcurrent::run: they read the disk and must never run on the GUI
// thread.
namespace bd::ui {

struct CsvPreview
{
    QString path;
    bool ok = false;
    QString error;       // names the file, the line and the problem
    QString encoding;    // as detected or as asked
    QChar delimiter;
    QStringList header;
    QStringList warnings;
    QList<QStringList> rows;
    bool complete = false; // the file has no more rows than these
    qint64 bytesRead = 0;
    qint64 totalBytes = -1;
    qint64 estimatedRows = 0; // exact when rowsExact, else from the records in the file's head
    bool rowsExact = false;   // the head held the whole file
};

// Data records in the first sampleBytes of a CSV, found on the raw bytes (a line break
// inside quotes does not end a record), and from them the whole file's: exact when the
// sample reached the end, else scaled by the file's size.
struct CsvRowEstimate
{
    qint64 rows = 0;
    bool exact = false;
};
CsvRowEstimate estimateCsvRows(const QString &path, qint64 sampleBytes);

struct CsvScan
{
    bool ok = false;
    bool cancelled = false;
    qint64 rows = 0;
    QString error;
    qint64 totalChars = 0; // characters over all values (for the token estimate)
};

// encoding empty and delimiter null: detect.
CsvPreview readCsvPreview(const QString &path, const QString &encoding, QChar delimiter,
                          int maxRows, qint64 sampleBytes = qint64(1) << 20);
// Reads the whole file: counts rows and finds the first broken one. cancel may be set
// from another thread.
CsvScan scanCsv(const QString &path, const QString &encoding, QChar delimiter,
                const std::atomic<bool> *cancel);

} // namespace bd::ui
