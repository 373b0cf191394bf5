// The task tables read at a glance: columns sort by a click, in the database and a page at
// a time, with the indicator on the column; dead-letter rows have a menu, a search (Ctrl+F),
// and the actions that need a selection are off without one. Over a real database written
// by another connection, as another process would.
#include "api/engine.h"
#include "deadletterspage.h"
#include "exportdialog.h"
#include "format.h"
#include "store/database.h"
#include "store/sqlite/sqlitestore.h"
#include "store/taskreader.h"
#include "taskspage.h"
#include "tasktablemodel.h"
#include "tasktableview.h"

#include <atomic>
#include <QApplication>
#include <QClipboard>
#include <QDesktopServices>
#include <QDir>
#include <QFile>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPushButton>
#include <QScrollBar>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QStandardItemModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <thread>

using namespace Qt::StringLiterals;
using bd::ui::TaskTableModel;

namespace {

// Which way a header's sort arrow points, read from its pixels: the rows of dark pixels in
// the section (its title is blank) are narrow at the apex. 1: up, -1: down, 0: no arrow.
int arrowDirection(QHeaderView *header, int section)
{
    const QImage image = header->grab().toImage();
    const int left = header->sectionViewportPosition(section) + 2;
    const int right = left + header->sectionSize(section) - 4;
    QList<int> widths;
    for (int y = 2; y < image.height() - 2; ++y) {
        int dark = 0;
        for (int x = left; x < right; ++x)
            dark += qGray(image.pixel(x, y)) < 128 ? 1 : 0;
        if (dark > 0)
            widths.append(dark);
    }
    if (widths.size() < 2 || widths.constFirst() == widths.constLast())
        return 0;
    return widths.constFirst() < widths.constLast() ? 1 : -1;
}

constexpr qint64 kT0 = 1'700'000'000'000;
const QString kOwner = u"elsewhere:1:abc"_s;
constexpr int kRows = 700;      // three and a half pages
constexpr int kCompleted = 400; // then 100 dead, 200 pending

bd::TaskTransition completion(qint64 taskId, double costUsd)
{
    bd::TaskTransition t;
    t.outcome.taskId = taskId;
    t.outcome.output = u"answer %1"_s.arg(taskId);
    t.outcome.httpStatus = 200;
    t.outcome.model = u"sim-1"_s;
    t.outcome.usage.inputTokens = 10 + taskId % 13;
    t.outcome.usage.outputTokens = 4;
    t.outcome.costUsd = costUsd;
    return t;
}

bd::TaskTransition deadLetter(qint64 taskId)
{
    bd::TaskTransition t;
    t.outcome.taskId = taskId;
    t.outcome.error = bd::ErrorClass::InvalidRequest;
    t.outcome.errorMessage = u"refused row %1"_s.arg(taskId);
    t.outcome.httpStatus = 400;
    t.action = bd::OutcomeAction::DeadLetter;
    return t;
}

// Where a test keeps its screenshot, when asked to (BD_SCREENSHOT_DIR).
void keepScreenshot(QWidget *widget, const QString &name)
{
    const QString dir = qEnvironmentVariable("BD_SCREENSHOT_DIR");
    if (!dir.isEmpty())
        QVERIFY(widget->grab().save(QDir(dir).filePath(name)));
}

QHash<QString, bool> enabledActions(QMenu *menu)
{
    QHash<QString, bool> enabled;
    for (QAction *action : menu->actions()) {
        if (!action->isSeparator())
            enabled.insert(action->text(), action->isEnabled());
    }
    return enabled;
}

// Stands in for the desktop: the URLs QDesktopServices was asked to open.
class UrlCatcher final : public QObject
{
    Q_OBJECT

public:
    QList<QUrl> urls;

public Q_SLOTS:
    void open(const QUrl &url) { urls.append(url); }
};

} // namespace

class TestGuiTables final : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_db;
    qint64 m_jobId = 0;
    QHash<qint64, double> m_cost; // completed tasks
    QList<qint64> m_pending;
    QList<qint64> m_dead;
    std::unique_ptr<bd::Engine> m_engine;

    // A task as stored, read through a connection of its own.
    std::optional<bd::TaskDetail> storedTask(qint64 taskId) const
    {
        QString error;
        const auto db =
            bd::store::Database::open(m_db, bd::store::Database::Access::ReadOnly, &error);
        return db ? db->tasks().detail(taskId) : std::nullopt;
    }

    bd::JobInfo job() const
    {
        bd::store::SqliteStore store(m_db);
        return store.job(m_jobId).value_or(bd::JobInfo());
    }

    // The Tasks page of an engine, shown, on the job.
    // An opened engine on the test database that builds sort indexes for the job (half its
    // tasks is enough) and keeps at most maxIndexes of them; null when it did not open.
    std::unique_ptr<bd::Engine> sortingEngine(int maxIndexes) const
    {
        bd::EngineOptions options;
        options.database = m_db;
        options.sortIndexMinTasks = kRows / 2;
        options.maxSortIndexes = maxIndexes;
        auto engine = bd::createEngine(options);
        QSignalSpy opened(engine.get(), &bd::Engine::opened);
        engine->open();
        if (!opened.wait(20000) || !opened.first().at(0).toBool())
            return nullptr;
        return engine;
    }

    std::unique_ptr<bd::ui::TasksPage> openTasksPage(bd::Engine *engine, qint64 jobId) const
    {
        auto page = std::make_unique<bd::ui::TasksPage>(engine);
        page->setJobs({job()});
        page->resize(1600, 700);
        page->show();
        if (!QTest::qWaitForWindowExposed(page.get()))
            return nullptr;
        page->showJob(jobId);
        return page;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_db = m_dir.filePath(u"tables.sqlite"_s);
        bd::store::SqliteStore store(m_db);
        QVERIFY2(store.isOpen(), qPrintable(store.errorString()));
        bd::JobSpec spec;
        spec.sourcePath = u"/data/tables.csv"_s;
        spec.sourceSha256 = "00";
        spec.templateText = u"Classify {{text}}"_s;
        spec.model = u"sim-1"_s;
        m_jobId = store.createJob(spec, {u"id"_s, u"text"_s}, kT0);
        QVERIFY(m_jobId > 0);
        QList<QStringList> rows;
        for (int r = 1; r <= kRows; ++r)
            rows.append(
                {u"T%1"_s.arg(r), u"row %1 says %2"_s.arg(r).arg(r % 3 ? u"fine"_s : u"odd"_s)});
        QVERIFY(store.appendTasks(m_jobId, 1, rows, 2, kT0));
        // Claimed in groups of 50 at different times, finished together: latencies differ.
        QList<bd::ClaimedTask> claimed;
        for (int group = 0; group < (kCompleted + 100) / 50; ++group) {
            QList<bd::ClaimedTask> some;
            QVERIFY(store.claimTasks(m_jobId, kOwner, 50, kT0 + group * 37, kT0 + 600'000, &some));
            claimed.append(some);
        }
        QList<bd::TaskTransition> done;
        for (int i = 0; i < claimed.size(); ++i) {
            const qint64 id = claimed.at(i).id;
            if (i < kCompleted) {
                const double cost = 0.0001 * ((i * 37) % 101); // ties, in no id order
                m_cost.insert(id, cost);
                done.append(completion(id, cost));
            } else {
                m_dead.append(id);
                done.append(deadLetter(id));
            }
        }
        QVERIFY(store.applyTransitions(kOwner, done, kT0 + 5'000));
        QVERIFY(store.setJobState(m_jobId, bd::JobState::Paused, u"imported"_s, kT0));
        const qint64 firstId = claimed.constFirst().id;
        for (qint64 id = firstId; id < firstId + kRows; ++id) {
            if (!m_cost.contains(id) && !m_dead.contains(id))
                m_pending.append(id);
        }
        QCOMPARE(m_pending.size(), kRows - kCompleted - 100);

        bd::EngineOptions options;
        options.database = m_db;
        m_engine = bd::createEngine(options);
        QSignalSpy opened(m_engine.get(), &bd::Engine::opened);
        m_engine->open();
        QVERIFY(opened.wait(20000));
        QVERIFY(opened.at(0).at(0).toBool());
    }

    void cleanupTestCase() { m_engine.reset(); }

    void columnsSortInTheDatabase()
    {
        const auto shown = openTasksPage(m_engine.get(), m_jobId);
        QVERIFY(shown);
        bd::ui::TasksPage &page = *shown;
        TaskTableModel *model = page.model();
        QTableView *view = page.view();
        QHeaderView *header = view->horizontalHeader();
        QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(), kRows, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(model->rowAt(0).has_value(), 10000);
        QVERIFY(header->isSortIndicatorShown());
        QCOMPARE(header->sortIndicatorSection(), int(TaskTableModel::IdColumn));
        QCOMPARE(model->data(model->index(0, TaskTableModel::PriorityColumn), Qt::DisplayRole)
                     .toString(),
                 bd::ui::priorityShortLabel(2));

        const auto clickHeader = [&](int column) {
            const QPoint at(header->sectionViewportPosition(column) +
                                header->sectionSize(column) / 2,
                            header->height() / 2);
            QVERIFY(at.x() > 0 && at.x() < header->viewport()->width());
            QTest::mouseClick(header->viewport(), Qt::LeftButton, {}, at);
        };
        const auto waitForRow = [&](int row) {
            return QTest::qWaitFor([&] { return model->rowAt(row).has_value(); }, 10000);
        };

        // Cost, cheapest first: tasks without a cost (pending, dead) lead, then by cost.
        const int requestsBefore = model->pageRequests();
        clickHeader(TaskTableModel::CostColumn);
        QCOMPARE(model->order().key, bd::TaskSortKey::Cost);
        QCOMPARE(model->order().descending, false);
        QCOMPARE(header->sortIndicatorSection(), int(TaskTableModel::CostColumn));
        QCOMPARE(header->sortIndicatorOrder(), Qt::AscendingOrder);
        QVERIFY(waitForRow(0));
        QCOMPARE(model->rowAt(0)->costUsd.has_value(), false);
        QCOMPARE(model->rowCount(), kRows);

        // Again: the dearest first, then down in cost (ties by id, descending).
        clickHeader(TaskTableModel::CostColumn);
        QCOMPARE(header->sortIndicatorOrder(), Qt::DescendingOrder);
        QVERIFY(model->order().descending);
        QVERIFY(waitForRow(0));
        double dearest = 0;
        for (const double cost : std::as_const(m_cost))
            dearest = qMax(dearest, cost);
        QCOMPARE(model->rowAt(0)->costUsd.value_or(-1), dearest);
        QVERIFY(waitForRow(TaskTableModel::kPageSize - 1));
        for (int r = 1; r < TaskTableModel::kPageSize; ++r) {
            const bd::TaskRow above = *model->rowAt(r - 1), row = *model->rowAt(r);
            QVERIFY2(above.costUsd.value_or(-1) > row.costUsd.value_or(-1) ||
                         (above.costUsd == row.costUsd && above.id > row.id),
                     qPrintable(u"row %1"_s.arg(r)));
        }
        QTRY_COMPARE_WITH_TIMEOUT(page.shownDetail().id, model->rowAt(0)->id, 10000);
        keepScreenshot(&page, u"tasks-sorted-by-cost.png"_s);

        // The end of the order: pending and dead tasks, the lowest id last. Read as a jump,
        // the pages between are not read.
        view->scrollToBottom();
        QVERIFY(waitForRow(kRows - 1));
        QCOMPARE(model->rowAt(kRows - 1)->id,
                 std::min(m_pending.constFirst(), m_dead.constFirst()));
        QVERIFY2(model->pageRequests() - requestsBefore <= 8,
                 qPrintable(QString::number(model->pageRequests())));
        QVERIFY(model->cachedRows() <= 3 * TaskTableModel::kPageSize);

        // Scrolling up from the end reads page by page; the rows keep the order.
        view->scrollTo(model->index(kRows - TaskTableModel::kPageSize - 10, 0),
                       QAbstractItemView::PositionAtTop);
        QVERIFY(waitForRow(kRows - TaskTableModel::kPageSize - 10));

        // Latency, the slowest first: the first group claimed took the longest.
        clickHeader(TaskTableModel::LatencyColumn);
        clickHeader(TaskTableModel::LatencyColumn);
        QCOMPARE(model->order().key, bd::TaskSortKey::Latency);
        QVERIFY(model->order().descending);
        view->scrollToTop();
        QVERIFY(waitForRow(0));
        QCOMPARE(model->rowAt(0)->latencyMs, 5'000);
        QCOMPARE(
            model->data(model->index(0, TaskTableModel::LatencyColumn), Qt::DisplayRole).toString(),
            u"5.0 s"_s);

        // A column that does not sort: the order and its indicator stay.
        clickHeader(TaskTableModel::ErrorColumn);
        QCOMPARE(model->order().key, bd::TaskSortKey::Latency);
        QCOMPARE(header->sortIndicatorSection(), int(TaskTableModel::LatencyColumn));
        QCOMPARE(header->sortIndicatorOrder(), Qt::DescendingOrder);

        // A filter keeps the order: dead tasks by attempts, then id.
        clickHeader(TaskTableModel::IdColumn);
        QCOMPARE(model->order().key, bd::TaskSortKey::Id);
    }

    void deadLetterRowsHaveAMenuAndASearch()
    {
        bd::ui::DeadLettersPage page(m_engine.get());
        page.setConfirmBulkActions(false);
        page.setJobs({job()});
        page.resize(1400, 700);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        TaskTableModel *model = page.model();
        QTableView *view = page.view();
        QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(), int(m_dead.size()), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(model->rowAt(0).has_value(), 10000);
        // The first row is shown and selected: replaying it is possible; with nothing
        // selected, not.
        QTRY_VERIFY(page.replaySelectionButton()->isEnabled());
        view->clearSelection();
        QVERIFY(!page.replaySelectionButton()->isEnabled());

        std::unique_ptr<QMenu> menu(page.rowMenu(view->visualRect(model->index(3, 0)).center()));
        auto enabled = enabledActions(menu.get());
        const qint64 taskId = model->rowAt(3)->id;
        QVERIFY2(enabled.value(u"Replay"_s), qPrintable(QStringList(enabled.keys()).join(u", ")));
        QVERIFY(enabled.value(u"Replay at priority…"_s));
        QVERIFY(enabled.value(u"Copy prompt"_s));
        QVERIFY(!enabled.value(u"Copy answer"_s, true));
        QVERIFY(enabled.value(u"Copy error"_s));
        QVERIFY(enabled.value(u"Show job %1"_s.arg(m_jobId)));
        QVERIFY(page.replaySelectionButton()->isEnabled()); // the row under the pointer
        for (QAction *action : menu->actions()) {
            if (action->text() == u"Copy error"_s)
                action->trigger();
        }
        QTRY_COMPARE_WITH_TIMEOUT(QGuiApplication::clipboard()->text(),
                                  u"refused row %1"_s.arg(taskId), 10000);
        QSignalSpy showJob(&page, &bd::ui::DeadLettersPage::showJobRequested);
        for (QAction *action : menu->actions()) {
            if (action->text().startsWith(u"Show job"_s))
                action->trigger();
        }
        QCOMPARE(showJob.count(), 1);
        QCOMPARE(showJob.at(0).at(0).toLongLong(), m_jobId);

        // Below the last row (a search leaves one): nothing to act on.
        page.searchField()->setText(u"refused row %1"_s.arg(m_dead.constLast()));
        QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(), 1, 10000);
        const QPoint below(10, view->viewport()->height() - 2);
        QVERIFY(!view->indexAt(below).isValid());
        menu.reset(page.rowMenu(below));
        enabled = enabledActions(menu.get());
        for (auto it = enabled.cbegin(); it != enabled.cend(); ++it)
            QVERIFY2(!it.value(), qPrintable(it.key()));
    }

    void exportOffersTheFileAndSaysWhenPartial()
    {
        const bd::JobInfo info = job();
        QCOMPARE(info.counts.dead, qint64(m_dead.size()));
        auto *dialog =
            new bd::ui::ExportDialog(m_engine.get(), m_jobId, m_dir.filePath(u"out.csv"_s));
        const std::unique_ptr<bd::ui::ExportDialog> owner(dialog);
        dialog->setAttribute(Qt::WA_DeleteOnClose, false);
        dialog->setJobCounts(info.counts);
        dialog->show();
        QVERIFY(!dialog->openFileButton()->isVisible());
        QSignalSpy exported(dialog, &bd::ui::ExportDialog::exported);
        dialog->startExport();
        QVERIFY(exported.wait(20000));
        QVERIFY2(exported.at(0).at(2).toBool(), qPrintable(exported.at(0).at(3).toString()));
        const QString path = QFileInfo(m_dir.filePath(u"out.csv"_s)).absoluteFilePath();
        QVERIFY(QFile::exists(path));
        QVERIFY2(dialog->statusText().contains(u"partial: 100 dead, 200 not answered yet"_s),
                 qPrintable(dialog->statusText()));
        QVERIFY(dialog->openFileButton()->isVisible());
        QVERIFY(dialog->showFolderButton()->isVisible());
        keepScreenshot(dialog, u"export-done.png"_s);

        UrlCatcher desktop;
        QDesktopServices::setUrlHandler(u"file"_s, &desktop, "open");
        QTest::mouseClick(dialog->openFileButton(), Qt::LeftButton);
        QTest::mouseClick(dialog->showFolderButton(), Qt::LeftButton);
        QDesktopServices::unsetUrlHandler(u"file"_s);
        QCOMPARE(desktop.urls.size(), 2);
        QCOMPARE(desktop.urls.at(0), QUrl::fromLocalFile(path));
        QCOMPARE(desktop.urls.at(1), QUrl::fromLocalFile(QFileInfo(path).absolutePath()));
    }

    void deadLettersSearchAndReplayAtAPriority()
    {
        bd::ui::DeadLettersPage page(m_engine.get());
        page.setConfirmBulkActions(false);
        page.setJobs({job()});
        page.resize(1400, 700);
        page.show();
        page.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&page));
        TaskTableModel *model = page.model();
        QTableView *view = page.view();
        QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(), int(m_dead.size()), 10000);

        // Ctrl+F goes to the search; a search narrows the rows.
        view->setFocus();
        QTest::keyClick(view, Qt::Key_F, Qt::ControlModifier);
        QTRY_VERIFY(page.searchField()->hasFocus());
        QTest::keyClicks(page.searchField(), u"odd"_s);
        int odd = 0;
        for (const qint64 id : std::as_const(m_dead)) {
            const auto detail = storedTask(id);
            if (detail && detail->values.value(1).contains(u"odd"_s))
                ++odd;
        }
        QVERIFY(odd > 0 && odd < m_dead.size());
        QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(), odd, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(model->rowAt(1).has_value(), 10000);
        QTRY_VERIFY(page.findChild<QLabel *>(u"deadSummary"_s)
                        ->text()
                        .endsWith(u"%1 match “odd”"_s.arg(odd)));
        keepScreenshot(&page, u"dead-letters-search.png"_s);

        // Two rows back to pending at priority 1, in the database.
        view->selectionModel()->select(QItemSelection(model->index(0, 0), model->index(1, 0)),
                                       QItemSelectionModel::ClearAndSelect |
                                           QItemSelectionModel::Rows);
        const qint64 a = model->rowAt(0)->id, b = model->rowAt(1)->id;
        page.replaySelectionAt(1);
        QTRY_VERIFY_WITH_TIMEOUT(([&] {
                                     const auto ta = storedTask(a), tb = storedTask(b);
                                     return ta && tb && ta->state == bd::TaskState::Pending &&
                                            tb->state == bd::TaskState::Pending &&
                                            ta->priority == 1 && tb->priority == 1;
                                 }()),
                                 10000);
        QTRY_COMPARE_WITH_TIMEOUT(model->rowCount(), odd - 2, 10000);
    }

    // Ascending (the smallest first) points up, descending down. Qt hands the style a
    // "sort down" arrow for ascending, which Fusion draws pointing down: without the fix the
    // arrow reads the other way.
    void sortArrowPointsTheWayValuesGrow()
    {
        QStandardItemModel model(3, 2);
        model.setHorizontalHeaderLabels({u" "_s, u" "_s});
        QTableView plain, fixed;
        for (QTableView *view : {&plain, &fixed}) {
            view->setModel(&model);
            view->horizontalHeader()->setSortIndicatorShown(true);
            view->horizontalHeader()->resizeSection(0, 80);
            view->resize(300, 150);
        }
        bd::ui::pointSortArrowsWithTheOrder(fixed.horizontalHeader());
        for (QTableView *view : {&plain, &fixed})
            view->show();
        QVERIFY(QTest::qWaitForWindowExposed(&fixed));
        for (const Qt::SortOrder order : {Qt::AscendingOrder, Qt::DescendingOrder}) {
            fixed.horizontalHeader()->setSortIndicator(0, order);
            plain.horizontalHeader()->setSortIndicator(0, order);
            const int up = order == Qt::AscendingOrder ? 1 : -1;
            QCOMPARE(arrowDirection(fixed.horizontalHeader(), 0), up);
            QCOMPARE(arrowDirection(plain.horizontalHeader(), 0), -up); // Qt's own
        }
        // The task tables use it.
        const auto page = openTasksPage(m_engine.get(), m_jobId);
        QVERIFY(page);
        QHeaderView *header = page->view()->horizontalHeader();
        QCOMPARE(header->style()->metaObject()->className(),
                 fixed.horizontalHeader()->style()->metaObject()->className());
    }

    // A job of at least sortIndexMinTasks tasks sorted on a key it has no index for: the
    // rows show in task order with "Preparing the sort…", the engine builds the job's index
    // on its thread, then the pages are read again, sorted, over the index.
    void aBigJobsSortWaitsForItsIndex()
    {
        const auto engine = sortingEngine(bd::kMaxSortIndexes);
        QVERIFY(engine);
        QSignalSpy ready(engine.get(), &bd::Engine::taskSortReady);

        const auto shown = openTasksPage(engine.get(), m_jobId);
        QVERIFY(shown);
        bd::ui::TasksPage &page = *shown;
        TaskTableModel *model = page.model();
        QTRY_VERIFY_WITH_TIMEOUT(model->rowAt(0).has_value(), 10000);
        auto *note = page.findChild<QLabel *>(u"sortNote"_s);
        QVERIFY(note);
        QVERIFY(note->isHidden());
        QStringList notes;
        connect(model, &TaskTableModel::sortPreparingChanged, this,
                [&](bool preparing) { notes.append(preparing ? note->text() : QString()); });

        model->sort(TaskTableModel::LatencyColumn, Qt::DescendingOrder);
        QTRY_COMPARE_WITH_TIMEOUT(ready.size(), 1, 20000);
        QCOMPARE(ready.at(0).at(0).toLongLong(), m_jobId);
        QCOMPARE(ready.at(0).at(1).value<bd::TaskSortKey>(), bd::TaskSortKey::Latency);
        QCOMPARE(ready.at(0).at(2).toString(), QString());
        QTRY_COMPARE(notes.size(), 2); // the spy and the model hear it one event apart
        QVERIFY2(notes.at(0).startsWith(u"Preparing the sort by latency…"_s),
                 qPrintable(notes.at(0)));
        QVERIFY(notes.at(1).isEmpty());
        QVERIFY(!model->isSortPreparing());
        QTRY_VERIFY(note->isHidden());

        // Read again, sorted: the longest latency first, ties by id, descending.
        for (int row = 0; row < kRows; row += TaskTableModel::kPageSize / 2) {
            page.view()->scrollTo(model->index(row, 0));
            QTRY_VERIFY_WITH_TIMEOUT(model->rowAt(row).has_value(), 10000);
        }
        QTRY_VERIFY_WITH_TIMEOUT(model->rowAt(kRows - 1).has_value(), 10000);
        for (int row = 1; row < kRows; ++row) {
            const bd::TaskRow a = *model->rowAt(row - 1), b = *model->rowAt(row);
            QVERIFY2(std::pair(a.latencyMs, a.id) > std::pair(b.latencyMs, b.id),
                     qPrintable(u"row %1"_s.arg(row)));
        }
        QString error;
        const auto db =
            bd::store::Database::open(m_db, bd::store::Database::Access::ReadOnly, &error);
        QVERIFY2(db, qPrintable(error));
        QVERIFY(db->tasks().hasSortIndex(m_jobId, bd::TaskSortKey::Latency));
        QVERIFY(!db->tasks().hasSortIndex(m_jobId, bd::TaskSortKey::Cost));

        // Sorted there already: no waiting the second time.
        model->sort(TaskTableModel::IdColumn, Qt::AscendingOrder);
        model->sort(TaskTableModel::LatencyColumn, Qt::AscendingOrder);
        QTRY_VERIFY_WITH_TIMEOUT(model->rowAt(0).has_value(), 10000);
        QCOMPARE(notes.size(), 2);
        QCOMPARE(ready.size(), 1);
        QCOMPARE(model->rowAt(0)->latencyMs, -1);
    }

    // Sort indexes are capped: with room for two, a third drops the least recently used
    // (one sorted on again since is kept); the wait says what building one costs and names
    // the cap the engine was given (it named the default, six).
    void sortIndexesAreCappedLeastRecentlyUsedFirst()
    {
        const auto engine = sortingEngine(2);
        QVERIFY(engine);
        QSignalSpy ready(engine.get(), &bd::Engine::taskSortReady);
        const auto shown = openTasksPage(engine.get(), m_jobId);
        QVERIFY(shown);
        TaskTableModel *model = shown->model();
        QTRY_VERIFY_WITH_TIMEOUT(model->rowAt(0).has_value() && model->hasCount(), 10000);
        auto *note = shown->findChild<QLabel *>(u"sortNote"_s);
        QStringList notes;
        connect(model, &TaskTableModel::sortPreparingChanged, this, [&](bool preparing) {
            if (preparing)
                notes.append(note->text());
        });
        const auto sortOn = [&](int column, qsizetype builds) {
            model->sort(column, Qt::DescendingOrder);
            QTRY_COMPARE_WITH_TIMEOUT(ready.size(), builds, 20000);
            QTRY_VERIFY_WITH_TIMEOUT(!model->isSortPreparing() && model->rowAt(0).has_value(),
                                     10000);
        };
        const auto indexes = [&] {
            QString error;
            const auto db =
                bd::store::Database::open(m_db, bd::store::Database::Access::ReadOnly, &error);
            QStringList names;
            for (const bd::TaskSortKey key :
                 {bd::TaskSortKey::Cost, bd::TaskSortKey::Tokens, bd::TaskSortKey::Attempts,
                  bd::TaskSortKey::Latency}) {
                if (db && db->tasks().hasSortIndex(m_jobId, key))
                    names.append(bd::store::taskordersql::sortIndexName(m_jobId, key));
            }
            return names;
        };
        sortOn(TaskTableModel::CostColumn, 1);
        sortOn(TaskTableModel::TokensColumn, 2);
        QCOMPARE(indexes().size(), 2); // any index of an earlier run went first (never used here)
        QVERIFY(indexes().contains(
            bd::store::taskordersql::sortIndexName(m_jobId, bd::TaskSortKey::Cost)));
        // Cost used again (its index is there: no build), then a third key.
        sortOn(TaskTableModel::CostColumn, 2);
        sortOn(TaskTableModel::AttemptsColumn, 3);
        QCOMPARE(indexes(),
                 QStringList(
                     {bd::store::taskordersql::sortIndexName(m_jobId, bd::TaskSortKey::Cost),
                      bd::store::taskordersql::sortIndexName(m_jobId, bd::TaskSortKey::Attempts)}));
        QCOMPARE(notes.size(), 3);
        QCOMPARE(notes.at(2),
                 u"Preparing the sort by attempts… (an index over this job's %1 tasks: under a "
                 "second, while jobs running on an SQLite database wait for it; the %2 most "
                 "recently used sort indexes are kept). Tasks show in task order meanwhile."_s
                     .arg(bd::ui::formatCount(kRows))
                     .arg(2)); // the cap this engine was given, not the default
    }

    // The cap on sort indexes holds for the database, not for each process: two consoles
    // with room for two each, sorting on four keys between them, leave two indexes.
    void theSortIndexCapHoldsForTheDatabase()
    {
        {
            bd::store::SqliteStore store(m_db); // none left by the tests before
            for (const auto &[jobId, key] : store.sortIndexes())
                QVERIFY(store.dropSortIndex(jobId, key));
        }
        const auto first = sortingEngine(2);
        const auto second = sortingEngine(2);
        QVERIFY(first && second);
        bd::TaskFilter filter;
        filter.jobId = m_jobId;
        const auto build = [&](bd::Engine *engine, bd::TaskSortKey key) {
            QSignalSpy ready(engine, &bd::Engine::taskSortReady);
            engine->requestTaskPage(engine->newTicket(), filter, 0, -1, 200, {key, false});
            return ready.wait(20000) && ready.at(0).at(2).toString().isEmpty();
        };
        QVERIFY(build(first.get(), bd::TaskSortKey::Cost));
        QVERIFY(build(second.get(), bd::TaskSortKey::Tokens));
        QVERIFY(build(first.get(), bd::TaskSortKey::Attempts));
        QVERIFY(build(second.get(), bd::TaskSortKey::Latency));
        QString error;
        const auto db =
            bd::store::Database::open(m_db, bd::store::Database::Access::ReadOnly, &error);
        QVERIFY2(db, qPrintable(error));
        QStringList kept;
        for (const bd::TaskSortKey key : {bd::TaskSortKey::Cost, bd::TaskSortKey::Tokens,
                                          bd::TaskSortKey::Attempts, bd::TaskSortKey::Latency}) {
            if (db->tasks().hasSortIndex(m_jobId, key))
                kept.append(bd::store::taskordersql::sortIndexName(m_jobId, key));
        }
        QCOMPARE(kept.size(), 2);
        // The one just built stays; the other is one the second console used (it cannot
        // know what the first one reads: that page reads again without it).
        QVERIFY(kept.contains(
            bd::store::taskordersql::sortIndexName(m_jobId, bd::TaskSortKey::Latency)));
    }

    // Another process drops the sort index a page is read over (another console's cap, or
    // it builds and drops one): the page read between the reader's check and its read still
    // comes, in the key's order, and nobody sees an error (it failed once, "no such index").
    void aSortIndexDroppedByAnotherProcessIsNoError()
    {
        const QString create =
            bd::store::taskordersql::sortIndexStatement(m_jobId, bd::TaskSortKey::Cost, false);
        const QString drop = u"DROP INDEX IF EXISTS "_s +
                             bd::store::taskordersql::sortIndexName(m_jobId, bd::TaskSortKey::Cost);
        std::atomic_bool stop = false;
        std::atomic_int cycles = 0;
        QString otherError;
        std::thread other([&] {
            // The other process: a connection of its own that builds and drops the index.
            {
                QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"other-process"_s);
                db.setDatabaseName(m_db);
                if (!db.open()) {
                    otherError = db.lastError().text();
                    return;
                }
                QSqlQuery query(db);
                query.exec(u"PRAGMA busy_timeout = 10000"_s);
                while (!stop) {
                    if (!query.exec(create) || !query.exec(drop)) {
                        otherError = query.lastError().text();
                        break;
                    }
                    ++cycles;
                }
                query.exec(drop);
            }
            QSqlDatabase::removeDatabase(u"other-process"_s);
        });
        QSignalSpy failed(m_engine.get(), &bd::Engine::readFailed);
        QSignalSpy pages(m_engine.get(), &bd::Engine::taskPageReady);
        bd::TaskFilter filter;
        filter.jobId = m_jobId;
        const bd::TaskOrder order{bd::TaskSortKey::Cost, true};
        const auto key = [](const bd::TaskRow &row) {
            return std::pair(row.costUsd.value_or(-1), row.id);
        };
        // The second page, read after the first's last row: the ties of that row first, then
        // the rows beyond, two reads over the index (the index can go between them).
        m_engine->requestTaskPage(m_engine->newTicket(), filter, 0, -1, 200, order);
        QTRY_VERIFY_WITH_TIMEOUT(pages.size() + failed.size() > 0, 10000);
        QVERIFY(failed.isEmpty());
        const bd::TaskRow last = pages.at(0).at(2).value<QList<bd::TaskRow>>().constLast();
        pages.clear();
        constexpr int kPages = 400;
        QString wrong;
        for (int i = 0; i < kPages && failed.isEmpty() && wrong.isEmpty(); ++i) {
            m_engine->requestTaskPage(m_engine->newTicket(), filter, 200, last.id, 200, order);
            if (!QTest::qWaitFor([&] { return pages.size() + failed.size() > i; }, 10000))
                break;
            if (pages.size() <= i)
                continue;
            const auto rows = pages.at(i).at(2).value<QList<bd::TaskRow>>();
            if (rows.size() != 200 || !(key(last) > key(rows.constFirst())))
                wrong = u"page %1 does not follow the first"_s.arg(i);
            for (int r = 1; r < rows.size() && wrong.isEmpty(); ++r) {
                if (!(key(rows.at(r - 1)) > key(rows.at(r))))
                    wrong = u"page %1 row %2 out of order"_s.arg(i).arg(r);
            }
        }
        stop = true;
        other.join();
        QVERIFY2(otherError.isEmpty(), qPrintable(otherError));
        QVERIFY(cycles > 0);
        QVERIFY2(failed.isEmpty(),
                 qPrintable(failed.isEmpty() ? QString() : failed.at(0).at(1).toString()));
        QVERIFY2(wrong.isEmpty(), qPrintable(wrong));
        QCOMPARE(pages.size(), kPages);
        qInfo("%d index builds and drops by the other connection during %d pages", int(cycles),
              kPages);
    }

    // After a sort the view makes row 0 current before its page is read: the detail pane
    // says "Loading…", then shows that task once the page arrives (it stayed "Loading…").
    void theCurrentRowShowsOnceItsPageArrives()
    {
        const auto shown = openTasksPage(m_engine.get(), m_jobId);
        QVERIFY(shown);
        TaskTableModel *model = shown->model();
        QTRY_VERIFY_WITH_TIMEOUT(model->rowAt(0).has_value(), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(shown->shownDetail().id == model->rowAt(0)->id, 10000);
        model->sort(TaskTableModel::TokensColumn, Qt::DescendingOrder);
        QVERIFY(!model->rowAt(0).has_value());
        shown->view()->setCurrentIndex(model->index(0, 0));
        QTRY_VERIFY_WITH_TIMEOUT(model->rowAt(0).has_value(), 10000);
        QTRY_COMPARE_WITH_TIMEOUT(shown->shownDetail().id, model->rowAt(0)->id, 10000);
    }

    // Sorting every job has no index: the page says what each sorted page costs, from the
    // job size this window's engine was configured to index at (it used the compiled
    // default, whatever the engine was given).
    void sortingEveryJobSaysWhatItCosts()
    {
        QVERIFY(m_engine->sortIndexMinTasks() > kRows); // the default: no note for kRows
        QVERIFY(openTasksPage(m_engine.get(), 0)->slowSortTasks() > kRows);
        const auto engine = sortingEngine(4); // sortIndexMinTasks = kRows / 2
        QVERIFY(engine);
        QCOMPARE(engine->sortIndexMinTasks(), qint64(kRows / 2));
        const auto shown = openTasksPage(engine.get(), 0);
        QVERIFY(shown);
        bd::ui::TasksPage &page = *shown;
        TaskTableModel *model = page.model();
        QTRY_VERIFY_WITH_TIMEOUT(model->hasCount(), 10000);
        auto *note = page.findChild<QLabel *>(u"sortNote"_s);
        model->sort(TaskTableModel::CostColumn, Qt::AscendingOrder);
        QTRY_VERIFY(!note->isHidden());
        QCOMPARE(note->text(),
                 u"Sorted over every job: each page reads all %1 tasks' cost (about 2 s a page "
                 "per million tasks). Choose a job for fast sorted pages."_s.arg(
                     bd::ui::formatCount(model->rowCount())));
        // One job's sort has its index (built now: it is over the threshold): nothing to say.
        page.showJob(m_jobId);
        QTRY_VERIFY_WITH_TIMEOUT(note->isHidden(), 20'000);
        // Back in task order: nothing either.
        page.showJob(0);
        model->sort(TaskTableModel::IdColumn, Qt::AscendingOrder);
        QTRY_VERIFY_WITH_TIMEOUT(model->hasCount(), 10000);
        QVERIFY(note->isHidden());
    }
};

QTEST_MAIN(TestGuiTables)
#include "test_gui_tables.moc"
