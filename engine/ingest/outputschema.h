#pragma once

#include <memory>
#include <optional>
#include <QByteArray>
#include <QJsonObject>
#include <QJsonValue>
#include <QList>
#include <QString>
#include <QStringList>

// Structured answers (CLI.md `--schema`): a JSON Schema whose top level is an object. Each
// top-level property is an output field that becomes a column of the export. Answers are
// checked with valijson (its Qt JSON adapter), not by hand.
namespace bd::ingest {

// The kinds of field the import wizard offers; Other for whatever a pasted schema says that
// is none of these (nested objects, lists of numbers ...): exported as JSON text.
enum class FieldKind : int
{
    Text,
    Number,
    Integer,
    YesNo,
    Choice,   // one of a list of texts
    TextList, // a list of texts
    Other,
};

QString fieldKindName(FieldKind kind); // "text", "number", "integer", "yes/no" ...
// A field's value as text (export cells, the Tasks view): strings as they are, numbers in
// the shortest form that reads back the same, true/false, lists and objects as compact JSON,
// nothing for a missing value.
QString fieldValueText(const QJsonValue &value);

struct OutputField
{
    QString name;
    FieldKind kind = FieldKind::Text;
    QStringList choices; // Choice: the allowed values
    QString description; // guidance for the model (optional)
};

// A parsed, checked schema. Immutable and cheap to copy (the compiled validator is shared),
// so one instance serves every request of a job on any thread.
class OutputSchema
{
public:
    // Reads a schema. Errors name `origin`, the line and the field: "schema.json line 3:
    // ...", "schema.json: property 'label': ...". The top level must be an object schema
    // with at least one property.
    static std::optional<OutputSchema> parse(const QByteArray &text, const QString &origin,
                                             QString *error);
    // The schema of these fields in this order: each one required, nothing else allowed
    // (what OpenAI's strict mode asks for). Errors name the field.
    static std::optional<OutputSchema> fromFields(const QList<OutputField> &fields, QString *error);

    // The fields in the schema's own order (Qt's JSON objects sort their keys; the
    // schema's order is kept because columns follow it and models write fields in it).
    const QList<OutputField> &fields() const;
    QStringList fieldNames() const;
    // The schema as compact JSON text in its own key order (what providers are sent).
    const QByteArray &text() const;
    // The same as a Qt object (keys sorted).
    const QJsonObject &json() const;
    // True when every object in it lists all its properties as required and forbids others
    // (additionalProperties false): OpenAI accepts it with strict: true.
    bool isStrict() const;

    // Checks an answer. It must be one JSON object (a Markdown code fence around it is
    // dropped: some servers add one in JSON mode) that matches the schema. The object
    // through *answer; false and why otherwise ("not JSON: ...", "field 'label': ...").
    bool validate(const QString &answer, QJsonObject *object, QString *why) const;
    // The answer's value of each field, in fields() order; Undefined where the answer is not
    // an object or lacks the field.
    QList<QJsonValue> fieldValues(const QString &answer) const;

private:
    struct Compiled;
    std::shared_ptr<const Compiled> m_compiled;
};

} // namespace bd::ingest
