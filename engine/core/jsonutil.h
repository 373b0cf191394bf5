#pragma once

#include <optional>
#include <QByteArray>
#include <QByteArrayView>
#include <QStringList>
#include <QStringView>

// Hand-rolled JSON for the hot paths (a row's values on import, JSONL export lines):
// QJsonDocument builds a tree per row, which costs more than the rest of an import.
namespace bd::json {

// Appends s as a JSON string literal (with quotes), UTF-8 encoded.
void appendString(QByteArray &out, QStringView s);
// Appends s UTF-8 encoded, as a JSON string's text, when no character of it needs an escape
// and it holds no surrogate; otherwise false, out as it was.
bool appendUnescapedUtf8(QByteArray &out, QStringView s);
// ["a","b",...]
QByteArray encodeStringArray(const QStringList &values);
// Inverse of encodeStringArray for any JSON array of strings; nullopt when malformed. Text that
// is not UTF-8 decodes as QString::fromUtf8 decodes it (U+FFFD), escapes or not.
std::optional<QStringList> decodeStringArray(QByteArrayView json);
// Adds "key":rawValue as the last member of a compact JSON object's text. For values whose
// key order matters (a JSON Schema: models write fields in its order), which a QJsonObject
// would sort.
QByteArray withRawMember(QByteArray object, QByteArrayView key, QByteArrayView rawValue);

} // namespace bd::json
