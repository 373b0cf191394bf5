// The alerts page shows each alert's stored figures in words, raised and cleared, from a
// real database through the engine facade.
#include "alertspage.h"
#include "api/engine.h"
#include "store/sqlite/sqlitestore.h"

#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ui::AlertsPage;

class TestGuiAlertsPage final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void figuresColumnReadsAsWords()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString db = dir.filePath(u"alerts.db"_s);
        const qint64 t0 = 1'800'000'000'000;
        {
            bd::store::SqliteStore store(db);
            QVERIFY2(store.isOpen(), qPrintable(store.errorString()));
            QVERIFY(store.raiseAlert(0, u"error_rate_high"_s, u"error rate 7.4%"_s, t0,
                                     QJsonObject{{u"value"_s, 0.074},
                                                 {u"threshold"_s, 0.05},
                                                 {u"window_s"_s, 600.0},
                                                 {u"failures"_s, 37.0},
                                                 {u"attempts"_s, 500.0}}));
            QVERIFY(store.raiseAlert(
                0, u"priority1_wait"_s, u"a priority-1 task waits"_s, t0 + 1000,
                QJsonObject{{u"value"_s, 420.0}, {u"threshold"_s, 300.0}, {u"priority"_s, 1}}));
            QVERIFY(store.clearAlerts(0, u"priority1_wait"_s, t0 + 2000,
                                      QJsonObject{{u"value"_s, 12.0}, {u"threshold"_s, 300.0}}));
        }

        bd::EngineOptions options;
        options.database = db;
        auto engineOwner = bd::createEngine(options);
        bd::Engine &engine = *engineOwner;
        QSignalSpy opened(&engine, &bd::Engine::opened);
        engine.open();
        QVERIFY(opened.wait(10'000));
        QVERIFY(opened.constFirst().at(0).toBool());

        AlertsPage page(&engine);
        QSignalSpy listed(&engine, &bd::Engine::alertsListed);
        page.resize(1400, 400);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        page.reload();
        QVERIFY(listed.wait(10'000));
        QTRY_COMPARE(page.table()->rowCount(), 2);

        const QTableWidget *table = page.table();
        QCOMPARE(table->horizontalHeaderItem(AlertsPage::FiguresColumn)->text(), u"Figures"_s);
        // Newest first: the cleared wait alert, then the open error-rate one.
        QCOMPARE(table->item(0, AlertsPage::KindColumn)->text(), u"priority1_wait"_s);
        QCOMPARE(table->item(0, AlertsPage::FiguresColumn)->text(),
                 u"oldest priority-1 task waiting 7 min > 5 min; at clearing 12 s"_s);
        QVERIFY(table->item(0, AlertsPage::ClearedColumn)->text() != u"open"_s);
        QCOMPARE(table->item(1, AlertsPage::KindColumn)->text(), u"error_rate_high"_s);
        QCOMPARE(table->item(1, AlertsPage::FiguresColumn)->text(),
                 u"error rate 7.4 % > 5 % over 10 min (37 of 500 calls)"_s);
        QCOMPARE(table->item(1, AlertsPage::ClearedColumn)->text(), u"open"_s);
        QCOMPARE(page.openAlerts(), 1);
    }
};

QTEST_MAIN(TestGuiAlertsPage)
#include "test_gui_alertspage.moc"
