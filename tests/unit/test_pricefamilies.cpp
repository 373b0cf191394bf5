// Prices for the ids providers really answer with: dated snapshots priced at their family's
// entry, Gemini's models and batch prices in the built-in table, "cost unknown" only for a
// model the table truly lacks.

#include "cost/pricetable.h"

#include <QtTest>

using namespace Qt::StringLiterals;
using bd::cost::PriceTable;

class TestPriceFamilies final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void datedIdsResolveToTheirFamily_data();
    void datedIdsResolveToTheirFamily();
    void exactEntryWinsOverTheFamily();
    void unknownStaysUnknown();
    void geminiPricesAndBatchDiscount();
};

void TestPriceFamilies::datedIdsResolveToTheirFamily_data()
{
    QTest::addColumn<QString>("model");
    QTest::addColumn<QString>("family");
    QTest::newRow("anthropic dated") << u"claude-sonnet-4-5-20250929"_s << u"claude-sonnet-4-5"_s;
    QTest::newRow("anthropic haiku") << u"claude-haiku-4-5-20251001"_s << u"claude-haiku-4-5"_s;
    QTest::newRow("openai dated") << u"gpt-4o-mini-2024-07-18"_s << u"gpt-4o-mini"_s;
    QTest::newRow("openai 4.1") << u"gpt-4.1-2025-04-14"_s << u"gpt-4.1"_s;
    QTest::newRow("gemini version") << u"gemini-2.0-flash-001"_s << u"gemini-2.0-flash"_s;
    QTest::newRow("gemini resource name") << u"models/gemini-2.5-flash"_s << u"gemini-2.5-flash"_s;
    QTest::newRow("gemini preview")
        << u"gemini-2.5-flash-preview-09-2025"_s << u"gemini-2.5-flash"_s;
    QTest::newRow("gemini lite preview")
        << u"gemini-2.5-flash-lite-preview-06-17"_s << u"gemini-2.5-flash-lite"_s;
}

void TestPriceFamilies::datedIdsResolveToTheirFamily()
{
    QFETCH(QString, model);
    QFETCH(QString, family);
    const PriceTable prices = PriceTable::builtIn();
    QCOMPARE(prices.pricedModel(model), family);
    const auto price = prices.price(model);
    QVERIFY(price);
    QCOMPARE(price->family, family);
    QCOMPARE(price->input, prices.price(family)->input);
    bd::Usage usage;
    usage.inputTokens = 1'000'000;
    QCOMPARE(*prices.cost(model, usage, false), *prices.cost(family, usage, false));
}

void TestPriceFamilies::exactEntryWinsOverTheFamily()
{
    PriceTable prices = PriceTable::builtIn();
    QString error;
    QVERIFY2(prices.mergeJson(R"({"models":{"gpt-4o-mini-2024-07-18":{"input":9,"output":9}}})",
                              u"test"_s, &error),
             qPrintable(error));
    QCOMPARE(prices.price(u"gpt-4o-mini-2024-07-18"_s)->input, 9.0);
    QVERIFY(prices.price(u"gpt-4o-mini-2024-07-18"_s)->family.isEmpty());
    QVERIFY(prices.price(u"gpt-4o-mini"_s)->family.isEmpty());
}

void TestPriceFamilies::unknownStaysUnknown()
{
    const PriceTable prices = PriceTable::builtIn();
    for (const QString &model :
         {u"claude-3-5-sonnet-20241022"_s, u"llama3"_s, u"-20250101"_s, u"gemini-9-ultra-001"_s}) {
        QVERIFY2(!prices.price(model), qPrintable(model));
        QVERIFY(!prices.cost(model, bd::Usage{}, false));
    }
}

void TestPriceFamilies::geminiPricesAndBatchDiscount()
{
    const PriceTable prices = PriceTable::builtIn();
    for (const QString &model :
         {u"gemini-3-pro-preview"_s, u"gemini-2.5-pro"_s, u"gemini-2.5-flash"_s,
          u"gemini-2.5-flash-lite"_s, u"gemini-2.0-flash"_s, u"gemini-2.0-flash-lite"_s}) {
        const auto price = prices.price(model);
        QVERIFY2(price, qPrintable(model));
        QCOMPARE(price->batchDiscount, 0.5);
        QVERIFY(price->cachedInput <= price->input);
    }
    const auto flash = *prices.price(u"gemini-2.5-flash"_s);
    QCOMPARE(flash.cacheStoragePerHour, 1.0);
    bd::Usage usage; // a Gemini reply: prompt 1000 of which 400 cached, 50 answer + 30 thoughts
    usage.inputTokens = 600;
    usage.cachedTokens = 400;
    usage.outputTokens = 80;
    const double list = (600 * 0.30 + 400 * 0.03 + 80 * 2.50) / 1e6;
    QVERIFY(qAbs(*prices.cost(u"gemini-2.5-flash"_s, usage, false) - list) < 1e-12);
    QVERIFY(qAbs(*prices.cost(u"gemini-2.5-flash"_s, usage, true) - list / 2) < 1e-12);
}

QTEST_GUILESS_MAIN(TestPriceFamilies)
#include "test_pricefamilies.moc"
