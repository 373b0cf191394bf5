#include "exportwriter.h"

#include "outputschema.h"

#include <array>
#include <cmath>
#include <filesystem>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonValue>
#include <QRandomGenerator>
#include <QSaveFile>
#include <system_error>
#include <xlsxwriter.h>

#ifdef Q_OS_UNIX
#include <cerrno>
#include <csignal>
#endif

// Three writers behind one interface. CSV and JSONL are encoded by hand straight from
// UTF-16 into a byte buffer (no per-cell QByteArray, no QJsonDocument) and written through
// a QSaveFile, so the file only appears under its name once finish() succeeded. XLSX goes
// through libxlsxwriter in constant_memory mode into a temporary file next to the target
// that finish() renames over it.
//
// Decisions beyond CLI.md:
//  - Result column renaming compares names case-sensitively ("Status" keeps the plain
//    "status" result column next to it), as JSON keys and CSV headers are case-sensitive.
//  - CSV neutralises every text cell, the header included, but never the numeric result
//    columns. JSONL and XLSX keep text as it was (an XLSX string cell is never a formula).
//  - cost_usd is written rounded to 10 decimals (15 significant digits at most) without
//    trailing zeros and never in exponent notation ("0.000075"); unknown (or non-finite) cost is
//    empty in CSV, null in JSONL and a blank cell in XLSX.
//  - XLSX: a text longer than the 32,767 characters a cell holds is truncated and the export
//    goes on; warnings() (and errorString()) then report how many cells were cut even though
//    finish() succeeds.
//    More rows than a sheet holds (1,048,576 including the header) fail the export.
//  - Any failure is final: later calls return false, finish() discards the partial file and
//    an existing file at the target path is left untouched.

namespace bd::ingest {

namespace {

const std::array<QLatin1StringView, 10> kResultColumns = {
    QLatin1StringView("status"),        QLatin1StringView("output"),
    QLatin1StringView("error"),         QLatin1StringView("model"),
    QLatin1StringView("input_tokens"),  QLatin1StringView("output_tokens"),
    QLatin1StringView("cached_tokens"), QLatin1StringView("cost_usd"),
    QLatin1StringView("attempts"),      QLatin1StringView("task_id"),
};

constexpr qsizetype kBufferFlushBytes = 1 << 20;
constexpr qsizetype kXlsxMaxCellChars = 32767; // LXW_STR_MAX, Excel's cell limit

QString displayPath(const QString &path)
{
    return QDir::toNativeSeparators(path);
}

bool isFormulaStart(char16_t c)
{
    return c == u'=' || c == u'+' || c == u'-' || c == u'@' || c == u'\t' || c == u'\r';
}

// Encodes the code unit at it (and its low surrogate) as UTF-8 at p; a lone surrogate
// becomes U+FFFD so the output is always valid UTF-8. Needs room for 4 bytes.
inline char *putUtf8(char *p, const char16_t *&it, const char16_t *end)
{
    const char16_t c = *it++;
    if (c < 0x80) {
        *p++ = char(c);
        return p;
    }
    if (c < 0x800) {
        *p++ = char(0xC0 | (c >> 6));
        *p++ = char(0x80 | (c & 0x3F));
        return p;
    }
    char32_t cp = c;
    if (QChar::isSurrogate(c)) {
        if (QChar::isHighSurrogate(c) && it != end && QChar::isLowSurrogate(*it)) {
            cp = QChar::surrogateToUcs4(c, *it++);
            *p++ = char(0xF0 | (cp >> 18));
            *p++ = char(0x80 | ((cp >> 12) & 0x3F));
            *p++ = char(0x80 | ((cp >> 6) & 0x3F));
            *p++ = char(0x80 | (cp & 0x3F));
            return p;
        }
        cp = 0xFFFD;
    }
    *p++ = char(0xE0 | (cp >> 12));
    *p++ = char(0x80 | ((cp >> 6) & 0x3F));
    *p++ = char(0x80 | (cp & 0x3F));
    return p;
}

// RFC 4180 field. Worst case 3 bytes per UTF-16 unit ("" for a quote, 3-byte BMP
// characters, 4 bytes per surrogate pair) plus the quotes and the apostrophe.
void appendCsvField(QByteArray &out, QStringView text, bool neutralise)
{
    const char16_t *const begin = text.utf16();
    const char16_t *const end = begin + text.size();
    bool quote = false;
    for (const char16_t *it = begin; it != end; ++it) {
        const char16_t c = *it;
        if (c == u',' || c == u'"' || c == u'\n' || c == u'\r') {
            quote = true;
            break;
        }
    }
    const bool prefix = neutralise && begin != end && isFormulaStart(*begin);

    const qsizetype oldSize = out.size();
    out.resize(oldSize + text.size() * 3 + 3);
    char *p = out.data() + oldSize;
    if (quote)
        *p++ = '"';
    if (prefix)
        *p++ = '\'';
    const char16_t *it = begin;
    while (it != end) {
        const char16_t c = *it;
        if (c < 0x80) {
            *p++ = char(c);
            if (c == u'"')
                *p++ = '"';
            ++it;
        } else {
            p = putUtf8(p, it, end);
        }
    }
    if (quote)
        *p++ = '"';
    out.resize(p - out.constData());
}

// JSON string with quotes. Worst case 6 bytes per UTF-16 unit (\u001f).
void appendJsonString(QByteArray &out, QStringView text)
{
    static constexpr char kHex[] = "0123456789abcdef";
    const char16_t *it = text.utf16();
    const char16_t *const end = it + text.size();

    const qsizetype oldSize = out.size();
    out.resize(oldSize + text.size() * 6 + 2);
    char *p = out.data() + oldSize;
    *p++ = '"';
    while (it != end) {
        const char16_t c = *it;
        if (c >= 0x80) {
            p = putUtf8(p, it, end);
            continue;
        }
        ++it;
        if (c >= 0x20 && c != u'"' && c != u'\\') {
            *p++ = char(c);
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case u'"':
            *p++ = '"';
            break;
        case u'\\':
            *p++ = '\\';
            break;
        case u'\n':
            *p++ = 'n';
            break;
        case u'\r':
            *p++ = 'r';
            break;
        case u'\t':
            *p++ = 't';
            break;
        case u'\b':
            *p++ = 'b';
            break;
        case u'\f':
            *p++ = 'f';
            break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = kHex[c >> 4];
            *p++ = kHex[c & 0xF];
            break;
        }
    }
    *p++ = '"';
    out.resize(p - out.constData());
}

bool costKnown(const std::optional<double> &cost)
{
    return cost.has_value() && std::isfinite(*cost);
}

// "0.000075", "12.5", "0": fixed notation, no trailing zeros, 10 decimals at most and no
// more than 15 significant digits, so binary noise (0.1 + 0.2, 1234567.891) never shows.
QByteArray formatCost(double value)
{
    const double magnitude = std::fabs(value);
    const int integerDigits = magnitude >= 1 ? int(std::floor(std::log10(magnitude))) + 1 : 0;
    const int decimals = qBound(0, 15 - integerDigits, 10);
    QByteArray text = QByteArray::number(value, 'f', decimals);
    if (text.contains('.')) {
        qsizetype size = text.size();
        while (text.at(size - 1) == '0')
            --size;
        if (text.at(size - 1) == '.')
            --size;
        text.truncate(size);
    }
    if (text == "-0")
        text = "0";
    return text;
}

// ---------------------------------------------------------------------------------------

// State handling shared by all formats: begin() once, rows, finish() once; the first
// failure sticks.
class WriterBase : public ExportWriter
{
public:
    explicit WriterBase(const QString &path)
        : m_path(path)
    {
    }

    bool begin(const QStringList &inputColumns, const QStringList &extraColumns,
               const QStringList &fieldColumns) final
    {
        if (m_state != State::New)
            return misuse(QStringLiteral("begin() called twice"));
        m_inputCount = inputColumns.size();
        m_extraCount = extraColumns.size();
        m_fieldCount = fieldColumns.size();
        m_columns = inputColumns + ExportWriter::resultColumnNames(inputColumns);
        for (QString name : extraColumns) {
            while (inputColumns.contains(name))
                name += u'_'; // like the result columns
            m_columns.append(name);
        }
        const qsizetype afterOutput = m_inputCount + 2; // status, output
        for (qsizetype i = 0; i < fieldColumns.size(); ++i) {
            QString name = fieldColumns.at(i);
            while (m_columns.contains(name))
                name += u'_';
            m_columns.insert(afterOutput + i, name);
        }
        if (!doBegin()) {
            m_state = State::Failed;
            doAbort();
            return false;
        }
        m_state = State::Writing;
        return true;
    }

    bool writeRow(const ExportRow &row) final
    {
        if (m_state != State::Writing)
            return misuse(QStringLiteral("writeRow() outside begin()/finish()"));
        if (row.inputValues.size() != m_inputCount) {
            return fail(QStringLiteral("row %1 has %2 input values, expected %3")
                            .arg(m_rowsWritten + 1)
                            .arg(row.inputValues.size())
                            .arg(m_inputCount));
        }
        if (row.fieldValues.size() != m_fieldCount) {
            return fail(QStringLiteral("row %1 has %2 field values, expected %3")
                            .arg(m_rowsWritten + 1)
                            .arg(row.fieldValues.size())
                            .arg(m_fieldCount));
        }
        if (row.extraValues.size() != m_extraCount) {
            return fail(QStringLiteral("row %1 has %2 extra values, expected %3")
                            .arg(m_rowsWritten + 1)
                            .arg(row.extraValues.size())
                            .arg(m_extraCount));
        }
        if (!doWriteRow(row)) {
            m_state = State::Failed;
            doAbort();
            return false;
        }
        ++m_rowsWritten;
        return true;
    }

    bool finish() final
    {
        if (m_state == State::Finished)
            return true;
        if (m_state != State::Writing)
            return misuse(QStringLiteral("finish() without begin()"));
        if (!doFinish()) {
            m_state = State::Failed;
            doAbort();
            return false;
        }
        m_state = State::Finished;
        return true;
    }

    QString errorString() const override { return m_error; }

protected:
    // Records the first failure as "<path>: <what>" and makes it final.
    bool fail(const QString &what)
    {
        if (m_error.isEmpty())
            m_error = displayPath(m_path) + QStringLiteral(": ") + what;
        if (m_state != State::Failed) {
            m_state = State::Failed;
            doAbort();
        }
        return false;
    }

    virtual bool doBegin() = 0;
    virtual bool doWriteRow(const ExportRow &row) = 0;
    virtual bool doFinish() = 0;
    // Drops whatever was written; must be safe to call more than once.
    virtual void doAbort() = 0;

    const QString m_path;
    QStringList m_columns; // input columns, then the (renamed) result columns
    qsizetype m_inputCount = 0;
    qsizetype m_fieldCount = 0;
    qsizetype m_extraCount = 0;
    qint64 m_rowsWritten = 0;
    QString m_error;

private:
    enum class State
    {
        New,
        Writing,
        Finished,
        Failed
    };

    bool misuse(const QString &what)
    {
        if (m_state == State::Failed)
            return false; // keep the original error
        return fail(what);
    }

    State m_state = State::New;
};

// CSV and JSONL: bytes into a buffer, the buffer into a QSaveFile.
class TextWriter : public WriterBase
{
public:
    using WriterBase::WriterBase;

protected:
    virtual void appendHeader(QByteArray &out) = 0;
    virtual void appendRow(QByteArray &out, const ExportRow &row) = 0;

    bool doBegin() override
    {
        m_file.setFileName(m_path);
        // Unbuffered: our own buffer is the only one, so every write reaches the disk (and
        // its error reaches us) here; QFileDevice's buffer would flush inside commit(), and
        // a failure of that flush is not reported by commit() (a full disk then yields an
        // empty file and success).
        if (!m_file.open(QIODevice::WriteOnly | QIODevice::Unbuffered))
            return fail(QStringLiteral("cannot create the file: ") + m_file.errorString());
        m_buffer.reserve(kBufferFlushBytes + (kBufferFlushBytes >> 2));
        appendHeader(m_buffer);
        return flush(false);
    }

    bool doWriteRow(const ExportRow &row) override
    {
        appendRow(m_buffer, row);
        return flush(false);
    }

    bool doFinish() override
    {
        if (!flush(true))
            return false;
        if (!m_file.flush() || m_file.error() != QFileDevice::NoError)
            return fail(QStringLiteral("cannot write the file: ") + m_file.errorString());
        if (!m_file.commit())
            return fail(QStringLiteral("cannot write the file: ") + m_file.errorString());
        return true;
    }

    void doAbort() override
    {
        if (m_file.isOpen()) {
            m_file.cancelWriting();
            m_file.commit(); // after cancelWriting() this only removes the temporary file
        }
        m_buffer = QByteArray();
    }

private:
    bool flush(bool force)
    {
        if (m_buffer.isEmpty() || (!force && m_buffer.size() < kBufferFlushBytes))
            return true;
        if (m_file.write(m_buffer) != m_buffer.size())
            return fail(QStringLiteral("cannot write the file: ") + m_file.errorString());
        m_buffer.resize(0);
        return true;
    }

    QSaveFile m_file;
    QByteArray m_buffer;
};

class CsvWriter final : public TextWriter
{
public:
    using TextWriter::TextWriter;

protected:
    void appendHeader(QByteArray &out) override
    {
        for (qsizetype i = 0; i < m_columns.size(); ++i) {
            if (i > 0)
                out.append(',');
            appendCsvField(out, m_columns.at(i), true);
        }
        out.append("\r\n", 2);
    }

    void appendRow(QByteArray &out, const ExportRow &row) override
    {
        for (const QString &value : row.inputValues) {
            appendCsvField(out, value, true);
            out.append(',');
        }
        appendCsvField(out, row.status, true);
        out.append(',');
        appendCsvField(out, row.output, true);
        out.append(',');
        for (const QJsonValue &value : row.fieldValues) {
            // Numbers and yes/no as they are: "-3" is a number, not a formula.
            appendCsvField(out, fieldValueText(value),
                           value.isString() || value.isArray() || value.isObject());
            out.append(',');
        }
        appendCsvField(out, row.error, true);
        out.append(',');
        appendCsvField(out, row.model, true);
        out.append(',');
        out.append(QByteArray::number(row.inputTokens));
        out.append(',');
        out.append(QByteArray::number(row.outputTokens));
        out.append(',');
        out.append(QByteArray::number(row.cachedTokens));
        out.append(',');
        if (costKnown(row.costUsd))
            out.append(formatCost(*row.costUsd));
        out.append(',');
        out.append(QByteArray::number(row.attempts));
        out.append(',');
        out.append(QByteArray::number(row.taskId));
        for (const QString &value : row.extraValues) {
            out.append(',');
            appendCsvField(out, value, true);
        }
        out.append("\r\n", 2);
    }
};

class JsonlWriter final : public TextWriter
{
public:
    using TextWriter::TextWriter;

protected:
    void appendHeader(QByteArray &) override
    {
        // No header line; precompute `{"key":` and `,"key":` for every column.
        m_keys.clear();
        m_keys.reserve(m_columns.size());
        for (qsizetype i = 0; i < m_columns.size(); ++i) {
            QByteArray key(1, i == 0 ? '{' : ',');
            appendJsonString(key, m_columns.at(i));
            key.append(':');
            m_keys.append(key);
        }
    }

    void appendRow(QByteArray &out, const ExportRow &row) override
    {
        qsizetype column = 0;
        for (const QString &value : row.inputValues) {
            out.append(m_keys.at(column++));
            appendJsonString(out, value);
        }
        out.append(m_keys.at(column++));
        appendJsonString(out, row.status);
        out.append(m_keys.at(column++));
        appendJsonString(out, row.output);
        for (const QJsonValue &value : row.fieldValues) {
            out.append(m_keys.at(column++));
            if (value.isString())
                appendJsonString(out, value.toString());
            else if (value.isUndefined() || value.isNull())
                out.append("null", 4);
            else
                out.append(fieldValueText(value).toUtf8()); // a number, true/false, or JSON
        }
        out.append(m_keys.at(column++));
        appendJsonString(out, row.error);
        out.append(m_keys.at(column++));
        appendJsonString(out, row.model);
        out.append(m_keys.at(column++));
        out.append(QByteArray::number(row.inputTokens));
        out.append(m_keys.at(column++));
        out.append(QByteArray::number(row.outputTokens));
        out.append(m_keys.at(column++));
        out.append(QByteArray::number(row.cachedTokens));
        out.append(m_keys.at(column++));
        if (costKnown(row.costUsd))
            out.append(formatCost(*row.costUsd));
        else
            out.append("null", 4);
        out.append(m_keys.at(column++));
        out.append(QByteArray::number(row.attempts));
        out.append(m_keys.at(column++));
        out.append(QByteArray::number(row.taskId));
        for (const QString &value : row.extraValues) {
            out.append(m_keys.at(column++));
            appendJsonString(out, value);
        }
        // An object with no columns at all cannot happen: there are always result columns.
        out.append("}\n", 2);
    }

private:
    QList<QByteArray> m_keys;
};

// ---------------------------------------------------------------------------------------

class XlsxWriter final : public WriterBase
{
public:
    using WriterBase::WriterBase;
    ~XlsxWriter() override { doAbort(); }

    QString errorString() const override
    {
        if (!m_error.isEmpty() || m_truncatedCells == 0)
            return m_error;
        return truncationWarning();
    }

    QStringList warnings() const override
    {
        if (m_truncatedCells == 0)
            return {};
        return {truncationWarning()};
    }

    qint64 truncatedCells() const override { return m_truncatedCells; }

protected:
    bool doBegin() override
    {
        if (m_columns.size() > LXW_COL_MAX) {
            return fail(QStringLiteral("%1 columns do not fit in an XLSX sheet (at most %2)")
                            .arg(m_columns.size())
                            .arg(LXW_COL_MAX));
        }
        if (!chooseTempPath())
            return false;

        m_tmpDir = QFile::encodeName(QDir::tempPath());
        lxw_workbook_options options = {};
        options.constant_memory = LXW_TRUE;
        options.tmpdir = m_tmpDir.data();
        options.use_zip64 = LXW_FALSE; // Excel is picky about ZIP64; see doFinish()
        m_workbook = workbook_new_opt(QFile::encodeName(m_tempPath).constData(), &options);
        if (!m_workbook)
            return fail(QStringLiteral("cannot start the XLSX workbook"));
        m_sheet = workbook_add_worksheet(m_workbook, "Export");
        m_bold = workbook_add_format(m_workbook);
        if (!m_sheet || !m_bold)
            return fail(QStringLiteral("cannot start the XLSX worksheet"));
        format_set_bold(m_bold);
        worksheet_freeze_panes(m_sheet, 1, 0);

        for (qsizetype i = 0; i < m_columns.size(); ++i) {
            if (!writeText(lxw_col_t(i), m_columns.at(i), m_bold))
                return false;
        }
        ++m_row;
        return true;
    }

    bool doWriteRow(const ExportRow &row) override
    {
        if (m_row >= LXW_ROW_MAX) {
            return fail(QStringLiteral("an XLSX sheet holds at most %1 rows including the "
                                       "header, so row %2 of the export does not fit; "
                                       "export to .csv or .jsonl instead")
                            .arg(LXW_ROW_MAX)
                            .arg(m_rowsWritten + 1));
        }
        lxw_col_t col = 0;
        for (const QString &value : row.inputValues) {
            if (!writeText(col++, value))
                return false;
        }
        if (!writeText(col++, row.status) || !writeText(col++, row.output))
            return false;
        for (const QJsonValue &value : row.fieldValues) {
            if (!writeField(col++, value))
                return false;
        }
        if (!writeText(col++, row.error) || !writeText(col++, row.model) ||
            !writeNumber(col++, double(row.inputTokens)) ||
            !writeNumber(col++, double(row.outputTokens)) ||
            !writeNumber(col++, double(row.cachedTokens))) {
            return false;
        }
        if (costKnown(row.costUsd)) {
            if (!writeNumber(col, *row.costUsd))
                return false;
        }
        ++col;
        if (!writeNumber(col++, double(row.attempts)) || !writeNumber(col++, double(row.taskId)))
            return false;
        for (const QString &value : row.extraValues) {
            if (!writeText(col++, value))
                return false;
        }
        ++m_row;
        return true;
    }

    bool doFinish() override
    {
        lxw_workbook *workbook = m_workbook;
        m_workbook = nullptr; // workbook_close() frees it, whatever it returns
        m_sheet = nullptr;
        const lxw_error closed = workbook_close(workbook);
        if (closed != LXW_NO_ERROR) {
            QString what = QStringLiteral("cannot write the XLSX file: ") +
                           QString::fromUtf8(lxw_strerror(closed));
            if (closed == LXW_ERROR_ZIP_BAD_ZIP_FILE || closed == LXW_ERROR_ZIP_FILE_ADD ||
                closed == LXW_ERROR_ZIP_CLOSE) {
                what += QStringLiteral(" (the sheet may exceed the 4 GB an XLSX part can hold; "
                                       "export to .csv or .jsonl instead)");
            }
            return fail(what);
        }

        if (QFileInfo::exists(m_path))
            QFile::setPermissions(m_tempPath, QFile::permissions(m_path));
        std::error_code ec;
        std::filesystem::rename(std::filesystem::path(m_tempPath.toStdU16String()),
                                std::filesystem::path(m_path.toStdU16String()), ec);
        if (ec) {
            return fail(QStringLiteral("cannot move the finished file into place: ") +
                        QString::fromLocal8Bit(ec.message()));
        }
        m_tempPath.clear();
        return true;
    }

    void doAbort() override
    {
        if (m_workbook) {
            lxw_workbook_free(m_workbook);
            m_workbook = nullptr;
            m_sheet = nullptr;
        }
        if (!m_tempPath.isEmpty()) {
            QFile::remove(m_tempPath);
            m_tempPath.clear();
        }
    }

private:
    QString truncationWarning() const
    {
        return displayPath(m_path) +
               QStringLiteral(": %1 cell(s) longer than the %2 characters an XLSX cell holds "
                              "were truncated (first: sheet row %3, column '%4')")
                   .arg(m_truncatedCells)
                   .arg(kXlsxMaxCellChars)
                   .arg(m_firstTruncatedRow)
                   .arg(m_firstTruncatedColumn);
    }

    // A hidden, unique name next to the target for libxlsxwriter to write at
    // workbook_close(), which is then renamed over the target. Only the name is chosen
    // here: a probe file proves now (not after the last row) that the directory takes new
    // files, and is removed at once, so an export killed while writing rows leaves nothing
    // behind. The name carries our pid so that a later export to the same target can
    // remove what a killed one left during its short close.
    bool chooseTempPath()
    {
        const QFileInfo target(m_path);
        const QString dir = target.absolutePath();
        removeStaleTempFiles(dir, target.fileName());
        QString lastError;
        for (int attempt = 0; attempt < 16; ++attempt) {
            const QString name = dir + QStringLiteral("/.") + target.fileName() + u'.' +
                                 QString::number(QCoreApplication::applicationPid()) + u'-' +
                                 QString::number(QRandomGenerator::global()->generate(), 16) +
                                 QStringLiteral(".tmp");
            QFile file(name);
            if (file.open(QIODevice::WriteOnly | QIODevice::NewOnly)) {
                file.close();
                file.remove();
                m_tempPath = name;
                return true;
            }
            lastError = file.errorString();
            if (!QFileInfo(dir).isDir())
                break;
        }
        return fail(QStringLiteral("cannot create the file: ") + lastError);
    }

    // ".<target>.<pid>-<hex>.tmp" files whose process is gone (same host: the name is ours).
    static void removeStaleTempFiles(const QString &dir, const QString &targetName)
    {
        const QString prefix = u'.' + targetName + u'.';
        const QStringList names = QDir(dir).entryList({prefix + QStringLiteral("*.tmp")},
                                                      QDir::Files | QDir::Hidden | QDir::System);
        for (const QString &name : names) {
            const QStringView middle =
                QStringView(name).mid(prefix.size(), name.size() - prefix.size() - 4);
            const qsizetype dash = middle.indexOf(u'-');
            bool ok = false;
            const qint64 pid = dash > 0 ? middle.left(dash).toLongLong(&ok) : 0;
            if (ok && pid > 0 && !processAlive(pid))
                QFile::remove(dir + u'/' + name);
        }
    }

    static bool processAlive(qint64 pid)
    {
#ifdef Q_OS_UNIX
        return ::kill(pid_t(pid), 0) == 0 || errno != ESRCH;
#else
        Q_UNUSED(pid);
        return true; // cannot tell: keep the file
#endif
    }

    // Text cell: always a string cell. OOXML reads "_xHHHH_" in text as an escaped
    // character, so a literal one gets its underscore escaped ("_x005F_"); NUL, U+FFFE and
    // U+FFFF (not allowed in XML, and NUL would end the C string) are written escaped too.
    // libxlsxwriter escapes the other control characters itself.
    bool writeText(lxw_col_t col, const QString &value, lxw_format *format = nullptr)
    {
        if (value.isEmpty() && !format)
            return true;
        bool truncated = false;
        const QByteArray utf8 = xlsxText(value, &truncated);
        if (truncated) {
            if (m_truncatedCells++ == 0) {
                m_firstTruncatedRow = qint64(m_row) + 1;
                m_firstTruncatedColumn = m_columns.value(col);
            }
        }
        const lxw_error result =
            worksheet_write_string(m_sheet, m_row, col, utf8.constData(), format);
        if (result != LXW_NO_ERROR)
            return cellError(col, result);
        return true;
    }

    // A structured answer's field: numbers and yes/no as Excel's own types.
    bool writeField(lxw_col_t col, const QJsonValue &value)
    {
        if (value.isDouble())
            return writeNumber(col, value.toDouble());
        if (value.isBool()) {
            const lxw_error result =
                worksheet_write_boolean(m_sheet, m_row, col, value.toBool() ? 1 : 0, nullptr);
            return result == LXW_NO_ERROR || cellError(col, result);
        }
        return writeText(col, fieldValueText(value));
    }

    bool writeNumber(lxw_col_t col, double value)
    {
        const lxw_error result = worksheet_write_number(m_sheet, m_row, col, value, nullptr);
        if (result != LXW_NO_ERROR)
            return cellError(col, result);
        return true;
    }

    bool cellError(lxw_col_t col, lxw_error error)
    {
        return fail(QStringLiteral("cannot write sheet row %1, column '%2': %3")
                        .arg(qint64(m_row) + 1)
                        .arg(m_columns.value(col), QString::fromUtf8(lxw_strerror(error))));
    }

    static bool isEscapePattern(QStringView text, qsizetype i)
    {
        // "_xHHHH_" starting at i
        if (i + 7 > text.size() || text[i + 1] != u'x' || text[i + 6] != u'_')
            return false;
        for (qsizetype k = i + 2; k < i + 6; ++k) {
            if (!isAsciiHexDigit(text[k].unicode()))
                return false;
        }
        return true;
    }

    static bool isSurrogatePair(QStringView text, qsizetype i)
    {
        return QChar::isHighSurrogate(text[i].unicode()) && i + 1 < text.size() &&
               QChar::isLowSurrogate(text[i + 1].unicode());
    }

    static bool isAsciiHexDigit(char16_t c)
    {
        return (c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f') || (c >= u'A' && c <= u'F');
    }

    static QByteArray xlsxText(const QString &value, bool *truncated)
    {
        bool plain = value.size() <= kXlsxMaxCellChars;
        for (qsizetype i = 0; plain && i < value.size(); ++i) {
            const char16_t c = value.at(i).unicode();
            if (c == 0 || c == 0xFFFE || c == 0xFFFF || c == u'_')
                plain = false;
            else if (QChar::isSurrogate(c))
                plain = isSurrogatePair(value, i++);
        }
        if (plain)
            return value.toUtf8();

        // Escape, then cut at the cell limit without splitting an escape or a surrogate
        // pair. The limit is applied to the escaped text, which is never shorter than what
        // Excel shows, so both libxlsxwriter (counts code points) and Excel (counts UTF-16
        // units) accept it.
        QString out;
        out.reserve(qMin(value.size(), kXlsxMaxCellChars) + 16);
        const QStringView view(value);
        for (qsizetype i = 0; i < view.size();) {
            const char16_t c = view[i].unicode();
            QLatin1StringView escape;
            if (c == 0)
                escape = QLatin1StringView("_x0000_");
            else if (c == 0xFFFE)
                escape = QLatin1StringView("_xFFFE_");
            else if (c == 0xFFFF)
                escape = QLatin1StringView("_xFFFF_");
            else if (c == u'_' && isEscapePattern(view, i))
                escape = QLatin1StringView("_x005F_"); // the underscore itself, escaped
            qsizetype units = 1;
            if (!escape.isEmpty())
                units = escape.size();
            else if (QChar::isSurrogate(c) && isSurrogatePair(view, i))
                units = 2;
            if (out.size() + units > kXlsxMaxCellChars) {
                *truncated = true;
                break;
            }
            if (!escape.isEmpty()) {
                out += escape;
                ++i;
            } else if (QChar::isSurrogate(c) && units == 1) {
                out += QChar(QChar::ReplacementCharacter); // lone surrogate, as in CSV/JSONL
                ++i;
            } else {
                out += view.mid(i, units);
                i += units;
            }
        }
        return out.toUtf8();
    }

    lxw_workbook *m_workbook = nullptr;
    lxw_worksheet *m_sheet = nullptr;
    lxw_format *m_bold = nullptr;
    QByteArray m_tmpDir; // libxlsxwriter keeps the pointer
    QString m_tempPath;
    lxw_row_t m_row = 0;
    qint64 m_truncatedCells = 0;
    qint64 m_firstTruncatedRow = 0;
    QString m_firstTruncatedColumn;
};

} // namespace

// ---------------------------------------------------------------------------------------

std::optional<ExportWriter::Format> ExportWriter::formatForPath(const QString &path)
{
    const QString suffix = QFileInfo(path).suffix();
    if (suffix.compare(QLatin1StringView("csv"), Qt::CaseInsensitive) == 0)
        return Format::Csv;
    if (suffix.compare(QLatin1StringView("jsonl"), Qt::CaseInsensitive) == 0)
        return Format::Jsonl;
    if (suffix.compare(QLatin1StringView("xlsx"), Qt::CaseInsensitive) == 0)
        return Format::Xlsx;
    return std::nullopt;
}

std::unique_ptr<ExportWriter> ExportWriter::create(const QString &path, QString *error)
{
    const std::optional<Format> format = formatForPath(path);
    if (!format) {
        if (error) {
            *error = displayPath(path) +
                     QStringLiteral(": unknown export format; the file name must end in "
                                    ".csv, .jsonl or .xlsx");
        }
        return nullptr;
    }
    if (error)
        error->clear();
    return create(path, *format);
}

std::unique_ptr<ExportWriter> ExportWriter::create(const QString &path, Format format)
{
    switch (format) {
    case Format::Csv:
        return std::make_unique<CsvWriter>(path);
    case Format::Jsonl:
        return std::make_unique<JsonlWriter>(path);
    case Format::Xlsx:
        return std::make_unique<XlsxWriter>(path);
    }
    return nullptr;
}

QStringList ExportWriter::resultColumnNames(const QStringList &inputColumns)
{
    QStringList names;
    names.reserve(qsizetype(kResultColumns.size()));
    for (const QLatin1StringView base : kResultColumns) {
        QString name = base;
        while (inputColumns.contains(name))
            name += u'_';
        names.append(name);
    }
    return names;
}

} // namespace bd::ingest
