#include "csvreader.h"

#include <QFile>
#include <QIODevice>
#include <QSet>
#include <QStringDecoder>

#include <algorithm>
#include <cstring>

using namespace Qt::StringLiterals;

namespace bd::ingest {

namespace {

// Bytes asked from the device per read.
constexpr qint64 kChunkSize = 64 * 1024;
// Bytes looked at for the encoding, the delimiter and binary content.
constexpr qint64 kSniffBytes = 64 * 1024;
// Largest record, in UTF-16 code units (64 MiB of ASCII input; the buffer then holds 128 MiB).
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
    } else if (key == u"windows1252" || key == u"cp1252" || key == u"latin1"
               || key == u"iso88591") {
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
    qsizetype validLength = 0; // bytes that form complete, valid sequences
    bool sawNonAscii = false;  // a multi-byte sequence occurs in the valid part
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
            std::memcpy(field.data(), s, size_t(n) * sizeof(char16_t));
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
    QIODevice *device = nullptr;
    std::unique_ptr<QFile> file;
    QString source;
    qint64 bytesRead = 0;
    qint64 totalBytes = -1;
    bool deviceAtEnd = false;

    // Decoding.
    Encoding encoding = Encoding::Utf8;
    // UTF-8 guessed from a pure-ASCII start: the first non-ASCII sequence decides between
    // UTF-8 and Windows-1252 (switching is lossless while everything so far was ASCII).
    bool utf8Tentative = false;
    bool decodeFailed = false; // invalid UTF-8 in a UTF-8 file; text stops before it
    QStringDecoder utf8Decoder{QStringDecoder::Utf8};
    QStringDecoder utf16Decoder;
    QByteArray raw;
    char carry[4] = {};
    int carryLength = 0;

    // Decoded text: [pos, length) is not parsed yet; pos is always a record start.
    std::unique_ptr<char16_t[]> text;
    qsizetype capacity = 0;
    qsizetype length = 0;
    qsizetype pos = 0;

    // Parsing.
    char16_t delimiter = u',';
    qint64 line = 1;     // physical line at pos
    qint64 stopLine = 1; // line where the last incomplete parse ran out of text
    qint64 recordLine = 0;
    qint64 recordNumber = 0;
    QStringList header;
    QStringList headerWarnings;
    QStringList scratch;

    bool open = false;
    bool error = false;
    QString errorString;

    void fail(qint64 atLine, const QString &message)
    {
        error = true;
        if (atLine > 0)
            errorString = source + u':' + QString::number(atLine) + u": "_s + message;
        else
            errorString = source + u": "_s + message;
    }

    QString columnLabel(qsizetype index) const
    {
        if (index < header.size())
            return u"column '"_s + header.at(index) + u'\'';
        return u"column "_s + QString::number(index + 1);
    }

    // Room for n more code units at the end of the text, compacting first.
    char16_t *reserveText(qsizetype n)
    {
        if (length + n > capacity) {
            if (pos > 0) {
                std::memmove(text.get(), text.get() + pos, size_t(length - pos) * sizeof(char16_t));
                length -= pos;
                pos = 0;
            }
            if (length + n > capacity) {
                const qsizetype newCapacity = std::max(capacity * 2, length + n);
                std::unique_ptr<char16_t[]> grown(new char16_t[size_t(newCapacity)]);
                if (length > 0)
                    std::memcpy(grown.get(), text.get(), size_t(length) * sizeof(char16_t));
                text = std::move(grown);
                capacity = newCapacity;
            }
        }
        return text.get() + length;
    }

    void decodeUtf8(const char *data, qsizetype n)
    {
        if (n == 0)
            return;
        auto *out = reinterpret_cast<QChar *>(reserveText(utf8Decoder.requiredSpace(n)));
        const QChar *end = utf8Decoder.appendToBuffer(out, QByteArrayView(data, n));
        length += end - out;
    }

    void decodeWindows1252(const char *data, qsizetype n)
    {
        char16_t *out = reserveText(n);
        const auto *s = reinterpret_cast<const uchar *>(data);
        for (qsizetype i = 0; i < n; ++i) {
            const uchar b = s[i];
            out[i] = (b >= 0x80 && b < 0xA0) ? kWindows1252High[b - 0x80] : char16_t(b);
        }
        length += n;
    }

    // Appends the text of n bytes. final: no bytes follow.
    void decode(const char *data, qsizetype n, bool final)
    {
        switch (encoding) {
        case Encoding::Utf16LE:
        case Encoding::Utf16BE: {
            auto *out = reinterpret_cast<QChar *>(reserveText(utf16Decoder.requiredSpace(n)));
            const QChar *end = utf16Decoder.appendToBuffer(out, QByteArrayView(data, n));
            length += end - out;
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
                utf8Tentative = false;
            decodeUtf8(data, scan.validLength);
            carryLength = int(n - scan.validLength);
            std::memcpy(carry, data + scan.validLength, size_t(carryLength));
            return;
        }
        if (utf8Tentative && !scan.sawNonAscii) {
            // Everything so far was ASCII, which reads the same in Windows-1252.
            encoding = Encoding::Windows1252;
            utf8Tentative = false;
            decodeWindows1252(data, n);
            return;
        }
        decodeUtf8(data, scan.validLength);
        decodeFailed = true;
        deviceAtEnd = true;
    }

    // Reads up to max bytes; 0 at the end, -1 on a read error (reported).
    qint64 readSome(char *out, qint64 max)
    {
        for (;;) {
            const qint64 n = device->read(out, max);
            if (n < 0) {
                fail(0, u"read error: "_s + device->errorString());
                return -1;
            }
            if (n > 0 || !device->isSequential() || !device->waitForReadyRead(-1))
                return n;
        }
    }

    // Reads and decodes one more chunk. False when nothing changed (end, error).
    bool readMore()
    {
        if (deviceAtEnd || error)
            return false;
        raw.resize(carryLength + kChunkSize);
        std::memcpy(raw.data(), carry, size_t(carryLength));
        const qint64 n = readSome(raw.data() + carryLength, kChunkSize);
        if (n < 0)
            return false;
        const qsizetype total = carryLength + n;
        carryLength = 0;
        if (n == 0)
            deviceAtEnd = true;
        bytesRead += n;
        decode(raw.constData(), total, deviceAtEnd);
        return true;
    }

    Parse needMore(qint64 atLine)
    {
        stopLine = atLine;
        return Parse::NeedMore;
    }

    // Parses one record at pos. On NeedMore nothing is consumed except blank lines.
    Parse parseRecord(QStringList &fields, qsizetype &fieldCount, bool final)
    {
        const char16_t *const base = text.get();
        const char16_t *const end = base + length;
        const char16_t *p = base + pos;
        const char16_t delim = delimiter;

        // Blank lines are skipped, not read as one empty field.
        for (;;) {
            if (p == end) {
                pos = p - base;
                return final ? Parse::End : needMore(line);
            }
            if (*p == u'\n') {
                ++p;
                ++line;
            } else if (*p == u'\r') {
                if (p + 1 == end && !final) {
                    pos = p - base;
                    return needMore(line);
                }
                ++p;
                if (p != end && *p == u'\n')
                    ++p;
                ++line;
            } else {
                break;
            }
        }
        pos = p - base;

        const qint64 startLine = line;
        qint64 current = line;
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
                        recordLine = startLine;
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
                        recordLine = startLine;
                        fail(current, u"looks like a binary file (NUL character)"_s);
                        return Parse::Failed;
                    }
                    ++p;
                }
                if (p != end && *p != delim && *p != u'\n' && *p != u'\r') {
                    recordLine = startLine;
                    fail(current, u"unexpected character '"_s + QChar(*p)
                                      + u"' after the closing quote of "_s + columnLabel(count)
                                      + u" (quotes inside a quoted field must be doubled)"_s);
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
                        recordLine = startLine;
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
        pos = p - base;
        line = current;
        recordLine = startLine;
        return Parse::Record;
    }

    // Parses the next record, reading more input as needed.
    Parse nextRecord(QStringList &fields, qsizetype &fieldCount)
    {
        for (;;) {
            const Parse result = parseRecord(fields, fieldCount, deviceAtEnd && !decodeFailed);
            if (result != Parse::NeedMore)
                return result;
            const qsizetype partial = length - pos;
            if (partial > kMaxRecordChars) {
                recordLine = line;
                fail(line, u"record is larger than 64 MiB of text (is a quote not closed?)"_s);
                return Parse::Failed;
            }
            // Grow the look-ahead geometrically so that a record spanning many chunks is
            // scanned a bounded number of times.
            const qsizetype goal =
                std::min(partial + std::max<qsizetype>(partial, 1), kMaxRecordChars + 1);
            bool progressed = false;
            while (length - pos < goal && readMore())
                progressed = true;
            if (error)
                return Parse::Failed;
            if (!progressed && decodeFailed) {
                recordLine = line;
                fail(stopLine, u"invalid UTF-8 byte sequence (the file was read as UTF-8 from "
                               u"its start; convert it or set its encoding explicitly)"_s);
                return Parse::Failed;
            }
        }
    }

    void makeHeaderUnique(const QStringList &names)
    {
        header.clear();
        headerWarnings.clear();
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
                headerWarnings.append(u"column "_s + column + u": surrounding whitespace removed from '"_s
                                      + names.at(i) + u'\'');
            }
            if (name.isEmpty()) {
                QString unique = u"column_"_s + column;
                for (int k = 2; taken.contains(unique); ++k)
                    unique = u"column_"_s + column + u'_' + QString::number(k);
                headerWarnings.append(u"column "_s + column + u": empty name, renamed to "_s + unique);
                name = unique;
                taken.insert(name);
            } else if (seen.contains(name)) {
                QString unique;
                for (int k = 2;; ++k) {
                    unique = name + u'_' + QString::number(k);
                    if (!taken.contains(unique))
                        break;
                }
                headerWarnings.append(u"column "_s + column + u": duplicate name '"_s + name
                                      + u"', renamed to "_s + unique);
                name = unique;
                taken.insert(name);
            }
            seen.insert(name);
            header.append(name);
        }
    }

    bool start(const CsvReader::Options &options)
    {
        totalBytes = device->isSequential() ? -1 : device->size() - device->pos();

        // The sniff window: encoding, binary check, delimiter.
        QByteArray head(kSniffBytes, Qt::Uninitialized);
        qsizetype headLength = 0;
        while (headLength < kSniffBytes) {
            const qint64 n = readSome(head.data() + headLength, kSniffBytes - headLength);
            if (n < 0)
                return false;
            if (n == 0) {
                deviceAtEnd = true;
                break;
            }
            headLength += n;
        }
        head.truncate(headLength);
        bytesRead = headLength;

        const auto startsWith = [&](const char *bom, qsizetype n) {
            return headLength >= n && std::memcmp(head.constData(), bom, size_t(n)) == 0;
        };
        qsizetype skip = 0;
        if (!options.encoding.isEmpty()) {
            if (!encodingFromName(options.encoding, &encoding)) {
                fail(0, u"unsupported encoding '"_s + options.encoding
                            + u"' (use UTF-8, UTF-16LE, UTF-16BE or Windows-1252)"_s);
                return false;
            }
            if (encoding == Encoding::Utf8 && startsWith("\xEF\xBB\xBF", 3))
                skip = 3;
            else if (encoding == Encoding::Utf16LE && startsWith("\xFF\xFE", 2))
                skip = 2;
            else if (encoding == Encoding::Utf16BE && startsWith("\xFE\xFF", 2))
                skip = 2;
        } else if (startsWith("\xEF\xBB\xBF", 3)) {
            encoding = Encoding::Utf8;
            skip = 3;
        } else if (startsWith("\xFF\xFE", 2)) {
            encoding = Encoding::Utf16LE;
            skip = 2;
        } else if (startsWith("\xFE\xFF", 2)) {
            encoding = Encoding::Utf16BE;
            skip = 2;
        } else {
            const Utf8Scan scan = scanUtf8(head.constData(), headLength);
            if (scan.validLength == headLength || (scan.incompleteTail && !deviceAtEnd)) {
                encoding = Encoding::Utf8;
                utf8Tentative = !scan.sawNonAscii;
            } else {
                encoding = Encoding::Windows1252;
            }
        }
        if (encoding == Encoding::Utf16LE)
            utf16Decoder = QStringDecoder(QStringDecoder::Utf16LE);
        else if (encoding == Encoding::Utf16BE)
            utf16Decoder = QStringDecoder(QStringDecoder::Utf16BE);

        if (headLength - skip == 0) {
            fail(0, u"file is empty"_s);
            return false;
        }

        reserveText(std::max<qsizetype>(2 * kChunkSize, headLength + 16));
        decode(head.constData() + skip, headLength - skip, deviceAtEnd);

        if (std::find(text.get() + pos, text.get() + length, char16_t(0)) != text.get() + length) {
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
            delimiter = forced;
        } else {
            delimiter = sniffDelimiter(text.get() + pos, length - pos, deviceAtEnd && !decodeFailed);
        }

        qsizetype count = 0;
        switch (nextRecord(scratch, count)) {
        case Parse::Record:
            break;
        case Parse::End:
            fail(0, u"file is empty (no header row, only empty lines)"_s);
            return false;
        case Parse::Failed:
        case Parse::NeedMore:
            return false;
        }
        scratch.resize(count);
        makeHeaderUnique(scratch);
        open = true;
        return true;
    }
};

CsvReader::CsvReader() : d(std::make_unique<Private>()) {}

CsvReader::~CsvReader() = default;

bool CsvReader::open(const QString &path, const Options &options)
{
    d = std::make_unique<Private>();
    d->source = path;
    d->file = std::make_unique<QFile>(path);
    if (!d->file->open(QIODevice::ReadOnly | QIODevice::Unbuffered)) {
        d->fail(0, u"cannot open: "_s + d->file->errorString());
        return false;
    }
    d->device = d->file.get();
    return d->start(options);
}

bool CsvReader::open(QIODevice *device, const QString &sourceName, const Options &options)
{
    d = std::make_unique<Private>();
    d->source = sourceName;
    if (!device || !device->isReadable()) {
        d->fail(0, u"device is not open for reading"_s);
        return false;
    }
    d->device = device;
    return d->start(options);
}

const QStringList &CsvReader::header() const
{
    return d->header;
}

const QStringList &CsvReader::headerWarnings() const
{
    return d->headerWarnings;
}

QChar CsvReader::delimiter() const
{
    return d->open ? QChar(d->delimiter) : QChar();
}

QString CsvReader::encoding() const
{
    return d->open ? encodingName(d->encoding) : QString();
}

bool CsvReader::readRow(QStringList &fields)
{
    if (!d->open || d->error)
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
    if (count != d->header.size()) {
        d->fail(d->recordLine, u"expected "_s + QString::number(d->header.size())
                                   + u" fields, found "_s + QString::number(count));
        return false;
    }
    if (fields.size() != count)
        fields.resize(count);
    ++d->recordNumber;
    return true;
}

qint64 CsvReader::recordLine() const
{
    return d->recordLine;
}

qint64 CsvReader::recordNumber() const
{
    return d->recordNumber;
}

qint64 CsvReader::bytesRead() const
{
    return d->bytesRead;
}

qint64 CsvReader::totalBytes() const
{
    return d->totalBytes;
}

bool CsvReader::hasError() const
{
    return d->error;
}

QString CsvReader::errorString() const
{
    return d->errorString;
}

} // namespace bd::ingest
