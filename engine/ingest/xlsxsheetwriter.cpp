#include "xlsxsheetwriter.h"

#include "xlsxzip.h"

#include <array>
#include <charconv>
#include <cstring>
#include <QChar>

// The smallest package Excel and LibreOffice open without complaint: content types, the
// package and workbook relationships, the workbook, a style sheet (normal and bold) and
// the sheet. Cell references are written on every cell ("B7"), as Excel itself does.

namespace bd::ingest {

namespace {

constexpr std::size_t kCompressBytes = 256 * 1024;

// clang-format off
#define BD_XML_HEADER "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
#define BD_NS_MAIN "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#define BD_NS_REL "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#define BD_NS_PKG_REL "http://schemas.openxmlformats.org/package/2006/relationships"
#define BD_CT_OFFICE "application/vnd.openxmlformats-officedocument.spreadsheetml."

const char kContentTypes[] =
    BD_XML_HEADER
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
    "<Default Extension=\"rels\" "
    "ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
    "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
    "<Override PartName=\"/xl/workbook.xml\" ContentType=\"" BD_CT_OFFICE "sheet.main+xml\"/>"
    "<Override PartName=\"/xl/worksheets/sheet1.xml\" "
    "ContentType=\"" BD_CT_OFFICE "worksheet+xml\"/>"
    "<Override PartName=\"/xl/styles.xml\" ContentType=\"" BD_CT_OFFICE "styles+xml\"/>"
    "</Types>";

const char kPackageRels[] =
    BD_XML_HEADER
    "<Relationships xmlns=\"" BD_NS_PKG_REL "\">"
    "<Relationship Id=\"rId1\" Type=\"" BD_NS_REL "/officeDocument\" Target=\"xl/workbook.xml\"/>"
    "</Relationships>";

const char kWorkbook[] =
    BD_XML_HEADER
    "<workbook xmlns=\"" BD_NS_MAIN "\" xmlns:r=\"" BD_NS_REL "\">"
    "<bookViews><workbookView/></bookViews>"
    "<sheets><sheet name=\"Export\" sheetId=\"1\" r:id=\"rId1\"/></sheets>"
    "</workbook>";

const char kWorkbookRels[] =
    BD_XML_HEADER
    "<Relationships xmlns=\"" BD_NS_PKG_REL "\">"
    "<Relationship Id=\"rId1\" Type=\"" BD_NS_REL "/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId2\" Type=\"" BD_NS_REL "/styles\" Target=\"styles.xml\"/>"
    "</Relationships>";

// Style 0: normal; style 1: bold (the header).
const char kStyles[] =
    BD_XML_HEADER
    "<styleSheet xmlns=\"" BD_NS_MAIN "\">"
    "<fonts count=\"2\">"
    "<font><sz val=\"11\"/><name val=\"Calibri\"/><family val=\"2\"/><scheme val=\"minor\"/></font>"
    "<font><b/><sz val=\"11\"/><name val=\"Calibri\"/><family val=\"2\"/><scheme val=\"minor\"/></font>"
    "</fonts>"
    "<fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill>"
    "<fill><patternFill patternType=\"gray125\"/></fill></fills>"
    "<borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>"
    "<cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>"
    "<cellXfs count=\"2\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/>"
    "<xf numFmtId=\"0\" fontId=\"1\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyFont=\"1\"/></cellXfs>"
    "<cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles>"
    "</styleSheet>";

// The header row stays in view (frozen below row 1).
const char kSheetStart[] =
    BD_XML_HEADER
    "<worksheet xmlns=\"" BD_NS_MAIN "\" xmlns:r=\"" BD_NS_REL "\">"
    "<sheetViews><sheetView tabSelected=\"1\" workbookViewId=\"0\">"
    "<pane ySplit=\"1\" topLeftCell=\"A2\" activePane=\"bottomLeft\" state=\"frozen\"/>"
    "<selection pane=\"bottomLeft\"/></sheetView></sheetViews>"
    "<sheetFormatPr defaultRowHeight=\"15\"/><sheetData>";

const char kSheetEnd[] =
    "</sheetData><pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" bottom=\"0.75\" "
    "header=\"0.3\" footer=\"0.3\"/></worksheet>";

#undef BD_XML_HEADER
#undef BD_NS_MAIN
#undef BD_NS_REL
#undef BD_NS_PKG_REL
#undef BD_CT_OFFICE
// clang-format on

template <std::size_t N> constexpr std::size_t literalSize(const char (&)[N])
{
    return N - 1;
}

// ASCII characters copied as they are: everything printable but & < > and the underscore
// (which may start an escape), plus tab and line feed.
constexpr std::array<bool, 128> kPlainAscii = [] {
    std::array<bool, 128> table{};
    for (int c = 0x20; c < 0x80; ++c)
        table[std::size_t(c)] = c != '&' && c != '<' && c != '>' && c != '_' && c != 0x7F;
    table[std::size_t('\t')] = true;
    table[std::size_t('\n')] = true;
    table[0x7F] = true; // DEL is allowed in XML 1.0
    return table;
}();

bool isAsciiHexDigit(char16_t c)
{
    return (c >= u'0' && c <= u'9') || (c >= u'a' && c <= u'f') || (c >= u'A' && c <= u'F');
}

// "_xHHHH_" at it (which points at an underscore)?
bool isEscapePattern(const char16_t *it, const char16_t *end)
{
    if (end - it < 7 || it[1] != u'x' || it[6] != u'_')
        return false;
    for (int k = 2; k < 6; ++k) {
        if (!isAsciiHexDigit(it[k]))
            return false;
    }
    return true;
}

char *putEscape(char *p, char16_t c)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    *p++ = '_';
    *p++ = 'x';
    *p++ = kHex[(c >> 12) & 0xF];
    *p++ = kHex[(c >> 8) & 0xF];
    *p++ = kHex[(c >> 4) & 0xF];
    *p++ = kHex[c & 0xF];
    *p++ = '_';
    return p;
}

bool isXmlSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

// Writes value as the content of a <t> element at p; the buffer must hold 7 bytes per
// UTF-16 unit written, at most kMaxCellChars units. *truncated tells whether the text was
// cut. Counts what Excel counts: UTF-16 units of the escaped text.
char *putCellText(char *p, QStringView value, bool *truncated)
{
    constexpr qsizetype kMax = XlsxSheetWriter::kMaxCellChars;
    const char16_t *it = value.utf16();
    const char16_t *const end = it + value.size();
    qsizetype units = 0;
    *truncated = false;
    while (it != end) {
        const char16_t c = *it;
        if (c < 0x80 && kPlainAscii[c]) {
            if (units == kMax)
                break;
            ++units;
            *p++ = char(c);
            ++it;
            continue;
        }
        qsizetype width = 1;
        if (c < 0x20 || c == 0xFFFE || c == 0xFFFF || (c == u'_' && isEscapePattern(it, end))) {
            width = 7;
        } else if (QChar::isHighSurrogate(c) && end - it > 1 && QChar::isLowSurrogate(it[1])) {
            width = 2;
        }
        if (units + width > kMax)
            break;
        units += width;
        if (width == 7) {
            p = putEscape(p, c); // "_x005F_" for the underscore of a literal escape
            ++it;
            continue;
        }
        switch (c) {
        case u'&':
            std::memcpy(p, "&amp;", 5);
            p += 5;
            ++it;
            continue;
        case u'<':
            std::memcpy(p, "&lt;", 4);
            p += 4;
            ++it;
            continue;
        case u'>':
            std::memcpy(p, "&gt;", 4);
            p += 4;
            ++it;
            continue;
        case u'_':
            *p++ = '_';
            ++it;
            continue;
        default:
            break;
        }
        char32_t cp = c;
        if (width == 2) {
            cp = QChar::surrogateToUcs4(c, it[1]);
            it += 2;
            *p++ = char(0xF0 | (cp >> 18));
            *p++ = char(0x80 | ((cp >> 12) & 0x3F));
            *p++ = char(0x80 | ((cp >> 6) & 0x3F));
            *p++ = char(0x80 | (cp & 0x3F));
            continue;
        }
        ++it;
        if (QChar::isSurrogate(c))
            cp = 0xFFFD; // lone surrogate, as CSV and JSONL write it
        if (cp < 0x800) {
            *p++ = char(0xC0 | (cp >> 6));
            *p++ = char(0x80 | (cp & 0x3F));
        } else {
            *p++ = char(0xE0 | (cp >> 12));
            *p++ = char(0x80 | ((cp >> 6) & 0x3F));
            *p++ = char(0x80 | (cp & 0x3F));
        }
    }
    *truncated = it != end;
    return p;
}

QByteArray columnName(qsizetype index)
{
    QByteArray name;
    for (++index; index > 0; index = (index - 1) / 26)
        name.prepend(char('A' + (index - 1) % 26));
    return name;
}

} // namespace

XlsxSheetWriter::XlsxSheetWriter(int fd)
    : m_zip(std::make_unique<ZipStream>(fd))
{
    m_xml.resize(kCompressBytes + 64 * 1024);
}

XlsxSheetWriter::~XlsxSheetWriter() = default;

QString XlsxSheetWriter::errorString() const
{
    return m_error.isEmpty() ? m_zip->errorString() : m_error;
}

char *XlsxSheetWriter::room(std::size_t bytes)
{
    if (m_size + bytes > m_xml.size())
        m_xml.resize(qMax(m_xml.size() * 2, m_size + bytes));
    return m_xml.data() + m_size;
}

void XlsxSheetWriter::append(const char *data, std::size_t size)
{
    std::memcpy(room(size), data, size);
    m_size += size;
}

bool XlsxSheetWriter::addPart(const char *name, const QByteArray &content)
{
    return m_zip->beginEntry(QByteArray(name)) &&
           m_zip->write(content.constData(), std::size_t(content.size())) && m_zip->endEntry();
}

bool XlsxSheetWriter::begin(const QStringList &columns)
{
    Q_ASSERT(columns.size() <= kMaxColumns);
    m_columnNames.reserve(columns.size());
    for (qsizetype i = 0; i < columns.size(); ++i)
        m_columnNames.append(columnName(i));
    if (!addPart("[Content_Types].xml",
                 QByteArray::fromRawData(kContentTypes, literalSize(kContentTypes))) ||
        !addPart("_rels/.rels", QByteArray::fromRawData(kPackageRels, literalSize(kPackageRels))) ||
        !addPart("xl/workbook.xml", QByteArray::fromRawData(kWorkbook, literalSize(kWorkbook))) ||
        !addPart("xl/_rels/workbook.xml.rels",
                 QByteArray::fromRawData(kWorkbookRels, literalSize(kWorkbookRels))) ||
        !addPart("xl/styles.xml", QByteArray::fromRawData(kStyles, literalSize(kStyles))) ||
        !m_zip->beginEntry(QByteArrayLiteral("xl/worksheets/sheet1.xml"))) {
        return false;
    }
    append(kSheetStart, literalSize(kSheetStart));
    beginRow();
    for (const QString &name : columns)
        textCell(name, true);
    return endRow();
}

void XlsxSheetWriter::beginRow()
{
    ++m_row;
    m_column = 0;
    const auto result = std::to_chars(m_rowDigits, m_rowDigits + sizeof m_rowDigits, m_row);
    m_rowDigitCount = std::size_t(result.ptr - m_rowDigits);
    char *p = room(16 + m_rowDigitCount);
    std::memcpy(p, "<row r=\"", 8);
    p += 8;
    std::memcpy(p, m_rowDigits, m_rowDigitCount);
    p += m_rowDigitCount;
    *p++ = '"';
    *p++ = '>';
    setEnd(p);
}

// `<c r="B7"` for the current column; the caller has made room for it (32 bytes).
char *XlsxSheetWriter::putCellStart(char *p)
{
    Q_ASSERT(m_column < m_columnNames.size());
    const QByteArray &name = m_columnNames.at(m_column);
    std::memcpy(p, "<c r=\"", 6);
    p += 6;
    std::memcpy(p, name.constData(), std::size_t(name.size()));
    p += name.size();
    std::memcpy(p, m_rowDigits, m_rowDigitCount);
    p += m_rowDigitCount;
    *p++ = '"';
    return p;
}

void XlsxSheetWriter::textCell(QStringView value, bool bold)
{
    if (value.isEmpty() && !bold) {
        ++m_column;
        return;
    }
    static constexpr char kOpen[] = " t=\"inlineStr\"><is><t>";
    static constexpr char kOpenBold[] = " s=\"1\" t=\"inlineStr\"><is><t>";
    static constexpr char kPreserve[] = " xml:space=\"preserve\"";
    static constexpr char kClose[] = "</t></is></c>";
    const std::size_t textRoom = std::size_t(qMin(value.size(), kMaxCellChars)) * 7;
    char *p =
        room(32 + literalSize(kOpenBold) + literalSize(kPreserve) + textRoom + literalSize(kClose));
    p = putCellStart(p);
    if (bold) {
        std::memcpy(p, kOpenBold, literalSize(kOpenBold));
        p += literalSize(kOpenBold);
    } else {
        std::memcpy(p, kOpen, literalSize(kOpen));
        p += literalSize(kOpen);
    }
    char *const textStart = p;
    bool truncated = false;
    p = putCellText(p, value, &truncated);
    if (p != textStart && (isXmlSpace(*textStart) || isXmlSpace(p[-1]))) {
        // Leading or trailing white space survives only with xml:space (rare: move the
        // text to make room for it after "<t").
        std::memmove(textStart - 1 + literalSize(kPreserve), textStart - 1,
                     std::size_t(p - textStart + 1));
        std::memcpy(textStart - 1, kPreserve, literalSize(kPreserve));
        p += literalSize(kPreserve);
    }
    std::memcpy(p, kClose, literalSize(kClose));
    p += literalSize(kClose);
    setEnd(p);
    if (truncated && m_truncatedCells++ == 0) {
        m_firstTruncatedRow = m_row;
        m_firstTruncatedColumn = m_column;
    }
    ++m_column;
}

void XlsxSheetWriter::text(QStringView value)
{
    textCell(value, false);
}

// `<c r="B7"` + attributes + `><v>`: room for the value (32 bytes) follows.
char *XlsxSheetWriter::putValueStart(const char *attributes, std::size_t size)
{
    char *p = putCellStart(room(32 + size + 4 + 32 + 8));
    std::memcpy(p, attributes, size);
    p += size;
    std::memcpy(p, "><v>", 4);
    return p + 4;
}

void XlsxSheetWriter::putValueEnd(char *p)
{
    std::memcpy(p, "</v></c>", 8);
    setEnd(p + 8);
    ++m_column;
}

void XlsxSheetWriter::number(qint64 value)
{
    char *p = putValueStart("", 0);
    putValueEnd(std::to_chars(p, p + 32, value).ptr);
}

void XlsxSheetWriter::number(double value)
{
    char *p = putValueStart("", 0);
    // 16 significant digits, as libxlsxwriter wrote them (Excel keeps 15): no binary
    // noise such as 2.7749999999999997e-05 for 2.775e-05.
    putValueEnd(std::to_chars(p, p + 32, value, std::chars_format::general, 16).ptr);
}

void XlsxSheetWriter::boolean(bool value)
{
    char *p = putValueStart(" t=\"b\"", 6);
    *p++ = value ? '1' : '0';
    putValueEnd(p);
}

void XlsxSheetWriter::blank()
{
    ++m_column;
}

bool XlsxSheetWriter::endRow()
{
    append("</row>", 6);
    return writeXml(false);
}

bool XlsxSheetWriter::writeXml(bool force)
{
    if (m_size == 0 || (!force && m_size < kCompressBytes))
        return true;
    const bool ok = m_zip->write(m_xml.data(), m_size);
    m_size = 0;
    return ok;
}

bool XlsxSheetWriter::finish()
{
    append(kSheetEnd, literalSize(kSheetEnd));
    return writeXml(true) && m_zip->endEntry() && m_zip->finish();
}

} // namespace bd::ingest
