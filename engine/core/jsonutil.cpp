#include "jsonutil.h"

#include <QJsonArray>
#include <QJsonDocument>

#include <algorithm>

namespace bd::json {

namespace {

void appendEscapedUtf8(QByteArray &out, QByteArrayView utf8)
{
    static const char hex[] = "0123456789abcdef";
    const char *begin = utf8.data();
    const char *end = begin + utf8.size();
    const char *run = begin;
    for (const char *p = begin; p != end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        out.append(run, p - run);
        run = p + 1;
        switch (c) {
        case '"': out.append("\\\"", 2); break;
        case '\\': out.append("\\\\", 2); break;
        case '\n': out.append("\\n", 2); break;
        case '\r': out.append("\\r", 2); break;
        case '\t': out.append("\\t", 2); break;
        default: {
            const char escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            out.append(escaped, 6);
        }
        }
    }
    out.append(run, end - run);
}

} // namespace

void appendString(QByteArray &out, QStringView s)
{
    out.append('"');
    appendEscapedUtf8(out, s.toUtf8());
    out.append('"');
}

QByteArray encodeStringArray(const QStringList &values)
{
    QByteArray out;
    qsizetype estimate = 2;
    for (const QString &value : values)
        estimate += value.size() + 3;
    out.reserve(estimate + estimate / 8);
    out.append('[');
    for (qsizetype i = 0; i < values.size(); ++i) {
        if (i)
            out.append(',');
        appendString(out, values.at(i));
    }
    out.append(']');
    return out;
}

namespace {

// Fast path for what encodeStringArray writes; anything unusual goes to QJsonDocument.
bool decodeFast(QByteArrayView json, QStringList &values)
{
    const char *p = json.data();
    const char *end = p + json.size();
    if (p == end || *p != '[')
        return false;
    ++p;
    if (p != end && *p == ']')
        return p + 1 == end;
    // One allocation for the list: at most one value more than there are commas.
    values.reserve(std::count(p, end, ',') + 1);
    for (;;) {
        if (p == end || *p != '"')
            return false;
        ++p;
        const char *start = p;
        while (p != end && *p != '"' && *p != '\\')
            ++p;
        if (p == end)
            return false;
        if (*p == '\\')
            return false; // escapes: let the full parser handle them
        values.append(QString::fromUtf8(start, p - start));
        ++p;
        if (p == end)
            return false;
        if (*p == ']')
            return p + 1 == end;
        if (*p != ',')
            return false;
        ++p;
    }
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
