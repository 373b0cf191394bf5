#include "core/jsonutil.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QRandomGenerator>
#include <QtTest>

namespace json = bd::json;

namespace {

// The encoding as it was before encodeStringArray wrote UTF-16 straight into its output: each
// value through QString::toUtf8(), then escaped. Stored rows were written this way, and a key
// hashed from them must not change.
QByteArray encodedThroughToUtf8(const QStringList &values)
{
    QByteArray out = "[";
    for (const QString &value : values) {
        if (out.size() > 1)
            out += ',';
        out += '"';
        for (const char c : value.toUtf8()) {
            const auto byte = static_cast<unsigned char>(c);
            if (c == '"')
                out += "\\\"";
            else if (c == '\\')
                out += "\\\\";
            else if (c == '\n')
                out += "\\n";
            else if (c == '\r')
                out += "\\r";
            else if (c == '\t')
                out += "\\t";
            else if (byte < 0x20)
                out += "\\u00" + QByteArray::number(byte, 16).rightJustified(2, '0');
            else
                out += c;
        }
        out += '"';
    }
    return out + ']';
}

// What Qt's own parser makes of the same text.
std::optional<QStringList> decodedByQJsonDocument(const QByteArray &json)
{
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError || !doc.isArray())
        return std::nullopt;
    QStringList values;
    for (const QJsonValue &value : doc.array())
        values.append(value.toString());
    return values;
}

// Random text from the pieces the coders treat differently: plain ASCII, the characters JSON
// escapes, two- and three-byte characters, pairs for astral characters and, when asked, lone
// surrogates. Runs are long enough to cross the 8- and 16-unit blocks the coders scan.
QString randomText(QRandomGenerator &random, bool loneSurrogates)
{
    QString text;
    const int pieces = random.bounded(12);
    for (int i = 0; i < pieces; ++i) {
        switch (random.bounded(loneSurrogates ? 7 : 6)) {
        case 0:
        case 1:
            for (int n = random.bounded(40); n > 0; --n)
                text += QChar(0x20 + random.bounded(0x5F));
            break;
        case 2:
            text += QStringView(u"\"\\/\n\r\t\b\f\x01\x1f\x7f").at(random.bounded(11));
            break;
        case 3:
            text += QChar(0x80 + random.bounded(0x780));
            break;
        case 4: {
            char16_t unit = char16_t(0x800 + random.bounded(0xF7FF));
            if (QChar::isSurrogate(unit))
                unit = 0xFFFD;
            text += QChar(unit);
            break;
        }
        case 5: {
            const char32_t code = 0x10000 + random.bounded(0x100000);
            text += QChar(QChar::highSurrogate(code));
            text += QChar(QChar::lowSurrogate(code));
            break;
        }
        default:
            text += QChar(char16_t(0xD800 + random.bounded(0x800)));
            break;
        }
    }
    return text;
}

} // namespace

class TestJsonUtil : public QObject
{
    Q_OBJECT

private slots:
    void roundTrips_data();
    void roundTrips();
    void randomValuesEncodeAsBeforeAndDecodeAsQt();
    void loneSurrogatesEncodeAsToUtf8Does();
    void escapesDecodeAsQJsonDocument_data();
    void escapesDecodeAsQJsonDocument();
    void notUtf8DecodesAsFromUtf8_data();
    void notUtf8DecodesAsFromUtf8();
    void byteOrderMarkIsKept();
    void valuesAreIndependentStrings();
    void malformedIsRefused_data();
    void malformedIsRefused();
    void whitespaceGoesToTheFullParser();
    void unescapedUtf8_data();
    void unescapedUtf8();
    void rawMemberKeepsOrder();
};

void TestJsonUtil::roundTrips_data()
{
    QTest::addColumn<QStringList>("values");
    QTest::newRow("none") << QStringList();
    QTest::newRow("one empty") << QStringList{QString()};
    QTest::newRow("ascii") << QStringList{u"O-100001"_qs, u"c31"_qs, u"desk lamp"_qs, u"2"_qs};
    QTest::newRow("escapes") << QStringList{u"say \"hi\""_qs, u"C:\\dir\\"_qs,
                                            u"two\nlines\r\n\ttab"_qs, u"\x01\x1f\x7f"_qs};
    QTest::newRow("non-ASCII") << QStringList{u"Crème brûlée"_qs, u"東京"_qs, u"😀 emoji"_qs,
                                              u"\uFFFE\uFFFF"_qs};
    // Past the 16-byte blocks, each special kind of character at every position of a block.
    QStringList blocks;
    for (int at = 0; at < 17; ++at) {
        for (const QString &special : {u"\""_qs, u"\\"_qs, u"\n"_qs, u"é"_qs, u"€"_qs, u"😀"_qs}) {
            QString text(40, u'x');
            text.insert(at, special);
            blocks << text;
        }
    }
    QTest::newRow("every position in a block") << blocks;
}

void TestJsonUtil::roundTrips()
{
    QFETCH(QStringList, values);
    const QByteArray encoded = json::encodeStringArray(values);
    QCOMPARE(encoded, encodedThroughToUtf8(values));
    QCOMPARE(json::decodeStringArray(encoded), std::optional(values));
    QCOMPARE(decodedByQJsonDocument(encoded), std::optional(values));
}

void TestJsonUtil::randomValuesEncodeAsBeforeAndDecodeAsQt()
{
    QRandomGenerator random(19);
    for (int round = 0; round < 3000; ++round) {
        QStringList values;
        for (int n = random.bounded(8); n > 0; --n)
            values << randomText(random, false);
        const QByteArray encoded = json::encodeStringArray(values);
        QCOMPARE(encoded, encodedThroughToUtf8(values));
        QCOMPARE(json::decodeStringArray(encoded), std::optional(values));
    }
}

void TestJsonUtil::loneSurrogatesEncodeAsToUtf8Does()
{
    QRandomGenerator random(7);
    for (int round = 0; round < 2000; ++round) {
        const QStringList values{randomText(random, true), randomText(random, true)};
        const QByteArray encoded = json::encodeStringArray(values);
        QCOMPARE(encoded, encodedThroughToUtf8(values));
        QCOMPARE(json::decodeStringArray(encoded), decodedByQJsonDocument(encoded));
    }
}

void TestJsonUtil::escapesDecodeAsQJsonDocument_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::newRow("short escapes") << QByteArray(R"(["\"\\\/\b\f\n\r\t"])");
    QTest::newRow("unicode escapes") << QByteArray(R"(["caf\u00e9 \u00E9\u20ac\u0000"])");
    QTest::newRow("surrogate pair") << QByteArray(R"(["\ud83d\ude00"])");
    QTest::newRow("lone surrogate") << QByteArray(R"(["a\udc00b","\ud800"])");
    QTest::newRow("escape at a block's end") << QByteArray(R"(["0123456789abcde\"x"])");
    QTest::newRow("escapes and UTF-8")
        << QByteArray("[\"\xc3\xa9\\n\xe2\x82\xac\\t\xf0\x9f\x98\x80\"]");
    // Qt's parser reads an escape JSON does not have as the character itself.
    QTest::newRow("unknown escape") << QByteArray(R"(["a\x41"])");
    QTest::newRow("escapes in several values") << QByteArray(R"(["plain","a\"b","","\\","last"])");
}

void TestJsonUtil::escapesDecodeAsQJsonDocument()
{
    QFETCH(QByteArray, json);
    const auto expected = decodedByQJsonDocument(json);
    QVERIFY(expected);
    QCOMPARE(json::decodeStringArray(json), expected);
}

void TestJsonUtil::notUtf8DecodesAsFromUtf8_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::newRow("stray continuation") << QByteArray("a\x80z");
    QTest::newRow("invalid byte") << QByteArray("\xff\xfe");
    QTest::newRow("cut short") << QByteArray("ab\xe2\x82");
    QTest::newRow("overlong") << QByteArray("\xc0\xaf\xe0\x80\xaf");
    QTest::newRow("encoded surrogate") << QByteArray("\xed\xa0\x80x");
    QTest::newRow("above U+10FFFF") << QByteArray("\xf4\x90\x80\x80");
    QTest::newRow("valid, then not") << QByteArray("\xc3\xa9\xe2\x82\xac\xc3");
    QTest::newRow("past a block") << QByteArray("0123456789abcdefghij\x80");
}

void TestJsonUtil::notUtf8DecodesAsFromUtf8()
{
    QFETCH(QByteArray, text);
    const QString expected = QString::fromUtf8(text);
    QCOMPARE(json::decodeStringArray(QByteArray("[\"" + text + "\"]")),
             std::optional(QStringList{expected}));
    // The same text beside an escape: before, an escape sent the whole array to QJsonDocument,
    // which refused it; now both paths decode it alike.
    QCOMPARE(json::decodeStringArray(QByteArray("[\"\\t" + text + "\"]")),
             std::optional(QStringList{u'\t' + expected}));
}

// QJsonDocument drops U+FEFF inside a string; the values a row was imported with keep it,
// whether or not another of its characters is escaped.
void TestJsonUtil::byteOrderMarkIsKept()
{
    const QStringList values{u"\uFEFFbom"_qs, u"\uFEFFand \"quoted\""_qs};
    QCOMPARE(json::decodeStringArray(json::encodeStringArray(values)), std::optional(values));
}

// A row's values share one block of memory; each must still behave as a string of its own.
void TestJsonUtil::valuesAreIndependentStrings()
{
    const QStringList original{u"first"_qs, QString(), u"caf\u00e9 \"x\""_qs, u"last"_qs};
    std::optional<QStringList> decoded = json::decodeStringArray(json::encodeStringArray(original));
    QVERIFY(decoded);
    QStringList values = *decoded;
    for (const QString &value : values) {
        // Terminated where it ends, as every QString's text is.
        QCOMPARE(value.utf16()[value.size()], u'\0');
        QVERIFY(!value.isNull());
    }
    values[0].append(u"-appended to the first"_qs);
    values[1] += u'x';
    values[2].replace(0, 1, u"C"_qs);
    QCOMPARE(values, (QStringList{u"first-appended to the first"_qs, u"x"_qs, u"Caf\u00e9 \"x\""_qs,
                                  u"last"_qs}));
    QCOMPARE(*decoded, original);
    // The last one left keeps the block alive on its own, and may grow into it.
    QString survivor = decoded->at(3);
    decoded.reset();
    values.clear();
    survivor += u"ing values"_qs;
    QCOMPARE(survivor, u"lasting values"_qs);
}

void TestJsonUtil::malformedIsRefused_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::newRow("empty") << QByteArray();
    QTest::newRow("not an array") << QByteArray(R"({"a":"b"})");
    QTest::newRow("open") << QByteArray("[");
    QTest::newRow("unterminated string") << QByteArray(R"(["abc)");
    QTest::newRow("unterminated after escape") << QByteArray(R"(["abc\)");
    QTest::newRow("escaped closing quote") << QByteArray(R"(["abc\"])");
    QTest::newRow("no closing bracket") << QByteArray(R"(["a","b")");
    QTest::newRow("trailing comma") << QByteArray(R"(["a",])");
    QTest::newRow("missing comma") << QByteArray(R"(["a""b"])");
    QTest::newRow("trailing bytes") << QByteArray(R"(["a"]x)");
    QTest::newRow("short unicode escape") << QByteArray(R"(["\u12"])");
    QTest::newRow("bad hex digit") << QByteArray(R"(["\u12g4"])");
    QTest::newRow("a number") << QByteArray(R"(["a",1])");
    QTest::newRow("null") << QByteArray(R"([null])");
}

void TestJsonUtil::malformedIsRefused()
{
    QFETCH(QByteArray, json);
    QCOMPARE(json::decodeStringArray(json), std::nullopt);
}

void TestJsonUtil::whitespaceGoesToTheFullParser()
{
    QCOMPARE(json::decodeStringArray(R"( [ "a" , "b\n" ] )"),
             std::optional(QStringList{u"a"_qs, u"b\n"_qs}));
}

void TestJsonUtil::unescapedUtf8_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("written");
    QTest::newRow("empty") << QString() << true;
    QTest::newRow("ASCII past a block")
        << u"Rate this desk lamp review from 1 to 5: fine/ok"_qs << true;
    QTest::newRow("two- and three-byte")
        << u"café 漢字 \u0080\u07ff\u0800\uffff, then more"_qs << true;
    QTest::newRow("quote") << u"0123456789 \"quoted\""_qs << false;
    QTest::newRow("backslash") << u"C:\\dir"_qs << false;
    QTest::newRow("control character") << u"01234567\n"_qs << false;
    QTest::newRow("delete is plain") << u"\x7f"_qs << true;
    QTest::newRow("surrogate pair") << u"emoji 😀"_qs << false;
    QTest::newRow("lone surrogate") << u"lone "_qs + QChar(0xDC00) << false;
}

void TestJsonUtil::unescapedUtf8()
{
    QFETCH(QString, text);
    QFETCH(bool, written);
    QByteArray out = "kept:";
    QCOMPARE(json::appendUnescapedUtf8(out, text), written);
    QCOMPARE(out, written ? "kept:" + text.toUtf8() : QByteArray("kept:"));
}

void TestJsonUtil::rawMemberKeepsOrder()
{
    QCOMPARE(json::withRawMember("{\"z\":1}", "a\"", "[2]"), QByteArray(R"({"z":1,"a\"":[2]})"));
    QCOMPARE(json::withRawMember("{}", "é", "true"), QByteArray("{\"\xc3\xa9\":true}"));
}

QTEST_GUILESS_MAIN(TestJsonUtil)
#include "test_jsonutil.moc"
