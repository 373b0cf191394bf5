#include "exportwriter.h"

#include "outputschema.h"
#include "xlsxsheetwriter.h"

#include <array>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonValue>
#include <QRandomGenerator>
#include <QSaveFile>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

// Three writers behind one interface. CSV and JSONL are encoded by hand straight from
// UTF-16 into a byte buffer (no per-cell QByteArray, no QJsonDocument) and written through
// a QSaveFile, so the file only appears under its name once finish() succeeded. XLSX is
// streamed by XlsxSheetWriter (deflated as it goes) into an unnamed file in the target's
// directory that finish() names and renames over the target.
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
void appendCost(QByteArray &out, double value)
{
    const double magnitude = std::fabs(value);
    const int integerDigits = magnitude >= 1 ? int(std::floor(std::log10(magnitude))) + 1 : 0;
    const int decimals = qBound(0, 15 - integerDigits, 10);
    char text[400]; // 309 integer digits at most, the point and 10 decimals
    const auto result = std::to_chars(text, text + sizeof text, value, std::chars_format::fixed,
                                      decimals);
    const char *end = result.ptr;
    if (decimals > 0) {
        while (end[-1] == '0')
            --end;
        if (end[-1] == '.')
            --end;
    }
    if (end - text == 2 && text[0] == '-' && text[1] == '0')
        out.append('0');
    else
        out.append(text, end - text);
}

void appendInteger(QByteArray &out, qint64 value)
{
    char text[24];
    out.append(text, std::to_chars(text, text + sizeof text, value).ptr - text);
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
        appendInteger(out, row.inputTokens);
        out.append(',');
        appendInteger(out, row.outputTokens);
        out.append(',');
        appendInteger(out, row.cachedTokens);
        out.append(',');
        if (costKnown(row.costUsd))
            appendCost(out, *row.costUsd);
        out.append(',');
        appendInteger(out, row.attempts);
        out.append(',');
        appendInteger(out, row.taskId);
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
        appendInteger(out, row.inputTokens);
        out.append(m_keys.at(column++));
        appendInteger(out, row.outputTokens);
        out.append(m_keys.at(column++));
        appendInteger(out, row.cachedTokens);
        out.append(m_keys.at(column++));
        if (costKnown(row.costUsd))
            appendCost(out, *row.costUsd);
        else
            out.append("null", 4);
        out.append(m_keys.at(column++));
        appendInteger(out, row.attempts);
        out.append(m_keys.at(column++));
        appendInteger(out, row.taskId);
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
        if (!m_error.isEmpty() || truncatedCells() == 0)
            return m_error;
        return truncationWarning();
    }

    QStringList warnings() const override
    {
        if (truncatedCells() == 0)
            return {};
        return {truncationWarning()};
    }

    qint64 truncatedCells() const override { return m_sheet ? m_sheet->truncatedCells() : 0; }

protected:
    bool doBegin() override
    {
        if (m_columns.size() > XlsxSheetWriter::kMaxColumns) {
            return fail(QStringLiteral("%1 columns do not fit in an XLSX sheet (at most %2)")
                            .arg(m_columns.size())
                            .arg(XlsxSheetWriter::kMaxColumns));
        }
        if (!openFile())
            return false;
        m_sheet = std::make_unique<XlsxSheetWriter>(m_fd);
        if (!m_sheet->begin(m_columns))
            return fail(m_sheet->errorString());
        return true;
    }

    bool doWriteRow(const ExportRow &row) override
    {
        if (m_sheet->rowsWritten() >= XlsxSheetWriter::kMaxRows) {
            return fail(QStringLiteral("an XLSX sheet holds at most %1 rows including the "
                                       "header, so row %2 of the export does not fit; "
                                       "export to .csv or .jsonl instead")
                            .arg(XlsxSheetWriter::kMaxRows)
                            .arg(m_rowsWritten + 1));
        }
        XlsxSheetWriter &sheet = *m_sheet;
        sheet.beginRow();
        for (const QString &value : row.inputValues)
            sheet.text(value);
        sheet.text(row.status);
        sheet.text(row.output);
        for (const QJsonValue &value : row.fieldValues) {
            // A structured answer's field: numbers and yes/no as Excel's own types.
            if (value.isDouble())
                sheet.number(value.toDouble());
            else if (value.isBool())
                sheet.boolean(value.toBool());
            else
                sheet.text(fieldValueText(value));
        }
        sheet.text(row.error);
        sheet.text(row.model);
        sheet.number(row.inputTokens);
        sheet.number(row.outputTokens);
        sheet.number(row.cachedTokens);
        if (costKnown(row.costUsd))
            sheet.number(*row.costUsd);
        else
            sheet.blank();
        sheet.number(qint64(row.attempts));
        sheet.number(row.taskId);
        for (const QString &value : row.extraValues)
            sheet.text(value);
        if (!sheet.endRow())
            return fail(sheet.errorString());
        return true;
    }

    bool doFinish() override
    {
        if (!m_sheet->finish())
            return fail(m_sheet->errorString());
        if (::fdatasync(m_fd) != 0)
            return fail(QStringLiteral("cannot write the file: ") + errnoText());
        if (m_tempPath.isEmpty() && !linkUnnamedFile())
            return false;
        std::error_code ec;
        std::filesystem::rename(std::filesystem::path(m_tempPath.toStdU16String()),
                                std::filesystem::path(m_path.toStdU16String()), ec);
        if (ec) {
            return fail(QStringLiteral("cannot move the finished file into place: ") +
                        QString::fromLocal8Bit(ec.message()));
        }
        m_tempPath.clear();
        closeFile();
        return true;
    }

    void doAbort() override
    {
        closeFile();
        if (!m_tempPath.isEmpty()) {
            QFile::remove(m_tempPath);
            m_tempPath.clear();
        }
    }

private:
    static QString errnoText() { return QString::fromLocal8Bit(std::strerror(errno)); }

    QString truncationWarning() const
    {
        return displayPath(m_path) +
               QStringLiteral(": %1 cell(s) longer than the %2 characters an XLSX cell holds "
                              "were truncated (first: sheet row %3, column '%4')")
                   .arg(m_sheet->truncatedCells())
                   .arg(XlsxSheetWriter::kMaxCellChars)
                   .arg(m_sheet->firstTruncatedRow())
                   .arg(m_columns.value(m_sheet->firstTruncatedColumn()));
    }

    void closeFile()
    {
        if (m_fd >= 0) {
            ::close(m_fd);
            m_fd = -1;
        }
    }

    // The sheet is written as it comes, into a file without a name in the target's
    // directory (O_TMPFILE), so an export killed while writing rows leaves nothing behind;
    // finish() gives it a hidden name and renames that over the target. Where the file
    // system has no unnamed files, the hidden name is taken at once.
    bool openFile()
    {
        const QFileInfo target(m_path);
        const QString dir = target.absolutePath();
        removeStaleTempFiles(dir, target.fileName());
        const mode_t mode = targetMode();
#ifdef O_TMPFILE
        m_fd = ::open(QFile::encodeName(dir).constData(), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
        if (m_fd >= 0) {
            applyTargetMode();
            return true;
        }
        if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
            return fail(QStringLiteral("cannot create the file: ") + errnoText());
#endif
        QString lastError;
        for (int attempt = 0; attempt < 16; ++attempt) {
            const QString name = tempName(dir, target.fileName());
            m_fd = ::open(QFile::encodeName(name).constData(),
                          O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
            if (m_fd >= 0) {
                m_tempPath = name;
                applyTargetMode();
                return true;
            }
            lastError = errnoText();
            if (errno != EEXIST)
                break;
        }
        return fail(QStringLiteral("cannot create the file: ") + lastError);
    }

    static mode_t targetMode() { return 0666; } // less the umask, like any new file

    // A file replaced keeps its permissions.
    void applyTargetMode()
    {
        struct stat existing;
        if (::stat(QFile::encodeName(m_path).constData(), &existing) == 0)
            ::fchmod(m_fd, existing.st_mode & 07777);
    }

    // Names the unnamed file: through /proc, which needs no privilege, else by the
    // descriptor itself (AT_EMPTY_PATH, allowed to root), for a system without /proc.
    bool linkUnnamedFile()
    {
        const QFileInfo target(m_path);
        const QByteArray fdPath = "/proc/self/fd/" + QByteArray::number(m_fd);
        QString lastError;
        for (int attempt = 0; attempt < 16; ++attempt) {
            const QString name = tempName(target.absolutePath(), target.fileName());
            const QByteArray encoded = QFile::encodeName(name);
            int linked = ::linkat(AT_FDCWD, fdPath.constData(), AT_FDCWD, encoded.constData(),
                                  AT_SYMLINK_FOLLOW);
            int error = linked == 0 ? 0 : errno;
            if (error == ENOENT && !QFileInfo::exists(QStringLiteral("/proc/self/fd"))) {
                linked = ::linkat(m_fd, "", AT_FDCWD, encoded.constData(), AT_EMPTY_PATH);
                error = linked == 0 ? 0 : errno;
            }
            if (linked == 0) {
                m_tempPath = name;
                return true;
            }
            lastError = QString::fromLocal8Bit(std::strerror(error));
            if (error != EEXIST)
                break;
        }
        return fail(QStringLiteral("cannot move the finished file into place: ") + lastError);
    }

    // ".<target>.<pid>-<hex>.tmp": hidden, unique, and carrying our pid so that a later
    // export to the same target can remove what a killed one left during its short close.
    static QString tempName(const QString &dir, const QString &targetName)
    {
        return dir + QStringLiteral("/.") + targetName + u'.' +
               QString::number(QCoreApplication::applicationPid()) + u'-' +
               QString::number(QRandomGenerator::global()->generate(), 16) +
               QStringLiteral(".tmp");
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
        return ::kill(pid_t(pid), 0) == 0 || errno != ESRCH;
    }

    std::unique_ptr<XlsxSheetWriter> m_sheet;
    int m_fd = -1;
    QString m_tempPath; // the file's hidden name, once it has one
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
