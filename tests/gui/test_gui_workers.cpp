// The Workers page: every engine on the database shows with its heartbeat — here the
// window's own engine and a second engine on the same SQLite file standing for a
// `batchctl worker` in another process — and the page reads only while it is shown. An
// engine that stopped (a `batchctl run` that finished) reads "stopped", not alive.

#include "api/engine.h"
#include "workerspage.h"

#include <QCoreApplication>
#include <QFile>
#include <QLabel>
#include <QProcess>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ui::WorkersPage;

class TestGuiWorkers : public QObject
{
    Q_OBJECT

private:
    static std::unique_ptr<bd::Engine> openEngine(const QString &db, const QString &workerId)
    {
        bd::EngineOptions options;
        options.database = db;
        options.workerId = workerId;
        auto engine = bd::createEngine(options);
        QSignalSpy opened(engine.get(), &bd::Engine::opened);
        engine->open();
        if (!opened.wait(10'000) || !opened.at(0).at(0).toBool())
            qWarning("engine %s did not open", qPrintable(workerId));
        return engine;
    }

private Q_SLOTS:
    void showsEveryEngineOnTheDatabase()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString db = dir.filePath(u"jobs.sqlite"_s);
        auto window = openEngine(db, u"desk-host:101:aaaa"_s);
        auto other = openEngine(db, u"farm-7:4242:bbbb"_s);

        WorkersPage page(window.get());
        QSignalSpy listed(window.get(), &bd::Engine::workersListed);
        page.show();
        QTRY_COMPARE_WITH_TIMEOUT(page.table()->rowCount(), 2, 10'000);
        // Both engines live in this process: the registry's host and pid are the same, the
        // worker ids (in the tooltip) tell them apart, and only the window's says so.
        QStringList ids;
        int thisWindow = 0;
        for (int row = 0; row < 2; ++row) {
            const QTableWidgetItem *item = page.table()->item(row, WorkersPage::WorkerColumn);
            ids.append(item->toolTip());
            if (item->text().endsWith(u" · this window"_s)) {
                ++thisWindow;
                QCOMPARE(item->toolTip(), u"desk-host:101:aaaa"_s);
            }
            QVERIFY2(item->text().contains(u", pid %1"_s.arg(QCoreApplication::applicationPid())),
                     qPrintable(item->text()));
        }
        ids.sort();
        QCOMPARE(ids, (QStringList{u"desk-host:101:aaaa"_s, u"farm-7:4242:bbbb"_s}));
        QCOMPARE(thisWindow, 1);
        QVERIFY2(page.summary()->text().startsWith(u"2 workers alive"_s), qPrintable(page.summary()->text()));
        for (int row = 0; row < 2; ++row)
            QVERIFY(page.table()->item(row, WorkersPage::HeartbeatColumn)->text().endsWith(u"ago"_s));

        // Hidden, it asks nothing more.
        page.hide();
        listed.clear();
        QTest::qWait(2'500);
        QVERIFY(listed.isEmpty());
    }

    void aFinishedRunReadsStoppedNotAlive()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString db = dir.filePath(u"jobs.sqlite"_s);
        const QString csv = dir.filePath(u"rows.csv"_s);
        {
            QFile file(csv);
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write("id,text\n1,one\n2,two\n3,three\n");
        }
        auto window = openEngine(db, u"desk-host:101:aaaa"_s);
        WorkersPage page(window.get());
        page.show();

        // Another process runs a job to its end while the page is open.
        QProcess run;
        run.start(QStringLiteral(BATCHCTL_PATH),
                  {u"run"_s, csv, u"--template"_s, u"{{text}}"_s, u"--db"_s, db});
        QVERIFY(run.waitForFinished(60'000));
        QCOMPARE(run.exitCode(), 0);

        // Its row stays (its figures are worth seeing) but says it stopped, shows no pace,
        // and the summary does not count it alive.
        const auto rowOfTheRun = [&]() -> int {
            for (int row = 0; row < page.table()->rowCount(); ++row) {
                if (!page.table()
                         ->item(row, WorkersPage::WorkerColumn)
                         ->text()
                         .endsWith(u" · this window"_s))
                    return row;
            }
            return -1;
        };
        QTRY_VERIFY_WITH_TIMEOUT(rowOfTheRun() >= 0, 10'000);
        const int row = rowOfTheRun();
        QTRY_VERIFY_WITH_TIMEOUT(page.table()
                                     ->item(rowOfTheRun(), WorkersPage::HeartbeatColumn)
                                     ->text()
                                     .startsWith(u"stopped"_s),
                                 10'000);
        QCOMPARE(page.table()->item(row, WorkersPage::RateColumn)->text(), u"–"_s);
        QCOMPARE(page.table()->item(row, WorkersPage::CompletedColumn)->text(), u"3"_s);
        QVERIFY2(page.summary()->text().startsWith(u"1 worker alive"_s) &&
                     page.summary()->text().contains(u"1 stopped"_s),
                 qPrintable(page.summary()->text()));
    }
};

QTEST_MAIN(TestGuiWorkers)
#include "test_gui_workers.moc"
