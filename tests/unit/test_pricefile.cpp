// PriceFile: the built-in price table with the user's override file over it; saving an
// override is checked before it is written and written atomically.

#include "cost/pricefile.h"

#include <QFile>
#include <QJsonDocument>
#include <QTemporaryDir>
#include <QTest>

using bd::cost::PriceFile;
using bd::cost::PriceTable;
using namespace Qt::StringLiterals;

namespace {

QByteArray readAll(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

bool writeAll(const QString &path, const QByteArray &bytes)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(bytes) == bytes.size();
}

} // namespace

class TestPriceFile : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init() { QVERIFY(m_dir.isValid()); }
    void withoutOverrideTheBuiltInTable();
    void listShowsEveryField();
    void savedOverridesAreReadBack();
    void invalidOverridesAreNotWritten();
    void aBrokenOverrideFileIsIgnoredWhole();
    void noOverridePathConfigured();

private:
    QTemporaryDir m_dir;
};

void TestPriceFile::withoutOverrideTheBuiltInTable()
{
    PriceFile prices(m_dir.filePath(u"absent/prices.json"_s));
    QVERIFY(prices.table().models().isEmpty()); // nothing until loaded
    QString error;
    QVERIFY(prices.load(&error));
    QVERIFY(error.isEmpty());
    QCOMPARE(prices.table().models().size(), PriceTable::builtIn().models().size());
    QVERIFY(prices.table().price(u"gpt-4o-mini"_s));
}

void TestPriceFile::listShowsEveryField()
{
    PriceFile prices;
    QVERIFY(prices.load(nullptr));
    const QJsonObject models = prices.list();
    QCOMPARE(models.size(), PriceTable::builtIn().models().size());
    const QJsonObject entry = models.value(u"gpt-4o-mini"_s).toObject();
    for (const QString &key : {u"input"_s, u"cached_input"_s, u"cache_write"_s, u"cache_write_1h"_s,
                               u"output"_s, u"batch_discount"_s, u"simulated"_s, u"date"_s, u"source"_s})
        QVERIFY2(entry.contains(key), qPrintable(key));
    QCOMPARE(entry.value(u"input"_s).toDouble(), PriceTable::builtIn().price(u"gpt-4o-mini"_s)->input);
}

void TestPriceFile::savedOverridesAreReadBack()
{
    const QString path = m_dir.filePath(u"config/prices.json"_s); // folder made on save
    PriceFile prices(path);
    QVERIFY(prices.load(nullptr));
    const QJsonObject entries{
        {u"my-model"_s, QJsonObject{{u"input"_s, 1.5}, {u"output"_s, 6.0}}},
        {u"gpt-4o-mini"_s, QJsonObject{{u"input"_s, 0.2}, {u"output"_s, 0.9}}},
    };
    QString error;
    QVERIFY2(prices.saveOverrides(entries, QDate(2025, 6, 1), &error), qPrintable(error));
    const QJsonObject written = QJsonDocument::fromJson(readAll(path)).object();
    QCOMPARE(written.value(u"date"_s).toString(), u"2025-06-01"_s);
    QCOMPARE(written.value(u"models"_s).toObject(), entries);

    // Saving does not reload: the owner says when.
    QVERIFY(!prices.table().price(u"my-model"_s));
    QVERIFY(prices.load(&error));
    QCOMPARE(prices.table().price(u"my-model"_s)->output, 6.0);
    QCOMPARE(prices.table().price(u"gpt-4o-mini"_s)->input, 0.2);
    QCOMPARE(prices.table().price(u"gpt-4o-mini"_s)->source, path);
    QCOMPARE(prices.table().price(u"gpt-4o-mini"_s)->date, u"2025-06-01"_s);
    QVERIFY(prices.table().price(u"gpt-4o"_s)); // the rest stays built in
}

void TestPriceFile::invalidOverridesAreNotWritten()
{
    const QString path = m_dir.filePath(u"prices.json"_s);
    PriceFile prices(path);
    QVERIFY(prices.saveOverrides({{u"good"_s, QJsonObject{{u"input"_s, 1.0}, {u"output"_s, 2.0}}}},
                                 QDate(2025, 1, 1), nullptr));
    const QByteArray before = readAll(path);
    QString error;
    QVERIFY(!prices.saveOverrides({{u"bad"_s, QJsonObject{{u"input"_s, -1.0}, {u"output"_s, 2.0}}}},
                                  QDate(2025, 2, 1), &error));
    QVERIFY(error.contains(u"bad"_s));
    QVERIFY(!prices.saveOverrides({{u"half"_s, QJsonObject{{u"input"_s, 1.0}}}}, QDate(2025, 2, 1), &error));
    QVERIFY(error.contains(u"needs at least input and output"_s));
    QCOMPARE(readAll(path), before); // the readable file stays as it was
}

void TestPriceFile::aBrokenOverrideFileIsIgnoredWhole()
{
    const QString path = m_dir.filePath(u"broken.json"_s);
    QVERIFY(writeAll(path, R"({"models": {"gpt-4o-mini": {"input": 9, "output": 9}, "x": 3}})"));
    PriceFile prices(path);
    QString error;
    QVERIFY(!prices.load(&error));
    QVERIFY(error.contains(path));
    // Neither half of it is used.
    QCOMPARE(prices.table().price(u"gpt-4o-mini"_s)->input, PriceTable::builtIn().price(u"gpt-4o-mini"_s)->input);
    QVERIFY(!prices.table().price(u"x"_s));
}

void TestPriceFile::noOverridePathConfigured()
{
    PriceFile prices;
    QString error;
    QVERIFY(!prices.saveOverrides({}, QDate(2025, 1, 1), &error));
    QCOMPARE(error, u"no price override file is configured"_s);
}

QTEST_GUILESS_MAIN(TestPriceFile)
#include "test_pricefile.moc"
