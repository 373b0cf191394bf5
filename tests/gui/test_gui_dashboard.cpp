// Dashboard charts and counters follow engine snapshots, replacing each series on a fixed
// window rather than growing it.
#include "dashboardpage.h"
#include "livemetrics.h"
#include "metricchart.h"

#include <QLineSeries>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ui::DashboardPage;

namespace {

bd::EngineSnapshot snapshotAt(qint64 atMs, qint64 done, double spend)
{
    bd::EngineSnapshot snapshot;
    snapshot.atMs = atMs;
    bd::JobSnapshot job;
    job.jobId = 1;
    job.priority = 2;
    job.state = bd::JobState::Running;
    job.counts.completed = done;
    job.counts.dead = done / 100;
    job.counts.leased = 16;
    job.counts.pending = qMax<qint64>(0, 100'000 - done - 16 - done / 100);
    job.costUsd = spend;
    snapshot.jobs.append(job);
    bd::JobSnapshot bulk = job;
    bulk.jobId = 2;
    bulk.priority = 3;
    bulk.counts = {};
    bulk.counts.pending = 5000;
    bulk.costUsd = 0;
    snapshot.jobs.append(bulk);
    return snapshot;
}

} // namespace

class TestGuiDashboard final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void seriesFollowSnapshots()
    {
        DashboardPage page;
        page.resize(1200, 800);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        const QList<bd::ui::MetricChart *> charts = page.charts();
        QCOMPARE(charts.size(), 4);
        for (bd::ui::MetricChart *chart : charts) {
            for (int i = 0; i < chart->seriesCount(); ++i)
                QCOMPARE(chart->series(i)->count(), 0);
        }

        const qint64 t0 = 1'800'000'000'000;
        // 60 tasks a second for two minutes, a tenth of a cent each.
        for (int s = 0; s <= 120; ++s)
            page.applySnapshot(snapshotAt(t0 + s * 1000, s * 60, s * 60 * 0.001));

        bd::ui::MetricChart *queue = charts.at(0);
        QCOMPARE(queue->seriesCount(), 4);
        QCOMPARE(queue->series(0)->count(), 121);          // P1: present, all zero
        QCOMPARE(queue->series(1)->points().constLast().y(), double(100'000 - 7200 - 16 - 72));
        QCOMPARE(queue->series(2)->points().constLast().y(), 5000.0);
        QCOMPARE(queue->series(3)->points().constLast().y(), 16.0);
        QCOMPARE(queue->series(1)->points().constLast().x(), double(t0 + 120'000));

        // Finished per minute: 60 completed + 0.6 dead per second.
        bd::ui::MetricChart *rate = charts.at(1);
        const double lastRate = rate->series(0)->points().constLast().y();
        QVERIFY2(qAbs(lastRate - 3636.0) < 100.0, qPrintable(QString::number(lastRate)));
        bd::ui::MetricChart *spend = charts.at(2);
        QCOMPARE(spend->series(0)->points().constLast().y(), 120 * 60 * 0.001);
        bd::ui::MetricChart *perTask = charts.at(3);
        QVERIFY(qAbs(perTask->series(0)->points().constLast().y() - 0.001) < 1e-9);

        QCOMPARE(page.counterText(u"completed"_s), QLocale().toString(7200));
        QCOMPARE(page.counterText(u"pending"_s), QLocale().toString(100'000 - 7200 - 16 - 72 + 5000));
        QVERIFY(page.counterText(u"rate"_s).endsWith(u"/min"_s));
        QVERIFY(!page.counterText(u"eta"_s).isEmpty());

        // An hour later the 5-minute window holds a bounded number of points.
        for (int s = 121; s <= 3600; s += 1)
            page.liveMetrics()->addSnapshot(snapshotAt(t0 + s * 1000, s * 60, s * 0.06));
        page.applySnapshot(snapshotAt(t0 + 3601 * 1000, 3601 * 60, 3601 * 0.06));
        QVERIFY(queue->series(1)->count() <= 360);
        QVERIFY(queue->series(1)->count() >= 250);
        QVERIFY(page.lastRefreshNs() > 0);
        qInfo("dashboard refresh: %.2f ms of GUI-thread time", page.lastRefreshNs() / 1e6);
    }

    void historySourcePlugsIn()
    {
        // Any MetricSource can feed the charts: here a second live source stands in for
        // stored history.
        DashboardPage page;
        bd::ui::LiveMetrics history;
        bd::ui::LiveMetrics::Sample sample;
        for (int s = 0; s < 10; ++s) {
            sample.atMs = 1'800'000'000'000 + s * 60'000;
            sample.pending[0] = 10 * s;
            history.addSample(sample);
        }
        page.applySnapshot(snapshotAt(1'800'000'000'000 + 9 * 60'000, 0, 0));
        page.setSource(&history);
        QVERIFY(page.charts().at(0)->series(0)->count() >= 5);
        QCOMPARE(page.charts().at(0)->series(0)->points().constLast().y(), 90.0);
    }
};

QTEST_MAIN(TestGuiDashboard)
#include "test_gui_dashboard.moc"
