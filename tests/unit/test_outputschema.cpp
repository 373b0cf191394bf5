// Structured answers' schemas (ingest/outputschema.h): reading a schema with errors that
// name the file, line and field; the fields in the schema's own order; the wizard's fields
// built into a strict schema; answers checked by valijson with messages that say why.
#include "ingest/outputschema.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::ingest::FieldKind;
using bd::ingest::OutputField;
using bd::ingest::OutputSchema;

namespace {

// Properties in anything but alphabetical order: the order must survive.
const QByteArray kReviewSchema = R"({
  "type": "object",
  "properties": {
    "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    "stars": {"type": "integer"},
    "refund": {"type": "boolean"},
    "topics": {"type": "array", "items": {"type": "string"}},
    "summary": {"type": "string"},
    "extra": {"type": "object", "properties": {"a": {"type": "string"}}}
  },
  "required": ["sentiment", "confidence"]
})";

OutputSchema reviewSchema()
{
    QString error;
    const auto schema = OutputSchema::parse(kReviewSchema, u"review.json"_s, &error);
    if (!schema)
        qFatal("%s", qPrintable(error));
    return *schema;
}

} // namespace

class TestOutputSchema : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void fieldsKeepTheSchemasOrder();
    void badSchemasNameFileLineAndField_data();
    void badSchemasNameFileLineAndField();
    void fieldsBuildAStrictSchema();
    void badFieldsAreNamed();
    void strictness();
    void validAnswers();
    void invalidAnswersSayWhy_data();
    void invalidAnswersSayWhy();
    void fieldValues();
};

void TestOutputSchema::fieldsKeepTheSchemasOrder()
{
    const OutputSchema schema = reviewSchema();
    QCOMPARE(schema.fieldNames(),
             (QStringList{u"sentiment"_s, u"confidence"_s, u"stars"_s, u"refund"_s, u"topics"_s,
                          u"summary"_s, u"extra"_s}));
    const QList<FieldKind> kinds{FieldKind::Choice, FieldKind::Number,   FieldKind::Integer,
                                 FieldKind::YesNo,  FieldKind::TextList, FieldKind::Text,
                                 FieldKind::Other};
    for (qsizetype i = 0; i < kinds.size(); ++i)
        QCOMPARE(schema.fields().at(i).kind, kinds.at(i));
    QCOMPARE(schema.fields().at(0).choices,
             (QStringList{u"positive"_s, u"neutral"_s, u"negative"_s}));
    // Compact, and still in the file's order (Qt's objects would sort "confidence" first).
    QVERIFY(!schema.text().contains('\n') && !schema.text().contains(": "));
    QVERIFY(schema.text().indexOf("\"sentiment\"") < schema.text().indexOf("\"confidence\""));
    QCOMPARE(QJsonDocument::fromJson(schema.text()).object(), schema.json());
}

void TestOutputSchema::badSchemasNameFileLineAndField_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QString>("expected");
    QTest::newRow("not JSON") << QByteArray("{\n  \"type\": \"object\",\n  \"properties\": {\n}}x")
                              << u"s.json line 4: not JSON"_s;
    QTest::newRow("missing comma") << QByteArray("{\n\"type\": \"object\"\n\"properties\": {}}")
                                   << u"s.json line 3: not JSON"_s;
    QTest::newRow("an array") << QByteArray("[]")
                              << u"s.json: a JSON Schema must be a JSON object"_s;
    QTest::newRow("not an object schema")
        << QByteArray(R"({"type": "string"})") << u"s.json: the top level must be"_s;
    QTest::newRow("no properties")
        << QByteArray(R"({"type": "object"})") << u"s.json: the top level has no \"properties\""_s;
    QTest::newRow("property not a schema")
        << QByteArray(R"({"properties": {"label": 5}})")
        << u"s.json: property 'label': its schema must be a JSON object"_s;
    QTest::newRow("unusable keyword")
        << QByteArray(R"({"properties": {"label": {"type": "string", "minLength": "x"}}})")
        << u"s.json: not a usable JSON Schema"_s;
}

void TestOutputSchema::badSchemasNameFileLineAndField()
{
    QFETCH(QByteArray, text);
    QFETCH(QString, expected);
    QString error;
    QVERIFY(!OutputSchema::parse(text, u"s.json"_s, &error));
    QVERIFY2(error.startsWith(expected), qPrintable(error));
}

void TestOutputSchema::fieldsBuildAStrictSchema()
{
    QString error;
    const auto schema = OutputSchema::fromFields(
        {{u"label"_s, FieldKind::Choice, {u"positive"_s, u" negative "_s, u""_s}, u"The mood"_s},
         {u"score"_s, FieldKind::Number, {}, {}},
         {u"count"_s, FieldKind::Integer, {}, {}},
         {u"urgent"_s, FieldKind::YesNo, {}, {}},
         {u"tags"_s, FieldKind::TextList, {}, {}},
         {u"note"_s, FieldKind::Text, {}, {}}},
        &error);
    QVERIFY2(schema, qPrintable(error));
    QVERIFY(schema->isStrict());
    QCOMPARE(schema->fieldNames(),
             (QStringList{u"label"_s, u"score"_s, u"count"_s, u"urgent"_s, u"tags"_s, u"note"_s}));
    const QJsonObject json = schema->json();
    QCOMPARE(json.value(u"required"_s).toArray().size(), 6);
    QCOMPARE(json.value(u"additionalProperties"_s), QJsonValue(false));
    const QJsonObject label = json.value(u"properties"_s).toObject().value(u"label"_s).toObject();
    QCOMPARE(label.value(u"enum"_s).toArray(), (QJsonArray{u"positive"_s, u"negative"_s}));
    QCOMPARE(label.value(u"description"_s).toString(), u"The mood"_s);
    // Read back, each field is of the kind it was made as.
    const QList<FieldKind> kinds{FieldKind::Choice, FieldKind::Number,   FieldKind::Integer,
                                 FieldKind::YesNo,  FieldKind::TextList, FieldKind::Text};
    for (qsizetype i = 0; i < kinds.size(); ++i)
        QCOMPARE(schema->fields().at(i).kind, kinds.at(i));
}

void TestOutputSchema::badFieldsAreNamed()
{
    QString error;
    QVERIFY(!OutputSchema::fromFields({}, &error));
    QVERIFY(error.contains(u"at least one"_s));
    QVERIFY(!OutputSchema::fromFields(
        {{u"a"_s, FieldKind::Text, {}, {}}, {u" "_s, FieldKind::Text, {}, {}}}, &error));
    QCOMPARE(error, u"field 2 has no name"_s);
    QVERIFY(!OutputSchema::fromFields(
        {{u"a"_s, FieldKind::Text, {}, {}}, {u"a"_s, FieldKind::Number, {}, {}}}, &error));
    QCOMPARE(error, u"field 'a' is named twice"_s);
    QVERIFY(!OutputSchema::fromFields({{u"mood"_s, FieldKind::Choice, {u" "_s}, {}}}, &error));
    QCOMPARE(error, u"field 'mood': list the values it may take"_s);
}

void TestOutputSchema::strictness()
{
    QVERIFY(!reviewSchema().isStrict()); // optional fields, other properties allowed
    QString error;
    const auto nested = OutputSchema::parse(
        R"({"type":"object","additionalProperties":false,"required":["a"],
            "properties":{"a":{"type":"object","properties":{"b":{"type":"string"}}}}})",
        u"n.json"_s, &error);
    QVERIFY2(nested, qPrintable(error));
    QVERIFY(!nested->isStrict()); // the inner object is not closed
}

void TestOutputSchema::validAnswers()
{
    const OutputSchema schema = reviewSchema();
    QJsonObject object;
    QString why;
    QVERIFY2(schema.validate(u"{\"sentiment\":\"negative\",\"confidence\":0.9,\"stars\":2}"_s,
                             &object, &why),
             qPrintable(why));
    QCOMPARE(object.value(u"stars"_s).toInt(), 2);
    // A code fence some servers add in JSON mode is dropped.
    QVERIFY2(schema.validate(u"```json\n{\"sentiment\":\"neutral\",\"confidence\":1}\n```"_s,
                             nullptr, &why),
             qPrintable(why));
}

void TestOutputSchema::invalidAnswersSayWhy_data()
{
    QTest::addColumn<QString>("answer");
    QTest::addColumn<QString>("expected");
    QTest::newRow("prose") << u"The review is negative."_s << u"the answer is not JSON"_s;
    QTest::newRow("cut short") << u"{\"sentiment\":\"neg"_s << u"the answer is not JSON"_s;
    QTest::newRow("an array") << u"[1]"_s << u"the answer is JSON but not an object"_s;
    QTest::newRow("not in the list")
        << u"{\"sentiment\":\"angry\",\"confidence\":0.5}"_s << u"field 'sentiment'"_s;
    QTest::newRow("missing required") << u"{\"sentiment\":\"positive\"}"_s << u"confidence"_s;
    QTest::newRow("wrong type") << u"{\"sentiment\":\"positive\",\"confidence\":\"high\"}"_s
                                << u"field 'confidence'"_s;
    QTest::newRow("out of range") << u"{\"sentiment\":\"positive\",\"confidence\":7}"_s
                                  << u"field 'confidence'"_s;
    QTest::newRow("not whole") << u"{\"sentiment\":\"positive\",\"confidence\":1,\"stars\":2.5}"_s
                               << u"field 'stars'"_s;
}

void TestOutputSchema::invalidAnswersSayWhy()
{
    QFETCH(QString, answer);
    QFETCH(QString, expected);
    QString why;
    QVERIFY(!reviewSchema().validate(answer, nullptr, &why));
    QVERIFY2(why.contains(expected), qPrintable(why));
}

void TestOutputSchema::fieldValues()
{
    const OutputSchema schema = reviewSchema();
    const QList<QJsonValue> values = schema.fieldValues(
        u"{\"topics\":[\"price\"],\"sentiment\":\"positive\",\"refund\":false,\"confidence\":0.5}"_s);
    QCOMPARE(values.size(), 7);
    QCOMPARE(values.at(0).toString(), u"positive"_s);
    QCOMPARE(values.at(1).toDouble(), 0.5);
    QVERIFY(values.at(2).isUndefined());
    QCOMPARE(values.at(3), QJsonValue(false));
    QCOMPARE(values.at(4).toArray(), QJsonArray{u"price"_s});
    // An unfinished task's empty output: every field empty.
    for (const QJsonValue &value : schema.fieldValues(QString()))
        QVERIFY(value.isUndefined());
}

QTEST_APPLESS_MAIN(TestOutputSchema)
#include "test_outputschema.moc"
