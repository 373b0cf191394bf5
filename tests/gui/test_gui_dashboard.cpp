// Dashboard charts and counters follow engine snapshots, replacing each series on a fixed
// window rather than growing it.
#include "api/engine.h"
#include "dashboardpage.h"
#include "format.h"
#include "historymetrics.h"
#include "livemetrics.h"
#include "metricchart.h"
#include "storedmetrics.h"

#include <QComboBox>
#include <QDateTime>
#include <QSignalSpy>
#include <QTemporaryDir>
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
        QCOMPARE(charts.size(), 5); // queue, rate, spend, cost per 1,000 tasks, latency
        for (bd::ui::MetricChart *chart : charts) {
            for (int i = 0; i < chart->lineCount(); ++i)
                QCOMPARE(chart->values(i).size(), 0);
            QCOMPARE(chart->emptyText(), u"No data yet"_s);
        }

        const qint64 t0 = 1'800'000'000'000;
        // 60 tasks a second for two minutes, a tenth of a cent each.
        for (int s = 0; s <= 120; ++s)
            page.applySnapshot(snapshotAt(t0 + s * 1000, s * 60, s * 60 * 0.001));

        bd::ui::MetricChart *queue = charts.at(0);
        QCOMPARE(queue->lineCount(), 4);
        QCOMPARE(queue->values(0).size(), 121);          // P1: present, all zero
        QCOMPARE(queue->values(1).constLast().y(), double(100'000 - 7200 - 16 - 72));
        QCOMPARE(queue->values(2).constLast().y(), 5000.0);
        QCOMPARE(queue->values(3).constLast().y(), 16.0);
        QCOMPARE(queue->values(1).constLast().x(), double(t0 + 120'000));

        // Finished per minute: 60 completed + 0.6 dead per second.
        bd::ui::MetricChart *rate = charts.at(1);
        const double lastRate = rate->values(0).constLast().y();
        QVERIFY2(qAbs(lastRate - 3636.0) < 100.0, qPrintable(QString::number(lastRate)));
        bd::ui::MetricChart *spend = charts.at(2);
        QCOMPARE(spend->values(0).constLast().y(), 120 * 60 * 0.001);
        bd::ui::MetricChart *perTask = charts.at(3);
        QVERIFY(qAbs(perTask->values(0).constLast().y() - 1.0) < 1e-6); // $ per 1,000 tasks

        QCOMPARE(page.counterText(u"completed"_s), QLocale().toString(7200));
        QCOMPARE(page.counterText(u"pending"_s), QLocale().toString(100'000 - 7200 - 16 - 72 + 5000));
        QVERIFY(page.counterText(u"rate"_s).endsWith(u"/min"_s));
        QVERIFY(!page.counterText(u"eta"_s).isEmpty());

        // An hour later the 5-minute window holds a bounded number of points.
        for (int s = 121; s <= 3600; s += 1)
            page.liveMetrics()->addSnapshot(snapshotAt(t0 + s * 1000, s * 60, s * 0.06));
        page.applySnapshot(snapshotAt(t0 + 3601 * 1000, 3601 * 60, 3601 * 0.06));
        QVERIFY(queue->values(1).size() <= 360);
        QVERIFY(queue->values(1).size() >= 250);
        QVERIFY(page.lastRefreshNs() > 0);
        qInfo("dashboard refresh: %.2f ms of GUI-thread time", page.lastRefreshNs() / 1e6);
    }

    // The ETA divides what is left by the pace of the jobs that still have work, each job's
    // own: a fast job that finished 10 s ago left the 30 s rate high, and a slow job's 5,862
    // pending tasks read "7 s".
    void theEtaIgnoresJobsThatFinished()
    {
        DashboardPage page;
        page.resize(1200, 800);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        const qint64 t0 = 1'800'000'000'000;
        for (int s = 0; s <= 30; ++s) {
            bd::EngineSnapshot snapshot;
            snapshot.atMs = t0 + s * 1000;
            bd::JobSnapshot fast;
            fast.jobId = 1;
            fast.priority = 1;
            fast.state = s < 20 ? bd::JobState::Running : bd::JobState::Finished;
            fast.counts.completed = qMin(s, 20) * 100; // 100 a second, done at 20 s
            fast.counts.pending = 2000 - fast.counts.completed;
            bd::JobSnapshot slow = fast;
            slow.jobId = 2;
            slow.priority = 3;
            slow.state = bd::JobState::Running;
            slow.counts.completed = s; // one a second
            slow.counts.pending = 5892 - s;
            snapshot.jobs = {fast, slow};
            page.applySnapshot(snapshot);
        }
        QCOMPARE(page.counterText(u"pending"_s), QLocale().toString(5862));
        // 5,862 at 60 a minute: 5,862 s.
        QCOMPARE(page.counterText(u"eta"_s), bd::ui::formatDuration(5862));
    }

    void jobAppearingWithWorkDoneIsNoBurst()
    {
        // A job the engine starts reporting (opened, or imported by another worker) with
        // 50,000 tasks already finished is not 50,000 tasks of progress in one second.
        bd::ui::LiveMetrics live;
        const qint64 t0 = 1'800'000'000'000;
        for (int s = 0; s <= 10; ++s) {
            bd::EngineSnapshot snapshot = snapshotAt(t0 + s * 1000, s * 60, 0);
            if (s >= 5) {
                bd::JobSnapshot old = snapshot.jobs.constFirst();
                old.jobId = 7;
                old.counts = {};
                old.counts.completed = 50'000 + (s - 5) * 10; // 10 a second once it runs
                snapshot.jobs.append(old);
            }
            live.addSnapshot(snapshot);
        }
        const QList<QPointF> rate = live.points(bd::ui::Metric::RatePerMinute, t0, t0 + 10'000, 100);
        QVERIFY(!rate.isEmpty());
        for (const QPointF &point : rate)
            QVERIFY2(point.y() <= (60 + 0.6 + 10) * 60 + 1, qPrintable(QString::number(point.y())));
        QVERIFY(qAbs(rate.constLast().y() - (60 + 0.6 + 10) * 60) < 60);
        // Over the 10 s seen: 606 of the first job and 50 of the second, not its 50,000.
        QVERIFY2(qAbs(live.currentRate() - (606 + 50) * 6.0) < 1, qPrintable(QString::number(live.currentRate())));
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
        QVERIFY(page.charts().at(0)->values(0).size() >= 5);
        QCOMPARE(page.charts().at(0)->values(0).constLast().y(), 90.0);
    }

    void chartsDrawStoredHistory()
    {
        // Samples as the engine's recorder stores them, written to a real database before
        // the console opens it: three days of 5-minute rollups and the last hour in 10 s.
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString dbPath = dir.filePath(u"history.sqlite"_s);
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        const qint64 rollup = 300'000;
        const qint64 fine = 10'000;
        {
            QList<bd::metrics::MetricSample> samples;
            auto add = [&](const char *metric, const QString &labels, qint64 atMs, qint64 resolution,
                           double value) {
                samples.append(bd::testing::metricSample(metric, labels, atMs, resolution, value, 10, value * 10));
            };
            for (qint64 t = now - 3 * 24 * 3'600'000LL; t < now; t += rollup) {
                add("queue_pending", u"lane=grouped,priority=2"_s, t, rollup, 4000);
                add("queue_pending", u"lane=batch-api,priority=3"_s, t, rollup, 900);
                add("wait_ms_p95", u"priority=2"_s, t, rollup, 1500);
                add("run_ms_p50", u"priority=2"_s, t, rollup, 800);
            }
            for (qint64 t = now - 3'600'000; t < now; t += fine) {
                add("queue_pending", u"lane=grouped,priority=2"_s, t, fine, 4000);
                add("wait_ms_p95", u"priority=2"_s, t, fine, 1500);
            }
            const QString error = bd::testing::writeMetricSamples(dbPath, samples);
            QVERIFY2(error.isEmpty(), qPrintable(error));
        }

        bd::EngineOptions options;
        options.database = dbPath;
        auto engineOwner = bd::createEngine(options);
        bd::Engine &engine = *engineOwner;
        QSignalSpy opened(&engine, &bd::Engine::opened);
        engine.open();
        QVERIFY(opened.wait(10'000));
        QVERIFY(opened.first().at(0).toBool());

        DashboardPage page;
        page.resize(1400, 900);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        page.showHistory(&engine);
        page.setRangeIndex(5); // 7 days
        bd::ui::HistoryMetrics *history = page.history();
        QVERIFY(history);
        QVERIFY(QTest::qWaitFor([&] {
            return history->storedPointCount(bd::ui::Metric::QueuePriority2) > 0
                   && history->storedPointCount(bd::ui::Metric::WaitP95) > 0;
        }, 10'000));
        QTest::qWait(50); // the coalesced redraw

        const QList<bd::ui::MetricChart *> charts = page.charts();
        // Queue depth: three days back, the two P2 lanes' level as stored.
        bd::ui::MetricChart *queue = charts.at(0);
        QVERIFY2(queue->values(1).size() > 100, qPrintable(QString::number(queue->values(1).size())));
        QVERIFY(queue->values(1).constFirst().x() < double(now - 2 * 24 * 3'600'000LL));
        QCOMPARE(queue->values(1).constFirst().y(), 4000.0);
        QCOMPARE(charts.at(0)->values(2).constFirst().y(), 900.0);
        // Latency in seconds: wait p95 and run p50 drawn, nothing invented for the rest.
        bd::ui::MetricChart *latency = charts.at(4);
        QCOMPARE(latency->lineCount(), 4);
        QCOMPARE(latency->values(1).constFirst().y(), 1.5);
        QCOMPARE(latency->values(2).constFirst().y(), 0.8);
        QCOMPARE(latency->values(0).size(), 0);

        // Live snapshots are appended after the stored past.
        page.applySnapshot(snapshotAt(now + 1000, 0, 0));
        QCOMPARE(queue->values(1).constLast().x(), double(now + 1000));
        QVERIFY(queue->values(1).constFirst().x() < double(now - 2 * 24 * 3'600'000LL));
        // Seven days of time labels, one a day at midnight or every few hours.
        QVERIFY2(queue->timeLabels().size() >= 2, qPrintable(queue->timeLabels().join(u' ')));
    }
};

QTEST_MAIN(TestGuiDashboard)
#include "test_gui_dashboard.moc"
