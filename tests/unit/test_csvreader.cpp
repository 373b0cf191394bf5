#include "ingest/csvreader.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <QBuffer>
#include <QElapsedTimer>
#include <QFile>
#include <QStringEncoder>
#include <QTemporaryDir>
#include <QtTest>
#include <sys/stat.h>

using namespace Qt::StringLiterals;
using bd::ingest::CsvReader;

using Rows = QList<QStringList>;

namespace {

// Hands out at most `step` bytes per read, so that every chunk boundary of the reader
// falls where the test wants it.
class TrickleDevice : public QIODevice
{
public:
    TrickleDevice(const QByteArray &data, qint64 step, bool sequential)
        : m_data(data)
        , m_step(step)
        , m_sequential(sequential)
    {
    }
    bool isSequential() const override { return m_sequential; }
    qint64 size() const override { return m_sequential ? 0 : m_data.size(); }
    qint64 bytesAvailable() const override
    {
        return m_data.size() - m_offset + QIODevice::bytesAvailable();
    }
    int reads() const { return m_reads; }

protected:
    qint64 readData(char *out, qint64 max) override
    {
        ++m_reads;
        const qint64 n = std::min({max, m_step, qint64(m_data.size()) - m_offset});
        std::memcpy(out, m_data.constData() + m_offset, size_t(n));
        m_offset += n;
        return n;
    }
    qint64 writeData(const char *, qint64) override { return -1; }

private:
    QByteArray m_data;
    qint64 m_offset = 0;
    qint64 m_step;
    bool m_sequential;
    int m_reads = 0;
};

struct Result
{
    bool opened = false;
    QString error;
    QStringList header;
    QStringList warnings;
    QString encoding;
    QChar delimiter;
    Rows rows;
    QList<qint64> lines;
};

// Bytes of a literal that may contain NULs.
template <size_t N> QByteArray bytesOf(const char (&literal)[N])
{
    return QByteArray(literal, qsizetype(N - 1));
}

// Windows-1252 for the few characters the tests use (no ICU needed).
QByteArray toWindows1252(const QString &text)
{
    QByteArray out;
    for (const QChar c : text) {
        switch (c.unicode()) {
        case u'€':
            out += '\x80';
            break;
        case u'“':
            out += '\x93';
            break;
        case u'”':
            out += '\x94';
            break;
        default:
            Q_ASSERT(c.unicode() < 0x80 || (c.unicode() >= 0xA0 && c.unicode() <= 0xFF));
            out += char(c.unicode());
        }
    }
    return out;
}

Result readAll(QIODevice *device, const CsvReader::Options &options = {},
               const QString &name = u"data.csv"_s)
{
    Result result;
    CsvReader reader;
    result.opened = reader.open(device, name, options);
    if (result.opened) {
        result.header = reader.header();
        result.warnings = reader.headerWarnings();
        result.delimiter = reader.delimiter();
        QStringList fields;
        while (reader.readRow(fields)) {
            result.rows.append(fields);
            result.lines.append(reader.recordLine());
        }
        result.encoding = reader.encoding(); // may change after a late Windows-1252 switch
    }
    result.error = reader.errorString();
    if (!result.error.isEmpty() != reader.hasError())
        qWarning("hasError() disagrees with errorString()");
    return result;
}

Result readBytes(const QByteArray &bytes, const CsvReader::Options &options = {})
{
    QBuffer buffer;
    buffer.setData(bytes);
    buffer.open(QIODevice::ReadOnly);
    return readAll(&buffer, options);
}

QByteArray utf16(const QString &text, QStringEncoder::Encoding encoding)
{
    QStringEncoder encoder(encoding, QStringEncoder::Flag::WriteBom);
    return encoder.encode(text);
}

CsvReader::Options withDelimiter(QChar delimiter)
{
    CsvReader::Options options;
    options.delimiter = delimiter;
    return options;
}

CsvReader::Options withEncoding(const QString &encoding)
{
    CsvReader::Options options;
    options.encoding = encoding;
    return options;
}

// ~150-byte rows in the shape of the product's import benchmark.
QByteArray benchmarkData(int rows)
{
    QByteArray data = "id,customer,email,rating,review\n";
    data.reserve(qsizetype(rows) * 160);
    for (int i = 0; i < rows; ++i) {
        data += QByteArray::number(i);
        data += ",Customer number ";
        data += QByteArray::number(i % 9973);
        data += ",user";
        data += QByteArray::number(i);
        data += "@mail.example.com,";
        data += QByteArray::number(i % 5 + 1);
        if (i % 4 == 0)
            data += ",\"Arrived late, box \"\"slightly\"\" damaged; works fine otherwise. Would "
                    "order again from this shop, I think.\"\n";
        else
            data += ",Great product - does what it says and the battery lasts for days on end. "
                    "Five stars!\n";
    }
    return data;
}

} // namespace

class TestCsvReader : public QObject
{
    Q_OBJECT

private slots:
    void parse_data();
    void parse();
    void recordLines();
    void encodings_data();
    void encodings();
    void lateWindows1252Switch();
    void lateInvalidUtf8IsAnError();
    void delimiters_data();
    void delimiters();
    void errors_data();
    void errors();
    void errorIsSticky();
    void headerNames_data();
    void headerNames();
    void headerOnly();
    void chunkBoundaries_data();
    void chunkBoundaries();
    void largeFileChunkBoundaries();
    void recordSpanningManyChunks();
    void oversizedRecordIsAnError();
    void binaryAfterSniffWindow();
    void fieldsKeptByCallerAreNotOverwritten();
    void emptyFieldsAreNotNull();
    void progress();
    void openPath();
    void encodingFallbackIsExplained_data();
    void encodingFallbackIsExplained();
    void nonRegularInputs();
    void benchmark();
};

void TestCsvReader::parse_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QStringList>("header");
    QTest::addColumn<Rows>("rows");

    const QStringList ab{u"a"_s, u"b"_s};
    const Rows twoRows{{u"1"_s, u"2"_s}, {u"3"_s, u"4"_s}};
    QTest::newRow("LF") << QByteArray("a,b\n1,2\n3,4\n") << ab << twoRows;
    QTest::newRow("CRLF") << QByteArray("a,b\r\n1,2\r\n3,4\r\n") << ab << twoRows;
    QTest::newRow("CR") << QByteArray("a,b\r1,2\r3,4\r") << ab << twoRows;
    QTest::newRow("mixed endings") << QByteArray("a,b\r\n1,2\r3,4\n") << ab << twoRows;
    QTest::newRow("no final newline") << QByteArray("a,b\n1,2\n3,4") << ab << twoRows;
    QTest::newRow("no final newline CRLF") << QByteArray("a,b\r\n1,2\r\n3,4") << ab << twoRows;
    QTest::newRow("blank lines skipped")
        << QByteArray("\na,b\n\n1,2\r\n\r\n\r3,4\n\n\n") << ab << twoRows;
    QTest::newRow("trailing empty field")
        << QByteArray("a,b,c\n1,2,\n,,\n") << QStringList{u"a"_s, u"b"_s, u"c"_s}
        << Rows{{u"1"_s, u"2"_s, u""_s}, {u""_s, u""_s, u""_s}};
    QTest::newRow("trailing empty field at EOF")
        << QByteArray("a,b\n1,") << ab << Rows{{u"1"_s, u""_s}};
    QTest::newRow("trailing empty header field")
        << QByteArray("a,\n1,2\n") << QStringList{u"a"_s, u"column_2"_s} << Rows{{u"1"_s, u"2"_s}};
    QTest::newRow("quoted") << QByteArray("a,b\n\"1\",\"x,y\"\n") << ab << Rows{{u"1"_s, u"x,y"_s}};
    QTest::newRow("quoted LF") << QByteArray("a,b\n1,\"x\ny\"\n2,z\n") << ab
                               << Rows{{u"1"_s, u"x\ny"_s}, {u"2"_s, u"z"_s}};
    QTest::newRow("quoted CRLF kept")
        << QByteArray("a,b\r\n1,\"x\r\ny\r\n\"\r\n") << ab << Rows{{u"1"_s, u"x\r\ny\r\n"_s}};
    QTest::newRow("quoted CR kept")
        << QByteArray("a,b\r1,\"x\ry\"\r") << ab << Rows{{u"1"_s, u"x\ry"_s}};
    QTest::newRow("escaped quotes") << QByteArray("a,b\n\"he said \"\"hi\"\"\",\"\"\"\"\n") << ab
                                    << Rows{{u"he said \"hi\""_s, u"\""_s}};
    QTest::newRow("escaped quote at start and end")
        << QByteArray("a,b\n\"\"\"x\"\"\",\"\"\"\"\"\"\n") << ab << Rows{{u"\"x\""_s, u"\"\""_s}};
    QTest::newRow("empty quoted") << QByteArray("a,b\n\"\",\"\"\n") << ab << Rows{{u""_s, u""_s}};
    QTest::newRow("quoted at EOF") << QByteArray("a,b\n1,\"x\"") << ab << Rows{{u"1"_s, u"x"_s}};
    QTest::newRow("quoted empty at EOF")
        << QByteArray("a,b\n1,\"\"") << ab << Rows{{u"1"_s, u""_s}};
    // Policy: a quote inside an unquoted field is an ordinary character.
    QTest::newRow("stray quote kept literally")
        << QByteArray("a,b\n5\" screen,ab\"c\"\n") << ab << Rows{{u"5\" screen"_s, u"ab\"c\""_s}};
    QTest::newRow("space before quote is unquoted")
        << QByteArray("a,b\n \"x\",2\n") << ab << Rows{{u" \"x\""_s, u"2"_s}};
    QTest::newRow("whitespace preserved")
        << QByteArray("a,b\n 1 ,\t2\t\n") << ab << Rows{{u" 1 "_s, u"\t2\t"_s}};
    QTest::newRow("control characters kept")
        << QByteArray("a,b\n\x01x,\x0by\n") << ab << Rows{{u"\x01x"_s, u"\x0by"_s}};
    QTest::newRow("single column")
        << QByteArray("review\ngood\n\"bad, really\"\n") << QStringList{u"review"_s}
        << Rows{{u"good"_s}, {u"bad, really"_s}};
    QTest::newRow("quoted header") << QByteArray("\"a\",\"b\nc\"\n1,2\n")
                                   << QStringList{u"a"_s, u"b\nc"_s} << Rows{{u"1"_s, u"2"_s}};
    QTest::newRow("utf-8 text") << QByteArray("名前,値\nJosé,€ 😀\n")
                                << QStringList{u"名前"_s, u"値"_s} << Rows{{u"José"_s, u"€ 😀"_s}};
}

void TestCsvReader::parse()
{
    QFETCH(QByteArray, input);
    QFETCH(QStringList, header);
    QFETCH(Rows, rows);

    const Result result = readBytes(input);
    QVERIFY2(result.opened, qPrintable(result.error));
    QCOMPARE(result.error, QString());
    QCOMPARE(result.header, header);
    QCOMPARE(result.rows, rows);
}

void TestCsvReader::recordLines()
{
    // Physical lines: 1 header, 2-3 first record, 4 blank, 5 second, 6-8 third, 9 fourth.
    const QByteArray input = "a,b\n1,\"x\ny\"\n\n2,3\r\n4,\"p\r\nq\rr\"\r\n5,6";
    QBuffer buffer;
    buffer.setData(input);
    buffer.open(QIODevice::ReadOnly);
    CsvReader reader;
    QVERIFY(reader.open(&buffer, u"data.csv"_s));
    QCOMPARE(reader.recordLine(), 1);
    QCOMPARE(reader.recordNumber(), 0);
    QStringList fields;
    const QList<qint64> lines{2, 5, 6, 9};
    const Rows rows{
        {u"1"_s, u"x\ny"_s}, {u"2"_s, u"3"_s}, {u"4"_s, u"p\r\nq\rr"_s}, {u"5"_s, u"6"_s}};
    for (qsizetype i = 0; i < lines.size(); ++i) {
        QVERIFY(reader.readRow(fields));
        QCOMPARE(fields, rows.at(i));
        QCOMPARE(reader.recordLine(), lines.at(i));
        QCOMPARE(reader.recordNumber(), i + 1);
    }
    QVERIFY(!reader.readRow(fields));
    QVERIFY(!reader.hasError());
    QCOMPARE(reader.recordNumber(), 4);
}

void TestCsvReader::encodings_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QString>("forced");
    QTest::addColumn<QString>("encoding");
    QTest::addColumn<QStringList>("header");
    QTest::addColumn<Rows>("rows");

    const QString text = u"name,quote\r\nJosé,“hi” – 😀\r\n"_s;
    const QStringList header{u"name"_s, u"quote"_s};
    const Rows rows{{u"José"_s, u"“hi” – 😀"_s}};
    QTest::newRow("utf-8 bom") << (QByteArray("\xEF\xBB\xBF") + text.toUtf8()) << QString()
                               << u"UTF-8"_s << header << rows;
    QTest::newRow("utf-8 no bom") << text.toUtf8() << QString() << u"UTF-8"_s << header << rows;
    QTest::newRow("utf-16le bom") << utf16(text, QStringEncoder::Utf16LE) << QString()
                                  << u"UTF-16LE"_s << header << rows;
    QTest::newRow("utf-16be bom") << utf16(text, QStringEncoder::Utf16BE) << QString()
                                  << u"UTF-16BE"_s << header << rows;
    QTest::newRow("ascii is utf-8") << QByteArray("a,b\n1,2\n") << QString() << u"UTF-8"_s
                                    << QStringList{u"a"_s, u"b"_s} << Rows{{u"1"_s, u"2"_s}};
    QTest::newRow("windows-1252 smart quotes")
        << QByteArray("name,quote\nJos\xE9,\x93hi\x94 \x96 \x80\x85\n") << QString()
        << u"Windows-1252"_s << header << Rows{{u"José"_s, u"“hi” – €…"_s}};
    QTest::newRow("windows-1252 in header")
        << QByteArray("caf\xE9,na\xEFve\n\x9c,\xFF\n") << QString() << u"Windows-1252"_s
        << QStringList{u"café"_s, u"naïve"_s} << Rows{{u"œ"_s, u"ÿ"_s}};
    QTest::newRow("windows-1252 unassigned bytes are C1")
        << QByteArray("a,b\n\x81,\x9D\xE9\n") << QString() << u"Windows-1252"_s
        << QStringList{u"a"_s, u"b"_s} << Rows{{u"\u0081"_s, u"\u009Dé"_s}};
    QTest::newRow("forced windows-1252 on utf-8 bytes")
        << QByteArray("a,b\n\xC3\xA9,x\n") << u"Windows-1252"_s << u"Windows-1252"_s
        << QStringList{u"a"_s, u"b"_s} << Rows{{u"Ã©"_s, u"x"_s}};
    QTest::newRow("forced cp1252 alias")
        << QByteArray("a,b\n\xE9,x\n") << u"cp1252"_s << u"Windows-1252"_s
        << QStringList{u"a"_s, u"b"_s} << Rows{{u"é"_s, u"x"_s}};
    QByteArray le = utf16(text, QStringEncoder::Utf16LE);
    QTest::newRow("forced utf-16le without bom")
        << le.mid(2) << u"UTF-16LE"_s << u"UTF-16LE"_s << header << rows;
    QTest::newRow("forced utf-16le skips bom")
        << le << u"utf-16le"_s << u"UTF-16LE"_s << header << rows;
    QTest::newRow("forced utf-8 skips bom") << (QByteArray("\xEF\xBB\xBF") + text.toUtf8())
                                            << u"utf8"_s << u"UTF-8"_s << header << rows;
}

void TestCsvReader::encodings()
{
    QFETCH(QByteArray, input);
    QFETCH(QString, forced);
    QFETCH(QString, encoding);
    QFETCH(QStringList, header);
    QFETCH(Rows, rows);

    const Result result = readBytes(input, withEncoding(forced));
    QVERIFY2(result.opened, qPrintable(result.error));
    QCOMPARE(result.error, QString());
    QCOMPARE(result.encoding, encoding);
    QCOMPARE(result.header, header);
    QCOMPARE(result.rows, rows);
}

void TestCsvReader::lateWindows1252Switch()
{
    // 200 KiB of ASCII, then a Windows-1252 byte: nothing read so far changes meaning.
    QByteArray input = "id,name\n";
    int rows = 0;
    while (input.size() < 200 * 1024)
        input += QByteArray::number(++rows) + ",plain ascii name\n";
    input += "999999,Ren\xE9 \x93R\x94\n";

    QBuffer buffer;
    buffer.setData(input);
    buffer.open(QIODevice::ReadOnly);
    CsvReader reader;
    QVERIFY(reader.open(&buffer, u"data.csv"_s));
    QCOMPARE(reader.encoding(), u"UTF-8"_s);
    QStringList fields;
    for (int i = 1; i <= rows; ++i) {
        QVERIFY2(reader.readRow(fields), qPrintable(reader.errorString()));
        QCOMPARE(fields.at(0), QString::number(i));
    }
    QVERIFY(reader.readRow(fields));
    QCOMPARE(fields, (QStringList{u"999999"_s, u"René “R”"_s}));
    QCOMPARE(reader.encoding(), u"Windows-1252"_s);
    // The header is line 1, the ASCII rows lines 2..rows+1.
    QCOMPARE(reader.encodingFallbackLine(), rows + 2);
    QVERIFY2(
        reader.encodingNote().contains(u"line "_s + QString::number(rows + 2) + u" (byte 0xE9)"_s),
        qPrintable(reader.encodingNote()));
    QVERIFY(!reader.readRow(fields));
    QVERIFY(!reader.hasError());
}

void TestCsvReader::lateInvalidUtf8IsAnError()
{
    // Real UTF-8 early on, then an invalid byte far beyond the sniff window: the
    // reader refuses to guess and names the line.
    QByteArray input = "id,name\n1,Zoë\n";
    int line = 2;
    while (input.size() < 150 * 1024) {
        ++line;
        input += QByteArray::number(line) + ",plain ascii name\n";
    }
    ++line;
    input += "x,Ren\xE9\n";
    input += "y,after\n";

    QBuffer buffer;
    buffer.setData(input);
    buffer.open(QIODevice::ReadOnly);
    CsvReader reader;
    QVERIFY(reader.open(&buffer, u"data.csv"_s));
    QStringList fields;
    int read = 0;
    while (reader.readRow(fields))
        ++read;
    QVERIFY(reader.hasError());
    QCOMPARE(read, line - 2);
    QCOMPARE(reader.errorString(),
             u"data.csv:"_s + QString::number(line) +
                 u": invalid UTF-8 byte sequence (the file was read as UTF-8 from its start; "
                 u"convert it or set its encoding explicitly)"_s);

    // Same with a BOM and the bad byte inside the first chunk.
    const Result bom = readBytes("\xEF\xBB\xBFid,name\n1,ok\n2,Ren\xE9\n3,x\n");
    QVERIFY(bom.opened);
    QCOMPARE(bom.rows.size(), 1);
    QVERIFY(bom.error.startsWith(u"data.csv:3: invalid UTF-8 byte sequence"_s));
}

void TestCsvReader::delimiters_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QChar>("forced");
    QTest::addColumn<QChar>("delimiter");
    QTest::addColumn<QStringList>("header");
    QTest::addColumn<QStringList>("firstRow");

    const QStringList abc{u"a"_s, u"b"_s, u"c"_s};
    QTest::newRow("comma") << QByteArray("a,b,c\n1,2,3\n") << QChar() << QChar(u',') << abc
                           << QStringList{u"1"_s, u"2"_s, u"3"_s};
    QTest::newRow("semicolon") << QByteArray("a;b;c\n1;2;3\n") << QChar() << QChar(u';') << abc
                               << QStringList{u"1"_s, u"2"_s, u"3"_s};
    QTest::newRow("tab") << QByteArray("a\tb\tc\n1\t2\t3\n") << QChar() << QChar(u'\t') << abc
                         << QStringList{u"1"_s, u"2"_s, u"3"_s};
    QTest::newRow("pipe") << QByteArray("a|b|c\n1|2|3\n") << QChar() << QChar(u'|') << abc
                          << QStringList{u"1"_s, u"2"_s, u"3"_s};
    QTest::newRow("colon") << QByteArray("a:b:c\n1:2:3\n") << QChar() << QChar(u':') << abc
                           << QStringList{u"1"_s, u"2"_s, u"3"_s};
    QTest::newRow("semicolon with decimal commas")
        << QByteArray("name;price;qty\nA;1,5;2\nB;2,25;10,5\n") << QChar() << QChar(u';')
        << QStringList{u"name"_s, u"price"_s, u"qty"_s} << QStringList{u"A"_s, u"1,5"_s, u"2"_s};
    QTest::newRow("comma with semicolons in quotes")
        << QByteArray("a,b,c\n\"x;y;z;w\",1,2\n\"p;q\",3,4\n") << QChar() << QChar(u',') << abc
        << QStringList{u"x;y;z;w"_s, u"1"_s, u"2"_s};
    QTest::newRow("semicolon with commas in quotes")
        << QByteArray("a;b;c\n\"x,y,z,w\";1;2\n\"p,q\";\"3,\n4\";5\n") << QChar() << QChar(u';')
        << abc << QStringList{u"x,y,z,w"_s, u"1"_s, u"2"_s};
    QTest::newRow("tab with commas in text")
        << QByteArray("id\treview\n1\tGood, cheap, fast\n2\t\"Bad,\tvery\"\n") << QChar()
        << QChar(u'\t') << QStringList{u"id"_s, u"review"_s}
        << QStringList{u"1"_s, u"Good, cheap, fast"_s};
    QTest::newRow("pipe with pipes and newlines in quotes")
        << QByteArray("a|b|c\n\"1|1\"|\"2\n|2\"|3\n4|5|6\n") << QChar() << QChar(u'|') << abc
        << QStringList{u"1|1"_s, u"2\n|2"_s, u"3"_s};
    QTest::newRow("quoted header with other delimiters")
        << QByteArray("\"a;x\",\"b|y\",c\n1,2,3\n") << QChar() << QChar(u',')
        << QStringList{u"a;x"_s, u"b|y"_s, u"c"_s} << QStringList{u"1"_s, u"2"_s, u"3"_s};
    QTest::newRow("comma beats colon in times")
        << QByteArray("id,at\n1,12:30:00\n2,13:45:10\n") << QChar() << QChar(u',')
        << QStringList{u"id"_s, u"at"_s} << QStringList{u"1"_s, u"12:30:00"_s};
    QTest::newRow("more consistent fields win")
        << QByteArray("a;b;c,d\n1;2;3,4\n") << QChar() << QChar(u';')
        << QStringList{u"a"_s, u"b"_s, u"c,d"_s} << QStringList{u"1"_s, u"2"_s, u"3,4"_s};
    QTest::newRow("header only semicolon")
        << QByteArray("a;b;c") << QChar() << QChar(u';') << abc << QStringList{};
    QTest::newRow("single column defaults to comma")
        << QByteArray("review\ngood\nok\n") << QChar() << QChar(u',') << QStringList{u"review"_s}
        << QStringList{u"good"_s};
    QTest::newRow("forced semicolon")
        << QByteArray("a,b;c\n1,2;3\n") << QChar(u';') << QChar(u';')
        << QStringList{u"a,b"_s, u"c"_s} << QStringList{u"1,2"_s, u"3"_s};
    QTest::newRow("utf-16 semicolon")
        << utf16(u"a;b;c\r\n1;2;3\r\n"_s, QStringEncoder::Utf16LE) << QChar() << QChar(u';') << abc
        << QStringList{u"1"_s, u"2"_s, u"3"_s};
}

void TestCsvReader::delimiters()
{
    QFETCH(QByteArray, input);
    QFETCH(QChar, forced);
    QFETCH(QChar, delimiter);
    QFETCH(QStringList, header);
    QFETCH(QStringList, firstRow);

    const Result result = readBytes(input, withDelimiter(forced));
    QVERIFY2(result.opened, qPrintable(result.error));
    QCOMPARE(result.error, QString());
    QCOMPARE(result.delimiter, delimiter);
    QCOMPARE(result.header, header);
    if (firstRow.isEmpty()) {
        QVERIFY(result.rows.isEmpty());
    } else {
        QVERIFY(!result.rows.isEmpty());
        QCOMPARE(result.rows.first(), firstRow);
    }
}

void TestCsvReader::errors_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<bool>("opens");
    QTest::addColumn<int>("rowsBefore");
    QTest::addColumn<qint64>("line");
    QTest::addColumn<QString>("error");

    QTest::newRow("empty file") << QByteArray() << false << 0 << qint64(0)
                                << u"data.csv: file is empty"_s;
    QTest::newRow("bom only") << QByteArray("\xEF\xBB\xBF") << false << 0 << qint64(0)
                              << u"data.csv: file is empty"_s;
    QTest::newRow("utf-16 bom only")
        << QByteArray("\xFF\xFE") << false << 0 << qint64(0) << u"data.csv: file is empty"_s;
    QTest::newRow("only blank lines")
        << QByteArray("\r\n\n\r\n") << false << 0 << qint64(0)
        << u"data.csv: file is empty (no header row, only empty lines)"_s;
    QTest::newRow("too many fields") << QByteArray("a,b,c\n1,2,3\n1,2,3,4\n5,6,7\n") << true << 1
                                     << qint64(3) << u"data.csv:3: expected 3 fields, found 4"_s;
    QTest::newRow("too few fields") << QByteArray("a,b,c\r\n1,2,3\r\n\r\n4,5\r\n") << true << 1
                                    << qint64(4) << u"data.csv:4: expected 3 fields, found 2"_s;
    QTest::newRow("ragged after embedded newline")
        << QByteArray("a,b,c\n1,\"x\ny\nz\",3\n4,5\n") << true << 1 << qint64(5)
        << u"data.csv:5: expected 3 fields, found 2"_s;
    QTest::newRow("ragged after embedded CRLF")
        << QByteArray("a,b,c\r\n1,\"x\r\ny\",3\r\n4,5,6\r\n7,\"8\r\n\",9,10\r\n") << true << 2
        << qint64(5) << u"data.csv:5: expected 3 fields, found 4"_s;
    QTest::newRow("ragged last line without newline")
        << QByteArray("a,b\n1,2\n3") << true << 1 << qint64(3)
        << u"data.csv:3: expected 2 fields, found 1"_s;
    QTest::newRow("unterminated quote")
        << QByteArray("id,review\n1,ok\n2,\"never closed\nmore text\n3,x\n") << true << 1
        << qint64(3) << u"data.csv:3: unterminated quoted field in column 'review'"_s;
    QTest::newRow("unterminated quote at EOF")
        << QByteArray("id,review\n1,\"") << true << 0 << qint64(2)
        << u"data.csv:2: unterminated quoted field in column 'review'"_s;
    QTest::newRow("unterminated quote in header")
        << QByteArray("a,\"b\n1,2\n") << false << 0 << qint64(0)
        << u"data.csv:1: unterminated quoted field in column 2"_s;
    QTest::newRow("text after closing quote")
        << QByteArray("a,b\n1,2\n\"he said \"hi\"\",3\n") << true << 1 << qint64(3)
        << u"data.csv:3: unexpected character 'h' after the closing quote of column 'a' "
           u"(quotes inside a quoted field must be doubled)"_s;
    QTest::newRow("binary nul") << bytesOf("a,b\n1,2\0\0\x03\x04") << false << 0 << qint64(0)
                                << u"data.csv: looks like a binary file (it contains NUL bytes); "
                                   u"if it is UTF-16 text without a byte order mark, set its "
                                   u"encoding explicitly"_s;
    QTest::newRow("zip file") << bytesOf("PK\x03\x04\x14\0\0\0\x08\0") << false << 0 << qint64(0)
                              << u"data.csv: looks like a binary file (it contains NUL bytes); "
                                 u"if it is UTF-16 text without a byte order mark, set its "
                                 u"encoding explicitly"_s;
    QTest::newRow("utf-16 without bom is binary")
        << bytesOf("a\0,\0b\0\n\0") << false << 0 << qint64(0)
        << u"data.csv: looks like a binary file (it contains NUL bytes); if it is UTF-16 text "
           u"without a byte order mark, set its encoding explicitly"_s;
}

void TestCsvReader::errors()
{
    QFETCH(QByteArray, input);
    QFETCH(bool, opens);
    QFETCH(int, rowsBefore);
    QFETCH(qint64, line);
    QFETCH(QString, error);

    QBuffer buffer;
    buffer.setData(input);
    buffer.open(QIODevice::ReadOnly);
    CsvReader reader;
    QCOMPARE(reader.open(&buffer, u"data.csv"_s), opens);
    int rows = 0;
    QStringList fields;
    if (opens) {
        QVERIFY(!reader.hasError());
        while (reader.readRow(fields))
            ++rows;
        QCOMPARE(reader.recordLine(), line);
        QCOMPARE(reader.recordNumber(), rowsBefore);
    }
    QCOMPARE(rows, rowsBefore);
    QVERIFY(reader.hasError());
    QCOMPARE(reader.errorString(), error);
}

void TestCsvReader::errorIsSticky()
{
    QBuffer buffer;
    buffer.setData("a,b\n1,2,3\n4,5\n");
    buffer.open(QIODevice::ReadOnly);
    CsvReader reader;
    QVERIFY(reader.open(&buffer, u"x.csv"_s));
    QStringList fields;
    QVERIFY(!reader.readRow(fields));
    QVERIFY(reader.hasError());
    QVERIFY(!reader.readRow(fields));
    QCOMPARE(reader.errorString(), u"x.csv:2: expected 2 fields, found 3"_s);

    const Result badEncoding = readBytes("a,b\n", withEncoding(u"EBCDIC"_s));
    QVERIFY(!badEncoding.opened);
    QCOMPARE(badEncoding.error, u"data.csv: unsupported encoding 'EBCDIC' (use UTF-8, UTF-16LE, "
                                u"UTF-16BE or Windows-1252)"_s);
    const Result badDelimiter = readBytes("a,b\n", withDelimiter(u'"'));
    QVERIFY(!badDelimiter.opened);
    QCOMPARE(badDelimiter.error, u"data.csv: invalid delimiter"_s);

    CsvReader closed;
    QVERIFY(!closed.readRow(fields));
    QVERIFY(!closed.hasError());
    QCOMPARE(closed.header(), QStringList());
    QCOMPARE(closed.totalBytes(), -1);
}

void TestCsvReader::headerNames_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QStringList>("header");
    QTest::addColumn<QStringList>("warnings");

    QTest::newRow("clean") << QByteArray("id,review\n") << QStringList{u"id"_s, u"review"_s}
                           << QStringList{};
    QTest::newRow("empty and duplicates")
        << QByteArray("id,,name,id,id,\"\"\n")
        << QStringList{u"id"_s, u"column_2"_s, u"name"_s, u"id_2"_s, u"id_3"_s, u"column_6"_s}
        << QStringList{u"column 2: empty name, renamed to column_2"_s,
                       u"column 4: duplicate name 'id', renamed to id_2"_s,
                       u"column 5: duplicate name 'id', renamed to id_3"_s,
                       u"column 6: empty name, renamed to column_6"_s};
    QTest::newRow("suffix already taken")
        << QByteArray("a,a,a_2\n") << QStringList{u"a"_s, u"a_3"_s, u"a_2"_s}
        << QStringList{u"column 2: duplicate name 'a', renamed to a_3"_s};
    QTest::newRow("generated name already taken")
        << QByteArray("column_2,\n") << QStringList{u"column_2"_s, u"column_2_2"_s}
        << QStringList{u"column 2: empty name, renamed to column_2_2"_s};
    QTest::newRow("whitespace trimmed")
        << QByteArray("id, review ,  \n") << QStringList{u"id"_s, u"review"_s, u"column_3"_s}
        << QStringList{u"column 2: surrounding whitespace removed from ' review '"_s,
                       u"column 3: empty name, renamed to column_3"_s};
    QTest::newRow("duplicate after trimming")
        << QByteArray("id,id \n") << QStringList{u"id"_s, u"id_2"_s}
        << QStringList{u"column 2: surrounding whitespace removed from 'id '"_s,
                       u"column 2: duplicate name 'id', renamed to id_2"_s};
    QTest::newRow("case differs is not duplicate")
        << QByteArray("ID,id\n") << QStringList{u"ID"_s, u"id"_s} << QStringList{};
}

void TestCsvReader::headerNames()
{
    QFETCH(QByteArray, input);
    QFETCH(QStringList, header);
    QFETCH(QStringList, warnings);

    const Result result = readBytes(input);
    QVERIFY2(result.opened, qPrintable(result.error));
    QCOMPARE(result.header, header);
    QCOMPARE(result.warnings, warnings);
}

void TestCsvReader::headerOnly()
{
    for (const QByteArray &input :
         {QByteArray("a,b"), QByteArray("a,b\r\n"), QByteArray("a,b\n\n")}) {
        QBuffer buffer;
        buffer.setData(input);
        buffer.open(QIODevice::ReadOnly);
        CsvReader reader;
        QVERIFY(reader.open(&buffer, u"data.csv"_s));
        QCOMPARE(reader.header(), (QStringList{u"a"_s, u"b"_s}));
        QStringList fields{u"stale"_s};
        QVERIFY(!reader.readRow(fields));
        QVERIFY(!reader.hasError());
        QCOMPARE(reader.errorString(), QString());
        QCOMPARE(reader.recordNumber(), 0);
        QCOMPARE(reader.bytesRead(), input.size());
    }
}

void TestCsvReader::chunkBoundaries_data()
{
    QTest::addColumn<QString>("encoding");
    QTest::addColumn<qint64>("step");
    QTest::addColumn<bool>("sequential");

    for (const QString &encoding : {u"UTF-8"_s, u"UTF-16LE"_s, u"UTF-16BE"_s, u"Windows-1252"_s}) {
        for (const qint64 step : {1, 2, 3, 5, 7, 4096}) {
            for (const bool sequential : {false, true}) {
                const QString name = encoding + u" step "_s + QString::number(step) +
                                     (sequential ? u" sequential"_s : QString());
                QTest::newRow(qPrintable(name)) << encoding << step << sequential;
            }
        }
    }
}

void TestCsvReader::chunkBoundaries()
{
    QFETCH(QString, encoding);
    QFETCH(qint64, step);
    QFETCH(bool, sequential);

    // Every character class at every offset: multi-byte UTF-8 (2, 3 and 4 bytes), CRLF
    // outside and inside quotes, lone CR, blank lines, escaped quotes, empty trailing
    // fields. Over 100 KiB, so that most of it arrives after the 64 KiB sniff window.
    const bool latin = encoding == u"Windows-1252";
    const QStringList accents = latin ? QStringList{u"é"_s, u"“"_s, u"ü"_s, u"”"_s, u"€"_s}
                                      : QStringList{u"é"_s, u"€"_s, u"😀"_s, u"ü"_s};
    QString text = u"id;name;note\r\n"_s;
    Rows expected;
    QList<qint64> lines;
    qint64 line = 2;
    for (int i = 0; i < 4000; ++i) {
        lines.append(line);
        line += (i % 3 == 0) ? 2 : 1;
        const QString name =
            accents.mid(0, 1 + i % accents.size()).join(QString()) + QString::number(i);
        const QString all = accents.join(QString());
        const QString note = (i % 3 == 0) ? u"line1\r\nline2 \"q\" "_s + all : all;
        const QString noteCsv = u"\""_s + QString(note).replace(u"\""_s, u"\"\""_s) + u"\""_s;
        text +=
            QString::number(i) + u';' + name + u';' + noteCsv + (i % 4 == 0 ? u"\r"_s : u"\r\n"_s);
        if (i % 7 == 0) { // blank lines are skipped but counted
            text += u"\r\n"_s;
            ++line;
        }
        expected.append({QString::number(i), name, note});
    }
    text += u"4000;;"_s;
    expected.append({u"4000"_s, u""_s, u""_s});
    lines.append(line);

    QByteArray bytes;
    if (encoding == u"UTF-8") {
        bytes = text.toUtf8();
    } else if (encoding == u"UTF-16LE") {
        bytes = utf16(text, QStringEncoder::Utf16LE);
    } else if (encoding == u"UTF-16BE") {
        bytes = utf16(text, QStringEncoder::Utf16BE);
    } else {
        bytes = toWindows1252(text);
    }

    TrickleDevice device(bytes, step, sequential);
    QVERIFY(device.open(QIODevice::ReadOnly));
    const Result result = readAll(&device);
    QVERIFY2(result.opened, qPrintable(result.error));
    QCOMPARE(result.error, QString());
    QCOMPARE(result.encoding, encoding);
    QCOMPARE(result.delimiter, QChar(u';'));
    QCOMPARE(result.header, (QStringList{u"id"_s, u"name"_s, u"note"_s}));
    QVERIFY(bytes.size() > 100 * 1024);
    QCOMPARE(result.rows.size(), expected.size());
    QCOMPARE(result.rows, expected);
    QCOMPARE(result.lines, lines);
    QVERIFY(device.reads() >= bytes.size() / step);
}

void TestCsvReader::largeFileChunkBoundaries()
{
    // The reader reads 64 KiB at a time: put the first byte of "é" last in the first
    // chunk and split a CRLF between the second and third.
    constexpr qsizetype kChunk = 64 * 1024;
    QByteArray data = "id,text\r\n";
    int row = 0;
    const auto addRow = [&](const QByteArray &value) {
        data += QByteArray::number(++row) + ',' + value + "\r\n";
    };
    while (data.size() < kChunk - 64)
        addRow("\"filler ascii text with an é and a \"\"quoted\"\" bit\"");
    // The next row is "<n>,<pad>é\r\n": place "é" so that 0xC3 is byte kChunk - 1.
    QByteArray prefix = QByteArray::number(row + 1) + ',';
    const qsizetype pad = kChunk - 1 - data.size() - prefix.size();
    QVERIFY(pad > 0);
    const QByteArray splitChar = QByteArray(pad, 'p') + "\xC3\xA9" + "x";
    addRow(splitChar);
    QCOMPARE(data.at(kChunk - 1), '\xC3');
    QCOMPARE(data.at(kChunk), '\xA9');
    while (data.size() < 2 * kChunk - 64)
        addRow("\"more filler, still \"\"plain\"\"\"");
    prefix = QByteArray::number(row + 1) + ',';
    const qsizetype pad2 = 2 * kChunk - 1 - data.size() - prefix.size();
    QVERIFY(pad2 > 0);
    const QByteArray splitCrlf(pad2, 'q');
    addRow(splitCrlf);
    QCOMPARE(data.at(2 * kChunk - 1), '\r');
    QCOMPARE(data.at(2 * kChunk), '\n');
    addRow("\"quoted\r\nwith CRLF\"");
    addRow("last");

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(u"big.csv"_s);
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    QCOMPARE(file.write(data), data.size());
    file.close();

    CsvReader reader;
    QVERIFY2(reader.open(path), qPrintable(reader.errorString()));
    QCOMPARE(reader.totalBytes(), data.size());
    QCOMPARE(reader.encoding(), u"UTF-8"_s);
    QStringList fields;
    Rows rows;
    QList<qint64> lines;
    while (reader.readRow(fields)) {
        rows.append(fields);
        lines.append(reader.recordLine());
    }
    QVERIFY2(!reader.hasError(), qPrintable(reader.errorString()));
    QCOMPARE(rows.size(), row);
    QCOMPARE(reader.bytesRead(), data.size());
    QCOMPARE(reader.recordNumber(), row);
    for (qsizetype i = 0; i < rows.size(); ++i) {
        QCOMPARE(rows.at(i).at(0), QString::number(i + 1));
        // Each row is one line, except that the last-but-one holds a quoted CRLF.
        QCOMPARE(lines.at(i), i + 2 + (i == rows.size() - 1 ? 1 : 0));
    }
    const QString splitValue = QString(pad, u'p') + u"éx"_s;
    QVERIFY(std::any_of(rows.cbegin(), rows.cend(),
                        [&](const QStringList &r) { return r.at(1) == splitValue; }));
    QVERIFY(std::any_of(rows.cbegin(), rows.cend(),
                        [&](const QStringList &r) { return r.at(1) == QString(pad2, u'q'); }));
    QCOMPARE(rows.at(rows.size() - 2).at(1), u"quoted\r\nwith CRLF"_s);
    QCOMPARE(rows.last().at(1), u"last"_s);
    QCOMPARE(rows.first().at(1), u"filler ascii text with an é and a \"quoted\" bit"_s);
}

void TestCsvReader::recordSpanningManyChunks()
{
    // One 5 MB quoted field with embedded newlines and escaped quotes.
    QByteArray big;
    QString expected;
    for (int i = 0; i < 100'000; ++i) {
        big += "chunk of text \"\"q\"\"\n";
        expected += u"chunk of text \"q\"\n"_s;
    }
    const QByteArray input = "id,blob,tail\n1,\"" + big + "\",end\n2,small,x\n";
    QBuffer buffer;
    buffer.setData(input);
    buffer.open(QIODevice::ReadOnly);
    CsvReader reader;
    QVERIFY(reader.open(&buffer, u"data.csv"_s));
    QStringList fields;
    QElapsedTimer timer;
    timer.start();
    QVERIFY2(reader.readRow(fields), qPrintable(reader.errorString()));
    QCOMPARE(fields.at(0), u"1"_s);
    QCOMPARE(fields.at(1).size(), expected.size());
    QCOMPARE(fields.at(1), expected);
    QCOMPARE(fields.at(2), u"end"_s);
    QVERIFY(reader.readRow(fields));
    QCOMPARE(fields, (QStringList{u"2"_s, u"small"_s, u"x"_s}));
    QCOMPARE(reader.recordLine(), 100'003);
    QVERIFY(!reader.readRow(fields));
    QVERIFY(!reader.hasError());
    // Re-scanning must stay linear: a quadratic reader takes minutes here.
    QVERIFY(timer.elapsed() < 5000);
}

void TestCsvReader::oversizedRecordIsAnError()
{
    // An unterminated quote near the start of a big file must not swallow it all.
    QByteArray input = "id,text\n1,ok\n2,\"oops\n";
    const QByteArray line(1023, 'x');
    while (input.size() < 66 * 1024 * 1024)
        input += line + '\n';
    QBuffer buffer;
    buffer.setData(input);
    buffer.open(QIODevice::ReadOnly);
    CsvReader reader;
    QVERIFY(reader.open(&buffer, u"data.csv"_s));
    QStringList fields;
    QVERIFY(reader.readRow(fields));
    QVERIFY(!reader.readRow(fields));
    QVERIFY(reader.hasError());
    QCOMPARE(reader.errorString(),
             u"data.csv:3: record is larger than 64 MiB of text (is a quote not closed?)"_s);
    QCOMPARE(reader.recordLine(), 3);
    QVERIFY(reader.bytesRead() < input.size());
}

void TestCsvReader::binaryAfterSniffWindow()
{
    QByteArray input = "a,b\n";
    int line = 1;
    while (input.size() < 100 * 1024) {
        input += "1,2\n";
        ++line;
    }
    input += bytesOf("3,\0\n");
    const Result result = readBytes(input);
    QVERIFY(result.opened);
    QCOMPARE(result.rows.size(), line - 1);
    QCOMPARE(result.error, u"data.csv:"_s + QString::number(line + 1) +
                               u": looks like a binary file (NUL character)"_s);
}

void TestCsvReader::fieldsKeptByCallerAreNotOverwritten()
{
    QBuffer buffer;
    buffer.setData("a,b\nfirst-long-value,x\nsecond,y\n\"q\"\"3\",z\n");
    buffer.open(QIODevice::ReadOnly);
    CsvReader reader;
    QVERIFY(reader.open(&buffer, u"data.csv"_s));
    QStringList fields;
    QVERIFY(reader.readRow(fields));
    const QStringList first = fields;
    const QString kept = fields.at(0);
    QVERIFY(reader.readRow(fields));
    QCOMPARE(fields, (QStringList{u"second"_s, u"y"_s}));
    QCOMPARE(first, (QStringList{u"first-long-value"_s, u"x"_s}));
    QCOMPARE(kept, u"first-long-value"_s);
    const QString secondKept = fields.at(0);
    QVERIFY(reader.readRow(fields));
    QCOMPARE(fields, (QStringList{u"q\"3"_s, u"z"_s}));
    QCOMPARE(secondKept, u"second"_s);

    // A list with more entries than the header is trimmed.
    QBuffer again;
    again.setData("a\n1\n");
    again.open(QIODevice::ReadOnly);
    CsvReader other;
    QVERIFY(other.open(&again, u"data.csv"_s));
    QStringList many{u"x"_s, u"y"_s, u"z"_s};
    QVERIFY(other.readRow(many));
    QCOMPARE(many, QStringList{u"1"_s});
}

void TestCsvReader::emptyFieldsAreNotNull()
{
    const Result result = readBytes("a,b,c\n,\"\",\n");
    QCOMPARE(result.rows.size(), 1);
    for (const QString &value : result.rows.first()) {
        QVERIFY(value.isEmpty());
        QVERIFY(!value.isNull());
    }
}

void TestCsvReader::progress()
{
    const QByteArray data = benchmarkData(5000);
    QBuffer buffer;
    buffer.setData(data);
    buffer.open(QIODevice::ReadOnly);
    CsvReader reader;
    QVERIFY(reader.open(&buffer, u"data.csv"_s));
    QCOMPARE(reader.totalBytes(), data.size());
    QVERIFY(reader.bytesRead() > 0);
    QVERIFY(reader.bytesRead() <= 64 * 1024);
    QStringList fields;
    qint64 last = reader.bytesRead();
    bool grew = false;
    while (reader.readRow(fields)) {
        QVERIFY(reader.bytesRead() >= last);
        grew = grew || reader.bytesRead() > last;
        last = reader.bytesRead();
    }
    QVERIFY(!reader.hasError());
    QVERIFY(grew);
    QCOMPARE(reader.recordNumber(), 5000);
    QCOMPARE(reader.bytesRead(), data.size());

    TrickleDevice pipe(data, 1000, true);
    QVERIFY(pipe.open(QIODevice::ReadOnly));
    CsvReader streaming;
    QVERIFY(streaming.open(&pipe, u"stdin"_s));
    QCOMPARE(streaming.totalBytes(), -1);
    while (streaming.readRow(fields)) {
    }
    QCOMPARE(streaming.recordNumber(), 5000);
    QCOMPARE(streaming.bytesRead(), data.size());
}

void TestCsvReader::openPath()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString missing = dir.filePath(u"missing.csv"_s);
    CsvReader reader;
    QVERIFY(!reader.open(missing));
    QVERIFY(reader.hasError());
    QCOMPARE(reader.errorString(), missing + u": no such file"_s);

    const QString empty = dir.filePath(u"empty.csv"_s);
    QFile file(empty);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.close();
    QVERIFY(!reader.open(empty));
    QCOMPARE(reader.errorString(), empty + u": file is empty"_s);

    const QString good = dir.filePath(u"good.csv"_s);
    QFile goodFile(good);
    QVERIFY(goodFile.open(QIODevice::WriteOnly));
    goodFile.write("\xEF\xBB\xBFx;y\r\n1;2\r\n3;4,5\r\n");
    goodFile.close();
    QVERIFY(reader.open(good));
    QVERIFY(!reader.hasError());
    QCOMPARE(reader.delimiter(), QChar(u';'));
    QCOMPARE(reader.encoding(), u"UTF-8"_s);
    QCOMPARE(reader.header(), (QStringList{u"x"_s, u"y"_s}));
    QStringList fields;
    QVERIFY(reader.readRow(fields));
    QCOMPARE(fields, (QStringList{u"1"_s, u"2"_s}));
    QVERIFY(reader.readRow(fields));
    QCOMPARE(fields, (QStringList{u"3"_s, u"4,5"_s}));
    QVERIFY(!reader.readRow(fields));
    QVERIFY(!reader.hasError());
    QCOMPARE(reader.bytesRead(), reader.totalBytes());
}

void TestCsvReader::encodingFallbackIsExplained_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QString>("forced");
    QTest::addColumn<QString>("encoding");
    QTest::addColumn<qint64>("line");
    QTest::addColumn<QString>("byte");

    // Valid UTF-8 on line 2, one Windows-1252 byte on line 4 (CRLF and lone CR count once).
    QTest::newRow("mixed file")
        << QByteArray("name,note\r\ncaf\xC3\xA9,utf8\rplain,ascii\nRen\xE9,cp1252\n") << QString()
        << u"Windows-1252"_s << qint64(4) << u"0xE9"_s;
    QTest::newRow("header") << QByteArray("caf\xE9,x\n1,2\n") << QString() << u"Windows-1252"_s
                            << qint64(1) << u"0xE9"_s;
    QTest::newRow("valid utf-8") << QByteArray("a,b\ncaf\xC3\xA9,x\n") << QString() << u"UTF-8"_s
                                 << qint64(0) << QString();
    QTest::newRow("given encoding") << QByteArray("a,b\nRen\xE9,x\n") << u"Windows-1252"_s
                                    << u"Windows-1252"_s << qint64(0) << QString();
}

void TestCsvReader::encodingFallbackIsExplained()
{
    QFETCH(QByteArray, input);
    QFETCH(QString, forced);
    QFETCH(QString, encoding);
    QFETCH(qint64, line);
    QFETCH(QString, byte);

    QBuffer buffer;
    buffer.setData(input);
    buffer.open(QIODevice::ReadOnly);
    CsvReader reader;
    QVERIFY2(reader.open(&buffer, u"data.csv"_s, withEncoding(forced)),
             qPrintable(reader.errorString()));
    QStringList fields;
    while (reader.readRow(fields)) {
    }
    QVERIFY2(!reader.hasError(), qPrintable(reader.errorString()));
    QCOMPARE(reader.encoding(), encoding);
    QCOMPARE(reader.encodingFallbackLine(), line);
    if (line == 0) {
        QCOMPARE(reader.encodingNote(), QString());
        return;
    }
    const QString note = reader.encodingNote();
    QVERIFY2(note.contains(u"not valid UTF-8 at line "_s + QString::number(line) + u" (byte "_s +
                           byte + u')'),
             qPrintable(note));
    QVERIFY2(note.contains(u"read as Windows-1252"_s), qPrintable(note));
}

void TestCsvReader::nonRegularInputs()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    CsvReader reader;

    QVERIFY(!reader.open(dir.path()));
    QCOMPARE(reader.errorString(), dir.path() + u": is a directory, not a file"_s);

    // Opening a FIFO without a writer would block for ever; it must be refused at once.
    const QString fifo = dir.filePath(u"pipe.csv"_s);
    QCOMPARE(::mkfifo(QFile::encodeName(fifo).constData(), 0600), 0);
    QElapsedTimer timer;
    timer.start();
    QVERIFY(!reader.open(fifo));
    QCOMPARE(reader.errorString(), fifo + u": not a regular file (a FIFO)"_s);
    QVERIFY(timer.elapsed() < 5'000);

    QVERIFY(!reader.open(u"/dev/zero"_s));
    QCOMPARE(reader.errorString(), u"/dev/zero: not a regular file (a character device)"_s);

    // A symlink to a regular file is fine.
    const QString target = dir.filePath(u"real.csv"_s);
    QFile real(target);
    QVERIFY(real.open(QIODevice::WriteOnly));
    real.write("a\n1\n");
    real.close();
    const QString link = dir.filePath(u"link.csv"_s);
    QVERIFY(QFile::link(target, link));
    QVERIFY2(reader.open(link), qPrintable(reader.errorString()));
}

void TestCsvReader::benchmark()
{
    if (qEnvironmentVariableIntValue("BD_CSV_BENCH") != 1)
        QSKIP("set BD_CSV_BENCH=1 to run the reader benchmark");

    constexpr int kRows = 1'000'000;
    const QByteArray data = benchmarkData(kRows);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(u"bench.csv"_s);
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    QCOMPARE(file.write(data), data.size());
    file.close();

    // Rounds 1-2 reuse the field list; rounds 3-4 keep every row in a batch of 1000 the way
    // the importer does, so every field is a fresh string.
    for (int round = 0; round < 4; ++round) {
        const bool keepRows = round >= 2;
        QList<QStringList> batch;
        batch.reserve(1000);
        CsvReader reader;
        QElapsedTimer timer;
        timer.start();
        const std::clock_t cpuStart = std::clock(); // CPU time: meaningful on a busy machine
        QVERIFY(reader.open(path));
        QStringList fields;
        qsizetype chars = 0;
        while (reader.readRow(fields)) {
            chars += fields.at(4).size();
            if (keepRows) {
                if (batch.size() == 1000)
                    batch.clear();
                batch.append(fields);
            }
        }
        const qint64 ns = timer.nsecsElapsed();
        const double cpuSeconds = double(std::clock() - cpuStart) / CLOCKS_PER_SEC;
        QVERIFY2(!reader.hasError(), qPrintable(reader.errorString()));
        QCOMPARE(reader.recordNumber(), kRows);
        QVERIFY(chars > 0);
        const double seconds = double(ns) / 1e9;
        qInfo("round %d (%s): %d rows, %.1f MB; wall %.3f s = %.0f rows/s, %.0f MB/s; "
              "CPU %.3f s = %.0f rows/s",
              round + 1, keepRows ? "rows kept" : "fields reused", kRows, double(data.size()) / 1e6,
              seconds, kRows / seconds, double(data.size()) / 1e6 / seconds, cpuSeconds,
              kRows / cpuSeconds);
    }
}

QTEST_GUILESS_MAIN(TestCsvReader)
#include "test_csvreader.moc"
