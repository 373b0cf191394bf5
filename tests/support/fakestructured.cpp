#include "fakestructured.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>

namespace bd::testing {

using namespace Qt::StringLiterals;

namespace {

QString typeOf(const QJsonObject &schema)
{
    const QJsonValue type = schema.value(u"type"_s);
    if (type.isArray()) {
        for (const QJsonValue &entry : type.toArray()) {
            if (entry.toString().toLower() != u"null"_s)
                return entry.toString().toLower();
        }
    }
    return type.toString().toLower();
}

QJsonValue valueFor(const QJsonObject &schema, const QString &prompt)
{
    const QJsonArray choices = schema.value(u"enum"_s).toArray();
    if (!choices.isEmpty()) {
        for (const QJsonValue &choice : choices) {
            if (prompt.contains(choice.toString(), Qt::CaseInsensitive))
                return choice;
        }
        return choices.first();
    }
    const QString type = typeOf(schema);
    if (type == u"number"_s || type == u"integer"_s)
        return prompt.size();
    if (type == u"boolean"_s)
        return prompt.size() % 2 == 0;
    if (type == u"array"_s) {
        QJsonArray words;
        for (const QString &word : prompt.split(u' ', Qt::SkipEmptyParts).mid(0, 3))
            words.append(word);
        return words;
    }
    if (type == u"object"_s)
        return structuredAnswer(schema, prompt);
    return QString(u"about: "_s + prompt.left(40));
}

} // namespace

QJsonObject structuredAnswer(const QJsonObject &schema, const QString &prompt)
{
    QJsonObject answer;
    const QJsonObject properties = schema.value(u"properties"_s).toObject();
    for (auto it = properties.begin(); it != properties.end(); ++it)
        answer.insert(it.key(), valueFor(it.value().toObject(), prompt));
    return answer;
}

StructuredFault structuredFault(const QString &prompt, int attempt)
{
    static const QRegularExpression marker(uR"(\[\[json:(notjson|mismatch)(?:\*(\d+))?\]\])"_s);
    const QRegularExpressionMatch match = marker.match(prompt);
    if (!match.hasMatch() || (match.hasCaptured(2) && attempt > match.captured(2).toInt()))
        return StructuredFault::None;
    return match.captured(1) == u"notjson"_s ? StructuredFault::NotJson : StructuredFault::Mismatch;
}

QString structuredAnswerText(const QJsonObject &schema, const QString &prompt, int attempt)
{
    QJsonObject answer = structuredAnswer(schema, prompt);
    switch (structuredFault(prompt, attempt)) {
    case StructuredFault::NotJson:
        return u"Sure! Here is the answer: "_s + prompt.left(20);
    case StructuredFault::Mismatch: {
        const QJsonArray required = schema.value(u"required"_s).toArray();
        answer.remove(required.isEmpty() ? answer.keys().value(0) : required.first().toString());
        break;
    }
    case StructuredFault::None:
        break;
    }
    return QString::fromUtf8(QJsonDocument(answer).toJson(QJsonDocument::Compact));
}

QJsonObject openAiRequestedSchema(const QJsonObject &body)
{
    const QJsonObject format = body.value(u"response_format"_s).toObject();
    const QString type = format.value(u"type"_s).toString();
    if (type == u"json_schema"_s)
        return format.value(u"json_schema"_s).toObject().value(u"schema"_s).toObject();
    if (type != u"json_object"_s)
        return {};
    for (const QJsonValue &message : body.value(u"messages"_s).toArray()) {
        const QJsonObject object = message.toObject();
        if (object.value(u"role"_s).toString() == u"system"_s)
            return QJsonDocument::fromJson(
                       object.value(u"content"_s).toString().section(u'\n', -1).toUtf8())
                .object();
    }
    return {};
}

} // namespace bd::testing
