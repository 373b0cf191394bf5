#include "ingest/prompttemplate.h"

#include "../support/sanitizerbuild.h"

#include <QElapsedTimer>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::ingest::PromptTemplate;

class TestPromptTemplate : public QObject
{
    Q_OBJECT

private slots:
    void parse_data();
    void parse();
    void render_data();
    void render();
    void bindReportsEveryUnknownPlaceholder();
    void bindFailsOnSyntaxError();
    void bindWithoutError();
    void renderBeforeBindIsEmpty();
    void missingValuesRenderEmpty();
    void rebindToAnotherHeader();
    void renderIsFast();
};

void TestPromptTemplate::parse_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("placeholders");
    QTest::addColumn<QString>("syntaxError");
    QTest::addColumn<QString>("staticPrefix");

    QTest::newRow("plain text") << u"Summarize the review."_s << QStringList{} << QString()
                                << u"Summarize the review."_s;
    QTest::newRow("empty") << QString() << QStringList{} << QString() << QString();
    QTest::newRow("one") << u"Review: {{review}}"_s << QStringList{u"review"_s} << QString()
                         << u"Review: "_s;
    QTest::newRow("whitespace trimmed")
        << u"A {{ review }} B {{\tid\n}}"_s << QStringList{u"review"_s, u"id"_s} << QString()
        << u"A "_s;
    QTest::newRow("duplicates once")
        << u"{{a}}{{b}}{{a}}"_s << QStringList{u"a"_s, u"b"_s} << QString() << QString();
    QTest::newRow("placeholder first")
        << u"{{id}}: text"_s << QStringList{u"id"_s} << QString() << QString();
    QTest::newRow("lone braces literal")
        << u"Return {\"x\": 1} or } or { {{a}}"_s << QStringList{u"a"_s} << QString()
        << u"Return {\"x\": 1} or } or { "_s;
    QTest::newRow("json around placeholder")
        << u"{\"text\": {{t}}}"_s << QStringList{u"t"_s} << QString() << u"{\"text\": "_s;
    QTest::newRow("triple braces") << u"x{{{v}}}"_s << QStringList{u"v"_s} << QString() << u"x{"_s;
    QTest::newRow("name with spaces")
        << u"{{ first name }}"_s << QStringList{u"first name"_s} << QString() << QString();
    QTest::newRow("unclosed") << u"Hello {{name"_s << QStringList{}
                              << u"unclosed \"{{\" at line 1, column 7"_s << QString();
    QTest::newRow("unclosed second line") << u"{{a}} ok\nbad {{b} and }"_s << QStringList{}
                                          << u"unclosed \"{{\" at line 2, column 5"_s << QString();
    QTest::newRow("unclosed before next") << u"{{ a {{ b }}"_s << QStringList{}
                                          << u"unclosed \"{{\" at line 1, column 1"_s << QString();
    QTest::newRow("empty name") << u"x {{}} y"_s << QStringList{}
                                << u"empty placeholder \"{{}}\" at line 1, column 3"_s << QString();
    QTest::newRow("blank name") << u"line\n  {{   }}"_s << QStringList{}
                                << u"empty placeholder \"{{}}\" at line 2, column 3"_s << QString();
}

void TestPromptTemplate::parse()
{
    QFETCH(QString, text);
    QFETCH(QStringList, placeholders);
    QFETCH(QString, syntaxError);
    QFETCH(QString, staticPrefix);

    const PromptTemplate prompt(text);
    QCOMPARE(prompt.text(), text);
    QCOMPARE(prompt.syntaxError(), syntaxError);
    QCOMPARE(prompt.placeholders(), placeholders);
    QCOMPARE(prompt.staticPrefix(), staticPrefix);
}

void TestPromptTemplate::render_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QStringList>("header");
    QTest::addColumn<QStringList>("values");
    QTest::addColumn<QString>("expected");

    const QStringList header{u"id"_s, u"review"_s, u"lang"_s};
    QTest::newRow("literal only") << u"Same for all"_s << header
                                  << QStringList{u"1"_s, u"x"_s, u"en"_s} << u"Same for all"_s;
    QTest::newRow("two columns") << u"Translate to {{lang}}:\n{{ review }}"_s << header
                                 << QStringList{u"1"_s, u"Très bien"_s, u"de"_s}
                                 << u"Translate to de:\nTrès bien"_s;
    QTest::newRow("repeated") << u"{{id}}-{{id}}"_s << header << QStringList{u"7"_s, u""_s, u""_s}
                              << u"7-7"_s;
    QTest::newRow("values with braces are not expanded")
        << u"<{{review}}>"_s << header << QStringList{u"1"_s, u"{{id}}"_s, u"en"_s}
        << u"<{{id}}>"_s;
    QTest::newRow("adjacent") << u"{{lang}}{{id}}"_s << header
                              << QStringList{u"1"_s, u"r"_s, u"fr"_s} << u"fr1"_s;
    QTest::newRow("json") << u"{\"id\": {{id}}, \"t\": \"{{review}}\"}"_s << header
                          << QStringList{u"3"_s, u"ok"_s, u"en"_s}
                          << u"{\"id\": 3, \"t\": \"ok\"}"_s;
    QTest::newRow("empty value") << u"[{{review}}]"_s << header
                                 << QStringList{u"1"_s, QString(), u"en"_s} << u"[]"_s;
}

void TestPromptTemplate::render()
{
    QFETCH(QString, text);
    QFETCH(QStringList, header);
    QFETCH(QStringList, values);
    QFETCH(QString, expected);

    PromptTemplate prompt(text);
    QString error = u"stale"_s;
    QVERIFY(prompt.bind(header, &error));
    QCOMPARE(error, QString());
    QCOMPARE(prompt.render(values), expected);
}

void TestPromptTemplate::bindReportsEveryUnknownPlaceholder()
{
    PromptTemplate prompt(u"{{revew}} {{id}} {{nme}} {{revew}}"_s);
    QString error;
    QVERIFY(!prompt.bind({u"id"_s, u"review"_s, u"name"_s}, &error));
    QCOMPARE(error, u"unknown placeholders {{revew}}, {{nme}}; columns are: id, review, name"_s);
    QCOMPARE(prompt.render({u"1"_s, u"r"_s, u"n"_s}), QString());

    PromptTemplate single(u"Review: {{revew}}"_s);
    QVERIFY(!single.bind({u"id"_s, u"review"_s}, &error));
    QCOMPARE(error, u"unknown placeholder {{revew}}; columns are: id, review"_s);

    PromptTemplate caseMatters(u"{{Review}}"_s);
    QVERIFY(!caseMatters.bind({u"review"_s}, &error));
    QCOMPARE(error, u"unknown placeholder {{Review}}; columns are: review"_s);
}

void TestPromptTemplate::bindFailsOnSyntaxError()
{
    PromptTemplate prompt(u"{{id}} {{oops"_s);
    QString error;
    QVERIFY(!prompt.bind({u"id"_s}, &error));
    QCOMPARE(error, u"unclosed \"{{\" at line 1, column 8"_s);
    QCOMPARE(prompt.render({u"1"_s}), QString());
}

void TestPromptTemplate::bindWithoutError()
{
    PromptTemplate prompt(u"{{missing}}"_s);
    QVERIFY(!prompt.bind({u"id"_s}, nullptr));
    PromptTemplate ok(u"{{id}}"_s);
    QVERIFY(ok.bind({u"id"_s}, nullptr));
    QCOMPARE(ok.render({u"5"_s}), u"5"_s);
}

void TestPromptTemplate::renderBeforeBindIsEmpty()
{
    const PromptTemplate prompt(u"Hello {{name}}"_s);
    QCOMPARE(prompt.render({u"Ada"_s}), QString());
}

void TestPromptTemplate::missingValuesRenderEmpty()
{
    PromptTemplate prompt(u"{{a}}|{{c}}"_s);
    QVERIFY(prompt.bind({u"a"_s, u"b"_s, u"c"_s}, nullptr));
    QCOMPARE(prompt.render({u"x"_s}), u"x|"_s);
}

void TestPromptTemplate::rebindToAnotherHeader()
{
    PromptTemplate prompt(u"{{b}}/{{a}}"_s);
    QVERIFY(prompt.bind({u"a"_s, u"b"_s}, nullptr));
    QCOMPARE(prompt.render({u"1"_s, u"2"_s}), u"2/1"_s);
    QVERIFY(prompt.bind({u"b"_s, u"x"_s, u"a"_s}, nullptr));
    QCOMPARE(prompt.render({u"1"_s, u"2"_s, u"3"_s}), u"1/3"_s);
    QString error;
    QVERIFY(!prompt.bind({u"a"_s}, &error));
    QCOMPARE(prompt.render({u"1"_s}), QString());
}

void TestPromptTemplate::renderIsFast()
{
    PromptTemplate prompt(u"You are a careful annotator. Classify the sentiment of the review "
                          u"as positive, negative or neutral.\nProduct: {{product}}\n"
                          u"Review: {{review}}\nAnswer with one word."_s);
    QVERIFY(prompt.bind({u"id"_s, u"product"_s, u"review"_s}, nullptr));
    const QStringList values{u"42"_s, u"Kettle"_s,
                             u"Boils fast, but the lid is flimsy and the handle gets hot."_s};
    const QString expected = prompt.render(values);
    QVERIFY(expected.startsWith(prompt.staticPrefix()));
    QVERIFY(expected.contains(u"Product: Kettle\nReview: Boils fast"_s));

    constexpr int kRows = 200'000;
    QElapsedTimer timer;
    timer.start();
    qsizetype total = 0;
    for (int i = 0; i < kRows; ++i)
        total += prompt.render(values).size();
    const qint64 ms = timer.elapsed();
    QCOMPARE(total, qsizetype(kRows) * expected.size());
    // Generous bound (about 10x the measured time) so that a loaded machine does not fail.
    QVERIFY2(ms < 2000 * kSanitizerSlowdown,
             qPrintable(u"rendering took "_s + QString::number(ms) + u" ms"_s));
}

QTEST_GUILESS_MAIN(TestPromptTemplate)
#include "test_prompttemplate.moc"
