#include "csvreader.h"

#include "textfile.h"

#include <algorithm>
#include <cstring>
#include <QFile>
#include <QIODevice>
#include <QSet>
#include <QStringDecoder>

using namespace Qt::StringLiterals;

namespace bd::ingest {

namespace {

// Bytes asked from the device per read.
constexpr qint64 kChunkSize = 64 * 1024;
// Bytes looked at for the encoding, the delimiter and binary content.
constexpr qint64 kSniffBytes = 64 * 1024;
// Largest record in UTF-16 code units: 64 MiB of ASCII input (128 MiB of buffer).
constexpr qsizetype kMaxRecordChars = 64 * 1024 * 1024;

enum class Encoding
{
    Utf8,
    Utf16LE,
    Utf16BE,
    Windows1252,
};

QString encodingName(Encoding encoding)
{
    switch (encoding) {
    case Encoding::Utf8:
        return u"UTF-8"_s;
    case Encoding::Utf16LE:
        return u"UTF-16LE"_s;
    case Encoding::Utf16BE:
        return u"UTF-16BE"_s;
    case Encoding::Windows1252:
        return u"Windows-1252"_s;
    }
    return {};
}

bool encodingFromName(const QString &name, Encoding *encoding)
{
    QString key = name.trimmed().toLower();
    key.remove(u'-');
    key.remove(u'_');
    if (key == u"utf8") {
        *encoding = Encoding::Utf8;
    } else if (key == u"utf16le") {
        *encoding = Encoding::Utf16LE;
    } else if (key == u"utf16be") {
        *encoding = Encoding::Utf16BE;
    } else if (key == u"windows1252" || key == u"cp1252" || key == u"latin1" ||
               key == u"iso88591") {
        // ISO-8859-1 differs only in 0x80-0x9F (C1 controls, never text in practice).
        *encoding = Encoding::Windows1252;
    } else {
        return false;
    }
    return true;
}

// Windows-1252 0x80-0x9F. The five unassigned bytes map to the C1 controls, as in WHATWG.
// The rest of the range is ISO-8859-1. A table instead of QStringDecoder("windows-1252")
// because that one exists only in Qt builds with ICU.
constexpr char16_t kWindows1252High[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, //
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F, //
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, //
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178, //
};

struct Utf8Scan
{
    qsizetype validLength = 0;   // bytes that form complete, valid sequences
    bool sawNonAscii = false;    // a multi-byte sequence occurs in the valid part
    bool incompleteTail = false; // the rest is the valid start of a cut sequence
};

// Validates UTF-8 exactly as strictly as QStringDecoder (no overlongs, no surrogates,
// nothing above U+10FFFF), with an 8-byte ASCII fast path.
Utf8Scan scanUtf8(const char *data, qsizetype size)
{
    const auto *s = reinterpret_cast<const uchar *>(data);
    Utf8Scan result;
    qsizetype i = 0;
    while (i < size) {
        while (i + 8 <= size) {
            quint64 word;
            std::memcpy(&word, s + i, 8);
            if (word & 0x8080808080808080ULL)
                break;
            i += 8;
        }
        if (i >= size)
            break;
        const uchar lead = s[i];
        if (lead < 0x80) {
            ++i;
            continue;
        }
        int continuation = 0;
        uchar low = 0x80;
        uchar high = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) {
            continuation = 1;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            continuation = 2;
            if (lead == 0xE0)
                low = 0xA0;
            else if (lead == 0xED)
                high = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            continuation = 3;
            if (lead == 0xF0)
                low = 0x90;
            else if (lead == 0xF4)
                high = 0x8F;
        } else {
            result.validLength = i;
            return result;
        }
        for (int k = 1; k <= continuation; ++k) {
            if (i + k >= size) {
                result.validLength = i;
                result.incompleteTail = true;
                return result;
            }
            const uchar byte = s[i + k];
            if (byte < (k == 1 ? low : 0x80) || byte > (k == 1 ? high : 0xBF)) {
                result.validLength = i;
                return result;
            }
        }
        result.sawNonAscii = true;
        i += continuation + 1;
    }
    result.validLength = size;
    return result;
}

// Line breaks as the parser counts them (CRLF, LF or a lone CR each end one line).
template <typename Char> qint64 lineBreaks(const Char *s, qsizetype n)
{
    qint64 breaks = 0;
    for (qsizetype i = 0; i < n; ++i) {
        if (s[i] == Char('\n'))
            ++breaks;
        else if (s[i] == Char('\r') && (i + 1 == n || s[i + 1] != Char('\n')))
            ++breaks;
    }
    return breaks;
}

// Counts records per candidate delimiter over a sample, honouring quotes.
struct DelimiterScore
{
    qsizetype firstCount = -1; // fields in the first record (the header)
    qsizetype records = 0;
    qsizetype matching = 0; // records with as many fields as the first
};

DelimiterScore scoreDelimiter(const char16_t *s, qsizetype n, char16_t delimiter, bool complete)
{
    DelimiterScore score;
    qsizetype fields = 1;
    bool atFieldStart = true;
    bool inQuotes = false;
    bool lineEmpty = true;
    const auto endRecord = [&] {
        if (score.firstCount < 0)
            score.firstCount = fields;
        if (fields == score.firstCount)
            ++score.matching;
        ++score.records;
    };
    for (qsizetype i = 0; i < n; ++i) {
        const char16_t c = s[i];
        if (inQuotes) {
            if (c == u'"') {
                if (i + 1 < n && s[i + 1] == u'"')
                    ++i;
                else
                    inQuotes = false;
            }
            continue;
        }
        if (c == u'\n' || c == u'\r') {
            if (!lineEmpty)
                endRecord();
            fields = 1;
            atFieldStart = true;
            lineEmpty = true;
            continue;
        }
        lineEmpty = false;
        if (c == delimiter) {
            ++fields;
            atFieldStart = true;
        } else if (c == u'"' && atFieldStart) {
            inQuotes = true;
            atFieldStart = false;
        } else {
            atFieldStart = false;
        }
    }
    // A record cut by the end of the sample would count wrong fields: only a complete
    // input contributes its last line.
    if (!lineEmpty && complete && !inQuotes)
        endRecord();
    return score;
}

char16_t sniffDelimiter(const char16_t *s, qsizetype n, bool complete)
{
    static constexpr char16_t kCandidates[] = {u',', u';', u'\t', u'|', u':'};
    char16_t best = u',';
    bool bestConsistent = false;
    qsizetype bestFields = 0;
    double bestRatio = 0.0;
    for (const char16_t candidate : kCandidates) {
        const DelimiterScore score = scoreDelimiter(s, n, candidate, complete);
        if (score.firstCount <= 1 || score.records == 0)
            continue;
        const bool consistent = score.matching == score.records;
        const double ratio = double(score.matching) / double(score.records);
        bool better;
        if (bestFields == 0)
            better = true;
        else if (consistent != bestConsistent)
            better = consistent;
        else if (consistent)
            better = score.firstCount > bestFields; // ties keep the earlier candidate
        else
            better = ratio > bestRatio;
        if (better) {
            best = candidate;
            bestConsistent = consistent;
            bestFields = score.firstCount;
            bestRatio = ratio;
        }
    }
    return best;
}

// Copies a slice into a field, reusing the field's buffer when it is not shared.
inline void setField(QString &field, const char16_t *s, qsizetype n)
{
    if (field.isDetached() && field.capacity() >= n) {
        field.resize(n);
        if (n > 0)
            std::memcpy(static_cast<void *>(field.data()), s, size_t(n) * sizeof(char16_t));
    } else {
        field = QString(reinterpret_cast<const QChar *>(s), n);
    }
}

inline void appendField(QString &field, const char16_t *s, qsizetype n)
{
    field.append(reinterpret_cast<const QChar *>(s), n);
}

inline QString &fieldSlot(QStringList &fields, qsizetype index)
{
    if (index < fields.size())
        return fields[index];
    fields.emplace_back();
    return fields.last();
}

} // namespace

class CsvReader::Private
{
public:
    enum class Parse
    {
        Record,
        NeedMore,
        End,
        Failed,
    };

    // Source.
    QIODevice *m_device = nullptr;
    std::unique_ptr<QFile> m_file;
    QString m_source;
    qint64 m_bytesRead = 0;
    qint64 m_totalBytes = -1;
    bool m_deviceAtEnd = false;

    // Decoding.
    Encoding m_encoding = Encoding::Utf8;
    // UTF-8 guessed from a pure-ASCII start: the first non-ASCII sequence decides between
    // UTF-8 and Windows-1252 (switching is lossless while everything so far was ASCII).
    bool m_utf8Tentative = false;
    bool m_decodeFailed = false; // invalid UTF-8 in a UTF-8 file; text stops before it
    // Set when Windows-1252 was chosen because of invalid UTF-8: where and which byte.
    qint64 m_fallbackLine = 0;
    uchar m_fallbackByte = 0;
    QStringDecoder m_utf8Decoder{QStringDecoder::Utf8};
    QStringDecoder m_utf16Decoder;
    QByteArray m_raw;
    char m_carry[4] = {};
    int m_carryLength = 0;

    // Decoded text: [pos, length) is not parsed yet; pos is always a record start.
    std::unique_ptr<char16_t[]> m_text;
    qsizetype m_capacity = 0;
    qsizetype m_length = 0;
    qsizetype m_pos = 0;

    // Parsing.
    char16_t m_delimiter = u',';
    qint64 m_line = 1;     // physical line at pos
    qint64 m_stopLine = 1; // line where the last incomplete parse ran out of text
    qint64 m_recordLine = 0;
    qint64 m_recordNumber = 0;
    QStringList m_header;
    QStringList m_headerWarnings;
    QStringList m_scratch;

    bool m_open = false;
    bool m_error = false;
    QString m_errorString;

    void fail(qint64 atLine, const QString &message)
    {
        m_error = true;
        if (atLine > 0)
            m_errorString = m_source + u':' + QString::number(atLine) + u": "_s + message;
        else
            m_errorString = m_source + u": "_s + message;
    }

    QString columnLabel(qsizetype index) const
    {
        if (index < m_header.size())
            return u"column '"_s + m_header.at(index) + u'\'';
        return u"column "_s + QString::number(index + 1);
    }

    // Room for n more code units at the end of the text, compacting first.
    char16_t *reserveText(qsizetype n)
    {
        if (m_length + n > m_capacity) {
            if (m_pos > 0) {
                std::memmove(m_text.get(), m_text.get() + m_pos,
                             size_t(m_length - m_pos) * sizeof(char16_t));
                m_length -= m_pos;
                m_pos = 0;
            }
            if (m_length + n > m_capacity) {
                const qsizetype newCapacity = std::max(m_capacity * 2, m_length + n);
                std::unique_ptr<char16_t[]> grown(new char16_t[size_t(newCapacity)]);
                if (m_length > 0)
                    std::memcpy(grown.get(), m_text.get(), size_t(m_length) * sizeof(char16_t));
                m_text = std::move(grown);
                m_capacity = newCapacity;
            }
        }
        return m_text.get() + m_length;
    }

    void decodeUtf8(const char *data, qsizetype n)
    {
        if (n == 0)
            return;
        auto *out = reinterpret_cast<QChar *>(reserveText(m_utf8Decoder.requiredSpace(n)));
        const QChar *end = m_utf8Decoder.appendToBuffer(out, QByteArrayView(data, n));
        m_length += end - out;
    }

    void decodeWindows1252(const char *data, qsizetype n)
    {
        char16_t *out = reserveText(n);
        const auto *s = reinterpret_cast<const uchar *>(data);
        for (qsizetype i = 0; i < n; ++i) {
            const uchar b = s[i];
            out[i] = (b >= 0x80 && b < 0xA0) ? kWindows1252High[b - 0x80] : char16_t(b);
        }
        m_length += n;
    }

    // Appends the text of n bytes. final: no bytes follow.
    void decode(const char *data, qsizetype n, bool final)
    {
        switch (m_encoding) {
        case Encoding::Utf16LE:
        case Encoding::Utf16BE: {
            auto *out = reinterpret_cast<QChar *>(reserveText(m_utf16Decoder.requiredSpace(n)));
            const QChar *end = m_utf16Decoder.appendToBuffer(out, QByteArrayView(data, n));
            m_length += end - out;
            return; // an odd last byte of a UTF-16 file is dropped
        }
        case Encoding::Windows1252:
            decodeWindows1252(data, n);
            return;
        case Encoding::Utf8:
            break;
        }

        const Utf8Scan scan = scanUtf8(data, n);
        if (scan.validLength == n || (scan.incompleteTail && !final)) {
            if (scan.sawNonAscii)
                m_utf8Tentative = false;
            decodeUtf8(data, scan.validLength);
            m_carryLength = int(n - scan.validLength);
            std::memcpy(m_carry, data + scan.validLength, size_t(m_carryLength));
            return;
        }
        if (m_utf8Tentative && !scan.sawNonAscii) {
            // Everything so far was ASCII, which reads the same in Windows-1252. The
            // offending byte's line: the line at pos, the breaks in the text not parsed yet,
            // then those in this chunk before the byte (a CR ending the text and the LF
            // starting the chunk are one break).
            qint64 line = m_line + lineBreaks(m_text.get() + m_pos, m_length - m_pos) +
                          lineBreaks(data, scan.validLength);
            if (m_length > m_pos && m_text[m_length - 1] == u'\r' && n > 0 && data[0] == '\n')
                --line;
            noteFallback(line, uchar(data[scan.validLength]));
            m_encoding = Encoding::Windows1252;
            m_utf8Tentative = false;
            decodeWindows1252(data, n);
            return;
        }
        decodeUtf8(data, scan.validLength);
        m_decodeFailed = true;
        m_deviceAtEnd = true;
    }

    void noteFallback(qint64 line, uchar byte)
    {
        m_fallbackLine = line;
        m_fallbackByte = byte;
    }

    // Reads up to max bytes; 0 at the end, -1 on a read error (reported).
    qint64 readSome(char *out, qint64 max)
    {
        for (;;) {
            const qint64 n = m_device->read(out, max);
            if (n < 0) {
                fail(0, u"read error: "_s + m_device->errorString());
                return -1;
            }
            if (n > 0 || !m_device->isSequential() || !m_device->waitForReadyRead(-1))
                return n;
        }
    }

    // Reads and decodes one more chunk. False when nothing changed (end, error).
    bool readMore()
    {
        if (m_deviceAtEnd || m_error)
            return false;
        m_raw.resize(m_carryLength + kChunkSize);
        std::memcpy(m_raw.data(), m_carry, size_t(m_carryLength));
        const qint64 n = readSome(m_raw.data() + m_carryLength, kChunkSize);
        if (n < 0)
            return false;
        const qsizetype total = m_carryLength + n;
        m_carryLength = 0;
        if (n == 0)
            m_deviceAtEnd = true;
        m_bytesRead += n;
        decode(m_raw.constData(), total, m_deviceAtEnd);
        return true;
    }

    Parse needMore(qint64 atLine)
    {
        m_stopLine = atLine;
        return Parse::NeedMore;
    }

    // Parses one record at pos. On NeedMore nothing is consumed except blank lines.
    Parse parseRecord(QStringList &fields, qsizetype &fieldCount, bool final)
    {
        const char16_t *const base = m_text.get();
        const char16_t *const end = base + m_length;
        const char16_t *p = base + m_pos;
        const char16_t delim = m_delimiter;

        // Blank lines are skipped, not read as one empty field.
        for (;;) {
            if (p == end) {
                m_pos = p - base;
                return final ? Parse::End : needMore(m_line);
            }
            if (*p == u'\n') {
                ++p;
                ++m_line;
            } else if (*p == u'\r') {
                if (p + 1 == end && !final) {
                    m_pos = p - base;
                    return needMore(m_line);
                }
                ++p;
                if (p != end && *p == u'\n')
                    ++p;
                ++m_line;
            } else {
                break;
            }
        }
        m_pos = p - base;

        const qint64 startLine = m_line;
        qint64 current = m_line;
        qsizetype count = 0;
        for (;;) {
            QString &field = fieldSlot(fields, count);
            if (p != end && *p == u'"') {
                const qint64 fieldLine = current;
                ++p;
                const char16_t *segment = p;
                bool started = false; // field holds the part before an escaped quote
                for (;;) {
                    while (p != end && *p != u'"' && *p > u'\r')
                        ++p;
                    if (p == end) {
                        if (!final)
                            return needMore(current);
                        m_recordLine = startLine;
                        fail(fieldLine, u"unterminated quoted field in "_s + columnLabel(count));
                        return Parse::Failed;
                    }
                    const char16_t c = *p;
                    if (c == u'"') {
                        if (p + 1 == end && !final)
                            return needMore(current);
                        if (p + 1 != end && p[1] == u'"') {
                            if (started)
                                appendField(field, segment, p + 1 - segment);
                            else
                                setField(field, segment, p + 1 - segment);
                            started = true;
                            p += 2;
                            segment = p;
                            continue;
                        }
                        if (started)
                            appendField(field, segment, p - segment);
                        else
                            setField(field, segment, p - segment);
                        ++p;
                        break;
                    }
                    if (c == u'\n') {
                        ++current;
                    } else if (c == u'\r') {
                        if (p + 1 == end && !final)
                            return needMore(current);
                        if (p + 1 == end || p[1] != u'\n')
                            ++current;
                    } else if (c == 0) {
                        m_recordLine = startLine;
                        fail(current, u"looks like a binary file (NUL character)"_s);
                        return Parse::Failed;
                    }
                    ++p;
                }
                if (p != end && *p != delim && *p != u'\n' && *p != u'\r') {
                    m_recordLine = startLine;
                    fail(current, u"unexpected character '"_s + QChar(*p) +
                                      u"' after the closing quote of "_s + columnLabel(count) +
                                      u" (quotes inside a quoted field must be doubled)"_s);
                    return Parse::Failed;
                }
            } else {
                // Unquoted: a quote here is an ordinary character.
                const char16_t *q = p;
                for (;;) {
                    while (q != end && *q != delim && *q > u'\r')
                        ++q;
                    if (q == end || *q == delim || *q == u'\n' || *q == u'\r')
                        break;
                    if (*q == 0) {
                        m_recordLine = startLine;
                        fail(current, u"looks like a binary file (NUL character)"_s);
                        return Parse::Failed;
                    }
                    ++q; // other control characters are data
                }
                if (q == end && !final)
                    return needMore(current);
                setField(field, p, q - p);
                p = q;
            }
            ++count;

            if (p == end) {
                if (!final)
                    return needMore(current);
                break;
            }
            if (*p == delim) {
                ++p;
                continue;
            }
            if (*p == u'\n') {
                ++p;
            } else { // '\r'
                if (p + 1 == end && !final)
                    return needMore(current);
                ++p;
                if (p != end && *p == u'\n')
                    ++p;
            }
            ++current;
            break;
        }
        fieldCount = count;
        m_pos = p - base;
        m_line = current;
        m_recordLine = startLine;
        return Parse::Record;
    }

    // Parses the next record, reading more input as needed.
    Parse nextRecord(QStringList &fields, qsizetype &fieldCount)
    {
        for (;;) {
            const Parse result = parseRecord(fields, fieldCount, m_deviceAtEnd && !m_decodeFailed);
            if (result != Parse::NeedMore)
                return result;
            const qsizetype partial = m_length - m_pos;
            if (partial > kMaxRecordChars) {
                m_recordLine = m_line;
                fail(m_line, u"record is larger than 64 MiB of text (is a quote not closed?)"_s);
                return Parse::Failed;
            }
            // Short records: one more read (a full chunk from files; from a device that
            // trickles, parsing then retries at every boundary). Records longer than a chunk:
            // double the look-ahead, so that a record is rescanned a bounded number of times.
            const qsizetype goal =
                partial < kChunkSize ? partial + 1 : std::min(partial * 2, kMaxRecordChars + 1);
            bool progressed = false;
            while (m_length - m_pos < goal && readMore())
                progressed = true;
            if (m_error)
                return Parse::Failed;
            if (!progressed && m_decodeFailed) {
                m_recordLine = m_line;
                fail(m_stopLine, u"invalid UTF-8 byte sequence (the file was read as UTF-8 from "
                                 u"its start; convert it or set its encoding explicitly)"_s);
                return Parse::Failed;
            }
        }
    }

    void makeHeaderUnique(const QStringList &names)
    {
        m_header.clear();
        m_headerWarnings.clear();
        QSet<QString> taken;
        for (const QString &name : names) {
            const QString trimmed = name.trimmed();
            if (!trimmed.isEmpty())
                taken.insert(trimmed);
        }
        QSet<QString> seen;
        for (qsizetype i = 0; i < names.size(); ++i) {
            const QString column = QString::number(i + 1);
            QString name = names.at(i).trimmed();
            if (name != names.at(i) && !name.isEmpty()) {
                m_headerWarnings.append(u"column "_s + column +
                                        u": surrounding whitespace removed from '"_s + names.at(i) +
                                        u'\'');
            }
            if (name.isEmpty()) {
                QString unique = u"column_"_s + column;
                for (int k = 2; taken.contains(unique); ++k)
                    unique = u"column_"_s + column + u'_' + QString::number(k);
                m_headerWarnings.append(u"column "_s + column + u": empty name, renamed to "_s +
                                        unique);
                name = unique;
                taken.insert(name);
            } else if (seen.contains(name)) {
                QString unique;
                for (int k = 2;; ++k) {
                    unique = name + u'_' + QString::number(k);
                    if (!taken.contains(unique))
                        break;
                }
                m_headerWarnings.append(u"column "_s + column + u": duplicate name '"_s + name +
                                        u"', renamed to "_s + unique);
                name = unique;
                taken.insert(name);
            }
            seen.insert(name);
            m_header.append(name);
        }
    }

    bool start(const CsvReader::Options &options)
    {
        m_totalBytes = m_device->isSequential() ? -1 : m_device->size() - m_device->pos();

        // The sniff window: encoding, binary check, delimiter.
        QByteArray head(kSniffBytes, Qt::Uninitialized);
        qsizetype headLength = 0;
        while (headLength < kSniffBytes) {
            const qint64 n = readSome(head.data() + headLength, kSniffBytes - headLength);
            if (n < 0)
                return false;
            if (n == 0) {
                m_deviceAtEnd = true;
                break;
            }
            headLength += n;
        }
        head.truncate(headLength);
        m_bytesRead = headLength;

        const auto startsWith = [&](const char *bom, qsizetype n) {
            return headLength >= n && std::memcmp(head.constData(), bom, size_t(n)) == 0;
        };
        qsizetype skip = 0;
        if (!options.encoding.isEmpty()) {
            if (!encodingFromName(options.encoding, &m_encoding)) {
                fail(0, u"unsupported encoding '"_s + options.encoding +
                            u"' (use UTF-8, UTF-16LE, UTF-16BE or Windows-1252)"_s);
                return false;
            }
            if (m_encoding == Encoding::Utf8 && startsWith("\xEF\xBB\xBF", 3))
                skip = 3;
            else if (m_encoding == Encoding::Utf16LE && startsWith("\xFF\xFE", 2))
                skip = 2;
            else if (m_encoding == Encoding::Utf16BE && startsWith("\xFE\xFF", 2))
                skip = 2;
        } else if (startsWith("\xEF\xBB\xBF", 3)) {
            m_encoding = Encoding::Utf8;
            skip = 3;
        } else if (startsWith("\xFF\xFE", 2)) {
            m_encoding = Encoding::Utf16LE;
            skip = 2;
        } else if (startsWith("\xFE\xFF", 2)) {
            m_encoding = Encoding::Utf16BE;
            skip = 2;
        } else {
            const Utf8Scan scan = scanUtf8(head.constData(), headLength);
            if (scan.validLength == headLength || (scan.incompleteTail && !m_deviceAtEnd)) {
                m_encoding = Encoding::Utf8;
                m_utf8Tentative = !scan.sawNonAscii;
            } else {
                m_encoding = Encoding::Windows1252;
                noteFallback(1 + lineBreaks(head.constData(), scan.validLength),
                             uchar(head.at(scan.validLength)));
            }
        }
        if (m_encoding == Encoding::Utf16LE)
            m_utf16Decoder = QStringDecoder(QStringDecoder::Utf16LE);
        else if (m_encoding == Encoding::Utf16BE)
            m_utf16Decoder = QStringDecoder(QStringDecoder::Utf16BE);

        if (headLength - skip == 0) {
            fail(0, u"file is empty"_s);
            return false;
        }

        reserveText(std::max<qsizetype>(2 * kChunkSize, headLength + 16));
        decode(head.constData() + skip, headLength - skip, m_deviceAtEnd);

        if (std::find(m_text.get() + m_pos, m_text.get() + m_length, char16_t(0)) !=
            m_text.get() + m_length) {
            fail(0, u"looks like a binary file (it contains NUL bytes); if it is UTF-16 text "
                    u"without a byte order mark, set its encoding explicitly"_s);
            return false;
        }

        if (!options.delimiter.isNull()) {
            const char16_t forced = options.delimiter.unicode();
            if (forced == u'"' || forced == u'\n' || forced == u'\r' || forced == 0) {
                fail(0, u"invalid delimiter"_s);
                return false;
            }
            m_delimiter = forced;
        } else {
            m_delimiter = sniffDelimiter(m_text.get() + m_pos, m_length - m_pos,
                                         m_deviceAtEnd && !m_decodeFailed);
        }

        qsizetype count = 0;
        switch (nextRecord(m_scratch, count)) {
        case Parse::Record:
            break;
        case Parse::End:
            fail(0, u"file is empty (no header row, only empty lines)"_s);
            return false;
        case Parse::Failed:
        case Parse::NeedMore:
            return false;
        }
        m_scratch.resize(count);
        makeHeaderUnique(m_scratch);
        m_open = true;
        return true;
    }
};

CsvReader::CsvReader()
    : d(std::make_unique<Private>())
{
}

CsvReader::~CsvReader() = default;

bool CsvReader::open(const QString &path, const Options &options)
{
    d = std::make_unique<Private>();
    d->m_source = path;
    QString notAFile;
    if (!checkRegularFile(path, &notAFile)) {
        d->m_error = true;
        d->m_errorString = notAFile;
        return false;
    }
    d->m_file = std::make_unique<QFile>(path);
    if (!d->m_file->open(QIODevice::ReadOnly | QIODevice::Unbuffered)) {
        d->fail(0, u"cannot open: "_s + d->m_file->errorString());
        return false;
    }
    d->m_device = d->m_file.get();
    return d->start(options);
}

bool CsvReader::open(QIODevice *device, const QString &sourceName, const Options &options)
{
    d = std::make_unique<Private>();
    d->m_source = sourceName;
    if (!device || !device->isReadable()) {
        d->fail(0, u"device is not open for reading"_s);
        return false;
    }
    d->m_device = device;
    return d->start(options);
}

const QStringList &CsvReader::header() const
{
    return d->m_header;
}

const QStringList &CsvReader::headerWarnings() const
{
    return d->m_headerWarnings;
}

QChar CsvReader::delimiter() const
{
    return d->m_open ? QChar(d->m_delimiter) : QChar();
}

QString CsvReader::encoding() const
{
    return d->m_open ? encodingName(d->m_encoding) : QString();
}

QString CsvReader::encodingNote() const
{
    if (d->m_fallbackLine <= 0)
        return {};
    return u"not valid UTF-8 at line "_s + QString::number(d->m_fallbackLine) + u" (byte 0x"_s +
           QString::number(d->m_fallbackByte, 16).toUpper() +
           u"), read as Windows-1252; set the encoding if that is wrong"_s;
}

qint64 CsvReader::encodingFallbackLine() const
{
    return d->m_fallbackLine;
}

bool CsvReader::readRow(QStringList &fields)
{
    if (!d->m_open || d->m_error)
        return false;
    qsizetype count = 0;
    switch (d->nextRecord(fields, count)) {
    case Private::Parse::Record:
        break;
    case Private::Parse::End:
    case Private::Parse::Failed:
    case Private::Parse::NeedMore:
        return false;
    }
    if (count != d->m_header.size()) {
        d->fail(d->m_recordLine, u"expected "_s + QString::number(d->m_header.size()) +
                                     u" fields, found "_s + QString::number(count));
        return false;
    }
    if (fields.size() != count)
        fields.resize(count);
    ++d->m_recordNumber;
    return true;
}

qint64 CsvReader::recordLine() const
{
    return d->m_recordLine;
}

qint64 CsvReader::recordNumber() const
{
    return d->m_recordNumber;
}

qint64 CsvReader::bytesRead() const
{
    return d->m_bytesRead;
}

qint64 CsvReader::totalBytes() const
{
    return d->m_totalBytes;
}

bool CsvReader::hasError() const
{
    return d->m_error;
}

QString CsvReader::errorString() const
{
    return d->m_errorString;
}

} // namespace bd::ingest
