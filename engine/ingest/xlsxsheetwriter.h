#pragma once

#include <memory>
#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>
#include <QStringView>
#include <vector>

namespace bd::ingest {

class ZipStream;

// An XLSX workbook of one sheet ("Export") streamed into a file descriptor: the package's
// fixed parts first, then the sheet row by row (inline strings, no shared-string table),
// deflated as it goes, so memory stays the same for any number of rows. The first row is
// the header, bold and frozen. Not thread-safe; the caller owns the descriptor.
//
// Text goes in as Excel reads it back: characters XML 1.0 cannot carry (control
// characters but tab and line feed, U+FFFE, U+FFFF) and a literal "_xHHHH_" are written
// as OOXML escapes ("_x0001_", "_x005F_x0041_"), a lone surrogate as U+FFFD. A text whose
// escaped form passes the 32,767 characters a cell holds is cut there (never inside an
// escape or a surrogate pair) and counted in truncatedCells().
class XlsxSheetWriter
{
public:
    static constexpr qint64 kMaxRows = 1'048'576; // including the header
    static constexpr qsizetype kMaxColumns = 16'384;
    static constexpr qsizetype kMaxCellChars = 32'767;

    explicit XlsxSheetWriter(int fd);
    ~XlsxSheetWriter();
    Q_DISABLE_COPY_MOVE(XlsxSheetWriter)

    // Writes the fixed parts and the header row. At most kMaxColumns columns.
    bool begin(const QStringList &columns);

    // A row: beginRow(), one call per column from the first on, endRow(). At most
    // kMaxRows - 1 rows after the header (the caller checks rowsWritten()).
    void beginRow();
    void text(QStringView value); // empty: a blank cell
    void number(qint64 value);
    void number(double value); // finite
    void boolean(bool value);
    void blank();
    bool endRow();

    // Ends the sheet and the package; the file is complete once this returns true.
    bool finish();

    QString errorString() const;
    qint64 rowsWritten() const { return m_row; } // the header included
    qint64 truncatedCells() const { return m_truncatedCells; }
    qint64 firstTruncatedRow() const { return m_firstTruncatedRow; }          // 1-based
    qsizetype firstTruncatedColumn() const { return m_firstTruncatedColumn; } // 0-based

private:
    char *room(std::size_t bytes);
    void setEnd(char *end) { m_size = std::size_t(end - m_xml.data()); }
    void append(const char *data, std::size_t size);
    char *putCellStart(char *p);
    char *putValueStart(const char *attributes, std::size_t size);
    void putValueEnd(char *end);
    void textCell(QStringView value, bool bold);
    bool writeXml(bool force);
    bool addPart(const char *name, const QByteArray &content);

    std::unique_ptr<ZipStream> m_zip;
    std::vector<char> m_xml; // sheet XML not yet compressed
    std::size_t m_size = 0;
    QList<QByteArray> m_columnNames; // "A", "B", ..., for cell references
    char m_rowDigits[24] = {};
    std::size_t m_rowDigitCount = 0;
    qint64 m_row = 0; // rows begun, the header included (the current row's number)
    qsizetype m_column = 0;
    qint64 m_truncatedCells = 0;
    qint64 m_firstTruncatedRow = 0;
    qsizetype m_firstTruncatedColumn = 0;
    QString m_error;
};

} // namespace bd::ingest
