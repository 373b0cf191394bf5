// Dashboard charts a person can read: time labels that are drawn, 1/2/5 ticks with the
// locale's separators, a spike clipped and marked instead of flattening the rest, breaks
// over idle periods, hover values, "No data yet", a per-job filter and the batching and
// savings figures from a real database.
#include "api/engine.h"
#include "charticks.h"
#include "dashboardpage.h"
#include "format.h"
#include "livemetrics.h"
#include "metricchart.h"
#include "savingspanel.h"
#include "storedmetrics.h"

#include <cmath>
#include <QChart>
#include <QDateTime>
#include <QGraphicsScene>
#include <QGraphicsTextItem>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace Qt::StringLiterals;
using bd::ui::ChartLine;
using bd::ui::LiveMetrics;
using bd::ui::Metric;
using bd::ui::MetricChart;

namespace {

constexpr qint64 kT0 = 1'800'000'000'000;

// A live source with one value per second for the given seconds (value(s) per sample).
template <typename Value> void fillQueue(LiveMetrics &live, qint64 fromMs, int seconds, Value value)
{
    for (int s = 0; s < seconds; ++s) {
        LiveMetrics::Sample sample;
        sample.atMs = fromMs + s * 1000;
        sample.pending[1] = qint64(value(s));
        live.addSample(sample);
    }
}

// The texts the chart's scene really draws (axis labels, title, legend).
QStringList drawnTexts(MetricChart &chart)
{
    QStringList texts;
    for (QGraphicsItem *item : chart.scene()->items()) {
        if (auto *text = dynamic_cast<QGraphicsTextItem *>(item); text && text->isVisible())
            texts.append(text->toPlainText());
    }
    return texts;
}

bool isNiceStep(double step)
{
    const double magnitude = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    const double factor = step / magnitude;
    return std::abs(factor - 1) < 1e-9 || std::abs(factor - 2) < 1e-9 ||
           std::abs(factor - 5) < 1e-9;
}

std::unique_ptr<MetricChart> queueChart(const LiveMetrics &live)
{
    auto chart = std::make_unique<MetricChart>(
        u"Queue"_s, u"pending tasks"_s,
        QList<ChartLine>{{Metric::QueuePriority2, u"P2"_s, Qt::blue}});
    chart->setSource(&live);
    chart->resize(420, 280);
    chart->show();
    return chart;
}

} // namespace

class TestGuiCharts final : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { QLocale::setDefault(QLocale(QLocale::English, QLocale::UnitedStates)); }

    void timeAxisLabelsAreDrawn()
    {
        LiveMetrics live;
        fillQueue(live, kT0, 300, [](int s) { return 1000 + s; });
        auto chart = queueChart(live);
        QVERIFY(QTest::qWaitForWindowExposed(chart.get()));
        chart->refresh(kT0 + 299'000);
        QCoreApplication::processEvents();
        const QStringList labels = chart->timeLabels();
        QVERIFY2(labels.size() >= 2, qPrintable(labels.join(u' ')));
        static const QRegularExpression clock(u"^\\d\\d:\\d\\d(:\\d\\d)?$"_s);
        const QStringList drawn = drawnTexts(*chart);
        for (const QString &label : labels) {
            QVERIFY2(clock.match(label).hasMatch(), qPrintable(label));
            QVERIFY2(drawn.contains(label),
                     qPrintable(u"not drawn: "_s + label + u" in "_s + drawn.join(u'|')));
        }
        // Round clock times: 5 minutes in at most a handful of ticks lands on whole minutes.
        QVERIFY2(labels.constFirst().endsWith(u"0"_s) || labels.constFirst().endsWith(u"5"_s),
                 qPrintable(labels.constFirst()));
    }

    void valueTicksAreNiceAndSeparated()
    {
        for (const double max : {7.0, 1150.0, 25'000.0, 0.0123, 250'000.0, 6250.0}) {
            const bd::ui::charticks::ValueScale scale = bd::ui::charticks::valueScale(max, 4);
            QVERIFY2(isNiceStep(scale.step), qPrintable(QString::number(scale.step)));
            QVERIFY(scale.top >= max);
            QVERIFY(scale.top / scale.step <= 4 + 1e-9);
        }
        QCOMPARE(bd::ui::charticks::valueScale(25'000, 4).step, 10'000.0); // not 6,250

        LiveMetrics live;
        fillQueue(live, kT0, 120, [](int s) { return 20'000 + 10 * s; });
        auto chart = queueChart(live);
        QVERIFY(QTest::qWaitForWindowExposed(chart.get()));
        chart->refresh(kT0 + 119'000);
        QCoreApplication::processEvents();
        const QList<double> ticks = chart->valueTicks();
        QVERIFY(ticks.size() >= 3);
        QCOMPARE(ticks.constFirst(), 0.0);
        QVERIFY(isNiceStep(ticks.at(1) - ticks.at(0)));
        QVERIFY(!ticks.contains(6250.0));
        QVERIFY2(chart->valueLabels().contains(u"10,000"_s) ||
                     chart->valueLabels().contains(u"20,000"_s),
                 qPrintable(chart->valueLabels().join(u' ')));
        QVERIFY(drawnTexts(*chart).contains(chart->valueLabels().constLast()));
    }

    void aSpikeIsClippedNotFlattening()
    {
        // A steady 1,150 with one 250,000 spike.
        LiveMetrics live;
        fillQueue(live, kT0, 300, [](int s) { return s == 150 ? 250'000 : 1150; });
        auto chart = queueChart(live);
        QVERIFY(QTest::qWaitForWindowExposed(chart.get()));
        chart->refresh(kT0 + 299'000);
        QCoreApplication::processEvents();
        const double top = chart->valueTicks().constLast();
        QVERIFY2(top >= 1150 && top <= 2000, qPrintable(QString::number(top)));
        QCOMPARE(chart->clippedCount(), 1);
        // The hover at the spike tells its real value.
        const QPointF spike(double(kT0 + 150'000), top);
        const QPoint at =
            chart->mapFromScene(chart->chart()->mapToScene(chart->chart()->mapToPosition(spike)));
        const QString text = chart->hoverText(at + QPoint(0, 5));
        QVERIFY2(text.contains(u"250,000"_s), qPrintable(text));
    }

    // A queue that rose (a 20,000-row job imported ten seconds ago) is a level, not a
    // spike: the axis reaches its present value. It topped out at 2,000 above a line cut
    // flat while 19,855 tasks were pending (the present was under 5 % of the window and
    // clipped as an outlier).
    void aQueueThatRoseKeepsItsPresentOnTheAxis()
    {
        LiveMetrics live;
        fillQueue(live, kT0, 300, [](int s) { return s < 290 ? 1600 : 19'855; });
        auto chart = queueChart(live);
        QVERIFY(QTest::qWaitForWindowExposed(chart.get()));
        chart->refresh(kT0 + 299'000);
        QCoreApplication::processEvents();
        const double top = chart->valueTicks().constLast();
        QVERIFY2(top >= 19'855, qPrintable(chart->valueLabels().join(u' ')));
        QCOMPARE(chart->clippedCount(), 0);
    }

    // Decimated to fewer points than samples, the line still ends at the newest sample
    // (the stride skipped it: the chart's present lagged the engine's).
    void theNewestSampleIsAlwaysAPoint()
    {
        LiveMetrics live;
        fillQueue(live, kT0, 302, [](int s) { return s < 301 ? 100 : 5000; });
        const QList<QPointF> points = live.points(Metric::QueuePriority2, kT0, kT0 + 301'000, 100);
        QVERIFY(points.size() <= 101);
        QCOMPARE(points.constLast(), QPointF(double(kT0 + 301'000), 5000.0));
    }

    // The dashboard's queue chart at 1024×700 (283 px wide) with a spike: the legend
    // keeps its four lines whole (a fifth entry for the marker made every label "1 · …").
    void aSpikeLeavesTheLegendWhole()
    {
        LiveMetrics live;
        fillQueue(live, kT0, 300, [](int s) { return s == 150 ? 250'000 : 1150; });
        const QStringList names = {u"1 · now"_s, u"2 · hour"_s, u"3 · day"_s, u"in progress"_s};
        MetricChart chart(u"Queue depth by priority"_s, u"pending tasks"_s,
                          {{Metric::QueuePriority1, names.at(0), Qt::red},
                           {Metric::QueuePriority2, names.at(1), Qt::blue},
                           {Metric::QueuePriority3, names.at(2), Qt::magenta},
                           {Metric::InFlight, names.at(3), Qt::green}});
        chart.setSource(&live);
        chart.resize(283, 202); // as the dashboard lays it out at 1024×700
        chart.show();
        QVERIFY(QTest::qWaitForWindowExposed(&chart));
        chart.refresh(kT0 + 299'000);
        QCoreApplication::processEvents();
        QCOMPARE(chart.clippedCount(), 1);
        const QStringList drawn = drawnTexts(chart);
        for (const QString &name : names)
            QVERIFY2(drawn.contains(name), qPrintable(drawn.join(u" | "_s)));
    }

    void hoverShowsTheNearestPoint()
    {
        LiveMetrics live;
        fillQueue(live, kT0, 60, [](int s) { return 1000 + 100 * s; });
        auto chart = queueChart(live);
        QVERIFY(QTest::qWaitForWindowExposed(chart.get()));
        chart->refresh(kT0 + 59'000);
        QCoreApplication::processEvents();
        const QPointF point(double(kT0 + 30'000), 4000);
        const QPoint at =
            chart->mapFromScene(chart->chart()->mapToScene(chart->chart()->mapToPosition(point)));
        const QString text = chart->hoverText(at);
        QVERIFY2(text.contains(u"P2: 4,000"_s), qPrintable(text));
        QVERIFY(text.startsWith(
            QLocale().toString(QDateTime::fromMSecsSinceEpoch(kT0 + 30'000), u"HH:mm:ss"_s)));
        QVERIFY(chart->hoverText(QPoint(2, 2)).isEmpty()); // outside the plot
    }

    void idlePeriodsAreGaps()
    {
        LiveMetrics live;
        fillQueue(live, kT0, 60, [](int) { return 500; });
        fillQueue(live, kT0 + 600'000, 60, [](int) { return 700; }); // ten idle minutes later
        auto chart = queueChart(live);
        chart->setRangeSeconds(900);
        chart->refresh(kT0 + 659'000);
        QCOMPARE(chart->segmentCount(0), 2);
        QCOMPARE(chart->values(0).size(), 120);
    }

    void emptyWindowSaysNoDataYet()
    {
        LiveMetrics live;
        auto chart = queueChart(live);
        QVERIFY(QTest::qWaitForWindowExposed(chart.get()));
        chart->refresh(kT0);
        QVERIFY(!chart->hasData());
        QCOMPARE(chart->emptyText(), u"No data yet"_s);
        QVERIFY(!drawnTexts(*chart).contains(u"0"_s)); // no bare axes
        fillQueue(live, kT0, 10, [](int) { return 5; });
        chart->refresh(kT0 + 9000);
        QVERIFY(chart->hasData());
        QVERIFY(chart->emptyText().isEmpty());
    }

    void jobFilterDrawsOneJob()
    {
        bd::ui::DashboardPage page;
        page.resize(1000, 650);
        page.show();
        QVERIFY(QTest::qWaitForWindowExposed(&page));
        bd::JobInfo first;
        first.id = 1;
        first.spec.priority = 2;
        bd::JobInfo second = first;
        second.id = 2;
        page.setJobs({first, second});
        page.filterJob(2);
        for (int s = 0; s < 20; ++s) {
            bd::EngineSnapshot snapshot;
            snapshot.atMs = kT0 + s * 1000;
            for (const qint64 id : {1, 2}) {
                bd::JobSnapshot job;
                job.jobId = id;
                job.priority = 2;
                job.state = bd::JobState::Running;
                job.counts.pending = id == 1 ? 9000 : 300;
                snapshot.jobs.append(job);
            }
            page.applySnapshot(snapshot);
        }
        QCOMPARE(page.filteredJobId(), 2);
        QCOMPARE(page.charts().at(0)->values(1).constLast().y(), 300.0);
        page.filterJob(0);
        page.applySnapshot([] {
            bd::EngineSnapshot snapshot;
            snapshot.atMs = kT0 + 21'000;
            bd::JobSnapshot job;
            job.jobId = 1;
            job.priority = 2;
            job.counts.pending = 9000;
            snapshot.jobs.append(job);
            return snapshot;
        }());
        QCOMPARE(page.charts().at(0)->values(1).constLast().y(), 9000.0);
    }

    void savingsFromStoredCounters()
    {
        // Ten minutes as the recorder stores them: 10 s intervals, the grouped lane sending
        // 40-task groups of at most 50, the batch lane 400-line batches of at most 1,000.
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString dbPath = dir.filePath(u"savings.sqlite"_s);
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        const qint64 res = 10'000;
        {
            QList<bd::metrics::MetricSample> samples;
            auto add = [&](const char *metric, const QString &labels, qint64 atMs, double value,
                           qint64 count, double sum) {
                samples.append(bd::testing::metricSample(metric, labels, atMs, res, value, count, sum));
            };
            const QString sync = u"lane=sync"_s, batch = u"lane=batch"_s;
            for (qint64 t = now - 600'000; t < now - res; t += res) {
                // Per interval: 2 groups of 40 (of 50) and one batch of 400 (of 1,000).
                add("batches", sync, t, 0.2, 2, 2);
                add("batch_fill_rate", sync, t, 0.8, 100, 80);
                add("batches", batch, t, 0.1, 1, 1);
                add("batch_fill_rate", batch, t, 0.4, 1000, 400);
                add("tasks_completed", u"lane=sync,priority=2"_s, t, 8.0, 80, 80);
                add("tasks_completed", u"lane=batch,priority=3"_s, t, 40.0, 400, 400);
                // $0.001 a task realtime; the batch lane pays half.
                add("cost_usd", u"lane=sync,priority=2"_s, t, 0.008, 80, 0.08);
                add("cost_usd", u"lane=batch,priority=3"_s, t, 0.02, 400, 0.2);
                add("cost_usd_at_realtime", u"lane=sync,priority=2"_s, t, 0.008, 80, 0.08);
                add("cost_usd_at_realtime", u"lane=batch,priority=3"_s, t, 0.04, 400, 0.4);
            }
            const QString error = bd::testing::writeMetricSamples(dbPath, samples);
            QVERIFY2(error.isEmpty(), qPrintable(error));
        }
        bd::EngineOptions options;
        options.database = dbPath;
        auto engine = bd::createEngine(options);
        QSignalSpy opened(engine.get(), &bd::Engine::opened);
        engine->open();
        QVERIFY(opened.wait(10'000));

        bd::ui::SavingsPanel panel;
        panel.load(engine.get(), now - 900'000, now);
        QVERIFY(QTest::qWaitFor([&] { return panel.figureText(u"saved"_s) != u"–"_s; }, 10'000));
        QCOMPARE(panel.figureText(u"sync_batch"_s), u"40 of 50"_s);
        QCOMPARE(panel.figureText(u"batch_batch"_s), u"400 of 1,000"_s);
        // 59 intervals of 80 + 400 tasks; 400 of every 480 at the batch price.
        QCOMPARE(panel.figureText(u"batch_share"_s), u"83 % of 28,320"_s);
        // The batch lane's 59 × 400 tasks saved $0.0005 each.
        QCOMPARE(panel.figureText(u"saved"_s), bd::ui::formatUsd(59 * 400 * 0.0005));
        // (0.08 + 0.2) / 480 tasks × 1,000
        QCOMPARE(panel.figureText(u"per_1000"_s), bd::ui::formatUsd(0.28 / 480 * 1000));
    }
};

QTEST_MAIN(TestGuiCharts)
#include "test_gui_charts.moc"
