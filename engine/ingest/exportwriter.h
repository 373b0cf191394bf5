#pragma once

#include "core/exportrow.h"

#include <QString>
#include <QStringList>

#include <memory>
#include <optional>

namespace bd::ingest {

// One row of an export: the input row as imported and what became of its task (the
// type is the store's, core/exportrow.h).
using ExportRow = bd::ExportRow;

// Streams rows to CSV, JSONL or XLSX as CLI.md defines the columns: every input column
// in its original order, then the result columns. Rows are written as they come, so the
// caller controls memory by paging. Not thread-safe.
class ExportWriter
{
public:
    enum class Format
    {
        Csv,
        Jsonl,
        Xlsx
    };

    virtual ~ExportWriter() = default;

    // Chooses the format from the file extension (.csv, .jsonl, .xlsx); nullptr and a
    // message for anything else.
    static std::unique_ptr<ExportWriter> create(const QString &path, QString *error);
    static std::unique_ptr<ExportWriter> create(const QString &path, Format format);
    static std::optional<Format> formatForPath(const QString &path);

    // Result column names after the input columns; an input column of the same name keeps
    // its name and the result column gets a trailing underscore ("status_").
    static QStringList resultColumnNames(const QStringList &inputColumns);

    // extraColumns come after the result columns (CLI.md allows columns after the listed
    // ones); each row brings their values in ExportRow::extraValues. fieldColumns (a
    // structured answer's fields) come right after `output`, renamed like the result columns
    // when a name is taken; each row brings ExportRow::fieldValues.
    virtual bool begin(const QStringList &inputColumns, const QStringList &extraColumns = {},
                       const QStringList &fieldColumns = {}) = 0;
    virtual bool writeRow(const ExportRow &row) = 0;
    // Flushes and closes; the file is complete only after this returns true.
    virtual bool finish() = 0;
    virtual QString errorString() const = 0;
    // What the user should be told although the export succeeded (XLSX: cells cut to the
    // 32,767 characters a cell holds, with how many). Complete after finish().
    virtual QStringList warnings() const { return {}; }
    // XLSX: cells cut to fit so far; 0 for the other formats.
    virtual qint64 truncatedCells() const { return 0; }
};

} // namespace bd::ingest
