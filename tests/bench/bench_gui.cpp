// Figures for the desktop console: the tasks view over 1,000,000 tasks (time to first
// paint, time per page fetch while scrolling and jumping, peak memory) and the GUI-thread
// time of one dashboard refresh. Runs on any Qt platform (offscreen by default).
//
//   QT_QPA_PLATFORM=offscreen build/bin/bench_gui [--rows N]
#include "dashboardpage.h"
#include "metricchart.h"
#include "api/engine.h"
#include "livemetrics.h"
#include "store/sqlite/sqlitestore.h"
#include "tasktablemodel.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QEvent>
#include <QFile>
#include <QHeaderView>
#include <QScrollBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <cstdio>

using namespace Qt::StringLiterals;
using bd::ui::TaskTableModel;

namespace {

qint64 statusKb(const char *field)
{
    QFile file(u"/proc/self/status"_s);
    if (!file.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray &line : file.readAll().split('\n')) {
        if (line.startsWith(field))
            return line.mid(qstrlen(field)).trimmed().split(' ').value(0).toLongLong();
    }
    return -1;
}

// Notes when the viewport paints with row `row` loaded.
class PaintProbe final : public QObject
{
public:
    PaintProbe(TaskTableModel *model, int row) : m_model(model), m_row(row) {}
    bool painted = false;
    qint64 paintedAtNs = 0;
    QElapsedTimer *clock = nullptr;
    void setRow(int row) { m_row = row; painted = false; }

protected:
    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (event->type() == QEvent::Paint && !painted && m_row < m_model->rowCount()
            && m_model->data(m_model->index(m_row, 0), TaskTableModel::LoadedRole).toBool()) {
            painted = true;
            paintedAtNs = clock ? clock->nsecsElapsed() : 0;
        }
        return QObject::eventFilter(watched, event);
    }

private:
    TaskTableModel *m_model;
    int m_row;
};

bool waitUntil(const std::function<bool()> &condition, int timeoutMs = 30000)
{
    return QTest::qWaitFor(condition, timeoutMs);
}

} // namespace

int main(int argc, char *argv[])
{
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    QApplication app(argc, argv);
    qint64 rows = 1'000'000;
    const QStringList args = app.arguments();
    if (const qsizetype at = args.indexOf(u"--rows"_s); at >= 0 && at + 1 < args.size())
        rows = args.at(at + 1).toLongLong();

    QTemporaryDir dir;
    const QString db = dir.filePath(u"bench.sqlite"_s);
    qint64 jobId = 0;
    {
        QElapsedTimer timer;
        timer.start();
        bd::store::SqliteStore store(db);
        bd::JobSpec spec;
        spec.sourcePath = u"/data/reviews-1m.csv"_s;
        spec.sourceSha256 = "00";
        spec.templateText = u"Classify the sentiment of {{review}}"_s;
        spec.model = u"sim-1"_s;
        jobId = store.createJob(spec, {u"id"_s, u"product"_s, u"review"_s}, 1);
        constexpr int kChunk = 50'000;
        QList<QStringList> chunk;
        for (qint64 first = 1; first <= rows; first += kChunk) {
            chunk.clear();
            for (qint64 r = first; r < qMin(first + kChunk, rows + 1); ++r)
                chunk.append({u"R%1"_s.arg(r), u"espresso machine"_s,
                              u"Review %1: the espresso machine works exactly as described. Would buy again."_s.arg(r)});
            store.appendTasks(jobId, first, chunk, 2, 1);
        }
        store.setJobState(jobId, bd::JobState::Paused, u"imported"_s, 2);
        std::printf("fixture: %lld tasks written in %.1f s\n", rows, double(timer.elapsed()) / 1000.0);
    }
    const qint64 rssBefore = statusKb("VmRSS:");

    bd::EngineOptions options;
    options.database = db;
    auto engineOwner = bd::createEngine(options);
    bd::Engine &engine = *engineOwner;
    bool opened = false;
    QObject::connect(&engine, &bd::Engine::opened, &app, [&](bool ok) { opened = ok; });
    engine.open();
    if (!waitUntil([&] { return opened; })) {
        std::printf("the engine did not open\n");
        return 1;
    }

    // --- tasks view: time to first paint
    QElapsedTimer clock;
    clock.start();
    TaskTableModel model(&engine);
    QTableView view;
    view.verticalHeader()->hide();
    view.verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    view.verticalHeader()->setDefaultSectionSize(22);
    view.resize(1200, 800);
    view.setModel(&model);
    PaintProbe probe(&model, 0);
    probe.clock = &clock;
    view.viewport()->installEventFilter(&probe);
    bd::TaskFilter filter;
    filter.jobId = jobId;
    model.setFilter(filter);
    view.show();
    waitUntil([&] { return probe.painted; });
    const double firstPaintMs = double(probe.paintedAtNs) / 1e6;
    // Resident memory after each part (VmRSS now, VmHWM the peak so far), to tell which
    // part raises the peak.
    QStringList stages;
    const auto stage = [&](const char *name) {
        stages.append(u"%1 %2/%3"_s.arg(QLatin1StringView(name))
                          .arg(statusKb("VmRSS:") / 1024)
                          .arg(statusKb("VmHWM:") / 1024));
    };
    stage("first paint");

    // --- scrolling: page by page (keyset), the way a wheel or PageDown walks
    const int pageRows = view.viewport()->height() / 22;
    // Down a screenful at a time: how long until the last row shown is painted, per step.
    const auto scrollDown = [&](int steps) {
        QList<double> ms;
        for (int i = 0; i < steps; ++i) {
            const int target = view.verticalScrollBar()->value() + pageRows;
            QElapsedTimer step;
            step.start();
            probe.setRow(qMin(target + pageRows - 1, int(rows - 1)));
            view.verticalScrollBar()->setValue(target);
            waitUntil([&] { return probe.painted; });
            ms.append(double(step.nsecsElapsed()) / 1e6);
        }
        return ms;
    };
    const QList<double> scrollMs = scrollDown(200);
    stage("scrolling");
    // --- jumps: anywhere in the million (dense-id arithmetic, no OFFSET walk)
    QList<double> jumpMs;
    for (int i = 1; i <= 50; ++i) {
        const int row = int((rows - 1) * ((i * 7919) % 97) / 97);
        QElapsedTimer step;
        step.start();
        probe.setRow(row);
        view.scrollTo(model.index(row, 0), QAbstractItemView::PositionAtTop);
        waitUntil([&] { return probe.painted; });
        jumpMs.append(double(step.nsecsElapsed()) / 1e6);
    }
    stage("jumps");
    // --- a filtered view (priority 2, every row matches; OFFSET for jumps)
    filter.priority = 2;
    QElapsedTimer filtered;
    filtered.start();
    probe.setRow(0);
    model.setFilter(filter);
    waitUntil([&] { return probe.painted; });
    const double filteredFirstPaintMs = double(filtered.nsecsElapsed()) / 1e6;
    QElapsedTimer filteredJump;
    filteredJump.start();
    probe.setRow(int(rows / 2));
    view.scrollTo(model.index(int(rows / 2), 0), QAbstractItemView::PositionAtTop);
    waitUntil([&] { return probe.painted; });
    const double filteredJumpMs = double(filteredJump.nsecsElapsed()) / 1e6;
    stage("filtered");

    // --- sorted by cost, dearest first. The first sort of the job on cost builds its sort
    // index on the engine thread (the rows show in task order meanwhile); then each page is
    // a range of it: keyset on (cost, id) after the row before while scrolling, OFFSET over
    // the index for a jump.
    filter.priority = 0;
    probe.setRow(0);
    model.setFilter(filter);
    waitUntil([&] { return probe.painted; });
    const int readsBeforeSort = model.pageRequests();
    bool sortReady = false;
    QObject::connect(&engine, &bd::Engine::taskSortReady, &app, [&] { sortReady = true; });
    QElapsedTimer sorted;
    sorted.start();
    probe.setRow(0);
    model.sort(TaskTableModel::CostColumn, Qt::DescendingOrder);
    view.scrollToTop();
    waitUntil([&] { return probe.painted; });
    const double preparingPaintMs = double(sorted.nsecsElapsed()) / 1e6;
    const bool prepared = model.isSortPreparing();
    if (prepared) // a job smaller than EngineOptions::sortIndexMinTasks sorts without one
        waitUntil([&] { return sortReady; }, 600'000);
    const double indexBuiltMs = double(sorted.nsecsElapsed()) / 1e6;
    waitUntil([&] { return !model.isSortPreparing() && model.rowAt(0).has_value(); });
    probe.setRow(0);
    view.viewport()->update();
    waitUntil([&] { return probe.painted; });
    const double sortedFirstPaintMs = double(sorted.nsecsElapsed()) / 1e6;
    // The other way over the same index: a click's first paint once the index is there.
    QElapsedTimer flipped;
    flipped.start();
    probe.setRow(0);
    model.sort(TaskTableModel::CostColumn, Qt::AscendingOrder);
    waitUntil([&] { return probe.painted; });
    const double indexedFirstPaintMs = double(flipped.nsecsElapsed()) / 1e6;
    probe.setRow(0);
    model.sort(TaskTableModel::CostColumn, Qt::DescendingOrder);
    waitUntil([&] { return probe.painted; });
    const QList<double> sortedScrollMs = scrollDown(40);
    QElapsedTimer sortedJump;
    sortedJump.start();
    probe.setRow(int(rows / 2));
    view.scrollTo(model.index(int(rows / 2), 0), QAbstractItemView::PositionAtTop);
    waitUntil([&] { return probe.painted; });
    const double sortedJumpMs = double(sortedJump.nsecsElapsed()) / 1e6;
    const int sortedReads = model.pageRequests() - readsBeforeSort;
    stage("sorted");

    const auto median = [](QList<double> v) {
        std::sort(v.begin(), v.end());
        return v.isEmpty() ? 0.0 : v.at(v.size() / 2);
    };
    const auto p95 = [](QList<double> v) {
        std::sort(v.begin(), v.end());
        return v.isEmpty() ? 0.0 : v.at(qMin(v.size() - 1, qsizetype(v.size() * 0.95)));
    };

    std::printf("\ntasks view over %lld tasks\n", rows);
    std::printf("  time to first paint          %8.1f ms   (count + first page + paint)\n", firstPaintMs);
    std::printf("  page fetch while scrolling   %8.2f ms median, %.2f ms p95 (%d-row pages, keyset)\n",
                median(scrollMs), p95(scrollMs), TaskTableModel::kPageSize);
    std::printf("  jump anywhere                %8.2f ms median, %.2f ms p95\n", median(jumpMs), p95(jumpMs));
    std::printf("  filtered (priority) first paint %5.1f ms, jump to the middle %.1f ms (OFFSET)\n",
                filteredFirstPaintMs, filteredJumpMs);
    std::printf("  sorted by cost, first time   rows in task order painted %.1f ms%s, sort index "
                "built %.1f ms, sorted first paint %.1f ms\n",
                preparingPaintMs, prepared ? " (\"preparing sort\")" : "", indexBuiltMs,
                sortedFirstPaintMs);
    std::printf(
        "  sorted by cost (index)       first paint %.1f ms (the other way), page fetch %.2f "
        "ms median / %.2f ms p95 (keyset), jump to the middle %.1f ms (OFFSET), %d page "
        "reads\n",
        indexedFirstPaintMs, median(sortedScrollMs), p95(sortedScrollMs), sortedJumpMs,
        sortedReads);
    std::printf("  page reads %d, rows held %lld (cache of %d pages)\n", model.pageRequests(),
                model.cachedRows(), 64);
    std::printf("  RSS before the view %lld MB, peak RSS %lld MB\n", rssBefore / 1024,
                statusKb("VmHWM:") / 1024);
    std::printf("  RSS/peak MB after: %s\n", qPrintable(stages.join(u", "_s)));

    // --- dashboard: one refresh (counters + every chart) with an hour of samples
    bd::ui::DashboardPage dashboard;
    dashboard.resize(1200, 800);
    dashboard.show();
    if (!QTest::qWaitForWindowExposed(&dashboard))
        std::printf("(the dashboard window was not exposed)\n");
    const qint64 t0 = QDateTime::currentMSecsSinceEpoch() - 3600'000;
    auto snapshotAt = [&](int s) {
        bd::EngineSnapshot snapshot;
        snapshot.atMs = t0 + qint64(s) * 1000;
        for (int j = 1; j <= 5; ++j) {
            bd::JobSnapshot job;
            job.jobId = j;
            job.priority = 1 + j % 3;
            job.counts.completed = qint64(s) * 20 * j;
            job.counts.leased = 16;
            job.counts.pending = 1'000'000 - job.counts.completed;
            job.costUsd = double(job.counts.completed) * 0.0002;
            snapshot.jobs.append(job);
        }
        return snapshot;
    };
    for (int s = 0; s < 3600; ++s)
        dashboard.liveMetrics()->addSnapshot(snapshotAt(s));
    QList<double> refreshMs;
    for (int s = 3600; s < 3700; ++s) {
        dashboard.applySnapshot(snapshotAt(s)); // refreshes: the page is visible
        refreshMs.append(double(dashboard.lastRefreshNs()) / 1e6);
        QCoreApplication::processEvents(); // benchmark only: let the charts paint between refreshes
    }
    int seriesCount = 0;
    for (const bd::ui::MetricChart *chart : dashboard.charts())
        seriesCount += chart->lineCount();
    std::printf("\ndashboard refresh (%d charts, %d series, 1 h of 1 s samples, 5-min window)\n",
                int(dashboard.charts().size()), seriesCount);
    std::printf("  GUI-thread time per refresh  %8.2f ms median, %.2f ms p95\n", median(refreshMs),
                p95(refreshMs));
    std::printf("  peak RSS %lld MB\n", statusKb("VmHWM:") / 1024);
    return 0;
}
