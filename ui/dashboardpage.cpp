#include "dashboardpage.h"

#include "format.h"
#include "historymetrics.h"
#include "livemetrics.h"
#include "metricchart.h"

#include <QComboBox>
#include <QDateTime>
#include <QElapsedTimer>
#include <QFrame>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {
const QList<std::pair<QString, qint64>> &ranges()
{
    static const QList<std::pair<QString, qint64>> list = {
        {u"5 min"_s, 300},     {u"15 min"_s, 900},     {u"1 h"_s, 3600},
        {u"6 h"_s, 6 * 3600}, {u"24 h"_s, 24 * 3600}, {u"7 days"_s, 7 * 24 * 3600}};
    return list;
}
} // namespace

DashboardPage::DashboardPage(QWidget *parent)
    : QWidget(parent)
    , m_live(new LiveMetrics(this))
    , m_source(m_live)
{
    auto *layout = new QVBoxLayout(this);

    auto *counters = new QFrame(this);
    counters->setFrameShape(QFrame::StyledPanel);
    m_counterGrid = new QGridLayout(counters);
    m_counterGrid->setHorizontalSpacing(24);
    int column = 0;
    addCounter(u"pending"_s, tr("Pending"), column++);
    addCounter(u"inflight"_s, tr("Leased"), column++);
    addCounter(u"completed"_s, tr("Completed"), column++);
    addCounter(u"dead"_s, tr("Dead"), column++);
    addCounter(u"rate"_s, tr("Rate"), column++);
    addCounter(u"spend"_s, tr("Spend"), column++);
    addCounter(u"eta"_s, tr("ETA"), column++);
    // A sentence ("spent $0.54 + $0.05 in flight / cap $0.60"): a row of its own, never cut.
    QLabel *budget = addCounter(u"budget"_s, tr("Global budget"), 0, 2, column);
    budget->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred); // never widens the window
    layout->addWidget(counters);

    auto *rangeRow = new QHBoxLayout;
    rangeRow->addStretch(1);
    rangeRow->addWidget(new QLabel(tr("Range:"), this));
    m_range = new QComboBox(this);
    for (const auto &range : ranges())
        m_range->addItem(range.first, range.second);
    rangeRow->addWidget(m_range);
    layout->addLayout(rangeRow);

    auto *grid = new QGridLayout;
    auto *queue = new MetricChart(tr("Queue depth by priority"), tr("pending tasks"), this);
    queue->addMetric(Metric::QueuePriority1, tr("P1"), QColor(0xd6, 0x3a, 0x3a));
    queue->addMetric(Metric::QueuePriority2, tr("P2"), QColor(0x2f, 0x7e, 0xd8));
    queue->addMetric(Metric::QueuePriority3, tr("P3"), QColor(0x8a, 0x63, 0xd2));
    queue->addMetric(Metric::InFlight, tr("in flight"), QColor(0x2e, 0xa0, 0x43));
    auto *rate = new MetricChart(tr("Processing rate"), tr("tasks/min"), this);
    rate->addMetric(Metric::RatePerMinute, tr("finished per minute"), QColor(0x2e, 0xa0, 0x43));
    auto *spend = new MetricChart(tr("Cumulative spend"), tr("USD"), this);
    spend->addMetric(Metric::SpendUsd, tr("spend"), QColor(0xe0, 0x8a, 0x1e));
    spend->setValueDecimals(2);
    auto *perTask = new MetricChart(tr("Cost per task"), tr("USD"), this);
    perTask->addMetric(Metric::CostPerTask, tr("cost per completed task"), QColor(0xb0, 0x5a, 0x10));
    perTask->setValueDecimals(5);
    auto *fill = new MetricChart(tr("Batch fill rate"), tr("%"), this);
    fill->addMetric(Metric::BatchFillRate, tr("filled"), QColor(0x1f, 0x9e, 0x9e));
    fill->setFixedMaximum(100);
    auto *latency = new MetricChart(tr("Latency"), tr("s"), this);
    latency->addMetric(Metric::WaitP50, tr("wait p50"), QColor(0x7f, 0xa8, 0xe0));
    latency->addMetric(Metric::WaitP95, tr("wait p95"), QColor(0x2f, 0x5e, 0xa8));
    latency->addMetric(Metric::RunP50, tr("run p50"), QColor(0xf0, 0xa8, 0x6a));
    latency->addMetric(Metric::RunP95, tr("run p95"), QColor(0xc0, 0x5a, 0x10));
    latency->setValueDecimals(2);
    m_charts = {queue, rate, spend, perTask, fill, latency};
    grid->addWidget(queue, 0, 0);
    grid->addWidget(rate, 0, 1);
    grid->addWidget(fill, 0, 2);
    grid->addWidget(spend, 1, 0);
    grid->addWidget(perTask, 1, 1);
    grid->addWidget(latency, 1, 2);
    layout->addLayout(grid, 1);

    for (MetricChart *chart : std::as_const(m_charts))
        chart->setSource(m_source);
    connect(m_range, &QComboBox::currentIndexChanged, this, &DashboardPage::setRange);
    setRange(0);
}

QLabel *DashboardPage::addCounter(const QString &name, const QString &title, int column, int row,
                                  int columnSpan)
{
    auto *caption = new QLabel(title, this);
    QFont small = caption->font();
    small.setPointSizeF(small.pointSizeF() * 0.9);
    caption->setFont(small);
    caption->setForegroundRole(QPalette::PlaceholderText);
    auto *value = new QLabel(u"–"_s, this);
    value->setObjectName(u"counter_"_s + name);
    QFont big = value->font();
    big.setPointSizeF(big.pointSizeF() * 1.6);
    big.setBold(true);
    value->setFont(big);
    value->setMinimumWidth(value->fontMetrics().horizontalAdvance(u"0,000,000"_s));
    m_counterGrid->addWidget(caption, row, column, 1, columnSpan);
    m_counterGrid->addWidget(value, row + 1, column, 1, columnSpan);
    m_counters.insert(name, value);
    m_captions.insert(name, caption);
    return value;
}

QString DashboardPage::counterText(const QString &name) const
{
    const QLabel *label = m_counters.value(name);
    return label ? label->text() : QString();
}

QString DashboardPage::counterCaption(const QString &name) const
{
    const QLabel *label = m_captions.value(name);
    return label ? label->text() : QString();
}

bool DashboardPage::isGlobalBudgetHighlighted() const
{
    return !m_counters.value(u"budget"_s)->styleSheet().isEmpty();
}

void DashboardPage::showGlobalBudget()
{
    QLabel *value = m_counters.value(u"budget"_s);
    QLabel *caption = m_captions.value(u"budget"_s);
    const EngineSnapshot &s = m_lastSnapshot;
    const QString period = s.globalBudgetPeriod == u"day"_s   ? tr("today, UTC")
                           : s.globalBudgetPeriod == u"all"_s ? tr("all time")
                                                              : tr("this month, UTC");
    if (s.globalBudgetUsd <= 0) {
        value->setText(tr("none"));
        caption->setText(tr("Global budget"));
        value->setToolTip(tr("No cap across the jobs of this database (Edit › Settings › Limits)"));
        value->setStyleSheet(QString());
        return;
    }
    // Spent is what answers cost; in flight is reserved for requests not answered yet (at
    // their worst case) and is not spent.
    const QString spent = s.globalReservedUsd > 0 ? tr("spent %1 + %2 in flight")
                                                        .arg(formatUsd(s.globalSpentUsd),
                                                             formatUsd(s.globalReservedUsd))
                                                  : tr("spent %1").arg(formatUsd(s.globalSpentUsd));
    value->setText(tr("%1 / cap %2").arg(spent, formatUsd(s.globalBudgetUsd)));
    caption->setText(s.globalBudgetReached ? tr("Global budget (%1) · reached").arg(period)
                                           : tr("Global budget (%1)").arg(period));
    value->setToolTip(
        tr("Spent %1 of %2 across every job of this database (%3); %4 more is reserved "
           "for requests in flight. Jobs pause when what is spent leaves no room for "
           "the next request, until the cap is raised.")
            .arg(formatUsd(s.globalSpentUsd), formatUsd(s.globalBudgetUsd), period,
                 formatUsd(s.globalReservedUsd)));
    const QString red = stateColor(TaskState::Dead).name();
    value->setStyleSheet(s.globalBudgetReached ? u"color: %1;"_s.arg(red) : QString());
    caption->setStyleSheet(s.globalBudgetReached ? u"color: %1; font-weight: bold;"_s.arg(red) : QString());
}

void DashboardPage::setSource(const MetricSource *source)
{
    m_source = source ? source : m_live;
    for (MetricChart *chart : std::as_const(m_charts))
        chart->setSource(m_source);
    refreshNow();
}

void DashboardPage::setRange(int index)
{
    const qint64 seconds = m_range->itemData(index).toLongLong();
    for (MetricChart *chart : std::as_const(m_charts))
        chart->setRangeSeconds(seconds);
    loadHistory();
    refreshNow();
}

void DashboardPage::setRangeIndex(int index)
{
    m_range->setCurrentIndex(index);
}

qint64 DashboardPage::rangeSeconds() const
{
    return m_range->currentData().toLongLong();
}

void DashboardPage::showHistory(Engine *engine)
{
    if (m_history || !engine)
        return;
    m_history = new HistoryMetrics(engine, m_live, this);
    // Stored series arrive one by one: redraw once for the lot.
    connect(m_history, &MetricSource::changed, this, [this] {
        if (m_refreshQueued)
            return;
        m_refreshQueued = true;
        QTimer::singleShot(0, this, [this] {
            m_refreshQueued = false;
            if (isVisible())
                refreshNow();
        });
    });
    // The recorder closes an interval every 10 s: fill rate and latency follow at that pace.
    m_historyTimer = new QTimer(this);
    m_historyTimer->setInterval(10'000);
    connect(m_historyTimer, &QTimer::timeout, this, &DashboardPage::loadHistory);
    if (isVisible())
        m_historyTimer->start();
    setSource(m_history);
    loadHistory();
}

void DashboardPage::loadHistory()
{
    if (!m_history)
        return;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    m_history->load(now - rangeSeconds() * 1000, now);
}

void DashboardPage::applySnapshot(const EngineSnapshot &snapshot)
{
    m_lastSnapshot = snapshot;
    m_live->addSnapshot(snapshot);
    if (isVisible())
        refreshNow();
}

qint64 DashboardPage::refreshNow()
{
    QElapsedTimer timer;
    timer.start();
    const TaskCounts totals = m_lastSnapshot.totals();
    // Paused and finished work has no pace: no rate, no ETA, whatever ran a moment ago.
    const bool running =
        std::any_of(m_lastSnapshot.jobs.cbegin(), m_lastSnapshot.jobs.cend(),
                    [](const JobSnapshot &job) { return job.state == JobState::Running; });
    const double rate = running ? m_live->currentRate() : 0.0;
    m_counters.value(u"pending"_s)->setText(formatCount(totals.pending));
    m_counters.value(u"inflight"_s)->setText(formatCount(totals.leased));
    m_counters.value(u"completed"_s)->setText(formatCount(totals.completed));
    m_counters.value(u"dead"_s)->setText(formatCount(totals.dead));
    m_counters.value(u"dead"_s)->setStyleSheet(totals.dead > 0 ? u"color: %1;"_s.arg(stateColor(TaskState::Dead).name())
                                                               : QString());
    m_counters.value(u"rate"_s)->setText(rate > 0 ? formatRate(rate) : u"–"_s);
    m_counters.value(u"spend"_s)->setText(formatUsd(m_lastSnapshot.costUsd()));
    const qint64 left = totals.unfinished();
    m_counters.value(u"eta"_s)->setText(left == 0 || !running ? u"–"_s
                                        : rate > 0
                                            ? formatDuration(qint64(double(left) / rate * 60.0))
                                            : u"∞"_s);
    showGlobalBudget();
    const qint64 now = m_lastSnapshot.atMs > 0 ? m_lastSnapshot.atMs : 0;
    for (MetricChart *chart : std::as_const(m_charts))
        chart->refresh(now);
    m_lastRefreshNs = timer.nsecsElapsed();
    return m_lastRefreshNs;
}

void DashboardPage::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    if (m_historyTimer) {
        loadHistory();
        m_historyTimer->start();
    }
    refreshNow();
}

void DashboardPage::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    if (m_historyTimer)
        m_historyTimer->stop();
}

} // namespace bd::ui
