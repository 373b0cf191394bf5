// The tasks model over a million tasks: the count comes first, rows are read a page at a
// time as they are looked at, and the memory held stays bounded however far one scrolls.
#include "api/engine.h"
#include "store/sqlite/sqlitestore.h"
#include "tasktablemodel.h"

#include <QElapsedTimer>
#include <QHeaderView>
#include <QScrollBar>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ui::TaskTableModel;

namespace {
constexpr qint64 kRows = 1'000'000;
}

class TestGuiTasksModel final : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_db;
    qint64 m_jobId = 0;

    // An engine on the fixture's database, open; null when it did not open in time.
    std::unique_ptr<bd::Engine> openEngine() const
    {
        bd::EngineOptions options;
        options.database = m_db;
        auto engine = bd::createEngine(options);
        QSignalSpy opened(engine.get(), &bd::Engine::opened);
        engine->open();
        if (!opened.wait(20000))
            return nullptr;
        return engine;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_db = m_dir.filePath(u"million.sqlite"_s);
        QElapsedTimer timer;
        timer.start();
        bd::store::SqliteStore store(m_db);
        QVERIFY2(store.isOpen(), qPrintable(store.errorString()));
        bd::JobSpec spec;
        spec.sourcePath = u"/data/million.csv"_s;
        spec.sourceSha256 = "00";
        spec.templateText = u"Classify {{text}}"_s;
        spec.model = u"sim-1"_s;
        m_jobId = store.createJob(spec, {u"id"_s, u"text"_s}, 1);
        QVERIFY(m_jobId > 0);
        constexpr int kChunk = 50'000;
        QList<QStringList> rows;
        rows.reserve(kChunk);
        for (qint64 first = 1; first <= kRows; first += kChunk) {
            rows.clear();
            for (qint64 r = first; r < first + kChunk; ++r)
                rows.append({u"T%1"_s.arg(r), u"row %1 says something"_s.arg(r)});
            QVERIFY(store.appendTasks(m_jobId, first, rows, first <= kRows / 2 ? 2 : 3, 1));
        }
        QVERIFY(store.setJobState(m_jobId, bd::JobState::Paused, u"imported"_s, 2));
        qInfo("fixture: %lld tasks written in %lld ms", kRows, timer.elapsed());
    }


    void pagesLazily()
    {
        const auto engineOwner = openEngine();
        QVERIFY(engineOwner);
        bd::Engine &engine = *engineOwner;
        // Should a page not come, the log says why.
        connect(&engine, &bd::Engine::readFailed, this, [](quint64 ticket, const QString &error) {
            qWarning("read %llu failed: %s", ticket, qPrintable(error));
        });

        TaskTableModel model(&engine);
        QTableView view;
        view.verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
        view.verticalHeader()->setDefaultSectionSize(20);
        view.resize(900, 600);
        view.setModel(&model);
        view.show();

        QElapsedTimer timer;
        timer.start();
        bd::TaskFilter filter;
        filter.jobId = m_jobId;
        model.setFilter(filter);
        QTRY_COMPARE_WITH_TIMEOUT(model.rowCount(), int(kRows), 10000);
        QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(0, 0), TaskTableModel::LoadedRole).toBool(), 10000);
        const qint64 firstRowsMs = timer.elapsed();
        qInfo("count and first page in %lld ms", firstRowsMs);
        QVERIFY2(firstRowsMs < 5000, "the first page took too long");
        QCOMPARE(model.data(model.index(0, TaskTableModel::RowColumn), Qt::DisplayRole).toLongLong(), 1);
        // Only what the viewport needs was read.
        QVERIFY(model.pageRequests() <= 3);
        QVERIFY(model.cachedRows() <= 3 * TaskTableModel::kPageSize);

        // Scroll page by page: each step reads at most the pages it shows (keyset reads).
        for (int step = 0; step < 20; ++step) {
            view.verticalScrollBar()->setValue(view.verticalScrollBar()->value() + 150);
            const int top = view.rowAt(0);
            QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(top, 0), TaskTableModel::LoadedRole).toBool(), 5000);
        }
        QVERIFY(model.pageRequests() <= 30);

        // Jump to the middle and to the end: a couple of pages, not the rows before them.
        timer.restart();
        view.scrollTo(model.index(int(kRows / 2), 0), QAbstractItemView::PositionAtTop);
        QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(int(kRows / 2), 0), TaskTableModel::LoadedRole).toBool(), 15000); // generous: CI machines run two tests at once
        QCOMPARE(model.data(model.index(int(kRows / 2), TaskTableModel::RowColumn), Qt::DisplayRole).toLongLong(),
                 kRows / 2 + 1);
        view.scrollToBottom();
        QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(int(kRows - 1), 0), TaskTableModel::LoadedRole).toBool(), 5000);
        QCOMPARE(model.data(model.index(int(kRows - 1), TaskTableModel::RowColumn), Qt::DisplayRole).toLongLong(), kRows);
        qInfo("jumps to the middle and the end in %lld ms; %d page reads in all, %lld rows held",
              timer.elapsed(), model.pageRequests(), model.cachedRows());
        QVERIFY(model.pageRequests() <= 40);
        QVERIFY(model.cachedRows() <= 64 * TaskTableModel::kPageSize);

        // Many jumps: memory stays bounded by the page cache.
        model.setMaxCachedPages(16);
        for (int i = 1; i <= 40; ++i) {
            const int row = int((kRows - 1) * i / 41);
            view.scrollTo(model.index(row, 0), QAbstractItemView::PositionAtTop);
            QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(row, 0), TaskTableModel::LoadedRole).toBool(), 5000);
        }
        QVERIFY(model.cachedPages() <= 16);
    }

    // A page whose read failed (the database busy or away for a moment) is read again while
    // its rows are in view, with no scrolling: its rows stayed "…" until the user scrolled
    // (CI, 2026-12-04: a jump to the middle never loaded in 15 s on a loaded machine). The
    // failure comes as the engine reports one, for the ticket of the page's request.
    void aFailedPageReadIsReadAgainWhileInView()
    {
        const auto engineOwner = openEngine();
        QVERIFY(engineOwner);
        bd::Engine &engine = *engineOwner;
        TaskTableModel model(&engine);
        QTableView view;
        view.resize(900, 600);
        view.setModel(&model);
        view.show();
        bd::TaskFilter filter;
        filter.jobId = m_jobId;
        model.setFilter(filter);
        QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(0, 0), TaskTableModel::LoadedRole).toBool(), 10000);

        // Tickets are numbered in order: the next request's is the one after this.
        const quint64 failedTicket = engine.newTicket() + 1;
        const int requestsBefore = model.pageRequests();
        const int middle = int(kRows / 2);
        view.scrollTo(model.index(middle, 0), QAbstractItemView::PositionAtTop);
        QTRY_VERIFY_WITH_TIMEOUT(model.pageRequests() > requestsBefore, 5000);
        // Before its answer: the OFFSET read of the middle page takes a while.
        Q_EMIT engine.readFailed(failedTicket, u"database is locked"_s);
        QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(middle, 0), TaskTableModel::LoadedRole).toBool(), 10000);
        QVERIFY(model.pageRequests() > requestsBefore + 1);
    }

    void filters()
    {
        const auto engineOwner = openEngine();
        QVERIFY(engineOwner);
        bd::Engine &engine = *engineOwner;
        TaskTableModel model(&engine);

        bd::TaskFilter filter;
        filter.jobId = m_jobId;
        filter.priority = 3;
        model.setFilter(filter);
        QTRY_COMPARE_WITH_TIMEOUT(model.rowCount(), int(kRows / 2), 20000);
        QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(0, 0), TaskTableModel::LoadedRole).toBool(), 20000);
        QCOMPARE(model.data(model.index(0, TaskTableModel::RowColumn), Qt::DisplayRole).toLongLong(), kRows / 2 + 1);

        filter.priority = 0;
        filter.text = u"row 777777 says"_s;
        model.setFilter(filter);
        QTRY_VERIFY_WITH_TIMEOUT(model.hasCount(), 30000);
        QCOMPARE(model.rowCount(), 1);
        QTRY_VERIFY_WITH_TIMEOUT(model.data(model.index(0, 0), TaskTableModel::LoadedRole).toBool(), 30000);
        QCOMPARE(model.data(model.index(0, TaskTableModel::RowColumn), Qt::DisplayRole).toLongLong(), 777777);

        filter.text.clear();
        filter.state = int(bd::TaskState::Dead);
        model.setFilter(filter);
        QTRY_VERIFY_WITH_TIMEOUT(model.hasCount(), 10000);
        QCOMPARE(model.rowCount(), 0);
    }
};

QTEST_MAIN(TestGuiTasksModel)
#include "test_gui_tasksmodel.moc"
