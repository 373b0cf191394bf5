#include "ingest/csvreader.h"
#include "ingest/exportwriter.h"

#include "../support/tinytmpfs.h"

#include <optional>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtEndian>
#include <QTest>
#include <QXmlStreamReader>
#include <zlib.h>

using bd::ingest::ExportRow;
using bd::ingest::ExportWriter;

namespace {

const QStringList kResultColumns = {
    QStringLiteral("status"),        QStringLiteral("output"),
    QStringLiteral("error"),         QStringLiteral("model"),
    QStringLiteral("input_tokens"),  QStringLiteral("output_tokens"),
    QStringLiteral("cached_tokens"), QStringLiteral("cost_usd"),
    QStringLiteral("attempts"),      QStringLiteral("task_id"),
};

// A completed row whose result part renders as ",completed,ok,,m,1,2,0,0.5,1,7" in CSV.
ExportRow makeRow(const QStringList &inputs)
{
    ExportRow row;
    row.inputValues = inputs;
    row.status = QStringLiteral("completed");
    row.output = QStringLiteral("ok");
    row.model = QStringLiteral("m");
    row.inputTokens = 1;
    row.outputTokens = 2;
    row.cachedTokens = 0;
    row.costUsd = 0.5;
    row.attempts = 1;
    row.taskId = 7;
    return row;
}

const QByteArray kCsvTail = QByteArrayLiteral(",completed,ok,,m,1,2,0,0.5,1,7\r\n");

QByteArray readAll(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return {};
    return file.readAll();
}

// ---- a small ZIP reader (central directory + raw deflate) -------------------------------

quint16 le16(const QByteArray &data, qsizetype at)
{
    return qFromLittleEndian<quint16>(data.constData() + at);
}

quint32 le32(const QByteArray &data, qsizetype at)
{
    return qFromLittleEndian<quint32>(data.constData() + at);
}

bool inflateRaw(const QByteArray &in, qsizetype expectedSize, QByteArray *out)
{
    out->resize(expectedSize);
    z_stream zs = {};
    if (inflateInit2(&zs, -15) != Z_OK)
        return false;
    zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.constData()));
    zs.avail_in = uInt(in.size());
    zs.next_out = reinterpret_cast<Bytef *>(out->data());
    zs.avail_out = uInt(out->size());
    const int result = inflate(&zs, Z_FINISH);
    const bool ok = result == Z_STREAM_END && qsizetype(zs.total_out) == expectedSize;
    inflateEnd(&zs);
    return ok;
}

// Name -> uncompressed bytes; an empty map and *error on anything malformed.
QMap<QString, QByteArray> readZip(const QByteArray &zip, QString *error)
{
    QMap<QString, QByteArray> entries;
    auto bad = [&](const QString &why) {
        *error = why;
        return QMap<QString, QByteArray>();
    };
    if (zip.size() < 22 || !zip.startsWith("PK\x03\x04"))
        return bad(QStringLiteral("not a zip file"));
    qsizetype eocd = -1;
    for (qsizetype at = zip.size() - 22; at >= 0 && at >= zip.size() - 22 - 65535; --at) {
        if (le32(zip, at) == 0x06054b50) {
            eocd = at;
            break;
        }
    }
    if (eocd < 0)
        return bad(QStringLiteral("no end of central directory"));
    const int count = le16(zip, eocd + 10);
    qsizetype pos = le32(zip, eocd + 16);
    for (int n = 0; n < count; ++n) {
        if (pos + 46 > zip.size() || le32(zip, pos) != 0x02014b50)
            return bad(QStringLiteral("bad central directory entry %1").arg(n));
        const quint16 method = le16(zip, pos + 10);
        const quint32 crc = le32(zip, pos + 16);
        const quint32 compressedSize = le32(zip, pos + 20);
        const quint32 size = le32(zip, pos + 24);
        const quint16 nameLength = le16(zip, pos + 28);
        const quint16 extraLength = le16(zip, pos + 30);
        const quint16 commentLength = le16(zip, pos + 32);
        const quint32 localOffset = le32(zip, pos + 42);
        const QString name = QString::fromUtf8(zip.mid(pos + 46, nameLength));
        pos += 46 + nameLength + extraLength + commentLength;

        if (le32(zip, localOffset) != 0x04034b50)
            return bad(QStringLiteral("bad local header for %1").arg(name));
        const qsizetype dataStart =
            localOffset + 30 + le16(zip, localOffset + 26) + le16(zip, localOffset + 28);
        const QByteArray raw = zip.mid(dataStart, compressedSize);
        QByteArray data;
        if (method == 0) {
            data = raw;
        } else if (method == 8) {
            if (!inflateRaw(raw, size, &data))
                return bad(QStringLiteral("cannot inflate %1").arg(name));
        } else {
            return bad(QStringLiteral("unknown compression method %1").arg(method));
        }
        const uLong actualCrc =
            crc32(0L, reinterpret_cast<const Bytef *>(data.constData()), uInt(data.size()));
        if (actualCrc != crc)
            return bad(QStringLiteral("CRC mismatch in %1").arg(name));
        entries.insert(name, data);
    }
    return entries;
}

// ---- SpreadsheetML ------------------------------------------------------------------------

struct Cell
{
    QString type; // t attribute: "inlineStr", "s", "str", "n" or empty (number)
    QString text; // decoded string, or the <v> of a number
    bool formula = false;
    int style = 0;
};

struct Sheet
{
    QMap<QString, Cell> cells; // "B3" -> cell
    int rows = 0;
};

// OOXML escapes characters as _xHHHH_ inside text.
QString decodeOoxmlEscapes(const QString &text)
{
    QString out;
    out.reserve(text.size());
    for (qsizetype i = 0; i < text.size(); ++i) {
        if (text.at(i) == u'_' && i + 6 < text.size() && text.at(i + 1) == u'x' &&
            text.at(i + 6) == u'_') {
            bool ok = false;
            const uint code = QStringView(text).mid(i + 2, 4).toUInt(&ok, 16);
            if (ok) {
                out += QChar(char16_t(code));
                i += 6;
                continue;
            }
        }
        out += text.at(i);
    }
    return out;
}

// Text of an <is> or <si> element (plain <t> or rich-text runs).
QString readStringItem(QXmlStreamReader &xml)
{
    const QString element = xml.name().toString();
    QString text;
    while (xml.readNextStartElement() || (xml.isEndElement() && xml.name() != element)) {
        if (xml.isStartElement() && xml.name() == QLatin1StringView("t"))
            text += xml.readElementText();
    }
    return decodeOoxmlEscapes(text);
}

QStringList parseSharedStrings(const QByteArray &data)
{
    QStringList strings;
    QXmlStreamReader xml(data);
    while (!xml.atEnd()) {
        if (xml.readNext() == QXmlStreamReader::StartElement && xml.name() == u"si")
            strings.append(readStringItem(xml));
    }
    return strings;
}

Sheet parseSheet(const QByteArray &data, const QStringList &shared)
{
    Sheet sheet;
    QXmlStreamReader xml(data);
    QString ref;
    while (!xml.atEnd()) {
        const auto token = xml.readNext();
        if (token == QXmlStreamReader::StartElement) {
            if (xml.name() == u"row") {
                ++sheet.rows;
            } else if (xml.name() == u"c") {
                ref = xml.attributes().value(QLatin1StringView("r")).toString();
                Cell cell;
                cell.type = xml.attributes().value(QLatin1StringView("t")).toString();
                cell.style = xml.attributes().value(QLatin1StringView("s")).toInt();
                sheet.cells.insert(ref, cell);
            } else if (xml.name() == u"f") {
                sheet.cells[ref].formula = true;
            } else if (xml.name() == u"v") {
                const QString value = xml.readElementText();
                Cell &cell = sheet.cells[ref];
                cell.text = cell.type == u"s" ? shared.value(value.toInt()) : value;
            } else if (xml.name() == u"is") {
                sheet.cells[ref].text = readStringItem(xml);
            }
        }
    }
    if (xml.hasError())
        qWarning() << "sheet XML error:" << xml.errorString();
    return sheet;
}

// For each cellXfs entry: whether its font is bold.
QList<bool> parseBoldStyles(const QByteArray &data)
{
    QList<bool> fontBold;
    QList<bool> xfBold;
    QXmlStreamReader xml(data);
    bool inFonts = false;
    bool inCellXfs = false;
    while (!xml.atEnd()) {
        const auto token = xml.readNext();
        if (token == QXmlStreamReader::StartElement) {
            if (xml.name() == u"fonts")
                inFonts = true;
            else if (xml.name() == u"cellXfs")
                inCellXfs = true;
            else if (inFonts && xml.name() == u"font")
                fontBold.append(false);
            else if (inFonts && xml.name() == u"b")
                fontBold.last() = true;
            else if (inCellXfs && xml.name() == u"xf")
                xfBold.append(
                    fontBold.value(xml.attributes().value(QLatin1StringView("fontId")).toInt()));
        } else if (token == QXmlStreamReader::EndElement) {
            if (xml.name() == u"fonts")
                inFonts = false;
            else if (xml.name() == u"cellXfs")
                inCellXfs = false;
        }
    }
    return xfBold;
}

QString columnName(int index)
{
    QString name;
    for (++index; index > 0; index = (index - 1) / 26)
        name.prepend(QChar(u'A' + (index - 1) % 26));
    return name;
}

QString cellRef(int column, int row)
{
    return columnName(column) + QString::number(row);
}

// Top-level keys of one JSON object line, in the order they appear.
QStringList jsonKeysInOrder(const QByteArray &line)
{
    QStringList keys;
    qsizetype i = 0;
    auto skipString = [&] {
        const qsizetype start = i++;
        while (i < line.size() && line.at(i) != '"')
            i += line.at(i) == '\\' ? 2 : 1;
        ++i;
        return line.mid(start, i - start);
    };
    auto at = [&](qsizetype k) { return k < line.size() ? line.at(k) : '\0'; };
    if (at(i++) != '{')
        return {};
    while (i < line.size() && line.at(i) != '}') {
        if (line.at(i) == ',')
            ++i;
        const QByteArray token = skipString();
        keys.append(QJsonDocument::fromJson("[" + token + "]").array().at(0).toString());
        if (at(i++) != ':')
            return {};
        if (at(i) == '"') {
            skipString();
        } else {
            while (i < line.size() && line.at(i) != ',' && line.at(i) != '}')
                ++i;
        }
    }
    return keys;
}

QStringList filesIn(const QString &dir)
{
    return QDir(dir).entryList(QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot, QDir::Name);
}

} // namespace

class TestExportWriter : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();

    void formatForPath_data();
    void formatForPath();
    void createRejectsUnknownExtension();
    void resultColumnNames_data();
    void resultColumnNames();

    void csvHeader();
    void csvQuoting_data();
    void csvQuoting();
    void csvFormulaNeutralising_data();
    void csvFormulaNeutralising();
    void csvHeaderIsNeutralised();
    void csvUtf8();
    void csvNumbers_data();
    void csvNumbers();
    void csvEmptyExport();
    void csvLargeBufferedExport();

    void jsonlRows();
    void jsonlUnknownCostIsNull();
    void jsonlRenamedKeys();

    void xlsxCells();
    void xlsxTruncatesLongCells();
    void xlsxRenamedHeader();
    void xlsxRowLimit();
    void xlsxStreamsAValidPackage();
    void xlsxOpensInLibreOffice();

    void missingDirectory_data();
    void missingDirectory();
    void directoryRemovedBeforeFinish_data();
    void directoryRemovedBeforeFinish();
    void failedExportKeepsExistingFile_data();
    void failedExportKeepsExistingFile();
    void successReplacesExistingFile_data();
    void successReplacesExistingFile();
    void misuse();
    void extraColumnsComeLast();
    void fieldColumnsFollowOutput();

    void fullDisk_data();
    void fullDisk();
    void xlsxWarningsCountTruncatedCells();
    void xlsxNoTempFileWhileWritingRows();
    void xlsxRemovesTempFileOfKilledExport();

    void benchmark();

private:
    QString pathFor(const QString &name) const { return m_dir.filePath(name); }
    QByteArray exportBytes(const QString &name, const QStringList &columns,
                           const QList<ExportRow> &rows, QString *message = nullptr);
    QMap<QString, QByteArray> exportXlsx(const QString &name, const QStringList &columns,
                                         const QList<ExportRow> &rows, QString *message);

    QTemporaryDir m_dir;
};

void TestExportWriter::initTestCase()
{
    QVERIFY(m_dir.isValid());
}

QByteArray TestExportWriter::exportBytes(const QString &name, const QStringList &columns,
                                         const QList<ExportRow> &rows, QString *message)
{
    const QString path = pathFor(name);
    QString error;
    auto writer = ExportWriter::create(path, &error);
    if (!writer) {
        qWarning() << error;
        return {};
    }
    if (!writer->begin(columns)) {
        qWarning() << writer->errorString();
        return {};
    }
    for (const ExportRow &row : rows) {
        if (!writer->writeRow(row)) {
            qWarning() << writer->errorString();
            return {};
        }
    }
    if (!writer->finish()) {
        qWarning() << writer->errorString();
        return {};
    }
    if (message)
        *message = writer->errorString();
    return readAll(path);
}

QMap<QString, QByteArray> TestExportWriter::exportXlsx(const QString &name,
                                                       const QStringList &columns,
                                                       const QList<ExportRow> &rows,
                                                       QString *message)
{
    const QByteArray bytes = exportBytes(name, columns, rows, message);
    QString error;
    const QMap<QString, QByteArray> entries = readZip(bytes, &error);
    if (entries.isEmpty())
        qWarning() << "zip:" << error;
    return entries;
}

// ---- names ------------------------------------------------------------------------------

void TestExportWriter::formatForPath_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<int>("format"); // -1: none

    QTest::newRow("csv") << QStringLiteral("/tmp/out.csv") << int(ExportWriter::Format::Csv);
    QTest::newRow("CSV upper") << QStringLiteral("OUT.CSV") << int(ExportWriter::Format::Csv);
    QTest::newRow("jsonl") << QStringLiteral("a.b.jsonl") << int(ExportWriter::Format::Jsonl);
    QTest::newRow("xlsx") << QStringLiteral("r/x.xlsx") << int(ExportWriter::Format::Xlsx);
    QTest::newRow("Xlsx mixed") << QStringLiteral("x.Xlsx") << int(ExportWriter::Format::Xlsx);
    QTest::newRow("json") << QStringLiteral("x.json") << -1;
    QTest::newRow("xls") << QStringLiteral("x.xls") << -1;
    QTest::newRow("txt") << QStringLiteral("x.txt") << -1;
    QTest::newRow("no extension") << QStringLiteral("csv") << -1;
    QTest::newRow("csv then bak") << QStringLiteral("x.csv.bak") << -1;
    QTest::newRow("empty") << QString() << -1;
}

void TestExportWriter::formatForPath()
{
    QFETCH(QString, path);
    QFETCH(int, format);
    const auto actual = ExportWriter::formatForPath(path);
    QCOMPARE(actual.has_value(), format >= 0);
    if (actual)
        QCOMPARE(int(*actual), format);
}

void TestExportWriter::createRejectsUnknownExtension()
{
    QString error = QStringLiteral("stale");
    QVERIFY(!ExportWriter::create(pathFor(QStringLiteral("out.txt")), &error));
    QVERIFY2(error.contains(QStringLiteral("out.txt")), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral(".csv")) && error.contains(QStringLiteral(".jsonl")) &&
                 error.contains(QStringLiteral(".xlsx")),
             qPrintable(error));
    QVERIFY(!ExportWriter::create(pathFor(QStringLiteral("out.txt")), nullptr));

    QVERIFY(ExportWriter::create(pathFor(QStringLiteral("out.csv")), &error));
    QCOMPARE(error, QString());
    QVERIFY(!QFileInfo::exists(pathFor(QStringLiteral("out.csv")))); // nothing before begin()
}

void TestExportWriter::resultColumnNames_data()
{
    QTest::addColumn<QStringList>("inputs");
    QTest::addColumn<QStringList>("expected");

    QTest::newRow("no inputs") << QStringList() << kResultColumns;
    QTest::newRow("no collision") << QStringList{QStringLiteral("id"), QStringLiteral("text")}
                                  << kResultColumns;

    QStringList statusRenamed = kResultColumns;
    statusRenamed[0] = QStringLiteral("status_");
    QTest::newRow("status") << QStringList{QStringLiteral("id"), QStringLiteral("status")}
                            << statusRenamed;

    QStringList statusTwice = kResultColumns;
    statusTwice[0] = QStringLiteral("status__");
    QTest::newRow("status and status_")
        << QStringList{QStringLiteral("status_"), QStringLiteral("status")} << statusTwice;

    QStringList statusThrice = kResultColumns;
    statusThrice[0] = QStringLiteral("status___");
    QTest::newRow("status, status_, status__")
        << QStringList{QStringLiteral("status"), QStringLiteral("status__"),
                       QStringLiteral("status_")}
        << statusThrice;

    QTest::newRow("only status_") << QStringList{QStringLiteral("status_")} << kResultColumns;
    QTest::newRow("case differs") << QStringList{QStringLiteral("Status"), QStringLiteral("OUTPUT")}
                                  << kResultColumns;

    QStringList several = kResultColumns;
    several[1] = QStringLiteral("output_");
    several[7] = QStringLiteral("cost_usd_");
    several[9] = QStringLiteral("task_id_");
    QTest::newRow("several") << QStringList{QStringLiteral("task_id"), QStringLiteral("output"),
                                            QStringLiteral("cost_usd")}
                             << several;
}

void TestExportWriter::resultColumnNames()
{
    QFETCH(QStringList, inputs);
    QFETCH(QStringList, expected);
    QCOMPARE(ExportWriter::resultColumnNames(inputs), expected);
}

// ---- CSV ----------------------------------------------------------------------------------

// Extra columns (a tiered job's "tier") follow task_id in every format, renamed like the
// result columns when an input column has the name, and each row must bring their values.
void TestExportWriter::extraColumnsComeLast()
{
    const QStringList columns{QStringLiteral("id"), QStringLiteral("tier")};
    ExportRow row = makeRow({QStringLiteral("1"), QStringLiteral("input tier")});
    row.taskId = 7;
    row.extraValues = {QStringLiteral("=complex")};
    for (const QString &name : {QStringLiteral("extra.csv"), QStringLiteral("extra.jsonl"),
                                QStringLiteral("extra.xlsx")}) {
        auto writer = ExportWriter::create(pathFor(name), nullptr);
        QVERIFY(writer);
        QVERIFY(writer->begin(columns, {QStringLiteral("tier")}));
        QVERIFY2(writer->writeRow(row), qPrintable(writer->errorString()));
        ExportRow missing = row;
        missing.extraValues.clear();
        QVERIFY(!writer->writeRow(missing));
        QVERIFY(writer->errorString().contains(QStringLiteral("extra values")));
    }
    auto csv = ExportWriter::create(pathFor(QStringLiteral("extra2.csv")), nullptr);
    QVERIFY(csv->begin(columns, {QStringLiteral("tier")}) && csv->writeRow(row) && csv->finish());
    const QList<QByteArray> lines = readAll(pathFor(QStringLiteral("extra2.csv"))).split('\n');
    QVERIFY(lines.at(0).endsWith("attempts,task_id,tier_\r"));
    QVERIFY(lines.at(0).startsWith("id,tier,status,"));
    QVERIFY(lines.at(1).endsWith(",7,'=complex\r")); // neutralised like every text cell
    auto jsonl = ExportWriter::create(pathFor(QStringLiteral("extra2.jsonl")), nullptr);
    QVERIFY(jsonl->begin(columns, {QStringLiteral("tier")}) && jsonl->writeRow(row) && jsonl->finish());
    QVERIFY(readAll(pathFor(QStringLiteral("extra2.jsonl")))
                .endsWith("\"task_id\":7,\"tier_\":\"=complex\"}\n"));
}

void TestExportWriter::fieldColumnsFollowOutput()
{
    // A structured answer's fields right after output, renamed when taken ("model" is a
    // result column); typed in JSONL and XLSX, plain numbers and true/false in CSV.
    const QStringList columns{QStringLiteral("id"), QStringLiteral("label")};
    const QStringList fields{QStringLiteral("label"), QStringLiteral("score"),
                             QStringLiteral("urgent"), QStringLiteral("model"),
                             QStringLiteral("tags")};
    ExportRow row = makeRow({QStringLiteral("1"), QStringLiteral("in")});
    row.output = QStringLiteral(R"({"label":"=neg"})");
    row.fieldValues = {QJsonValue(QStringLiteral("=neg")), QJsonValue(-0.25), QJsonValue(true),
                       QJsonValue(),
                       QJsonValue(QJsonArray{QStringLiteral("a"), QStringLiteral("b")})};
    const QStringList header{
        QStringLiteral("id"),     QStringLiteral("label"),  QStringLiteral("status"),
        QStringLiteral("output"), QStringLiteral("label_"), QStringLiteral("score"),
        QStringLiteral("urgent"), QStringLiteral("model_"), QStringLiteral("tags"),
        QStringLiteral("error"),  QStringLiteral("model")};
    for (const QString &name : {QStringLiteral("fields.csv"), QStringLiteral("fields.jsonl"),
                                QStringLiteral("fields.xlsx")}) {
        auto writer = ExportWriter::create(pathFor(name), nullptr);
        QVERIFY(writer);
        QVERIFY(writer->begin(columns, {}, fields));
        QVERIFY2(writer->writeRow(row), qPrintable(writer->errorString()));
        ExportRow missing = row;
        missing.fieldValues.removeLast();
        QVERIFY(!writer->writeRow(missing));
        QVERIFY(writer->errorString().contains(QStringLiteral("field values")));
    }
    const auto write = [&](const QString &name) {
        auto writer = ExportWriter::create(pathFor(name), nullptr);
        return writer->begin(columns, {}, fields) && writer->writeRow(row) && writer->finish();
    };
    QVERIFY(write(QStringLiteral("fields2.csv")));
    const QList<QByteArray> lines = readAll(pathFor(QStringLiteral("fields2.csv"))).split('\n');
    QVERIFY2(lines.at(0).startsWith(QByteArray(header.join(u',').toUtf8() + ',')),
             lines.at(0).constData());
    QVERIFY2(lines.at(1).contains(R"(,'=neg,-0.25,true,,"[""a"",""b""]",)"),
             lines.at(1).constData());

    QVERIFY(write(QStringLiteral("fields2.jsonl")));
    const QByteArray line = readAll(pathFor(QStringLiteral("fields2.jsonl"))).trimmed();
    // The key reader here knows no arrays: read the keys up to the list-valued "tags".
    const QByteArray beforeTags = line.left(line.indexOf(",\"tags\":")) + '}';
    QCOMPARE(jsonKeysInOrder(beforeTags), header.mid(0, header.indexOf(QStringLiteral("tags"))));
    QCOMPARE(jsonKeysInOrder(line.mid(line.indexOf(",\"error\":") + 1).prepend('{')).value(0),
             QStringLiteral("error"));
    const QJsonObject object = QJsonDocument::fromJson(line).object();
    QCOMPARE(object.value(u"label_").toString(), QStringLiteral("=neg"));
    QCOMPARE(object.value(u"score").toDouble(), -0.25);
    QCOMPARE(object.value(u"urgent"), QJsonValue(true));
    QVERIFY(object.value(u"model_").isNull());
    QCOMPARE(object.value(u"tags").toArray().size(), 2);

    QVERIFY(write(QStringLiteral("fields2.xlsx")));
    QString error;
    const auto zip = readZip(readAll(pathFor(QStringLiteral("fields2.xlsx"))), &error);
    QVERIFY2(!zip.isEmpty(), qPrintable(error));
    const Sheet sheet =
        parseSheet(zip.value(QStringLiteral("xl/worksheets/sheet1.xml")),
                   parseSharedStrings(zip.value(QStringLiteral("xl/sharedStrings.xml"))));
    for (int c = 0; c < header.size(); ++c)
        QCOMPARE(sheet.cells.value(cellRef(c, 1)).text, header.at(c));
    const Cell label = sheet.cells.value(QStringLiteral("E2"));
    QVERIFY(label.type == u"inlineStr" || label.type == u"s");
    QCOMPARE(label.text, QStringLiteral("=neg"));
    const Cell score = sheet.cells.value(QStringLiteral("F2"));
    QVERIFY2(score.type.isEmpty() || score.type == u"n", qPrintable(score.type));
    QCOMPARE(score.text.toDouble(), -0.25);
    const Cell urgent = sheet.cells.value(QStringLiteral("G2"));
    QCOMPARE(urgent.type, QStringLiteral("b")); // Excel's own yes/no
    QCOMPARE(urgent.text, QStringLiteral("1"));
    QVERIFY(!sheet.cells.contains(QStringLiteral("H2"))); // missing: a blank cell
    QCOMPARE(sheet.cells.value(QStringLiteral("I2")).text, QStringLiteral(R"(["a","b"])"));
}

void TestExportWriter::csvHeader()
{
    const QByteArray bytes = exportBytes(QStringLiteral("header.csv"),
                                         {QStringLiteral("id"), QStringLiteral("status"),
                                          QStringLiteral("status_"), QStringLiteral("text")},
                                         {});
    QCOMPARE(bytes, QByteArrayLiteral("id,status,status_,text,status__,output,error,model,"
                                      "input_tokens,output_tokens,cached_tokens,cost_usd,"
                                      "attempts,task_id\r\n"));
}

void TestExportWriter::csvQuoting_data()
{
    QTest::addColumn<QString>("value");
    QTest::addColumn<QByteArray>("cell");

    QTest::newRow("plain") << QStringLiteral("plain") << QByteArrayLiteral("plain");
    QTest::newRow("empty") << QString() << QByteArray();
    QTest::newRow("spaces") << QStringLiteral("  a b  ") << QByteArrayLiteral("  a b  ");
    QTest::newRow("comma") << QStringLiteral("a,b") << QByteArrayLiteral("\"a,b\"");
    QTest::newRow("quote") << QStringLiteral("say \"hi\"")
                           << QByteArrayLiteral("\"say \"\"hi\"\"\"");
    QTest::newRow("only quote") << QStringLiteral("\"") << QByteArrayLiteral("\"\"\"\"");
    QTest::newRow("CR") << QStringLiteral("a\rb") << QByteArrayLiteral("\"a\rb\"");
    QTest::newRow("LF") << QStringLiteral("a\nb") << QByteArrayLiteral("\"a\nb\"");
    QTest::newRow("CRLF") << QStringLiteral("line1\r\nline2")
                          << QByteArrayLiteral("\"line1\r\nline2\"");
    QTest::newRow("trailing LF") << QStringLiteral("x\n") << QByteArrayLiteral("\"x\n\"");
    QTest::newRow("semicolon, tab inside")
        << QStringLiteral("a;b\tc") << QByteArrayLiteral("a;b\tc");
    QTest::newRow("apostrophe") << QStringLiteral("it's") << QByteArrayLiteral("it's");
}

void TestExportWriter::csvQuoting()
{
    QFETCH(QString, value);
    QFETCH(QByteArray, cell);
    const QByteArray bytes =
        exportBytes(QStringLiteral("quoting.csv"), {QStringLiteral("text")}, {makeRow({value})});
    const QByteArray header = "text," + kResultColumns.join(u',').toLatin1() + "\r\n";
    QCOMPARE(bytes, header + cell + kCsvTail);
}

void TestExportWriter::csvFormulaNeutralising_data()
{
    QTest::addColumn<QString>("value");
    QTest::addColumn<QByteArray>("cell");

    QTest::newRow("=") << QStringLiteral("=SUM(A1)") << QByteArrayLiteral("'=SUM(A1)");
    QTest::newRow("+") << QStringLiteral("+1") << QByteArrayLiteral("'+1");
    QTest::newRow("-") << QStringLiteral("-1") << QByteArrayLiteral("'-1");
    QTest::newRow("@") << QStringLiteral("@SUM(1)") << QByteArrayLiteral("'@SUM(1)");
    QTest::newRow("tab") << QStringLiteral("\t=1") << QByteArrayLiteral("'\t=1");
    QTest::newRow("CR") << QStringLiteral("\r=1") << QByteArrayLiteral("\"'\r=1\"");
    QTest::newRow("= with comma") << QStringLiteral("=HYPERLINK(\"http://x\",\"y\")")
                                  << QByteArrayLiteral(
                                         "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
    QTest::newRow("lone =") << QStringLiteral("=") << QByteArrayLiteral("'=");
    QTest::newRow("1-2 untouched") << QStringLiteral("1-2") << QByteArrayLiteral("1-2");
    QTest::newRow("a=b untouched") << QStringLiteral("a=b") << QByteArrayLiteral("a=b");
    QTest::newRow("mail untouched") << QStringLiteral("a@b.c") << QByteArrayLiteral("a@b.c");
    QTest::newRow("space first untouched") << QStringLiteral(" =1") << QByteArrayLiteral(" =1");
    QTest::newRow("LF first untouched") << QStringLiteral("\n=1") << QByteArrayLiteral("\"\n=1\"");
    QTest::newRow("already quoted") << QStringLiteral("'=1") << QByteArrayLiteral("'=1");
}

void TestExportWriter::csvFormulaNeutralising()
{
    QFETCH(QString, value);
    QFETCH(QByteArray, cell);

    ExportRow row = makeRow({value, QStringLiteral("x")});
    row.output = value;
    row.error = value;
    row.model = value;
    const QByteArray bytes = exportBytes(QStringLiteral("formula.csv"),
                                         {QStringLiteral("a"), QStringLiteral("b")}, {row});
    const qsizetype headerEnd = bytes.indexOf("\r\n") + 2;
    QCOMPARE(bytes.mid(headerEnd),
             cell + ",x,completed," + cell + ',' + cell + ',' + cell + ",1,2,0,0.5,1,7\r\n");
}

void TestExportWriter::csvHeaderIsNeutralised()
{
    const QByteArray bytes = exportBytes(QStringLiteral("formula-header.csv"),
                                         {QStringLiteral("=cmd"), QStringLiteral("-x")}, {});
    QVERIFY2(bytes.startsWith("'=cmd,'-x,status,"), bytes.constData());
}

void TestExportWriter::csvUtf8()
{
    const QString text = QStringLiteral("Grüße, 東京 — ñ 😀");
    const QString lone = QStringLiteral("a") + QChar(char16_t(0xD800)) + u"b"; // lone surrogate
    ExportRow row = makeRow({text, lone});
    row.output = QStringLiteral("Ünïcödé 👍");
    const QByteArray bytes = exportBytes(QStringLiteral("utf8.csv"),
                                         {QStringLiteral("größe"), QStringLiteral("x")}, {row});
    QVERIFY(!bytes.startsWith("\xEF\xBB\xBF")); // no BOM
    QVERIFY(bytes.startsWith("gr\xC3\xB6\xC3\x9F"
                             "e,x,status,"));
    const qsizetype headerEnd = bytes.indexOf("\r\n") + 2;
    const QByteArray expected = "\"" + text.toUtf8() +
                                "\",a\xEF\xBF\xBD"
                                "b,completed," +
                                row.output.toUtf8() + ",,m,1,2,0,0.5,1,7\r\n";
    QCOMPARE(bytes.mid(headerEnd), expected);
    // Round trip of the valid text.
    QCOMPARE(QString::fromUtf8(bytes.mid(headerEnd + 1, text.toUtf8().size())), text);
}

void TestExportWriter::csvNumbers_data()
{
    QTest::addColumn<std::optional<double>>("cost");
    QTest::addColumn<QByteArray>("costCell");

    QTest::newRow("unknown") << std::optional<double>() << QByteArray();
    QTest::newRow("nan is unknown") << std::optional<double>(qQNaN()) << QByteArray();
    QTest::newRow("zero") << std::optional<double>(0.0) << QByteArrayLiteral("0");
    QTest::newRow("negative zero") << std::optional<double>(-0.0) << QByteArrayLiteral("0");
    QTest::newRow("half") << std::optional<double>(0.5) << QByteArrayLiteral("0.5");
    QTest::newRow("small") << std::optional<double>(1.25e-6) << QByteArrayLiteral("0.00000125");
    QTest::newRow("tiny") << std::optional<double>(7.5e-8) << QByteArrayLiteral("0.000000075");
    QTest::newRow("float noise") << std::optional<double>(0.1 + 0.2) << QByteArrayLiteral("0.3");
    QTest::newRow("sum noise") << std::optional<double>(0.000075 * 3)
                               << QByteArrayLiteral("0.000225");
    QTest::newRow("large") << std::optional<double>(1234567.891)
                           << QByteArrayLiteral("1234567.891");
    QTest::newRow("big integer") << std::optional<double>(1e20)
                                 << QByteArrayLiteral("100000000000000000000");
    QTest::newRow("15 digits") << std::optional<double>(12345.6789012345)
                               << QByteArrayLiteral("12345.6789012345");
    QTest::newRow("rounds at 10 decimals")
        << std::optional<double>(0.123456789012345) << QByteArrayLiteral("0.123456789");
    QTest::newRow("below resolution") << std::optional<double>(1e-12) << QByteArrayLiteral("0");
    QTest::newRow("negative, not neutralised")
        << std::optional<double>(-0.25) << QByteArrayLiteral("-0.25");
}

void TestExportWriter::csvNumbers()
{
    QFETCH(std::optional<double>, cost);
    QFETCH(QByteArray, costCell);
    ExportRow row = makeRow({QStringLiteral("1")});
    row.costUsd = cost;
    row.inputTokens = 9007199254740993LL; // not representable as double
    row.outputTokens = 0;
    row.cachedTokens = 123456;
    row.attempts = 0;
    row.taskId = Q_INT64_C(9223372036854775807);
    row.status = QStringLiteral("dead");
    row.output.clear();
    row.error = QStringLiteral("invalid_request: too long");
    const QByteArray bytes =
        exportBytes(QStringLiteral("numbers.csv"), {QStringLiteral("id")}, {row});
    const qsizetype headerEnd = bytes.indexOf("\r\n") + 2;
    QCOMPARE(bytes.mid(headerEnd),
             "1,dead,,invalid_request: too long,m,9007199254740993,0,123456," + costCell +
                 ",0,9223372036854775807\r\n");
}

void TestExportWriter::csvEmptyExport()
{
    const QByteArray bytes = exportBytes(QStringLiteral("empty.csv"), {}, {});
    QCOMPARE(bytes, kResultColumns.join(u',').toLatin1() + "\r\n");
}

void TestExportWriter::csvLargeBufferedExport()
{
    // Crosses the internal buffer size several times; every row must arrive intact.
    QList<ExportRow> rows;
    const QString big = QString(3000, u'é') + QStringLiteral(",\"");
    for (int i = 0; i < 1500; ++i) {
        ExportRow row = makeRow({QString::number(i), big});
        row.taskId = i;
        rows.append(row);
    }
    const QByteArray bytes = exportBytes(QStringLiteral("large.csv"),
                                         {QStringLiteral("id"), QStringLiteral("text")}, rows);
    QVERIFY(bytes.size() > 4 * (1 << 20));
    const QList<QByteArray> lines = bytes.split('\n');
    QCOMPARE(lines.size(), 1 + 1500 + 1); // header, rows, empty after the last CRLF
    const QByteArray cell = "\"" + QString(3000, u'é').toUtf8() + ",\"\"\"";
    for (int i = 0; i < 1500; ++i) {
        const QByteArray expected = QByteArray::number(i) + ',' + cell +
                                    ",completed,ok,,m,1,2,0,0.5,1," + QByteArray::number(i) + '\r';
        if (lines.at(i + 1) != expected)
            QFAIL(qPrintable(QStringLiteral("row %1 differs").arg(i)));
    }
}

// ---- JSONL --------------------------------------------------------------------------------

void TestExportWriter::jsonlRows()
{
    const QStringList columns = {QStringLiteral("id"), QStringLiteral("text"),
                                 QStringLiteral("status")};
    const QStringList values = {
        QStringLiteral("=SUM(A1)"),
        QStringLiteral("quote \" backslash \\ slash / done"),
        QStringLiteral("line\nbreak\r\ntab\tend"),
        QStringLiteral("ctl") + QChar(char16_t(1)) + QChar(char16_t(0x1f)) + QChar(char16_t(0)) +
            u"\b\f",
        QStringLiteral("Grüße 東京 😀 \u2028"),
        QStringLiteral("42"),
        QString(),
    };
    QList<ExportRow> rows;
    for (int i = 0; i < values.size(); ++i) {
        ExportRow row = makeRow({QString::number(i + 1), values.at(i), QStringLiteral("in")});
        row.output = values.at(i);
        row.error = i % 2 ? QStringLiteral("e") : QString();
        row.inputTokens = 100 + i;
        row.taskId = 9007199254740993LL + i;
        row.costUsd = 0.000075 * (i + 1);
        rows.append(row);
    }
    const QByteArray bytes = exportBytes(QStringLiteral("rows.jsonl"), columns, rows);
    QVERIFY(bytes.endsWith("}\n"));
    QVERIFY(!bytes.contains('\r')); // CR only ever escaped
    QList<QByteArray> lines = bytes.split('\n');
    QCOMPARE(lines.takeLast(), QByteArray());
    QCOMPARE(lines.size(), values.size()); // no header line

    const QStringList keys =
        columns + QStringList{QStringLiteral("status_"),       QStringLiteral("output"),
                              QStringLiteral("error"),         QStringLiteral("model"),
                              QStringLiteral("input_tokens"),  QStringLiteral("output_tokens"),
                              QStringLiteral("cached_tokens"), QStringLiteral("cost_usd"),
                              QStringLiteral("attempts"),      QStringLiteral("task_id")};
    for (int i = 0; i < lines.size(); ++i) {
        const QByteArray &line = lines.at(i);
        QVERIFY(QString::fromUtf8(line).toUtf8() == line); // valid UTF-8
        QJsonParseError parseError;
        const QJsonDocument doc = QJsonDocument::fromJson(line, &parseError);
        QVERIFY2(parseError.error == QJsonParseError::NoError,
                 qPrintable(parseError.errorString() + u' ' + QString::fromUtf8(line)));
        QVERIFY(doc.isObject());
        QCOMPARE(jsonKeysInOrder(line), keys);

        const QJsonObject o = doc.object();
        QVERIFY(o.value(u"id").isString());
        QCOMPARE(o.value(u"id").toString(), QString::number(i + 1));
        QVERIFY(o.value(u"text").isString());
        QCOMPARE(o.value(u"text").toString(), values.at(i)); // as it was, not neutralised
        QCOMPARE(o.value(u"status").toString(), QStringLiteral("in"));
        QCOMPARE(o.value(u"status_").toString(), QStringLiteral("completed"));
        QCOMPARE(o.value(u"output").toString(), values.at(i));
        QVERIFY(o.value(u"error").isString());
        QCOMPARE(o.value(u"error").toString(), i % 2 ? QStringLiteral("e") : QString());
        QCOMPARE(o.value(u"model").toString(), QStringLiteral("m"));
        for (const auto *key : {u"input_tokens", u"output_tokens", u"cached_tokens", u"cost_usd",
                                u"attempts", u"task_id"}) {
            QVERIFY2(o.value(QStringView(key)).isDouble(), qPrintable(QStringView(key).toString()));
        }
        QCOMPARE(o.value(u"input_tokens").toInteger(), 100 + i);
        QCOMPARE(o.value(u"output_tokens").toInteger(), 2);
        QCOMPARE(o.value(u"cached_tokens").toInteger(), 0);
        QCOMPARE(o.value(u"attempts").toInteger(), 1);
        QCOMPARE(o.value(u"task_id").toInteger(), 9007199254740993LL + i);
        QCOMPARE(o.value(u"cost_usd").toDouble(), 0.000075 * (i + 1));
    }
    // Numbers are plain JSON numbers, never strings or exponent notation.
    QVERIFY(
        lines.at(0).contains("\"cost_usd\":0.000075,\"attempts\":1,\"task_id\":9007199254740993}"));
    // Control characters are escaped.
    QVERIFY(lines.at(3).contains(R"("text":"ctl\u0001\u001f\u0000\b\f")"));
    QVERIFY(lines.at(2).contains(R"("text":"line\nbreak\r\ntab\tend")"));
}

void TestExportWriter::jsonlUnknownCostIsNull()
{
    ExportRow row = makeRow({QStringLiteral("x")});
    row.costUsd.reset();
    row.status = QStringLiteral("pending");
    row.output.clear();
    row.model.clear();
    row.attempts = 0;
    const QByteArray bytes =
        exportBytes(QStringLiteral("nullcost.jsonl"), {QStringLiteral("a")}, {row});
    QCOMPARE(bytes, QByteArrayLiteral(
                        R"({"a":"x","status":"pending","output":"","error":"","model":"",)"
                        R"("input_tokens":1,"output_tokens":2,"cached_tokens":0,"cost_usd":null,)"
                        R"("attempts":0,"task_id":7})"
                        "\n"));
    const QJsonObject o = QJsonDocument::fromJson(bytes).object();
    QVERIFY(o.value(u"cost_usd").isNull());
}

void TestExportWriter::jsonlRenamedKeys()
{
    const QStringList columns = {QStringLiteral("status_"), QStringLiteral("status"),
                                 QStringLiteral("task_id"), QStringLiteral("na\"me")};
    const QByteArray bytes = exportBytes(QStringLiteral("renamed.jsonl"), columns,
                                         {makeRow({QStringLiteral("a"), QStringLiteral("b"),
                                                   QStringLiteral("c"), QStringLiteral("d")})});
    const QByteArray line = bytes.trimmed();
    const QStringList keys =
        columns + QStringList{QStringLiteral("status__"),      QStringLiteral("output"),
                              QStringLiteral("error"),         QStringLiteral("model"),
                              QStringLiteral("input_tokens"),  QStringLiteral("output_tokens"),
                              QStringLiteral("cached_tokens"), QStringLiteral("cost_usd"),
                              QStringLiteral("attempts"),      QStringLiteral("task_id_")};
    QCOMPARE(jsonKeysInOrder(line), keys);
    const QJsonObject o = QJsonDocument::fromJson(line).object();
    QCOMPARE(o.value(u"status_").toString(), QStringLiteral("a"));
    QCOMPARE(o.value(u"status").toString(), QStringLiteral("b"));
    QCOMPARE(o.value(u"status__").toString(), QStringLiteral("completed"));
    QCOMPARE(o.value(u"task_id").toString(), QStringLiteral("c"));
    QCOMPARE(o.value(u"task_id_").toInteger(), 7);
    QCOMPARE(o.value(u"na\"me").toString(), QStringLiteral("d"));
}

// ---- XLSX ---------------------------------------------------------------------------------

void TestExportWriter::xlsxCells()
{
    const QStringList columns = {QStringLiteral("id"), QStringLiteral("text")};
    const QStringList values = {
        QStringLiteral("=SUM(A1)"),
        QStringLiteral("+1"),
        QStringLiteral("-1"),
        QStringLiteral("@cmd"),
        QStringLiteral("1-2"),
        QStringLiteral("42"),
        QStringLiteral("00123"),
        QStringLiteral("1e5"),
        QStringLiteral("TRUE"),
        QStringLiteral("Grüße 東京 😀"),
        QStringLiteral("a\r\nb\tc"),
        QStringLiteral("_x0041_ literal"),
        QStringLiteral("ctl") + QChar(char16_t(1)) + QChar(char16_t(0x1f)) + u"end",
        QStringLiteral("nul") + QChar(char16_t(0)) + u"after",
        QStringLiteral("  leading and trailing  "),
        QStringLiteral("<tag a=\"1\">&amp;</tag>"),
        QStringLiteral("lone") + QChar(char16_t(0xDC00)) + QStringLiteral("surrogate"),
    };
    QStringList expected = values;
    expected.last() = QStringLiteral("lone\uFFFDsurrogate"); // as CSV and JSONL write it
    QList<ExportRow> rows;
    for (int i = 0; i < values.size(); ++i) {
        ExportRow row = makeRow({QString::number(i + 1), values.at(i)});
        row.output = values.at(i);
        row.error = values.at(i);
        row.inputTokens = 1000 + i;
        row.taskId = 9000 + i;
        if (i == 1)
            row.costUsd.reset();
        else
            row.costUsd = 0.000075;
        rows.append(row);
    }
    QString message;
    const auto zip = exportXlsx(QStringLiteral("cells.xlsx"), columns, rows, &message);
    QVERIFY(!zip.isEmpty());
    QCOMPARE(message, QString()); // no warnings
    QVERIFY(zip.contains(QStringLiteral("[Content_Types].xml")));
    QVERIFY(zip.contains(QStringLiteral("xl/workbook.xml")));
    QVERIFY(zip.contains(QStringLiteral("xl/worksheets/sheet1.xml")));

    const QByteArray sheetXml = zip.value(QStringLiteral("xl/worksheets/sheet1.xml"));
    QVERIFY(!sheetXml.contains("<f>"));
    QVERIFY(!sheetXml.contains("<f "));
    const Sheet sheet =
        parseSheet(sheetXml, parseSharedStrings(zip.value(QStringLiteral("xl/sharedStrings.xml"))));
    QCOMPARE(sheet.rows, 1 + values.size());
    const QList<bool> boldStyles = parseBoldStyles(zip.value(QStringLiteral("xl/styles.xml")));

    const QStringList header = columns + kResultColumns;
    for (int c = 0; c < header.size(); ++c) {
        const Cell cell = sheet.cells.value(cellRef(c, 1));
        QVERIFY2(cell.type == u"inlineStr" || cell.type == u"s", qPrintable(cellRef(c, 1)));
        QCOMPARE(cell.text, header.at(c));
        QVERIFY2(boldStyles.value(cell.style), qPrintable(cellRef(c, 1) + u" not bold"));
    }

    for (int i = 0; i < values.size(); ++i) {
        const int r = i + 2;
        for (int c : {0, 1, 3, 4, 5}) {
            const Cell cell = sheet.cells.value(cellRef(c, r));
            const QString where = cellRef(c, r);
            QVERIFY2(cell.type == u"inlineStr" || cell.type == u"s", qPrintable(where));
            QVERIFY(!cell.formula);
            QVERIFY(!boldStyles.value(cell.style));
        }
        QCOMPARE(sheet.cells.value(cellRef(0, r)).text, QString::number(i + 1)); // string "1"
        QCOMPARE(sheet.cells.value(cellRef(1, r)).text, expected.at(i));
        QCOMPARE(sheet.cells.value(cellRef(2, r)).text, QStringLiteral("completed"));
        QCOMPARE(sheet.cells.value(cellRef(3, r)).text, expected.at(i));
        QCOMPARE(sheet.cells.value(cellRef(4, r)).text, expected.at(i));
        QCOMPARE(sheet.cells.value(cellRef(5, r)).text, QStringLiteral("m"));

        const QList<std::pair<int, QString>> numbers = {{6, QString::number(1000 + i)},
                                                        {7, QStringLiteral("2")},
                                                        {8, QStringLiteral("0")},
                                                        {10, QStringLiteral("1")},
                                                        {11, QString::number(9000 + i)}};
        for (const auto &[c, value] : numbers) {
            const Cell cell = sheet.cells.value(cellRef(c, r));
            QVERIFY2(cell.type.isEmpty() || cell.type == u"n", qPrintable(cellRef(c, r)));
            QCOMPARE(cell.text, value);
            QVERIFY(!cell.formula);
        }
        const QString costRef = cellRef(9, r);
        if (i == 1) {
            QVERIFY2(!sheet.cells.contains(costRef), "unknown cost must be a blank cell");
        } else {
            const Cell cost = sheet.cells.value(costRef);
            QVERIFY(cost.type.isEmpty() || cost.type == u"n");
            QCOMPARE(cost.text.toDouble(), 0.000075);
        }
    }
}

void TestExportWriter::xlsxTruncatesLongCells()
{
    const QString exact(32767, u'a');
    const QString tooLong = QString(40000, u'b');
    const QString pairAtLimit = QString(32766, u'c') + QStringLiteral("😀"); // 32768 units
    const QString underscores = QStringLiteral("_x0041_").repeated(5000);   // escapes grow it

    ExportRow row = makeRow({exact, pairAtLimit});
    row.output = tooLong;
    row.error = underscores;
    QString message;
    const auto zip = exportXlsx(QStringLiteral("long.xlsx"),
                                {QStringLiteral("exact"), QStringLiteral("pair")}, {row}, &message);
    QVERIFY(!zip.isEmpty());
    QVERIFY2(message.contains(QStringLiteral("truncated")), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("3 cell")), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("32767")), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("column 'pair'")), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("long.xlsx")), qPrintable(message));

    const Sheet sheet = parseSheet(zip.value(QStringLiteral("xl/worksheets/sheet1.xml")), {});
    QCOMPARE(sheet.cells.value(QStringLiteral("A2")).text, exact);
    QCOMPARE(sheet.cells.value(QStringLiteral("B2")).text, QString(32766, u'c'));
    QCOMPARE(sheet.cells.value(QStringLiteral("D2")).text, QString(32767, u'b'));
    // Each "_x0041_" takes 13 escaped units ("_x005F_x0041_"): 2520 of them fill 32760,
    // the escaped underscore of the next one the remaining 7.
    QCOMPARE(sheet.cells.value(QStringLiteral("E2")).text,
             QStringLiteral("_x0041_").repeated(2520) + u'_');
}

void TestExportWriter::xlsxRenamedHeader()
{
    QString message;
    const auto zip = exportXlsx(QStringLiteral("renamed.xlsx"),
                                {QStringLiteral("status"), QStringLiteral("cost_usd")},
                                {makeRow({QStringLiteral("s"), QStringLiteral("c")})}, &message);
    const Sheet sheet = parseSheet(zip.value(QStringLiteral("xl/worksheets/sheet1.xml")), {});
    QCOMPARE(sheet.cells.value(QStringLiteral("A1")).text, QStringLiteral("status"));
    QCOMPARE(sheet.cells.value(QStringLiteral("B1")).text, QStringLiteral("cost_usd"));
    QCOMPARE(sheet.cells.value(QStringLiteral("C1")).text, QStringLiteral("status_"));
    QCOMPARE(sheet.cells.value(QStringLiteral("J1")).text, QStringLiteral("cost_usd_"));
    QCOMPARE(sheet.cells.value(QStringLiteral("B2")).text, QStringLiteral("c"));
    QCOMPARE(sheet.cells.value(QStringLiteral("J2")).text, QStringLiteral("0.5"));
}

void TestExportWriter::xlsxRowLimit()
{
    // 1,048,575 data rows fit under the header; the next one fails the export.
    const QString path = pathFor(QStringLiteral("limit.xlsx"));
    auto writer = ExportWriter::create(path, nullptr);
    QVERIFY(writer->begin({}));
    ExportRow row; // numbers only, empty text: the cheapest row there is
    for (int i = 0; i < 1'048'575; ++i) {
        if (!writer->writeRow(row))
            QFAIL(qPrintable(QStringLiteral("row %1: ").arg(i + 1) + writer->errorString()));
    }
    QVERIFY(!writer->writeRow(row));
    const QString error = writer->errorString();
    QVERIFY2(error.contains(QStringLiteral("1048576 rows")), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("row 1048576 of the export")), qPrintable(error));
    QVERIFY2(error.contains(QDir::toNativeSeparators(path)), qPrintable(error));
    QVERIFY(!writer->finish());
    QVERIFY(!QFileInfo::exists(path));
    QVERIFY(filesIn(m_dir.path()).filter(QStringLiteral("limit.xlsx")).isEmpty());
}

// Many rows (the sheet is compressed and written in many pieces while rows come): the file
// is a ZIP that Python's zipfile accepts (CRCs, data descriptors, central directory), with
// exactly the package's parts, and every row is in the sheet.
void TestExportWriter::xlsxStreamsAValidPackage()
{
    const int rowCount = 20'000;
    const QString path = pathFor(QStringLiteral("stream.xlsx"));
    auto writer = ExportWriter::create(path, nullptr);
    QVERIFY(writer->begin({QStringLiteral("n"), QStringLiteral("text")}));
    const auto textFor = [](int i) {
        // Varied text, so that the deflated sheet spans several output buffers.
        return QStringLiteral("row %1 %2 & <%3> \u00e9\u6771").arg(i).arg(qint64(i) * 2654435761 % 1000003).arg(QString::number(i, 36));
    };
    for (int i = 0; i < rowCount; ++i) {
        ExportRow row = makeRow({QString::number(i), textFor(i)});
        row.taskId = 100 + i;
        QVERIFY(writer->writeRow(row));
    }
    QVERIFY2(writer->finish(), qPrintable(writer->errorString()));
    QVERIFY(QFileInfo(path).size() > 1 << 20);

    const QString python = QStandardPaths::findExecutable(QStringLiteral("python3"));
    if (!python.isEmpty()) {
        QProcess check;
        check.start(python, {QStringLiteral("-c"),
                             QStringLiteral("import sys, zipfile\n"
                                            "z = zipfile.ZipFile(sys.argv[1])\n"
                                            "bad = z.testzip()\n"
                                            "print('BAD ' + bad if bad else 'OK')\n"
                                            "print(' '.join(sorted(z.namelist())))\n"),
                             path});
        QVERIFY(check.waitForFinished(60'000));
        const QList<QByteArray> lines = check.readAllStandardOutput().trimmed().split('\n');
        QCOMPARE(lines.value(0), QByteArrayLiteral("OK"));
        QCOMPARE(lines.value(1), QByteArrayLiteral("[Content_Types].xml _rels/.rels xl/_rels/workbook.xml.rels "
                                                   "xl/styles.xml xl/workbook.xml xl/worksheets/sheet1.xml"));
    } else {
        qWarning("python3 not found: the ZIP is checked by this test's own reader only");
    }

    QString error;
    const auto zip = readZip(readAll(path), &error);
    QVERIFY2(!zip.isEmpty(), qPrintable(error));
    const Sheet sheet = parseSheet(zip.value(QStringLiteral("xl/worksheets/sheet1.xml")), {});
    QCOMPARE(sheet.rows, rowCount + 1);
    for (int i : {0, 1, 4'999, 12'345, rowCount - 1}) {
        QCOMPARE(sheet.cells.value(cellRef(0, i + 2)).text, QString::number(i));
        QCOMPARE(sheet.cells.value(cellRef(1, i + 2)).text, textFor(i));
        QCOMPARE(sheet.cells.value(cellRef(11, i + 2)).text, QString::number(100 + i));
    }
}

// The file opens in a real spreadsheet: LibreOffice converts it to CSV and reads back the
// cells as written. Skipped where LibreOffice is not installed.
void TestExportWriter::xlsxOpensInLibreOffice()
{
    const QString soffice = QStandardPaths::findExecutable(QStringLiteral("soffice"));
    if (soffice.isEmpty())
        QSKIP("LibreOffice (soffice) is not installed");
    const QString dir = pathFor(QStringLiteral("libreoffice"));
    QVERIFY(QDir().mkpath(dir));
    const QStringList values = {
        QStringLiteral("plain"),
        QStringLiteral("Gr\u00fc\u00dfe \u6771\u4eac \U0001F600"),
        QStringLiteral("<tag a=\"1\">&amp;</tag>, with a comma"),
        QStringLiteral("  leading and trailing  "),
        QStringLiteral("=SUM(A1)"),
        QStringLiteral("_x0041_ literal"),
        QStringLiteral("tab\there, line\nbreak"),
    };
    QList<ExportRow> rows;
    for (int i = 0; i < values.size(); ++i) {
        ExportRow row = makeRow({QString::number(i + 1), values.at(i)});
        row.inputTokens = 1000 + i;
        row.taskId = 9000 + i;
        rows.append(row);
    }
    const QString path = dir + QStringLiteral("/sheet.xlsx");
    QVERIFY(!exportBytes(QStringLiteral("libreoffice/sheet.xlsx"), {QStringLiteral("id"), QStringLiteral("text")}, rows).isEmpty());

    QProcess convert;
    convert.setWorkingDirectory(dir);
    convert.start(soffice, {QStringLiteral("-env:UserInstallation=file://") + dir + QStringLiteral("/profile"),
                            QStringLiteral("--headless"), QStringLiteral("--convert-to"),
                            QStringLiteral("csv:Text - txt - csv (StarCalc):44,34,76,1"), QStringLiteral("--outdir"), dir, path});
    QVERIFY(convert.waitForFinished(240'000));
    const QString csvPath = dir + QStringLiteral("/sheet.csv");
    QVERIFY2(QFileInfo::exists(csvPath), convert.readAllStandardError().constData());

    bd::ingest::CsvReader reader;
    QVERIFY2(reader.open(csvPath), qPrintable(reader.errorString()));
    QCOMPARE(reader.header(), QStringList({QStringLiteral("id"), QStringLiteral("text")}) + kResultColumns);
    QStringList fields;
    for (int i = 0; i < values.size(); ++i) {
        QVERIFY2(reader.readRow(fields), qPrintable(reader.errorString()));
        QCOMPARE(fields.value(0), QString::number(i + 1));
        QCOMPARE(fields.value(1), values.at(i));
        QCOMPARE(fields.value(2), QStringLiteral("completed"));
        QCOMPARE(fields.value(6), QString::number(1000 + i));
        QCOMPARE(fields.value(9), QStringLiteral("0.5"));
        QCOMPARE(fields.value(11), QString::number(9000 + i));
    }
    QVERIFY(!reader.readRow(fields));
}

// ---- failures -----------------------------------------------------------------------------

void TestExportWriter::missingDirectory_data()
{
    QTest::addColumn<QString>("extension");
    QTest::newRow("csv") << QStringLiteral("csv");
    QTest::newRow("jsonl") << QStringLiteral("jsonl");
    QTest::newRow("xlsx") << QStringLiteral("xlsx");
}

void TestExportWriter::missingDirectory()
{
    QFETCH(QString, extension);
    const QString path = pathFor(QStringLiteral("no/such/dir/out.") + extension);
    auto writer = ExportWriter::create(path, nullptr);
    QVERIFY(writer);
    QVERIFY(!writer->begin({QStringLiteral("a")}));
    QVERIFY(!writer->writeRow(makeRow({QStringLiteral("x")})));
    QVERIFY(!writer->finish());
    const QString error = writer->errorString();
    QVERIFY2(error.contains(QDir::toNativeSeparators(path)), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("cannot create")), qPrintable(error));
    QVERIFY(!QFileInfo::exists(path));
}

void TestExportWriter::directoryRemovedBeforeFinish_data()
{
    missingDirectory_data();
}

void TestExportWriter::directoryRemovedBeforeFinish()
{
    QFETCH(QString, extension);
    const QString dir = pathFor(QStringLiteral("vanishing-") + extension);
    QVERIFY(QDir().mkpath(dir));
    const QString path = dir + QStringLiteral("/out.") + extension;
    auto writer = ExportWriter::create(path, nullptr);
    QVERIFY(writer->begin({QStringLiteral("a")}));
    QVERIFY(writer->writeRow(makeRow({QStringLiteral("x")})));
    QVERIFY(QDir(dir).removeRecursively());
    QVERIFY(!writer->finish());
    const QString error = writer->errorString();
    QVERIFY2(error.contains(QDir::toNativeSeparators(path)), qPrintable(error));
    QVERIFY(!QFileInfo::exists(path));
    QVERIFY(!writer->finish()); // stays failed
    QCOMPARE(writer->errorString(), error);
}

void TestExportWriter::failedExportKeepsExistingFile_data()
{
    missingDirectory_data();
}

void TestExportWriter::failedExportKeepsExistingFile()
{
    QFETCH(QString, extension);
    const QString dir = pathFor(QStringLiteral("keep-") + extension);
    QVERIFY(QDir().mkpath(dir));
    const QString path = dir + QStringLiteral("/out.") + extension;
    {
        QFile old(path);
        QVERIFY(old.open(QIODevice::WriteOnly));
        old.write("old content");
    }
    {
        auto writer = ExportWriter::create(path, nullptr);
        QVERIFY(writer->begin({QStringLiteral("a"), QStringLiteral("b")}));
        QVERIFY(writer->writeRow(makeRow({QStringLiteral("1"), QStringLiteral("2")})));
        QVERIFY(!writer->writeRow(makeRow({QStringLiteral("only one")})));
        QVERIFY2(
            writer->errorString().contains(QStringLiteral("row 2 has 1 input values, expected 2")),
            qPrintable(writer->errorString()));
        QVERIFY(!writer->finish());
    }
    QCOMPARE(readAll(path), QByteArrayLiteral("old content"));
    QCOMPARE(filesIn(dir), QStringList{QStringLiteral("out.") + extension}); // no temp files

    // A writer dropped without finish() leaves nothing behind either.
    {
        auto writer = ExportWriter::create(path, nullptr);
        QVERIFY(writer->begin({QStringLiteral("a")}));
        QVERIFY(writer->writeRow(makeRow({QStringLiteral("1")})));
    }
    QCOMPARE(readAll(path), QByteArrayLiteral("old content"));
    QCOMPARE(filesIn(dir), QStringList{QStringLiteral("out.") + extension});
}

void TestExportWriter::successReplacesExistingFile_data()
{
    missingDirectory_data();
}

void TestExportWriter::successReplacesExistingFile()
{
    QFETCH(QString, extension);
    const QString dir = pathFor(QStringLiteral("replace-") + extension);
    QVERIFY(QDir().mkpath(dir));
    const QString path = dir + QStringLiteral("/out.") + extension;
    {
        QFile old(path);
        QVERIFY(old.open(QIODevice::WriteOnly));
        old.write("old content");
    }
    auto writer = ExportWriter::create(path, nullptr);
    QVERIFY(writer->begin({QStringLiteral("a")}));
    QVERIFY(writer->writeRow(makeRow({QStringLiteral("1")})));
    QCOMPARE(readAll(path), QByteArrayLiteral("old content")); // not before finish()
    QVERIFY2(writer->finish(), qPrintable(writer->errorString()));
    QCOMPARE(writer->errorString(), QString());
    const QByteArray bytes = readAll(path);
    QVERIFY(bytes != "old content");
    if (extension == u"csv")
        QVERIFY(bytes.startsWith("a,status,"));
    else if (extension == u"jsonl")
        QVERIFY(bytes.startsWith("{\"a\":\"1\","));
    else
        QVERIFY(bytes.startsWith("PK\x03\x04"));
    QCOMPARE(filesIn(dir), QStringList{QStringLiteral("out.") + extension});
}

void TestExportWriter::misuse()
{
    auto writer = ExportWriter::create(pathFor(QStringLiteral("misuse.csv")), nullptr);
    QVERIFY(!writer->writeRow(makeRow({})));
    QVERIFY(writer->errorString().contains(QStringLiteral("writeRow()")));
    QVERIFY(!writer->begin({})); // the first failure sticks

    auto twice = ExportWriter::create(pathFor(QStringLiteral("twice.jsonl")), nullptr);
    QVERIFY(twice->begin({}));
    QVERIFY(!twice->begin({}));
    QVERIFY(twice->errorString().contains(QStringLiteral("begin() called twice")));
    QVERIFY(!twice->finish());
    QVERIFY(!QFileInfo::exists(pathFor(QStringLiteral("twice.jsonl"))));
}

// ---- bench: BD_EXPORT_BENCH=1 [BD_EXPORT_BENCH_ROWS=n] ------------------------------------

void TestExportWriter::benchmark()
{
    if (qEnvironmentVariable("BD_EXPORT_BENCH") != u"1")
        QSKIP("set BD_EXPORT_BENCH=1 to time a 1,000,000-row export");
    bool ok = false;
    qint64 rowCount = qEnvironmentVariableIntValue("BD_EXPORT_BENCH_ROWS", &ok);
    if (!ok || rowCount <= 0)
        rowCount = 1'000'000;

    const QStringList columns = {QStringLiteral("id"), QStringLiteral("review"),
                                 QStringLiteral("category")};
    const QString review = QStringLiteral(
        "The product arrived on time, works as described, but the manual is \"thin\", sadly.");
    const QString output = QStringLiteral(
        "Sentiment: positive. Summary: delivery fine; product works; documentation weak. "
        "Größe ok — 5/5");
    for (const QString &extension :
         {QStringLiteral("csv"), QStringLiteral("jsonl"), QStringLiteral("xlsx")}) {
        const QString path = pathFor(QStringLiteral("bench.") + extension);
        QElapsedTimer timer;
        timer.start();
        auto writer = ExportWriter::create(path, nullptr);
        QVERIFY(writer->begin(columns));
        ExportRow row;
        row.status = QStringLiteral("completed");
        row.output = output;
        row.model = QStringLiteral("sim-large");
        row.inputValues = {QString(), review, QStringLiteral("books")};
        for (qint64 i = 0; i < rowCount; ++i) {
            row.inputValues[0] = QString::number(i + 1);
            row.inputTokens = 120 + i % 50;
            row.outputTokens = 30 + i % 20;
            row.cachedTokens = i % 3 ? 0 : 64;
            row.costUsd = 0.0000375 * double(row.inputTokens + row.outputTokens);
            row.attempts = 1;
            row.taskId = i + 1;
            if (!writer->writeRow(row))
                QFAIL(qPrintable(writer->errorString()));
        }
        QVERIFY2(writer->finish(), qPrintable(writer->errorString()));
        qInfo("%s: %lld rows in %.2f s, %.1f MB", qPrintable(extension), rowCount,
              double(timer.elapsed()) / 1000.0, double(QFileInfo(path).size()) / 1e6);
        QFile::remove(path);
    }
}

// ---- full disk, warnings, leftovers ---------------------------------------------------------

void TestExportWriter::fullDisk_data()
{
    QTest::addColumn<QString>("extension");
    QTest::addColumn<int>("rows");
    // One row stays inside every buffer until finish(): only the final flush/commit can fail.
    QTest::newRow("csv small") << QStringLiteral("csv") << 1;
    QTest::newRow("jsonl small") << QStringLiteral("jsonl") << 1;
    QTest::newRow("xlsx small") << QStringLiteral("xlsx") << 1;
    QTest::newRow("csv large") << QStringLiteral("csv") << 3000;
    QTest::newRow("jsonl large") << QStringLiteral("jsonl") << 3000;
    QTest::newRow("xlsx large") << QStringLiteral("xlsx") << 3000;
}

void TestExportWriter::fullDisk()
{
    QFETCH(QString, extension);
    QFETCH(int, rows);
    bd::test::TinyTmpfs disk(pathFor(QStringLiteral("tmpfs-") + QString::fromLatin1(QTest::currentDataTag()).replace(u' ', u'-')), 64 * 1024);
    if (!disk.isMounted())
        QSKIP(qPrintable(disk.skipReason()));
    const QString path = disk.path() + QStringLiteral("/out.") + extension;
    const QString text = QStringLiteral("a fairly long answer from the model, repeated ").repeated(4);

    const auto exportTo = [&](QString *error) {
        auto writer = ExportWriter::create(path, nullptr);
        bool ok = writer->begin({QStringLiteral("id"), QStringLiteral("text")});
        for (int i = 0; ok && i < rows; ++i)
            ok = writer->writeRow(makeRow({QString::number(i), text}));
        ok = ok && writer->finish();
        *error = writer->errorString();
        return ok;
    };

    // Full: the export fails, says so, and leaves nothing (no empty file, no temp file).
    QVERIFY(disk.fill(QStringLiteral("filler")) > 0);
    QString error;
    QVERIFY2(!exportTo(&error), "an export onto a full disk reported success");
    QVERIFY2(error.contains(QDir::toNativeSeparators(path)), qPrintable(error));
    QVERIFY2(error.contains(QStringLiteral("cannot")), qPrintable(error));
    QCOMPARE(filesIn(disk.path()), QStringList{QStringLiteral("filler")});

    // With room again the same export succeeds (the small one) or still fails cleanly (the
    // large one does not fit in 64 KiB at all).
    QVERIFY(QFile::remove(disk.path() + QStringLiteral("/filler")));
    const bool ok = exportTo(&error);
    if (rows == 1) {
        QVERIFY2(ok, qPrintable(error));
        QVERIFY(QFileInfo(path).size() > 0);
        QCOMPARE(filesIn(disk.path()), QStringList{QStringLiteral("out.") + extension});
    } else {
        QVERIFY(!ok);
        QVERIFY2(error.contains(QStringLiteral("cannot")), qPrintable(error));
        QVERIFY(filesIn(disk.path()).isEmpty());
    }
}

void TestExportWriter::xlsxWarningsCountTruncatedCells()
{
    const QString path = pathFor(QStringLiteral("warned.xlsx"));
    auto writer = ExportWriter::create(path, nullptr);
    QVERIFY(writer->begin({QStringLiteral("text")}));
    ExportRow row = makeRow({QString(40000, u'x')});
    row.output = QString(33000, u'y');
    QVERIFY(writer->writeRow(row));
    QVERIFY(writer->writeRow(makeRow({QStringLiteral("short")})));
    QVERIFY(writer->finish());
    QCOMPARE(writer->truncatedCells(), 2);
    const QStringList warnings = writer->warnings();
    QCOMPARE(warnings.size(), 1);
    QVERIFY2(warnings.first().contains(QStringLiteral("2 cell(s)")), qPrintable(warnings.first()));
    QVERIFY2(warnings.first().contains(QStringLiteral("column 'text'")),
             qPrintable(warnings.first()));

    // Nothing cut, nothing to say; CSV never cuts.
    auto plain = ExportWriter::create(pathFor(QStringLiteral("unwarned.xlsx")), nullptr);
    QVERIFY(plain->begin({QStringLiteral("text")}));
    QVERIFY(plain->writeRow(makeRow({QStringLiteral("short")})));
    QVERIFY(plain->finish());
    QCOMPARE(plain->truncatedCells(), 0);
    QVERIFY(plain->warnings().isEmpty());
    auto csv = ExportWriter::create(pathFor(QStringLiteral("uncut.csv")), nullptr);
    QVERIFY(csv->begin({QStringLiteral("text")}));
    QVERIFY(csv->writeRow(makeRow({QString(40000, u'x')})));
    QVERIFY(csv->finish());
    QVERIFY(csv->warnings().isEmpty());
}

void TestExportWriter::xlsxNoTempFileWhileWritingRows()
{
    // A process killed while rows are being written (the long part) must leave nothing.
    const QString dir = pathFor(QStringLiteral("xlsx-writing"));
    QVERIFY(QDir().mkpath(dir));
    const QString path = dir + QStringLiteral("/out.xlsx");
    auto writer = ExportWriter::create(path, nullptr);
    QVERIFY(writer->begin({QStringLiteral("a")}));
    for (int i = 0; i < 100; ++i)
        QVERIFY(writer->writeRow(makeRow({QString::number(i)})));
    QCOMPARE(filesIn(dir), QStringList());
    QVERIFY(writer->finish());
    QCOMPARE(filesIn(dir), QStringList{QStringLiteral("out.xlsx")});
}

void TestExportWriter::xlsxRemovesTempFileOfKilledExport()
{
    const QString dir = pathFor(QStringLiteral("xlsx-stale"));
    QVERIFY(QDir().mkpath(dir));
    // A pid that is certainly gone: a child that has exited and been reaped.
    QProcess child;
    child.start(QStringLiteral("true"), {});
    QVERIFY(child.waitForFinished(10'000));
    const qint64 deadPid = child.processId() > 0 ? child.processId() : 0x7ffffff0;
    const QString stale = dir + QStringLiteral("/.out.xlsx.%1-1a2b.tmp").arg(deadPid);
    const QString live =
        dir + QStringLiteral("/.out.xlsx.%1-3c4d.tmp").arg(QCoreApplication::applicationPid());
    const QString other = dir + QStringLiteral("/.other.xlsx.%1-5e6f.tmp").arg(deadPid);
    for (const QString &name : {stale, live, other}) {
        QFile file(name);
        QVERIFY(file.open(QIODevice::WriteOnly));
    }
    auto writer = ExportWriter::create(dir + QStringLiteral("/out.xlsx"), nullptr);
    QVERIFY(writer->begin({QStringLiteral("a")}));
    QVERIFY(!QFileInfo::exists(stale));
    QVERIFY(QFileInfo::exists(live));  // a running export's file is not ours to take
    QVERIFY(QFileInfo::exists(other)); // another target's
    QVERIFY(writer->finish());
}

QTEST_GUILESS_MAIN(TestExportWriter)
#include "test_exportwriter.moc"
