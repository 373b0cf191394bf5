// The alerts page shows each alert's title and stored figures in words, raised and
// cleared, from a real database through the engine facade, and links each alert about
// tasks to them (Show tasks, double-click).
#include "alertspage.h"
#include "api/engine.h"
#include "store/sqlite/sqlitestore.h"

#include <QPushButton>
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
        QCOMPARE(table->item(0, AlertsPage::KindColumn)->text(), u"Waiting too long at 1 · now"_s);
        QVERIFY(table->item(0, AlertsPage::KindColumn)->toolTip().contains(u"(priority1_wait)"_s));
        QCOMPARE(table->item(0, AlertsPage::FiguresColumn)->text(),
                 u"oldest priority-1 task waiting 7 min > 5 min; at clearing 12 s"_s);
        QVERIFY(table->item(0, AlertsPage::ClearedColumn)->text() != u"open"_s);
        QCOMPARE(table->item(1, AlertsPage::KindColumn)->text(), u"Error rate high"_s);
        QCOMPARE(table->item(1, AlertsPage::FiguresColumn)->text(),
                 u"error rate 7.4 % > 5 % over 10 min (37 of 500 calls)"_s);
        QCOMPARE(table->item(1, AlertsPage::ClearedColumn)->text(), u"open"_s);
        QCOMPARE(page.openAlerts(), 1);
    }

    // Show tasks and a double-click ask for the tasks an alert is about: the leading error
    // class of an error rate, the pending tasks of a waiting priority, a job's tasks by
    // cost for its budget; an alert about nothing in particular has nothing to show.
    void alertsLinkToTheirTasks()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString db = dir.filePath(u"links.db"_s);
        const qint64 t0 = 1'800'000'000'000;
        {
            bd::store::SqliteStore store(db);
            QVERIFY2(store.isOpen(), qPrintable(store.errorString()));
            QVERIFY(store.raiseAlert(
                0, u"error_rate_high"_s, u"error rate 12%"_s, t0,
                QJsonObject{
                    {u"value"_s, 0.12},
                    {u"threshold"_s, 0.05},
                    {u"by_class"_s, QJsonObject{{u"timeout"_s, 4.0}, {u"server_error"_s, 9.0}}}}));
            QVERIFY(store.raiseAlert(0, u"priority2_wait"_s, u"a priority-2 task waits"_s,
                                     t0 + 1000,
                                     QJsonObject{{u"value"_s, 4000.0}, {u"threshold"_s, 3600.0}}));
            QVERIFY(store.raiseAlert(7, u"budget_80"_s, u"job 7 spent $8.00 of $10.00"_s, t0 + 2000,
                                     QJsonObject{{u"value"_s, 8.0}, {u"threshold"_s, 10.0}}));
            QVERIFY(store.raiseAlert(0, u"something_new"_s, u"a kind the console does not know"_s,
                                     t0 + 3000, QJsonObject()));
        }
        bd::EngineOptions options;
        options.database = db;
        auto engine = bd::createEngine(options);
        QSignalSpy opened(engine.get(), &bd::Engine::opened);
        engine->open();
        QVERIFY(opened.wait(10'000));

        AlertsPage page(engine.get());
        page.resize(1400, 400);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        page.reload();
        QTRY_COMPARE(page.table()->rowCount(), 4);
        QTableWidget *table = page.table();
        // Newest first.
        QCOMPARE(table->item(0, AlertsPage::KindColumn)->text(), u"Something new"_s);
        QCOMPARE(table->item(1, AlertsPage::KindColumn)->text(), u"Job budget 80 % used"_s);
        QCOMPARE(table->item(2, AlertsPage::KindColumn)->text(),
                 u"Waiting too long at 2 · within the hour"_s);
        QCOMPARE(table->item(3, AlertsPage::KindColumn)->text(), u"Error rate high"_s);

        QSignalSpy asked(&page, &AlertsPage::showTasksRequested);
        QVERIFY(!page.showTasksButton()->isEnabled()); // nothing chosen yet
        table->setCurrentCell(0, 0);
        QVERIFY(!page.showTasksButton()->isEnabled()); // about no task
        table->setCurrentCell(3, 0);
        QVERIFY(page.showTasksButton()->isEnabled());
        QVERIFY(page.showTasksButton()->toolTip().contains(u"server_error"_s));
        QTest::mouseClick(page.showTasksButton(), Qt::LeftButton);
        QCOMPARE(asked.count(), 1);
        auto filter = asked.at(0).at(0).value<bd::TaskFilter>();
        QCOMPARE(filter.jobId, 0);
        QCOMPARE(filter.errorClass, u"server_error"_s); // the class most failures had
        QCOMPARE(filter.state, -1);

        const auto doubleClick = [&](int row) {
            const QRect cell = table->visualItemRect(table->item(row, AlertsPage::MessageColumn));
            // A press first: the view double-clicks only the row it was pressed on.
            QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, cell.center());
            QTest::mouseDClick(table->viewport(), Qt::LeftButton, {}, cell.center());
        };
        doubleClick(2);
        QCOMPARE(asked.count(), 2);
        filter = asked.at(1).at(0).value<bd::TaskFilter>();
        QCOMPARE(filter.state, int(bd::TaskState::Pending));
        QCOMPARE(filter.priority, 2);
        QCOMPARE(asked.at(1).at(1).value<bd::TaskOrder>(), bd::TaskOrder{});

        doubleClick(1);
        QCOMPARE(asked.count(), 3);
        filter = asked.at(2).at(0).value<bd::TaskFilter>();
        QCOMPARE(filter.jobId, 7);
        const auto order = asked.at(2).at(1).value<bd::TaskOrder>();
        QCOMPARE(order.key, bd::TaskSortKey::Cost);
        QVERIFY(order.descending);

        doubleClick(0); // nothing to show: no request
        QCOMPARE(asked.count(), 3);
    }
};

QTEST_MAIN(TestGuiAlertsPage)
#include "test_gui_alertspage.moc"
