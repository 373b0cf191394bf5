// The console end to end on the offscreen platform: a dropped CSV goes through the import
// wizard into the store, the wizard refuses what it must refuse, and each job action
// changes the store as it says.
#include "deadletterspage.h"
#include "guitestfixture.h"
#include "api/engine.h"
#include "importwizard.h"
#include "jobsmodel.h"
#include "mainwindow.h"
#include "store/sqlite/sqlitestore.h"
#include "tasktablemodel.h"
#include "templateeditor.h"

#include <QApplication>
#include <QComboBox>
#include <QMimeData>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QUrl>

#include <memory>

using namespace Qt::StringLiterals;
using bd::ui::ImportWizard;
using bd::ui::MainWindow;

class TestGuiMainWindow final : public QObject, private bd::testing::GuiTestFixture
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QVERIFY(m_dir.isValid());
    }

    void dropImportsCsv()
    {
        QString db;
        auto window = makeWindow(&db);
        const QString csv = reviewsCsv(u"dropped.csv"_s, 25);

        QSignalSpy opened(window.get(), &MainWindow::importWizardOpened);
        QMimeData mimeData; // the events do not own it (LSan)
        QMimeData *mime = &mimeData;
        mime->setUrls({QUrl::fromLocalFile(csv)});
        const QPoint at(window->width() / 2, window->height() / 2);
        QDragEnterEvent enter(at, Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(window.get(), &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(at), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(window.get(), &drop);
        QVERIFY(drop.isAccepted());
        QCOMPARE(opened.count(), 1);

        ImportWizard *wizard = waitForWizard(*window);
        QVERIFY(wizard);
        QVERIFY(wizard->isPreviewReady());
        QVERIFY(wizard->errorText().isEmpty());
        QCOMPARE(wizard->templateEditor()->columns(), QStringList({u"id"_s, u"product"_s, u"text"_s}));
        wizard->templateEditor()->setPlainText(u"Summarise the review of the {{product}}: {{text}}"_s);
        QVERIFY(wizard->templateProblem().isEmpty());
        QTRY_VERIFY(wizard->importButton()->isEnabled());
        QTRY_VERIFY(wizard->estimateText().contains(u"realtime"_s));
        wizard->setSimulatorLatency(0);
        QTest::mouseClick(wizard->importButton(), Qt::LeftButton);

        // Imported, started, and run to the end on the simulator.
        QTRY_VERIFY_WITH_TIMEOUT(storedJobs(db).size() == 1, 20000);
        const qint64 jobId = storedJobs(db).constFirst().id;
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Finished, 20000);
        const auto job = storedJob(db, jobId);
        QCOMPARE(job->counts.total(), 25);
        QCOMPARE(job->counts.completed, 25);
        QCOMPARE(job->spec.templateText, u"Summarise the review of the {{product}}: {{text}}"_s);
        // The window shows it too.
        QTRY_VERIFY(window->jobsModel()->rowOf(jobId) >= 0);
    }

    void wizardRejectsUnknownPlaceholders()
    {
        QString db;
        auto window = makeWindow(&db);
        const QString csv = reviewsCsv(u"placeholders.csv"_s, 5);
        window->openCsv(csv);
        ImportWizard *wizard = waitForWizard(*window);
        QVERIFY(wizard && wizard->isPreviewReady());

        wizard->templateEditor()->setPlainText(u"Summarise {{txet}} for {{product}}"_s);
        QVERIFY(wizard->templateProblem().contains(u"txet"_s));
        QVERIFY(!wizard->importButton()->isEnabled());
        QVERIFY(!wizard->startImport());

        wizard->templateEditor()->setPlainText(u"Summarise {{text"_s); // not closed
        QVERIFY(!wizard->templateProblem().isEmpty());
        QVERIFY(!wizard->startImport());

        // Fixed: accepted.
        wizard->templateEditor()->setPlainText(u"Summarise {{text}} for {{product}}"_s);
        QVERIFY(wizard->templateProblem().isEmpty());
        QTRY_VERIFY(wizard->importButton()->isEnabled());
        wizard->reject();
        QTest::qWait(200);
        QCOMPARE(storedJobs(db).size(), 0);
    }

    void unreadableFilesAreRefused_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("expected");
        QTest::newRow("empty") << QByteArray() << u"empty"_s;
        QByteArray binary("\x89PNG\r\n\x1a\n", 8);
        binary += QByteArray(512, '\0');
        QTest::newRow("binary") << binary << u"binary"_s;
        QTest::newRow("broken quoting")
            << QByteArray("id,text\n1,\"fine\"\n2,\"not closed\n3,more\n") << u":3"_s;
        QTest::newRow("header only") << QByteArray("id,text\n") << u"no data rows"_s;
    }

    void unreadableFilesAreRefused()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, expected);
        QString db;
        auto window = makeWindow(&db);
        const QString path = writeFile(u"bad-%1.csv"_s.arg(QString::fromLatin1(QTest::currentDataTag()).replace(u' ', u'-')), bytes);
        window->openCsv(path);
        ImportWizard *wizard = waitForWizard(*window);
        QVERIFY(wizard);
        QTRY_VERIFY(!wizard->errorText().isEmpty());
        QVERIFY2(wizard->errorText().contains(expected, Qt::CaseInsensitive), qPrintable(wizard->errorText()));
        QVERIFY(!wizard->isPreviewReady());
        QVERIFY(!wizard->importButton()->isEnabled());
        wizard->templateEditor()->setPlainText(u"{{text}}"_s);
        QVERIFY(!wizard->startImport());
        QTest::qWait(100);
        QCOMPARE(storedJobs(db).size(), 0);
        wizard->reject();
    }

    void jobActionsChangeTheStore()
    {
        QString db;
        auto window = makeWindow(&db);
        const QString csv = reviewsCsv(u"actions.csv"_s, 3000);
        const qint64 jobId = importThroughWizard(*window, db, csv, u"Say something about {{text}}"_s, 200);
        QVERIFY(jobId > 0);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Running, 10000);
        QTRY_VERIFY(window->jobsModel()->rowOf(jobId) >= 0);

        // Pause: the store says paused and nothing is leased any more.
        window->selectJob(jobId);
        QCOMPARE(window->currentJobId(), jobId);
        QTRY_VERIFY(window->findChild<QAction *>(u"actionPause"_s)->isEnabled());
        window->findChild<QAction *>(u"actionPause"_s)->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Paused, 10000);
        QCOMPARE(storedJob(db, jobId)->counts.leased, 0);
        const qint64 doneWhenPaused = storedJob(db, jobId)->counts.completed;
        QVERIFY(doneWhenPaused < 3000);

        // Resume: running again and making progress.
        QTRY_VERIFY(window->findChild<QAction *>(u"actionResume"_s)->isEnabled());
        window->findChild<QAction *>(u"actionResume"_s)->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Running, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->counts.completed > doneWhenPaused, 10000);

        // Reprioritise: pending tasks and the job take the new priority.
        QSignalSpy reprioritised(window->engine(), &bd::Engine::jobReprioritised);
        window->reprioritiseJob(jobId, 1);
        QTRY_COMPARE(reprioritised.count(), 1);
        QVERIFY(reprioritised.constFirst().at(2).toInt() > 0);
        QCOMPARE(storedJob(db, jobId)->spec.priority, 1);

        // Cancel: stopped, and what was pending is cancelled.
        window->cancelJob(jobId, false);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Cancelled, 10000);
        // The job stops first, then what is still pending is cancelled.
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->counts.pending == 0, 10000);
        const auto cancelled = storedJob(db, jobId);
        QVERIFY2(cancelled->counts.cancelled > 0,
                 qPrintable(u"pending %1 leased %2 completed %3 cancelled %4"_s.arg(cancelled->counts.pending)
                                .arg(cancelled->counts.leased).arg(cancelled->counts.completed)
                                .arg(cancelled->counts.cancelled)));
        QCOMPARE(cancelled->counts.pending, 0);
        QCOMPARE(cancelled->counts.leased, 0);
    }

    void deadLettersReplay()
    {
        QString db;
        auto window = makeWindow(&db);
        // Every second row is refused by the simulator as an invalid request: dead at once.
        const QString csv = reviewsCsv(u"dead.csv"_s, 40, " [[sim:invalid]]");
        const qint64 jobId = importThroughWizard(*window, db, csv, u"{{text}}"_s, 0);
        QVERIFY(jobId > 0);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Finished, 20000);
        QCOMPARE(storedJob(db, jobId)->counts.dead, 20);

        window->showPage(MainWindow::DeadLettersScreen);
        bd::ui::DeadLettersPage *page = window->deadLettersPage();
        QTRY_COMPARE(page->model()->rowCount(), 20);
        page->setConfirmBulkActions(false);
        const auto attemptsOfFirstDead = [&] {
            bd::store::SqliteStore store(db);
            const auto dead = store.deadTasks(jobId, 1, 0);
            return dead.isEmpty() ? qsizetype(-1) : store.attempts(dead.constFirst().id).size();
        };
        const qsizetype attemptsBefore = attemptsOfFirstDead();
        QVERIFY(attemptsBefore >= 1);
        QSignalSpy acted(window->engine(), &bd::Engine::tasksActedOn);
        page->replayJob();
        QTRY_COMPARE(acted.count(), 1);
        QCOMPARE(acted.constFirst().at(1).toInt(), 20);
        // Replayed tasks run again (the window resumes the job) and, still invalid, come
        // back dead with one more attempt on record.
        QTRY_VERIFY_WITH_TIMEOUT(attemptsOfFirstDead() > attemptsBefore, 20000);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Finished
                                     && storedJob(db, jobId)->counts.dead == 20,
                                 20000);
    }

    // "auto (tiering)" needs a tiering file that passes batchctl's checks; the job then
    // runs each row on its tier's model.
    void wizardModelTiering()
    {
        QString db;
        auto window = makeWindow(&db);
        const QString csv = reviewsCsv(u"tiered.csv"_s, 12);
        window->openCsv(csv);
        ImportWizard *wizard = waitForWizard(*window);
        QVERIFY(wizard && wizard->isPreviewReady());
        wizard->templateEditor()->setPlainText(u"{{text}}"_s);
        wizard->setSimulatorLatency(0);
        wizard->modelBox()->setCurrentText(u"auto (tiering)"_s);
        QVERIFY(wizard->tieringProblem().contains(u"needs a tiering file"_s));
        QVERIFY(!wizard->importButton()->isEnabled());

        const QString tiers = uR"({"tiers": {"simple": "sim-1-mini", "standard": "sim-1-mini", "complex": "sim-1"},
                                   "rules": [{"tier": "complex", "column": "%1", "regex": "number [13579]\\b"}]})"_s;
        wizard->setTieringFile(writeFile(u"badtiers.json"_s, tiers.arg(u"colour"_s).toUtf8()));
        QTRY_VERIFY(!wizard->isTieringFileLoading());
        QVERIFY2(wizard->tieringProblem().contains(u"badtiers.json: rules[0].column: no column 'colour'"_s),
                 qPrintable(wizard->tieringProblem()));
        QVERIFY(!wizard->startImport());

        wizard->setTieringFile(writeFile(u"tiers.json"_s, tiers.arg(u"text"_s).toUtf8()));
        QTRY_VERIFY(!wizard->isTieringFileLoading());
        QVERIFY2(wizard->tieringProblem().isEmpty(), qPrintable(wizard->tieringProblem()));
        QVERIFY(wizard->estimateText().contains(u"sim-1"_s));
        QVERIFY(wizard->startImport());
        qint64 jobId = 0;
        QTRY_VERIFY_WITH_TIMEOUT(!storedJobs(db).isEmpty() && (jobId = storedJobs(db).constLast().id) > 0
                                     && storedJob(db, jobId)->state == bd::JobState::Finished,
                                 20000);
        const bd::JobInfo job = *storedJob(db, jobId);
        QCOMPARE(job.spec.model, u"auto"_s);
        QCOMPARE(job.counts.completed, 12);
        bd::store::SqliteStore store(db);
        QHash<QString, qint64> perTier;
        for (const bd::store::CostLine &line : store.costLines(jobId))
            perTier[line.tier + u'/' + line.model] += line.tasks;
        // Reviews 1 3 5 7 9 match the complex rule (11 does not: no word boundary after "1").
        QCOMPARE(perTier.value(u"complex/sim-1"_s), 5);
        QCOMPARE(perTier.value(u"standard/sim-1-mini"_s), 7);
    }
};

QTEST_MAIN(TestGuiMainWindow)
#include "test_gui_mainwindow.moc"
