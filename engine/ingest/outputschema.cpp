#include "outputschema.h"

#include <exception>
#include <nlohmann/json.hpp>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLocale>
#include <valijson/adapters/qtjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

// Qt's JSON types sort object keys, so the order of the fields (the export's columns, and
// the order a model writes them in) is read with nlohmann's order-keeping json once, at
// parse time; everything after works on Qt's types, the validation through valijson's Qt
// adapter.

namespace bd::ingest {

using namespace Qt::StringLiterals;
using OrderedJson = nlohmann::ordered_json;

struct OutputSchema::Compiled
{
    QByteArray text;
    QJsonObject json;
    QList<OutputField> fields;
    bool strict = false;
    valijson::Schema schema;
};

namespace {

// 1-based line of a byte offset, for messages.
int lineAt(const QByteArray &text, qsizetype offset)
{
    return int(text.left(qBound<qsizetype>(0, offset, text.size())).count('\n')) + 1;
}

QString typeOf(const QJsonObject &property)
{
    const QJsonValue type = property.value(u"type"_s);
    if (type.isString())
        return type.toString();
    // ["string", "null"]: the kind of the value when there is one.
    for (const QJsonValue &entry : type.toArray()) {
        if (entry.toString() != u"null"_s)
            return entry.toString();
    }
    return {};
}

OutputField fieldOf(const QString &name, const QJsonObject &property)
{
    OutputField field;
    field.name = name;
    field.description = property.value(u"description"_s).toString();
    const QString type = typeOf(property);
    const QJsonArray choices = property.value(u"enum"_s).toArray();
    if (!choices.isEmpty() && (type.isEmpty() || type == u"string"_s)) {
        field.kind = FieldKind::Choice;
        for (const QJsonValue &choice : choices)
            field.choices.append(choice.toString());
    } else if (type == u"string"_s) {
        field.kind = FieldKind::Text;
    } else if (type == u"number"_s) {
        field.kind = FieldKind::Number;
    } else if (type == u"integer"_s) {
        field.kind = FieldKind::Integer;
    } else if (type == u"boolean"_s) {
        field.kind = FieldKind::YesNo;
    } else if (type == u"array"_s && typeOf(property.value(u"items"_s).toObject()) == u"string"_s) {
        field.kind = FieldKind::TextList;
    } else {
        field.kind = FieldKind::Other;
    }
    return field;
}

// Every object schema inside lists all its properties as required and forbids others.
bool strictObjects(const QJsonValue &node)
{
    if (node.isArray()) {
        for (const QJsonValue &entry : node.toArray()) {
            if (!strictObjects(entry))
                return false;
        }
        return true;
    }
    if (!node.isObject())
        return true;
    const QJsonObject object = node.toObject();
    if (object.contains(u"properties"_s) || typeOf(object) == u"object"_s) {
        const QJsonObject properties = object.value(u"properties"_s).toObject();
        QStringList required;
        for (const QJsonValue &name : object.value(u"required"_s).toArray())
            required.append(name.toString());
        if (object.value(u"additionalProperties"_s) != QJsonValue(false))
            return false;
        for (auto it = properties.begin(); it != properties.end(); ++it) {
            if (!required.contains(it.key()))
                return false;
        }
    }
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (it.key() != u"enum"_s && it.key() != u"const"_s && !strictObjects(it.value()))
            return false;
    }
    return true;
}

QString contextPath(const std::vector<std::string> &context)
{
    // valijson names the path as "<root>", "[label]", "[0]" ...
    QString path;
    for (const std::string &part : context) {
        const QString step = QString::fromStdString(part);
        if (step == u"<root>"_s)
            continue;
        path += step;
    }
    if (path.startsWith(u'[') && path.indexOf(u']') == path.size() - 1)
        return u"field '%1'"_s.arg(path.mid(1, path.size() - 2));
    return path.isEmpty() ? u"the answer"_s : u"field %1"_s.arg(path);
}

// The answer without a Markdown code fence around it.
QString unfenced(const QString &answer)
{
    const QString trimmed = answer.trimmed();
    if (!trimmed.startsWith(u"```"_s) || !trimmed.endsWith(u"```"_s) || trimmed.size() < 6)
        return trimmed;
    const qsizetype firstLineEnd = trimmed.indexOf(u'\n');
    if (firstLineEnd < 0)
        return trimmed;
    return trimmed.mid(firstLineEnd + 1, trimmed.size() - 3 - (firstLineEnd + 1)).trimmed();
}

} // namespace

QString fieldValueText(const QJsonValue &value)
{
    switch (value.type()) {
    case QJsonValue::String:
        return value.toString();
    case QJsonValue::Double:
        return QString::number(value.toDouble(), 'g', QLocale::FloatingPointShortest);
    case QJsonValue::Bool:
        return value.toBool() ? u"true"_s : u"false"_s;
    case QJsonValue::Array:
        return QString::fromUtf8(QJsonDocument(value.toArray()).toJson(QJsonDocument::Compact));
    case QJsonValue::Object:
        return QString::fromUtf8(QJsonDocument(value.toObject()).toJson(QJsonDocument::Compact));
    case QJsonValue::Null:
    case QJsonValue::Undefined:
        break;
    }
    return {};
}

QString fieldKindName(FieldKind kind)
{
    switch (kind) {
    case FieldKind::Text:
        return u"text"_s;
    case FieldKind::Number:
        return u"number"_s;
    case FieldKind::Integer:
        return u"whole number"_s;
    case FieldKind::YesNo:
        return u"yes/no"_s;
    case FieldKind::Choice:
        return u"one of a list"_s;
    case FieldKind::TextList:
        return u"list of text"_s;
    case FieldKind::Other:
        break;
    }
    return u"other"_s;
}

std::optional<OutputSchema> OutputSchema::parse(const QByteArray &text, const QString &origin,
                                                QString *error)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(text, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        *error = u"%1 line %2: not JSON: %3"_s.arg(origin)
                     .arg(lineAt(text, parseError.offset))
                     .arg(parseError.errorString());
        return std::nullopt;
    }
    if (!document.isObject()) {
        *error = u"%1: a JSON Schema must be a JSON object"_s.arg(origin);
        return std::nullopt;
    }
    auto compiled = std::make_shared<Compiled>();
    compiled->json = document.object();
    const QJsonObject &root = compiled->json;
    const QJsonValue type = root.value(u"type"_s);
    if (!type.isUndefined() && type != QJsonValue(u"object"_s)) {
        *error = u"%1: the top level must be \"type\": \"object\" (one field per property)"_s.arg(
            origin);
        return std::nullopt;
    }
    const QJsonObject properties = root.value(u"properties"_s).toObject();
    if (properties.isEmpty()) {
        *error = u"%1: the top level has no \"properties\": name at least one output field"_s.arg(
            origin);
        return std::nullopt;
    }

    OrderedJson ordered;
    try {
        ordered = OrderedJson::parse(text.constData(), text.constData() + text.size());
    } catch (const std::exception &exception) {
        *error = u"%1: %2"_s.arg(origin, QString::fromUtf8(exception.what()));
        return std::nullopt;
    }
    compiled->text = QByteArray::fromStdString(ordered.dump());
    for (const auto &[name, value] : ordered.at("properties").items()) {
        const QString key = QString::fromStdString(name);
        const QJsonValue property = properties.value(key);
        if (!property.isObject()) {
            *error = u"%1: property '%2': its schema must be a JSON object"_s.arg(origin, key);
            return std::nullopt;
        }
        compiled->fields.append(fieldOf(key, property.toObject()));
    }
    compiled->strict = strictObjects(root);

    try {
        valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
        const valijson::adapters::QtJsonAdapter adapter{QJsonValue(root)};
        parser.populateSchema(adapter, compiled->schema);
    } catch (const std::exception &exception) {
        *error =
            u"%1: not a usable JSON Schema: %2"_s.arg(origin, QString::fromUtf8(exception.what()));
        return std::nullopt;
    }
    OutputSchema schema;
    schema.m_compiled = std::move(compiled);
    return schema;
}

std::optional<OutputSchema> OutputSchema::fromFields(const QList<OutputField> &fields,
                                                     QString *error)
{
    if (fields.isEmpty()) {
        *error = u"name at least one output field"_s;
        return std::nullopt;
    }
    OrderedJson properties = OrderedJson::object();
    OrderedJson required = OrderedJson::array();
    QStringList seen;
    for (qsizetype i = 0; i < fields.size(); ++i) {
        const OutputField &field = fields.at(i);
        const QString name = field.name.trimmed();
        if (name.isEmpty()) {
            *error = u"field %1 has no name"_s.arg(i + 1);
            return std::nullopt;
        }
        if (seen.contains(name)) {
            *error = u"field '%1' is named twice"_s.arg(name);
            return std::nullopt;
        }
        seen.append(name);
        OrderedJson property = OrderedJson::object();
        switch (field.kind) {
        case FieldKind::Text:
            property["type"] = "string";
            break;
        case FieldKind::Number:
            property["type"] = "number";
            break;
        case FieldKind::Integer:
            property["type"] = "integer";
            break;
        case FieldKind::YesNo:
            property["type"] = "boolean";
            break;
        case FieldKind::Choice: {
            OrderedJson choices = OrderedJson::array();
            for (const QString &choice : field.choices) {
                if (!choice.trimmed().isEmpty())
                    choices.push_back(choice.trimmed().toStdString());
            }
            if (choices.empty()) {
                *error = u"field '%1': list the values it may take"_s.arg(name);
                return std::nullopt;
            }
            property["type"] = "string";
            property["enum"] = std::move(choices);
            break;
        }
        case FieldKind::TextList:
            property["type"] = "array";
            property["items"] = OrderedJson{{"type", "string"}};
            break;
        case FieldKind::Other:
            *error = u"field '%1': choose its kind"_s.arg(name);
            return std::nullopt;
        }
        if (!field.description.trimmed().isEmpty())
            property["description"] = field.description.trimmed().toStdString();
        properties[name.toStdString()] = std::move(property);
        required.push_back(name.toStdString());
    }
    const OrderedJson schema{{"type", "object"},
                             {"properties", std::move(properties)},
                             {"required", std::move(required)},
                             {"additionalProperties", false}};
    return parse(QByteArray::fromStdString(schema.dump()), u"the fields"_s, error);
}

const QList<OutputField> &OutputSchema::fields() const
{
    return m_compiled->fields;
}

QStringList OutputSchema::fieldNames() const
{
    QStringList names;
    names.reserve(m_compiled->fields.size());
    for (const OutputField &field : m_compiled->fields)
        names.append(field.name);
    return names;
}

const QByteArray &OutputSchema::text() const
{
    return m_compiled->text;
}

const QJsonObject &OutputSchema::json() const
{
    return m_compiled->json;
}

bool OutputSchema::isStrict() const
{
    return m_compiled->strict;
}

bool OutputSchema::validate(const QString &answer, QJsonObject *object, QString *why) const
{
    QJsonParseError parseError;
    const QByteArray bytes = unfenced(answer).toUtf8();
    const QJsonDocument document = QJsonDocument::fromJson(bytes, &parseError);
    if (parseError.error != QJsonParseError::NoError) {
        *why = u"the answer is not JSON (%1 at character %2)"_s.arg(parseError.errorString())
                   .arg(parseError.offset + 1);
        return false;
    }
    if (!document.isObject()) {
        *why = u"the answer is JSON but not an object"_s;
        return false;
    }
    valijson::Validator validator;
    valijson::ValidationResults results;
    const valijson::adapters::QtJsonAdapter target{QJsonValue(document.object())};
    if (!validator.validate(m_compiled->schema, target, &results)) {
        // valijson reports the failure at every level from the root down; the deepest one
        // says what is wrong, so report the last of each path.
        QStringList problems;
        valijson::ValidationResults::Error failure;
        while (results.popError(failure)) {
            const QString problem = contextPath(failure.context) + u": "_s +
                                    QString::fromStdString(failure.description);
            if (!problems.contains(problem))
                problems.append(problem);
        }
        while (problems.size() > 3)
            problems.removeFirst();
        *why = u"the answer does not match the schema: "_s + problems.join(u"; "_s);
        return false;
    }
    if (object)
        *object = document.object();
    return true;
}

QList<QJsonValue> OutputSchema::fieldValues(const QString &answer) const
{
    const QJsonObject object = QJsonDocument::fromJson(unfenced(answer).toUtf8()).object();
    QList<QJsonValue> values;
    values.reserve(m_compiled->fields.size());
    for (const OutputField &field : m_compiled->fields)
        values.append(object.value(field.name));
    return values;
}

} // namespace bd::ingest
