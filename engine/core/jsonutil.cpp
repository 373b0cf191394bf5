#include "jsonutil.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <QJsonArray>
#include <QJsonDocument>
#include <QVarLengthArray>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace bd::json {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// A character JSON writes as itself in one byte: ASCII but no control character, quote or
// backslash.
bool plainAscii(char16_t c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

// Copies the plain characters at the start of [p, end) to dst as bytes; returns where it
// stopped (end or a character that needs more than one byte).
const char16_t *copyPlain(const char16_t *p, const char16_t *end, char *&dst)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    for (; end - p >= 8; p += 8, dst += 8) {
        const __m128i units = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
        // Packed with saturation, a unit from 0x80 up becomes a byte that is negative as a
        // signed byte (or 0): below the space, like the control characters.
        const __m128i bytes = _mm_packus_epi16(units, units);
        const __m128i special = _mm_or_si128(
            _mm_cmplt_epi8(bytes, space),
            _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)));
        if ((_mm_movemask_epi8(special) & 0xFF) != 0)
            break;
        _mm_storel_epi64(reinterpret_cast<__m128i *>(dst), bytes);
    }
#endif
    for (; p != end && plainAscii(*p); ++p)
        *dst++ = char(*p);
    return p;
}

// Writes the character at p (one that copyPlain stopped at) as an escape or UTF-8 sequence to
// out, at most 6 bytes; returns their count and moves p past it. A surrogate without its
// partner becomes '?', as QString::toUtf8() writes it.
int encodeSpecial(const char16_t *&p, const char16_t *end, char *out)
{
    const char16_t c = *p++;
    if (c < 0x80) {
        // The escapes the encoder always wrote with a letter; other control characters as
        // \u00XX (\b and \f too).
        static constexpr char kLettered[][2] = {
            {'"', '"'}, {'\\', '\\'}, {'\n', 'n'}, {'\r', 'r'}, {'\t', 't'}};
        for (const auto &[raw, letter] : kLettered) {
            if (c == char16_t(raw)) {
                out[0] = '\\';
                out[1] = letter;
                return 2;
            }
        }
        const char escaped[] = {'\\', 'u', '0', '0', kHexDigits[c >> 4], kHexDigits[c & 0xF]};
        std::memcpy(out, escaped, sizeof escaped);
        return int(sizeof escaped);
    }
    if (c < 0x800) {
        out[0] = char(0xC0 | c >> 6);
        out[1] = char(0x80 | (c & 0x3F));
        return 2;
    }
    if (QChar::isSurrogate(c)) {
        if (!QChar::isHighSurrogate(c) || p == end || !QChar::isLowSurrogate(*p)) {
            out[0] = '?';
            return 1;
        }
        const char32_t code = QChar::surrogateToUcs4(c, *p++);
        out[0] = char(0xF0 | code >> 18);
        out[1] = char(0x80 | (code >> 12 & 0x3F));
        out[2] = char(0x80 | (code >> 6 & 0x3F));
        out[3] = char(0x80 | (code & 0x3F));
        return 4;
    }
    out[0] = char(0xE0 | c >> 12);
    out[1] = char(0x80 | (c >> 6 & 0x3F));
    out[2] = char(0x80 | (c & 0x3F));
    return 3;
}

// Writes s as a JSON string literal at dst, inside out. The caller leaves room after dst for
// every character as one byte, both quotes and `keep` bytes more; a character that takes more
// than a byte grows out to keep that true for the rest. Returns the end of the literal.
char *writeString(QByteArray &out, char *dst, QStringView s, qsizetype keep)
{
    const char16_t *p = s.utf16();
    const char16_t *const end = p + s.size();
    *dst++ = '"';
    for (;;) {
        p = copyPlain(p, end, dst);
        if (p == end)
            break;
        char encoded[6];
        const int length = encodeSpecial(p, end, encoded);
        const qsizetype at = dst - out.constData();
        const qsizetype needed = at + length + (end - p) + 1 + keep;
        if (needed > out.size())
            out.resize(needed);
        dst = out.data() + at;
        std::memcpy(dst, encoded, size_t(length));
        dst += length;
    }
    *dst++ = '"';
    return dst;
}

} // namespace

// Straight from UTF-16 into out: a toUtf8() copy per value and a second pass to escape it
// were most of an import row's encoding.
void appendString(QByteArray &out, QStringView s)
{
    const qsizetype at = out.size();
    out.resize(at + s.size() + 2);
    const char *end = writeString(out, out.data() + at, s, 0);
    out.resize(end - out.constData());
}

bool appendUnescapedUtf8(QByteArray &out, QStringView s)
{
    const char16_t *p = s.utf16();
    const char16_t *const end = p + s.size();
    const qsizetype start = out.size();
    out.resize(start + 3 * s.size()); // a unit other than a surrogate is at most 3 bytes
    char *dst = out.data() + start;
    while ((p = copyPlain(p, end, dst)) != end) {
        if (*p < 0x80 || QChar::isSurrogate(*p)) {
            out.resize(start);
            return false;
        }
        dst += encodeSpecial(p, end, dst);
    }
    out.resize(dst - out.constData());
    return true;
}

QByteArray encodeStringArray(const QStringList &values)
{
    // One buffer sized for plain ASCII, written through a cursor: a value with wider characters
    // grows it, keeping the room the values after it need.
    qsizetype room = 2;
    for (const QString &value : values)
        room += value.size() + 3; // its quotes and a comma
    QByteArray out(room, Qt::Uninitialized);
    char *dst = out.data();
    *dst++ = '[';
    qsizetype keep = room - 1;
    for (qsizetype i = 0; i < values.size(); ++i) {
        if (i)
            *dst++ = ',';
        keep -= values.at(i).size() + 3;
        dst = writeString(out, dst, values.at(i), keep);
    }
    *dst++ = ']';
    out.resize(dst - out.constData());
    return out;
}

namespace {

// The end of the ASCII bytes at the start of [p, end).
const char *asciiEnd(const char *p, const char *end)
{
#if defined(__SSE2__)
    for (; end - p >= 16; p += 16) {
        const int high = _mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
        if (high != 0)
            return p + std::countr_zero(unsigned(high));
    }
#endif
    while (p != end && static_cast<unsigned char>(*p) < 0x80)
        ++p;
    return p;
}

char16_t *widenAscii(const char *p, const char *end, char16_t *out)
{
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    for (; end - p >= 16; p += 16, out += 16) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(out), _mm_unpacklo_epi8(bytes, zero));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(out + 8), _mm_unpackhi_epi8(bytes, zero));
    }
#endif
    for (; p != end; ++p)
        *out++ = static_cast<unsigned char>(*p);
    return out;
}

bool continuation(char c)
{
    return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// Decodes the well-formed UTF-8 sequence of two to four bytes at p to out; returns its length,
// or 0 when it is not one (QString::fromUtf8 then decides what it becomes).
int decodeSequence(const char *p, const char *end, char16_t *&out)
{
    const auto lead = static_cast<unsigned char>(p[0]);
    const qsizetype left = end - p;
    if (lead >= 0xC2 && lead < 0xE0 && left >= 2 && continuation(p[1])) {
        *out++ = char16_t((lead & 0x1F) << 6 | (p[1] & 0x3F));
        return 2;
    }
    if (lead >= 0xE0 && lead < 0xF0 && left >= 3 && continuation(p[1]) && continuation(p[2])) {
        const char16_t unit = char16_t((lead & 0x0F) << 12 | (p[1] & 0x3F) << 6 | (p[2] & 0x3F));
        if (unit < 0x800 || QChar::isSurrogate(unit))
            return 0;
        *out++ = unit;
        return 3;
    }
    if (lead >= 0xF0 && lead < 0xF5 && left >= 4 && continuation(p[1]) && continuation(p[2]) &&
        continuation(p[3])) {
        const char32_t code = char32_t(lead & 0x07) << 18 | char32_t(p[1] & 0x3F) << 12 |
                              char32_t(p[2] & 0x3F) << 6 | char32_t(p[3] & 0x3F);
        if (code < 0x10000 || code > 0x10FFFF)
            return 0;
        *out++ = QChar::highSurrogate(code);
        *out++ = QChar::lowSurrogate(code);
        return 4;
    }
    return 0;
}

// UTF-8 to UTF-16, at most one unit a byte. Malformed input goes to QString::fromUtf8 from
// the first bad sequence on, so every value decodes as the old fromUtf8 of it did.
char16_t *decodeUtf8(const char *p, const char *end, char16_t *out)
{
    while (p != end) {
        const char *ascii = asciiEnd(p, end);
        out = widenAscii(p, ascii, out);
        p = ascii;
        if (p == end)
            break;
        const int length = decodeSequence(p, end, out);
        if (length == 0) {
            const QString rest = QString::fromUtf8(p, end - p);
            std::memcpy(out, rest.utf16(), size_t(rest.size()) * sizeof(char16_t));
            return out + rest.size();
        }
        p += length;
    }
    return out;
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Decodes a string's text (between its quotes) to out, which has room for one unit a byte;
// returns the end of what it wrote, or nullptr at an escape JSON does not have.
char16_t *decodeText(const char *p, const char *end, char16_t *out)
{
    for (;;) {
        const char *escape = std::find(p, end, '\\');
        out = decodeUtf8(p, escape, out);
        if (escape == end)
            return out;
        p = escape + 1;
        if (p == end)
            return nullptr;
        switch (*p) {
        case '"':
        case '\\':
        case '/':
            *out++ = char16_t(*p);
            break;
        case 'b':
            *out++ = u'\b';
            break;
        case 'f':
            *out++ = u'\f';
            break;
        case 'n':
            *out++ = u'\n';
            break;
        case 'r':
            *out++ = u'\r';
            break;
        case 't':
            *out++ = u'\t';
            break;
        case 'u': {
            if (end - p < 5)
                return nullptr;
            // One UTF-16 unit; a surrogate pair is two escapes, and a lone one is kept as
            // QJsonDocument keeps it.
            int unit = 0;
            for (int i = 1; i <= 4; ++i) {
                const int digit = hexValue(p[i]);
                if (digit < 0)
                    return nullptr;
                unit = unit << 4 | digit;
            }
            *out++ = char16_t(unit);
            p += 4;
            break;
        }
        default:
            return nullptr;
        }
        ++p;
    }
}

// Where one value's text lies between its quotes; plain when it is ASCII without escapes.
struct Span
{
    const char *begin;
    const char *end;
    bool plain;
};

// The closing quote of the string whose text starts at p, or end when there is none.
const char *closingQuote(const char *p, const char *end, bool *plain)
{
    unsigned high = 0;
    bool escaped = false;
    for (;;) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"');
        const __m128i backslash = _mm_set1_epi8('\\');
        for (; end - p >= 16; p += 16) {
            const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
            const unsigned stops = unsigned(_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash))));
            const unsigned nonAscii = unsigned(_mm_movemask_epi8(bytes));
            if (stops != 0) {
                const int at = std::countr_zero(stops);
                high |= nonAscii & ((1u << at) - 1);
                p += at;
                break;
            }
            high |= nonAscii;
        }
#endif
        while (p != end && *p != '"' && *p != '\\') {
            high |= static_cast<unsigned char>(*p) >> 7;
            ++p;
        }
        if (p == end)
            return end;
        if (*p == '"') {
            *plain = !escaped && high == 0;
            return p;
        }
        escaped = true;
        if (end - p < 2)
            return end;
        p += 2; // the backslash and the character it escapes
    }
}

// The values of an array as encodeStringArray writes it (no whitespace); false for anything
// else, which the full parser then reads.
bool scanArray(QByteArrayView json, QVarLengthArray<Span, 16> &spans)
{
    const char *p = json.data();
    const char *const end = p + json.size();
    if (p == end || *p != '[')
        return false;
    ++p;
    if (p != end && *p == ']')
        return p + 1 == end;
    for (;;) {
        if (p == end || *p != '"')
            return false;
        ++p;
        bool plain = false;
        const char *close = closingQuote(p, end, &plain);
        if (close == end)
            return false;
        spans.append(Span{p, close, plain});
        p = close + 1;
        if (p == end)
            return false;
        if (*p == ']')
            return p + 1 == end;
        if (*p != ',')
            return false;
        ++p;
    }
}

// Each value straight from the array's bytes: an ASCII value is widened, others decoded here
// too; only input that is not what encodeStringArray writes goes to QJsonDocument. All of an
// array's values go into one block of UTF-16, each followed by the 0 that ends a QString's
// text, and every value's string shares that block: a QString's data pointer holds its block
// and its own start and length (as after QString::remove() from the front), and writing to a
// value detaches it as it would any shared string. One allocation a claimed task instead of
// one a value, and one free when the task goes.
bool decodeFast(QByteArrayView json, QStringList &values)
{
    QVarLengthArray<Span, 16> spans;
    if (!scanArray(json, spans))
        return false;
    qsizetype room = 0;
    for (const Span &span : spans)
        room += span.end - span.begin + 1;
    QString::DataPointer block(QTypedArrayData<char16_t>::allocate(room));
    char16_t *out = block.data();
    if (room > 0)
        Q_CHECK_PTR(out); // out of memory: as QString's own allocation reports it
    values.reserve(spans.size());
    for (const Span &span : spans) {
        char16_t *const start = out;
        out = span.plain ? widenAscii(span.begin, span.end, out)
                         : decodeText(span.begin, span.end, out);
        if (!out)
            return false;
        *out = 0;
        block.d_ptr()->ref();
        values.append(QString(QString::DataPointer(block.d_ptr(), start, out - start)));
        ++out;
    }
    return true;
}

} // namespace

std::optional<QStringList> decodeStringArray(QByteArrayView json)
{
    QStringList values;
    if (decodeFast(json, values))
        return values;
    values.clear();
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(json.toByteArray(), &error);
    if (error.error != QJsonParseError::NoError || !doc.isArray())
        return std::nullopt;
    const QJsonArray array = doc.array();
    values.reserve(array.size());
    for (const QJsonValue &value : array) {
        if (!value.isString())
            return std::nullopt;
        values.append(value.toString());
    }
    return values;
}

QByteArray withRawMember(QByteArray object, QByteArrayView key, QByteArrayView rawValue)
{
    Q_ASSERT(object.endsWith('}'));
    object.chop(1);
    if (object.size() > 1) // not "{"
        object += ',';
    appendString(object, QString::fromUtf8(key));
    object += ':';
    object.append(rawValue);
    object += '}';
    return object;
}

} // namespace bd::json
