// The habits users expect of the console: a welcome panel on an empty database whose
// sample runs a real simulator job, a window that fits 1024×700 whatever its labels say,
// one vocabulary for priorities, right plurals and a list of the keyboard shortcuts.
#include "alertspage.h"
#include "dashboardpage.h"
#include "estimatekeys.h"
#include "format.h"
#include "guitestfixture.h"
#include "homepage.h"
#include "importwizard.h"
#include "jobsmodel.h"
#include "mainwindow.h"
#include "metricchart.h"
#include "savingspanel.h"
#include "shortcutsdialog.h"
#include "taskspage.h"
#include "tasktablemodel.h"
#include "welcomepanel.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDir>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPushButton>
#include <QScrollBar>
#include <QStandardPaths>
#include <QTableView>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ui::MainWindow;

class TestGuiConsole final : public QObject, private bd::testing::GuiTestFixture
{
    Q_OBJECT

    // Where a table scrolls sideways or cuts a figure: empty when every column is inside
    // the view and each shown cell of these columns is whole.
    static QString figureCut(QTableView *view, const QList<int> &figures)
    {
        const int length = view->horizontalHeader()->length();
        if (length > view->viewport()->width() || view->horizontalScrollBar()->maximum() > 0)
            return u"the columns need %1 px, the table shows %2"_s.arg(length).arg(
                view->viewport()->width());
        // The room the style leaves a cell's text (QCommonStyle: a focus margin and a
        // pixel on each side).
        const int margins =
            2 * (view->style()->pixelMetric(QStyle::PM_FocusFrameHMargin, nullptr, view) + 1);
        const int lastRow = qMin(view->model()->rowCount(), 30);
        for (int row = 0; row < lastRow; ++row) {
            for (const int column : figures) {
                const QString text = view->model()->index(row, column).data().toString();
                const int needed = view->fontMetrics().horizontalAdvance(text) + margins;
                if (needed > view->columnWidth(column))
                    return u"\"%1\" needs %2 px, its column has %3"_s.arg(text).arg(needed).arg(
                        view->columnWidth(column));
            }
        }
        return {};
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QLocale::setDefault(QLocale(QLocale::English, QLocale::UnitedStates));
        QVERIFY(m_dir.isValid());
    }

    void emptyDatabaseWelcomesAndTheSampleRuns()
    {
        QString db;
        auto window = makeWindow(&db);
        bd::ui::HomePage *home = window->homePage();
        QTRY_VERIFY(home->isWelcomeShown());
        QVERIFY(home->welcome()->isVisible());
        QVERIFY(!window->dashboardPage()->isVisible()); // no empty charts

        QTest::mouseClick(home->welcome()->sampleButton(), Qt::LeftButton);
        // A real job: imported from the bundled reviews and run by the simulator.
        QTRY_VERIFY_WITH_TIMEOUT(storedJobs(db).size() == 1, 30'000);
        const bd::JobInfo job = storedJobs(db).constFirst();
        QCOMPARE(job.spec.provider, u"simulator"_s);
        QVERIFY(job.spec.sourcePath.endsWith(u"reviews.csv"_s));
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, job.id)->counts.total() > 1000, 30'000);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, job.id)->counts.completed > 0, 30'000);
        // The welcome has done its work.
        QTRY_VERIFY_WITH_TIMEOUT(!home->isWelcomeShown(), 10'000);
        window->cancelJob(job.id, false);
    }

    // File › Open CSV… starts in a folder that exists (here no Documents: home).
    void theCsvDialogOpensInAFolderThatExists()
    {
        QString db;
        auto window = makeWindow(&db);
        const QString folder = window->csvFolder();
        QVERIFY2(QFileInfo(folder).isDir(), qPrintable(folder));
        const QString documents =
            QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
        QCOMPARE(folder, QFileInfo(documents).isDir() ? documents : QDir::homePath());
    }

    void fitsTheSmallestSupportedScreen()
    {
        QString db;
        auto window = makeWindow(&db);
        const QString csv = reviewsCsv(u"fit.csv"_s, 50);
        QVERIFY(importThroughWizard(*window, db, csv, u"Say {{text}}"_s, 0) > 0);
        for (int page = 0; page < MainWindow::ScreenCount; ++page) {
            window->showPage(static_cast<MainWindow::Page>(page));
            QCoreApplication::processEvents();
            const QSize minimum = window->minimumSizeHint().expandedTo(window->minimumSize());
            QVERIFY2(
                minimum.width() <= 1024 && minimum.height() <= 700,
                qPrintable(
                    u"page %1 needs %2×%3"_s.arg(page).arg(minimum.width()).arg(minimum.height())));
        }
        window->showPage(MainWindow::DashboardScreen);
        window->resize(1024, 700);
        QCoreApplication::processEvents();
        QCOMPARE(window->width(), 1024);
        // A long budget figure and status line do not widen the window.
        for (QLabel *label : window->findChildren<QLabel *>()) {
            if (label->objectName() == u"counter_budget"_s)
                label->setText(u"$123,456.7890 spent + $1,234.5678 reserved of $200,000.0000"_s);
        }
        QCoreApplication::processEvents();
        QCOMPARE(window->width(), 1024);
        QVERIFY(window->minimumSizeHint().width() <= 1024);
    }

    // The Jobs table at 1024×700 does not scroll sideways, and every figure in it is whole:
    // its Spend column was cut at the window's edge, so "$0.0109" read "$0.010". The
    // file, state and model elide ("…") instead.
    void jobsTableFitsAt1024x700WithEveryFigureWhole()
    {
        using bd::ui::JobsModel;
        QString db;
        auto window = makeWindow(&db);
        // The engine's own (empty) lists no longer reach the window: they would replace the
        // one set below.
        QVERIFY(QObject::disconnect(window->engine(), &bd::Engine::jobsListed, window.get(),
                                    nullptr));
        window->showPage(MainWindow::JobsScreen);
        window->resize(1024, 700);
        QTRY_VERIFY(window->jobsView()->isVisible());
        QList<bd::JobInfo> jobs;
        const auto job = [&jobs](qint64 id, bd::JobState state, qint64 completed, qint64 dead,
                                 double costUsd) -> bd::JobInfo & {
            bd::JobInfo &info = jobs.emplaceBack();
            info.id = id;
            info.state = state;
            info.spec.sourcePath = u"/data/customer-feedback-2026-q4-full-export.csv"_s;
            info.spec.provider = u"gemini"_s;
            info.spec.model = u"gemini-2.5-flash-lite-preview"_s;
            info.spec.priority = 3;
            info.counts.completed = completed;
            info.counts.dead = dead;
            info.counts.pending = 20'000 - completed - dead;
            info.costUsd = costUsd;
            return info;
        };
        bd::JobInfo &done = job(12'345, bd::JobState::Finished, 19'855, 145, 0.0109);
        done.spec.settings.insert(bd::ui::estimatekeys::maxUsd, 0.0310);
        done.spec.settings.insert(bd::ui::estimatekeys::expectedUsd, 0.0205);
        job(12'346, bd::JobState::Paused, 145, 0, 1'234.5678).stateReason =
            u"global budget reached: spent $1,234.5678 of the $1,234.0000 cap"_s;
        job(12'347, bd::JobState::Running, 9'999, 12, 0.0021);
        JobsModel *model = window->jobsModel();
        model->setJobs(jobs);
        QCoreApplication::processEvents();
        QCOMPARE(model->rowCount(), 3);

        const QString cut = figureCut(
            window->jobsView(), {JobsModel::IdColumn, JobsModel::DoneColumn, JobsModel::DeadColumn,
                                 JobsModel::RateColumn, JobsModel::EtaColumn, JobsModel::CostColumn,
                                 JobsModel::PriorityColumn});
        QVERIFY2(cut.isEmpty(), qPrintable(cut));
        QTableView *view = window->jobsView();
        QCOMPARE(model->index(0, JobsModel::CostColumn).data().toString(),
                 u"$0.0109 · est. $0.0205"_s);
        // The state still has room to say something.
        QVERIFY(view->columnWidth(JobsModel::StateColumn) >=
                view->fontMetrics().horizontalAdvance(u"Paused (global"_s));
    }

    // The Tasks table at 1024×700 beside its detail pane does not scroll sideways: the
    // window's edge cut the tokens "35 / 39" to "35 / 3". Its figures are whole; the input,
    // answer, error, state and priority elide (whole in the detail pane).
    void tasksTableFitsAt1024x700WithEveryFigureWhole()
    {
        using bd::ui::TaskTableModel;
        QString db;
        auto window = makeWindow(&db);
        const qint64 jobId = importThroughWizard(*window, db, reviewsCsv(u"tasksfit.csv"_s, 40),
                                                 u"Say {{text}}"_s, 0);
        QVERIFY(jobId > 0);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->counts.completed == 40, 30'000);
        window->showPage(MainWindow::TasksScreen);
        window->resize(1024, 700);
        QTableView *view = window->tasksPage()->view();
        QTRY_VERIFY(view->isVisible());
        TaskTableModel *model = window->tasksPage()->model();
        QTRY_VERIFY_WITH_TIMEOUT(
            model->rowAt(0).has_value() && model->rowAt(0)->costUsd.value_or(0) > 0, 10'000);
        QCoreApplication::processEvents();
        const QString cut = figureCut(
            view, {TaskTableModel::IdColumn, TaskTableModel::JobColumn, TaskTableModel::RowColumn,
                   TaskTableModel::AttemptsColumn, TaskTableModel::TokensColumn,
                   TaskTableModel::CostColumn, TaskTableModel::LatencyColumn});
        QVERIFY2(cut.isEmpty(), qPrintable(cut));
    }

    // The Alerts table at 1024×700: no sideways scrolling, and its times, job ids and alert
    // names whole (its fixed widths needed 1,115 px of 859).
    void alertsTableFitsAt1024x700WithEveryFigureWhole()
    {
        QString db;
        auto window = makeWindow(&db);
        QSignalSpy listed(window->engine(), &bd::Engine::alertsListed);
        window->showPage(MainWindow::AlertsScreen);
        window->resize(1024, 700);
        QTableWidget *table = window->alertsPage()->table();
        QTRY_VERIFY(table->isVisible());
        QList<bd::AlertRecord> alerts;
        for (int i = 0; i < 3; ++i) {
            bd::AlertRecord &alert = alerts.emplaceBack();
            alert.id = i + 1;
            alert.jobId = 12'345 + i;
            alert.kind = u"global_budget_exhausted"_s;
            alert.message = u"global budget reached: spent $1,234.5678 of the $1,234.0000 cap; "
                            "every job is paused until the cap is raised"_s;
            alert.raisedAt = QDateTime(QDate(2026, 12, 3), QTime(20, 45, 12));
            if (i == 0)
                alert.clearedAt = QDateTime(QDate(2026, 12, 3), QTime(21, 5, 59));
            alert.figures = QJsonObject{{u"value"_s, 1234.5678}, {u"threshold"_s, 1234.0},
                                        {u"window_s"_s, 3600}};
        }
        // After the engine's own (empty) answer, so that it cannot replace this one.
        QTRY_VERIFY(listed.count() >= 1);
        emit window->engine()->alertsListed(alerts);
        QCOMPARE(table->rowCount(), 3);
        QCoreApplication::processEvents(); // the columns are refitted from the event loop
        const QString cut = figureCut(table, {bd::ui::AlertsPage::RaisedColumn,
                                              bd::ui::AlertsPage::JobColumn,
                                              bd::ui::AlertsPage::KindColumn,
                                              bd::ui::AlertsPage::ClearedColumn});
        QVERIFY2(cut.isEmpty(), qPrintable(cut));
    }

    // Every caption and figure of the Batching and savings panel is whole at 1024×700 (its
    // two-line captions were cut at the bottom there): each label's text, wrapped as it
    // draws, fits inside the label.
    void savingsPanelTextFitsAt1024x700()
    {
        QString db;
        auto window = makeWindow(&db);
        QVERIFY(importThroughWizard(*window, db, reviewsCsv(u"savings.csv"_s, 20),
                                    u"Say {{text}}"_s, 0) > 0);
        window->showPage(MainWindow::DashboardScreen);
        window->resize(1024, 700);
        QTRY_VERIFY(window->dashboardPage()->isVisible());
        auto *panel = window->dashboardPage()->findChild<bd::ui::SavingsPanel *>();
        QVERIFY(panel);
        QTest::qWait(500); // the panel's own figures have arrived (next reload: in 10 s)
        // The widest figures each line shows in practice.
        const QList<std::pair<QString, QString>> figures = {
            {u"sync_batch"_s, u"225 of 225"_s},
            {u"batch_batch"_s, u"1,000 of 1,000"_s},
            {u"batch_share"_s, u"100 % of 1,028,320"_s},
            {u"saved"_s, u"$1,234.5678"_s},
            {u"per_1000"_s, u"$0.0214"_s}};
        for (const auto &[name, text] : figures) {
            auto *value = panel->findChild<QLabel *>(u"savings_"_s + name);
            QVERIFY2(value, qPrintable(name));
            value->setText(text);
        }
        // A running job's counters: the Global budget line as long as it gets.
        for (QLabel *label : window->findChildren<QLabel *>()) {
            if (label->objectName() == u"counter_budget"_s)
                label->setText(u"spent $0.1152 + $0.001295 in flight / cap $50.00"_s);
        }
        QCoreApplication::processEvents();
        QCOMPARE(window->size(), QSize(1024, 700));
        const QList<QLabel *> labels = panel->findChildren<QLabel *>();
        QCOMPARE(labels.size(), 11); // the title, five captions, five figures
        for (const QLabel *label : labels) {
            const QRect room = label->contentsRect();
            const int flags = int(label->alignment()) | (label->wordWrap() ? Qt::TextWordWrap : 0);
            const QRect needed = label->fontMetrics().boundingRect(room, flags, label->text());
            QVERIFY2(label->isVisible() && room.contains(needed),
                     qPrintable(u"\"%1\" needs %2×%3 at (%4, %5), has %6×%7"_s.arg(label->text())
                                    .arg(needed.width())
                                    .arg(needed.height())
                                    .arg(needed.x())
                                    .arg(needed.y())
                                    .arg(room.width())
                                    .arg(room.height())));
        }
    }

    void oneVocabularyForPriorities()
    {
        QCOMPARE(bd::ui::priorityLabel(1), u"1 · now (realtime)"_s);
        QCOMPARE(bd::ui::priorityLabel(2), u"2 · within the hour (grouped)"_s);
        QCOMPARE(bd::ui::priorityLabel(3), u"3 · within a day (batch price)"_s);
        QString db;
        auto window = makeWindow(&db);
        window->openCsv(reviewsCsv(u"words.csv"_s, 3));
        bd::ui::ImportWizard *wizard = waitForWizard(*window);
        QVERIFY(wizard);
        QComboBox *priority = nullptr;
        for (QComboBox *box : wizard->findChildren<QComboBox *>()) {
            if (box->findData(3) >= 0 && box->count() == 3)
                priority = box;
        }
        QVERIFY(priority);
        QCOMPARE(priority->itemText(0), bd::ui::priorityLabel(1));
        QCOMPARE(priority->itemText(2), bd::ui::priorityLabel(3));

        // Enter in a combo box chooses, it does not start the job.
        wizard->templateEditor()->setPlainText(u"Say {{text}}"_s);
        QTRY_VERIFY(wizard->importButton()->isEnabled());
        wizard->activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(wizard));
        priority->setFocus();
        QTest::keyClick(priority, Qt::Key_Return);
        QTest::keyClick(wizard, Qt::Key_Return);
        QTest::qWait(300);
        QVERIFY(!wizard->isImporting());
        QVERIFY(storedJobs(db).isEmpty());
        QVERIFY(wizard->isVisible());
        wizard->reject();
    }

    void darkPaletteAtRunTimeRepaintsTheSidebar()
    {
        QString db;
        auto window = makeWindow(&db);
        auto *sidebar = window->findChild<QWidget *>(u"sidebar"_s);
        QVERIFY(sidebar);
        const QPalette light = QApplication::palette();
        QPalette dark = light;
        dark.setColor(QPalette::Window, QColor(0x20, 0x22, 0x25));
        dark.setColor(QPalette::Base, QColor(0x15, 0x16, 0x18));
        dark.setColor(QPalette::Text, Qt::white);
        dark.setColor(QPalette::WindowText, Qt::white);
        QApplication::setPalette(dark);
        QCoreApplication::processEvents();
        QCOMPARE(sidebar->palette().color(QPalette::Base), QColor(0x20, 0x22, 0x25));
        QCOMPARE(sidebar->palette().color(QPalette::Text), QColor(Qt::white));
        // The charts follow too.
        const auto charts = window->dashboardPage()->charts();
        QCOMPARE(charts.constFirst()->chart()->backgroundBrush().color(), QColor(0x15, 0x16, 0x18));
        QApplication::setPalette(light);
    }

    void taskRowsHaveAMenuAndCtrlFSearches()
    {
        QString db;
        auto window = makeWindow(&db);
        const QString csv = reviewsCsv(u"menu.csv"_s, 20, " [[sim:invalid]]");
        const qint64 jobId = importThroughWizard(*window, db, csv, u"Say {{text}}"_s, 0);
        QVERIFY(jobId > 0);
        QTRY_VERIFY_WITH_TIMEOUT(storedJob(db, jobId)->state == bd::JobState::Finished, 20'000);
        window->showPage(MainWindow::TasksScreen);
        bd::ui::TasksPage *tasks = window->tasksPage();
        QTableView *view = tasks->view();
        QTRY_VERIFY_WITH_TIMEOUT(tasks->model()->rowCount() == 20
                                     && tasks->model()->data(tasks->model()->index(19, 0), bd::ui::TaskTableModel::TaskIdRole).isValid(),
                                 10'000);
        view->resize(900, 600);
        const auto rowOfState = [&](bd::TaskState state) {
            for (int r = 0; r < tasks->model()->rowCount(); ++r) {
                if (tasks->model()->index(r, bd::ui::TaskTableModel::StateColumn).data().toString()
                    == bd::ui::taskStateLabel(state))
                    return r;
            }
            return -1;
        };
        const auto actionsOf = [](QMenu *menu) {
            QHash<QString, bool> enabled;
            for (QAction *action : menu->actions()) {
                if (!action->isSeparator())
                    enabled.insert(action->text().section(u' ', 0, 1), action->isEnabled());
            }
            return enabled;
        };
        const int dead = rowOfState(bd::TaskState::Dead);
        const int completed = rowOfState(bd::TaskState::Completed);
        QVERIFY(dead >= 0 && completed >= 0);

        std::unique_ptr<QMenu> menu(tasks->rowMenu(view->visualRect(tasks->model()->index(dead, 0)).center()));
        auto enabled = actionsOf(menu.get());
        QVERIFY(enabled.value(u"Replay…"_s));
        QVERIFY(!enabled.value(u"Copy answer"_s));
        QVERIFY(enabled.value(u"Copy prompt"_s));
        QVERIFY(enabled.value(u"Show job"_s));

        menu.reset(tasks->rowMenu(view->visualRect(tasks->model()->index(completed, 0)).center()));
        enabled = actionsOf(menu.get());
        QVERIFY(!enabled.value(u"Replay…"_s));
        QVERIFY(enabled.value(u"Copy answer"_s));
        // Copy prompt puts the rendered prompt of that row on the clipboard.
        for (QAction *action : menu->actions()) {
            if (action->text() == u"Copy prompt"_s)
                action->trigger();
        }
        QTRY_VERIFY_WITH_TIMEOUT(QGuiApplication::clipboard()->text().startsWith(u"Say Review number"_s), 10'000);

        // Below the last row: nothing to act on.
        menu.reset(tasks->rowMenu(QPoint(10, view->viewport()->height() - 2)));
        enabled = actionsOf(menu.get());
        for (auto it = enabled.cbegin(); it != enabled.cend(); ++it)
            QVERIFY2(!it.value(), qPrintable(it.key()));

        // Ctrl+F goes to the search field.
        window->activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(window.get()));
        view->setFocus();
        QTest::keyClick(view, Qt::Key_F, Qt::ControlModifier);
        QTRY_VERIFY(tasks->searchField()->hasFocus());
    }

    void pluralsAreRight()
    {
        QCOMPARE(bd::ui::countOf(1, "task", "tasks"), u"1 task"_s);
        QCOMPARE(bd::ui::countOf(0, "task", "tasks"), u"0 tasks"_s);
        QCOMPARE(bd::ui::countOf(1234, "task", "tasks"), u"1,234 tasks"_s);
    }

    void helpListsTheShortcuts()
    {
        QString db;
        auto window = makeWindow(&db);
        bd::ui::ShortcutsDialog dialog(window.get());
        QTableWidget *table = dialog.table();
        QStringList rows;
        for (int r = 0; r < table->rowCount(); ++r)
            rows.append(table->item(r, 0)->text() + u'=' + table->item(r, 1)->text());
        QVERIFY2(rows.contains(u"Dashboard=Ctrl+1"_s), qPrintable(rows.join(u"; ")));
        QVERIFY2(rows.contains(u"Keyboard shortcuts=Ctrl+/"_s), qPrintable(rows.join(u"; ")));
        QVERIFY(rows.size() >= 8);
    }
};

QTEST_MAIN(TestGuiConsole)
#include "test_gui_console.moc"
