// Console controls for engine verbs, on the offscreen platform against a real SQLite
// database and the simulator: replay with an edited template, lane pause and resume,
// off-peak "Run now", and the dashboard's global budget counter. Each checks what the
// store (or the engine) says afterwards, not only what the widgets show.
#include "dashboardpage.h"
#include "deadletterspage.h"
#include "guitestfixture.h"
#include "homepage.h"
#include "api/engine.h"
#include "importwizard.h"
#include "jobcombo.h"
#include "jobsmodel.h"
#include "lanecontrols.h"
#include "mainwindow.h"
#include "replaydialog.h"
#include "store/sqlite/sqlitestore.h"
#include "tasktablemodel.h"
#include "templateeditor.h"

#include <memory>
#include <QAction>
#include <QApplication>
#include <QDateTime>
#include <QPlainTextEdit>
#include <QPointer>
#include <QPushButton>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QToolButton>
#include <QTreeWidget>

using namespace Qt::StringLiterals;
using bd::ui::ImportWizard;
using bd::ui::MainWindow;
using bd::ui::ReplayDialog;

class TestGuiEngineControls final : public QObject, private bd::testing::GuiTestFixture
{
    Q_OBJECT

private:
    // Tasks of the job per stored template revision (0: the job's own template).
    static QHash<int, int> tasksPerRevision(const QString &dbPath, qint64 jobId)
    {
        QHash<int, int> counts;
        {
            QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"revision-check"_s);
            db.setDatabaseName(dbPath);
            if (db.open()) {
                QSqlQuery query(db);
                query.prepare(
                    u"SELECT template_rev, COUNT(*) FROM tasks WHERE job_id = ? GROUP BY 1"_s);
                query.addBindValue(jobId);
                if (query.exec()) {
                    while (query.next())
                        counts.insert(query.value(0).toInt(), query.value(1).toInt());
                }
            }
        }
        QSqlDatabase::removeDatabase(u"revision-check"_s);
        return counts;
    }

    static QString stateText(MainWindow &window, qint64 jobId)
    {
        bd::ui::JobsModel *model = window.jobsModel();
        return model->index(model->rowOf(jobId), bd::ui::JobsModel::StateColumn).data().toString();
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QVERIFY(m_dir.isValid());
    }

    void replayWithEditedTemplate()
    {
        QString db;
        auto window = makeWindow(&db);
        const QString csv = reviewsCsv(u"dead.csv"_s, 40, " [[sim:invalid]]");
        const qint64 jobId = importThroughWizard(*window, db, csv, u"{{text}}"_s, 0);
        QVERIFY(jobId > 0);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Finished, 20000);
        QCOMPARE(storedJob(db, jobId)->counts.dead, 20);

        window->showPage(MainWindow::DeadLettersScreen);
        bd::ui::DeadLettersPage *page = window->deadLettersPage();
        page->setConfirmBulkActions(false);
        QTRY_VERIFY(page->findChild<bd::ui::JobCombo *>()->findData(jobId) >= 0);
        page->findChild<bd::ui::JobCombo *>()->setCurrentJobId(jobId);
        QTRY_COMPARE(page->model()->rowCount(), 20);
        QTRY_VERIFY(page->model()->rowAt(19).has_value()); // the page of rows is loaded
        QTRY_VERIFY(page->findChild<QPushButton *>(u"replayEdited"_s)->isEnabled());
        auto *view = page->findChild<QTableView *>();
        view->selectAll();
        QCOMPARE(view->selectionModel()->selectedRows().size(), 20);

        QPointer<ReplayDialog> dialog = page->openReplayDialog();
        QVERIFY(dialog);
        QCOMPARE(dialog->jobId(), jobId);
        // Pre-filled with the job's template; placeholders complete from its columns.
        QCOMPARE(dialog->templateEditor()->toPlainText(), u"{{text}}"_s);
        QCOMPARE(dialog->templateEditor()->columns(),
                 QStringList({u"id"_s, u"product"_s, u"text"_s}));
        QCOMPARE(dialog->scope(), ReplayDialog::SelectedTasks);
        QVERIFY(dialog->isScopeAvailable(ReplayDialog::WholeJob));

        // An unknown placeholder is named, the button is off, and nothing is sent.
        QSignalSpy acted(window->engine(), &bd::Engine::tasksActedOn);
        dialog->templateEditor()->setPlainText(u"Say something about the {{prodcut}}"_s);
        QVERIFY2(dialog->problem().contains(u"prodcut"_s), qPrintable(dialog->problem()));
        QVERIFY(dialog->statusText().contains(u"prodcut"_s));
        QVERIFY(!dialog->replayButton()->isEnabled());
        QVERIFY(!dialog->replay());
        QTest::qWait(200);
        QCOMPARE(acted.count(), 0);
        QCOMPARE(storedJob(db, jobId)->counts.dead, 20);
        QCOMPARE(tasksPerRevision(db, jobId).value(1), 0);

        // Five of the selected tasks are replayed elsewhere meanwhile (another engine on the
        // database, so this window does not run them): those are skipped.
        QList<qint64> elsewhere;
        for (int row = 0; row < 5; ++row)
            elsewhere.append(page->model()->rowAt(row)->id);
        bd::EngineOptions otherOptions;
        otherOptions.database = db;
        const std::unique_ptr<bd::Engine> other = bd::createEngine(otherOptions);
        QSignalSpy otherOpened(other.get(), &bd::Engine::opened);
        other->open();
        QVERIFY(otherOpened.wait(10'000) && otherOpened.at(0).at(0).toBool());
        QSignalSpy otherActed(other.get(), &bd::Engine::tasksActedOn);
        other->actOnTasks(bd::TaskAction::Replay, elsewhere);
        QVERIFY(otherActed.wait(10'000));
        QCOMPARE(otherActed.at(0).at(1).toInt(), 5);

        // Fixed: the selected tasks go back with the edited template and system prompt.
        dialog->templateEditor()->setPlainText(u"Say something nice about the {{product}}"_s);
        dialog->systemPromptEdit()->setPlainText(u"Be brief."_s);
        QVERIFY(dialog->problem().isEmpty());
        QVERIFY(dialog->replayButton()->isEnabled());
        QVERIFY(dialog->replay());
        QTRY_COMPARE(acted.count(), 1);
        QCOMPARE(acted.at(0).at(1).toInt(), 15); // changed
        QCOMPARE(acted.at(0).at(3).toInt(), 5);  // skipped
        QTRY_VERIFY(dialog.isNull());            // closes on success
        QVERIFY2(page->lastResultText().contains(
                     u"Replayed 15 tasks of job %1 with the edited template"_s.arg(jobId)),
                 qPrintable(page->lastResultText()));
        QVERIFY(page->lastResultText().contains(u"5 skipped"_s));

        // The store has the revision and the tasks on it; the window resumed the job, the
        // edited prompts no longer carry the marker and complete.
        {
            bd::store::SqliteStore store(db);
            const auto revision = store.templateRevision(jobId, 1);
            QVERIFY(revision);
            QCOMPARE(revision->first, u"Say something nice about the {{product}}"_s);
            QCOMPARE(revision->second, u"Be brief."_s);
        }
        QCOMPARE(tasksPerRevision(db, jobId).value(1), 15);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Finished &&
                                     storedJob(db, jobId)->counts.unfinished() == 0,
                                 20000);
        // The detail of a replayed task shows the prompt it was sent with.
        {
            qint64 replayedTask = 0;
            {
                QSqlDatabase check = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"replayed-task"_s);
                check.setDatabaseName(db);
                QVERIFY(check.open());
                QSqlQuery query(check);
                query.prepare(u"SELECT id FROM tasks WHERE job_id = ? AND template_rev = 1 LIMIT 1"_s);
                query.addBindValue(jobId);
                QVERIFY(query.exec() && query.next());
                replayedTask = query.value(0).toLongLong();
            }
            QSqlDatabase::removeDatabase(u"replayed-task"_s);
            QSignalSpy detailReady(window->engine(), &bd::Engine::taskDetailReady);
            const quint64 ticket = window->engine()->newTicket();
            window->engine()->requestTaskDetail(ticket, replayedTask);
            const auto answered = [&] {
                for (const QList<QVariant> &answer : std::as_const(detailReady)) {
                    if (answer.at(0).toULongLong() == ticket)
                        return std::optional(answer.at(1).value<bd::TaskDetail>());
                }
                return std::optional<bd::TaskDetail>();
            };
            QTRY_VERIFY(answered().has_value());
            const bd::TaskDetail detail = *answered();
            QCOMPARE(detail.templateRevision, 1);
            QCOMPARE(detail.templateText, u"Say something nice about the {{product}}"_s);
            QCOMPARE(detail.systemPrompt, u"Be brief."_s);
        }
        // The five replayed with the job's own template are refused again.
        QCOMPARE(storedJob(db, jobId)->counts.completed, 35);
        QCOMPARE(storedJob(db, jobId)->counts.dead, 5);

        // A class, template left as it is: replayed on the job's own template, no revision.
        QTreeWidgetItem *invalid = nullptr;
        QTRY_VERIFY([&] {
            const auto found = page->classList()->findItems(u"invalid_request"_s, Qt::MatchExactly);
            invalid = found.isEmpty() ? nullptr : found.constFirst();
            return invalid && invalid->text(1) == u"5"_s;
        }());
        page->classList()->setCurrentItem(invalid);
        dialog = page->openReplayDialog();
        QVERIFY(dialog);
        QVERIFY(dialog->isScopeAvailable(ReplayDialog::ErrorClass));
        dialog->setScope(ReplayDialog::ErrorClass);
        QCOMPARE(dialog->scope(), ReplayDialog::ErrorClass);
        QCOMPARE(dialog->templateEditor()->toPlainText(),
                 u"{{text}}"_s); // the job's, not the revision
        QVERIFY(dialog->replay());
        QTRY_COMPARE(acted.count(), 2);
        QCOMPARE(acted.at(1).at(1).toInt(), 5);
        QCOMPARE(acted.at(1).at(3).toInt(), 0);
        QTRY_VERIFY(dialog.isNull());
        QCOMPARE(page->lastResultText(), u"Replayed 5 tasks of job %1."_s.arg(jobId));
        {
            bd::store::SqliteStore store(db);
            QVERIFY(!store.templateRevision(jobId, 2));
        }
        QCOMPARE(tasksPerRevision(db, jobId).value(0), 25);
        // Run again and refused again: dead once more, a third attempt on record.
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Finished &&
                                     storedJob(db, jobId)->counts.dead == 5,
                                 20000);
        {
            bd::store::SqliteStore store(db);
            const auto dead = store.deadTasks(jobId, 5, 0);
            QCOMPARE(dead.size(), 5);
            for (const auto &task : dead)
                QVERIFY(store.attempts(task.id).size() >= 3);
        }
    }

    void lanePauseHoldsItsJobs()
    {
        QString db;
        auto window = makeWindow(&db);
        const QString csv = reviewsCsv(u"lanes.csv"_s, 3000);
        const qint64 jobId =
            importThroughWizard(*window, db, csv, u"Say something about {{text}}"_s, 200);
        QVERIFY(jobId > 0);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->counts.completed > 0, 10000);
        QCOMPARE(storedJob(db, jobId)->spec.priority, 2);
        window->showPage(MainWindow::JobsScreen);
        bd::ui::LaneControls *lanes = window->laneControls();
        QToolButton *grouped = lanes->button(2);
        QVERIFY(grouped->isChecked());
        QCOMPARE(grouped->text(), u"2 · within the hour"_s);

        QSignalSpy laneState(window->engine(), &bd::Engine::laneStateChanged);
        QTest::mouseClick(grouped, Qt::LeftButton);
        QTRY_COMPARE(laneState.count(), 1);
        QCOMPARE(laneState.at(0).at(0).toInt(), 2);
        QCOMPARE(laneState.at(0).at(1).toBool(), true);
        QVERIFY(lanes->isLanePaused(2));
        QVERIFY(!grouped->isChecked());
        QVERIFY(grouped->text().contains(u"paused"_s));
        QVERIFY(!lanes->isLanePaused(1) && !lanes->isLanePaused(3));
        // Held, not stopped: nothing in flight, nothing more completes, still running.
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->counts.leased == 0, 10000);
        const qint64 atPause = storedJob(db, jobId)->counts.completed;
        QVERIFY(atPause < 3000);
        QTest::qWait(600);
        QCOMPARE(storedJob(db, jobId)->counts.completed, atPause);
        QCOMPARE(storedJob(db, jobId)->state, bd::JobState::Running);
        QTRY_VERIFY2(stateText(*window, jobId).contains(u"lane 2 · within the hour paused"_s),
                     qPrintable(stateText(*window, jobId)));
        // The tooltip in the same words (no "P2").
        bd::ui::JobsModel *jobs = window->jobsModel();
        const QString tip = jobs->index(jobs->rowOf(jobId), bd::ui::JobsModel::StateColumn)
                                .data(Qt::ToolTipRole)
                                .toString();
        QVERIFY2(tip.contains(u"The lane 2 · within the hour (grouped) is paused"_s),
                 qPrintable(tip));
        QVERIFY2(!tip.contains(u"P2"_s), qPrintable(tip));

        QTest::mouseClick(grouped, Qt::LeftButton);
        QTRY_COMPARE(laneState.count(), 2);
        QCOMPARE(laneState.at(1).at(1).toBool(), false);
        QVERIFY(grouped->isChecked());
        QCOMPARE(grouped->text(), u"2 · within the hour"_s);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->counts.completed > atPause, 10000);
        QTRY_VERIFY(!stateText(*window, jobId).contains(u"paused"_s));
        window->cancelJob(jobId, false);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Cancelled, 10000);
    }

    void offPeakJobRunsNow()
    {
        QString db;
        auto window = makeWindow(&db);
        QByteArray csv = "text\n";
        for (int i = 0; i < 30; ++i)
            csv += "row " + QByteArray::number(i) + '\n';
        // A window that opens in two hours (UTC), so the job waits whenever the test runs.
        const int hour = QDateTime::currentDateTimeUtc().time().hour();
        const auto at = [](int h) { return u"%1:00"_s.arg((h + 24) % 24, 2, 10, QChar(u'0')); };
        bd::JobSpec spec;
        spec.sourcePath = writeFile(u"offpeak.csv"_s, csv);
        spec.templateText = u"Echo {{text}}"_s;
        spec.model = u"sim-1"_s;
        spec.priority = 3;
        spec.mode = u"grouped"_s;
        spec.settings = {{u"latency_ms"_s, 0},
                         {u"offpeak"_s, QJsonObject{{u"start"_s, at(hour + 2)},
                                                    {u"end"_s, at(hour + 3)},
                                                    {u"timezone"_s, u"UTC"_s}}}};
        QSignalSpy imported(window->engine(), &bd::Engine::importFinished);
        window->engine()->importJob(spec);
        QTRY_COMPARE(imported.count(), 1);
        const qint64 jobId = imported.at(0).at(0).value<bd::ImportResult>().jobId;
        QVERIFY(jobId > 0);
        QTRY_VERIFY(window->jobsModel()->rowOf(jobId) >= 0);
        window->showPage(MainWindow::JobsScreen);
        window->selectJob(jobId);
        QAction *runNow = window->findChild<QAction *>(u"actionRunNow"_s);
        QVERIFY(!runNow->isEnabled()); // not started: nothing waits

        window->resumeJob(jobId);
        QTRY_VERIFY_WITH_TIMEOUT(!window->jobsModel()->waitingFor(jobId).isEmpty(), 10000);
        QVERIFY(
            window->jobsModel()->waitingFor(jobId).startsWith(u"waiting for off-peak window"_s));
        // The column says it briefly, the tooltip whole.
        QTRY_VERIFY2(stateText(*window, jobId).contains(u"off-peak, opens in "_s),
                     qPrintable(stateText(*window, jobId)));
        const QString whole =
            window->jobsModel()
                ->index(window->jobsModel()->rowOf(jobId), bd::ui::JobsModel::StateColumn)
                .data(Qt::ToolTipRole)
                .toString();
        QVERIFY2(whole.contains(
                     u"waiting for off-peak window %1–%2 UTC"_s.arg(at(hour + 2), at(hour + 3))),
                 qPrintable(whole));
        QTRY_VERIFY(runNow->isEnabled());
        QCOMPARE(window->jobsView()->actions().count(runNow), 1); // in the context menu too
        QTest::qWait(300);
        QCOMPARE(storedJob(db, jobId)->state, bd::JobState::Running);
        QCOMPARE(storedJob(db, jobId)->counts.completed, 0);

        runNow->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Finished, 20000);
        const auto job = storedJob(db, jobId);
        QCOMPARE(job->counts.completed, 30);
        QCOMPARE(job->spec.settings.value(u"offpeak_run_now"_s).toBool(),
                 true); // kept with the job
        QTRY_VERIFY(window->jobsModel()->waitingFor(jobId).isEmpty());
        QTRY_VERIFY(!runNow->isEnabled());
        QVERIFY(!stateText(*window, jobId).contains(u"off-peak"_s));
    }

    void globalBudgetCounter()
    {
        QString db;
        auto window = makeWindow(&db);
        bd::ui::DashboardPage *dashboard = window->dashboardPage();
        // An empty database opens on the welcome panel (again after each jobs list): the
        // counters as they show once the database has a job.
        const auto showCounters = [&] {
            window->homePage()->setJobCount(1);
            window->showPage(MainWindow::DashboardScreen);
            return dashboard->isVisible();
        };
        QTRY_VERIFY(showCounters());
        QTRY_COMPARE(dashboard->counterText(u"budget"_s), u"none"_s);
        QVERIFY(!dashboard->isGlobalBudgetHighlighted());

        QSignalSpy changed(window->engine(), &bd::Engine::globalBudgetChanged);
        window->engine()->setGlobalBudget(0.001, u"day"_s);
        QTRY_COMPARE(changed.count(), 1);
        QTRY_COMPARE((showCounters(), dashboard->counterText(u"budget"_s)), u"spent $0.00 / cap $0.001000"_s);
        QVERIFY(dashboard->counterCaption(u"budget"_s).contains(u"today"_s));
        QVERIFY(!dashboard->isGlobalBudgetHighlighted());

        // A job spends past the cap: it pauses and the counter turns red.
        const QString csv = reviewsCsv(u"budget.csv"_s, 200);
        const qint64 jobId =
            importThroughWizard(*window, db, csv, u"Say something about {{text}}"_s, 0);
        QVERIFY(jobId > 0);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->stateReason == u"global budget reached"_s,
                                 20000);
        QCOMPARE(storedJob(db, jobId)->state, bd::JobState::Paused);
        QVERIFY(storedJob(db, jobId)->counts.completed < 200);
        window->showPage(MainWindow::DashboardScreen); // the import showed the jobs
        QTRY_VERIFY(dashboard->isGlobalBudgetHighlighted());
        QVERIFY(dashboard->counterCaption(u"budget"_s).contains(u"reached"_s));
        QVERIFY(dashboard->counterText(u"budget"_s).endsWith(u" / cap $0.001000"_s));
        QVERIFY2(!dashboard->counterText(u"budget"_s).startsWith(u"spent $0.00 "_s),
                 qPrintable(dashboard->counterText(u"budget"_s)));

        // No cap: "none" again, and the paused job goes on.
        window->engine()->setGlobalBudget(0, QString());
        QTRY_COMPARE(dashboard->counterText(u"budget"_s), u"none"_s);
        QVERIFY(!dashboard->isGlobalBudgetHighlighted());
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Finished, 20000);
    }
};

QTEST_MAIN(TestGuiEngineControls)
#include "test_gui_enginecontrols.moc"
