#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <memory>

class QIODevice;

namespace bd::ingest {

// Streaming RFC 4180 reader. Memory stays bounded by the longest record, not the file.
// Detects the encoding (UTF-8 with/without BOM, UTF-16 LE/BE with BOM, Windows-1252 fallback)
// and the delimiter (comma, semicolon, tab, pipe, colon) from the start of the file.
// Not thread-safe; use one reader per thread.
//
// Parsing rules beyond RFC 4180:
// - Line ends may be CRLF, LF or a lone CR, mixed freely; the last line needs none.
//   Line breaks inside quoted fields are kept as they are in the file.
// - Blank lines (no characters at all) are skipped, not read as one empty field; they still
//   count for line numbers. Write "" for an empty value in a one-column file.
// - A quote inside an unquoted field is an ordinary character (5" screen stays 5" screen).
//   Only a quote at the very start of a field opens a quoted field.
// - Anything but a delimiter or a line end after the closing quote of a quoted field is an
//   error ("he said "hi"" instead of "he said ""hi"""): silently guessing corrupts data.
// - Values are never null QStrings: an empty field is an empty, non-null string.
// - A record longer than 64 MiB of text, a NUL character, a field count that differs from
//   the header's and an unclosed quote at the end of the input are errors naming the line.
//
// Encoding: an explicit Options::encoding decides, then a BOM. Without either, the first 64 KiB are checked: not valid UTF-8 means
// Windows-1252. If they are pure ASCII the guess stays open: the first non-ASCII sequence
// later in the file decides (an invalid one switches to Windows-1252, which reads all the
// ASCII before it the same; encoding() then reports the switch). Invalid UTF-8 after real
// UTF-8 (or in a file with a UTF-8 BOM or forced UTF-8) is an error naming the line rather
// than a silent U+FFFD. NUL bytes in the first 64 KiB mean "looks like a binary file".
class CsvReader
{
public:
    struct Options
    {
        QChar delimiter;  // null: sniff
        QString encoding; // empty: detect; else "UTF-8", "UTF-16LE", "UTF-16BE", "Windows-1252"
    };

    CsvReader();
    ~CsvReader();
    CsvReader(const CsvReader &) = delete;
    CsvReader &operator=(const CsvReader &) = delete;

    // Opens the file, detects encoding and delimiter and reads the header row. A path that
    // is a directory, FIFO or device is refused as such (never opened: a FIFO would block).
    // On failure errorString() names the file and the line.
    bool open(const QString &path, const Options &options = {});
    // Same over an already open device (not owned); sourceName is used in messages.
    bool open(QIODevice *device, const QString &sourceName, const Options &options = {});

    // Header names after making empty and duplicate names unique.
    const QStringList &header() const;
    // One message per header name that was changed ("column 3: empty name, renamed to column_3").
    const QStringList &headerWarnings() const;
    QChar delimiter() const;
    QString encoding() const;
    // Why encoding() is Windows-1252 when that was guessed, not known: "not valid UTF-8 at
    // line 3 (byte 0xE9), read as Windows-1252; set the encoding if that is wrong". Empty
    // for a BOM, a given encoding and valid UTF-8. A switch later in the file (after an
    // all-ASCII start) shows here once readRow() has read that far.
    QString encodingNote() const;
    // The line of the first byte that was not UTF-8 when the reader fell back; 0 otherwise.
    qint64 encodingFallbackLine() const;

    // Reads the next record into fields. Returns false at the end of the input or on an
    // error; tell them apart with hasError(). A record whose field count differs from the
    // header's is an error naming its line.
    bool readRow(QStringList &fields);

    // 1-based physical line on which the last record returned (or the failing one) started.
    qint64 recordLine() const;
    // 1-based number of data records returned so far (header excluded).
    qint64 recordNumber() const;
    qint64 bytesRead() const;
    qint64 totalBytes() const; // -1 when unknown

    bool hasError() const;
    // "data.csv:17: unterminated quoted field in column 'review'" style message.
    QString errorString() const;

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace bd::ingest
