#include "dashboardpage.h"

#include "format.h"
#include "historymetrics.h"
#include "jobcombo.h"
#include "livemetrics.h"
#include "metricchart.h"
#include "savingspanel.h"

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
    // The strip arranges itself (arrangeCounters) instead of setting the window's minimum
    // width: eight counters in a row once asked for 1,207 px, more as the budget grew.
    counters->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    m_counterFrame = counters;
    m_counterGrid = new QGridLayout(counters);
    m_counterGrid->setHorizontalSpacing(24);
    addCounter(u"pending"_s, tr("Pending"));
    addCounter(u"inflight"_s, tr("In progress")); // claimed by a worker (the status bar has in flight)
    addCounter(u"completed"_s, tr("Completed"));
    addCounter(u"dead"_s, tr("Dead"));
    addCounter(u"rate"_s, tr("Rate"));
    addCounter(u"spend"_s, tr("Spend"));
    addCounter(u"eta"_s, tr("ETA"));
    addCounter(u"budget"_s, tr("Global budget")); // a row of its own (arrangeCounters)
    layout->addWidget(counters);

    auto *rangeRow = new QHBoxLayout;
    rangeRow->addStretch(1);
    rangeRow->addWidget(new QLabel(tr("Charts for:"), this));
    m_jobFilter = new JobCombo(this);
    m_jobFilter->setObjectName(u"dashboardJobFilter"_s);
    rangeRow->addWidget(m_jobFilter);
    rangeRow->addWidget(new QLabel(tr("Range:"), this));
    m_range = new QComboBox(this);
    for (const auto &range : ranges())
        m_range->addItem(range.first, range.second);
    rangeRow->addWidget(m_range);
    layout->addLayout(rangeRow);

    auto *grid = new QGridLayout;
    const QColor green(0x2e, 0xa0, 0x43);
    auto *queue =
        new MetricChart(tr("Queue depth by priority"), tr("pending tasks"),
                        // The legend's room: the priorities' first words.
                        {{Metric::QueuePriority1, tr("1 · now"), QColor(0xd6, 0x3a, 0x3a)},
                         {Metric::QueuePriority2, tr("2 · hour"), QColor(0x2f, 0x7e, 0xd8)},
                         {Metric::QueuePriority3, tr("3 · day"), QColor(0x8a, 0x63, 0xd2)},
                         {Metric::InFlight, tr("in progress"), green}},
                        this);
    auto *rate = new MetricChart(tr("Processing rate"), tr("tasks/min"),
                                 {{Metric::RatePerMinute, tr("finished per minute"), green}}, this);
    auto *spend = new MetricChart(tr("Cumulative spend"), tr("USD"),
                                  {{Metric::SpendUsd, tr("spend"), QColor(0xe0, 0x8a, 0x1e)}}, this);
    spend->setFractional(true);
    auto *perTask = new MetricChart(tr("Cost per 1,000 tasks"), tr("USD"),
                                    {{Metric::CostPerTask, tr("per 1,000 completed"),
                                      QColor(0xb0, 0x5a, 0x10), 1000.0}},
                                    this);
    perTask->setFractional(true);
    auto *latency = new MetricChart(tr("Latency"), tr("s"),
                                    {{Metric::WaitP50, tr("wait p50"), QColor(0x7f, 0xa8, 0xe0)},
                                     {Metric::WaitP95, tr("wait p95"), QColor(0x2f, 0x5e, 0xa8)},
                                     {Metric::RunP50, tr("run p50"), QColor(0xf0, 0xa8, 0x6a)},
                                     {Metric::RunP95, tr("run p95"), QColor(0xc0, 0x5a, 0x10)}},
                                    this);
    latency->setFractional(true);
    m_savings = new SavingsPanel(this);
    m_charts = {queue, rate, spend, perTask, latency};
    grid->addWidget(queue, 0, 0);
    grid->addWidget(rate, 0, 1);
    grid->addWidget(m_savings, 0, 2);
    grid->addWidget(spend, 1, 0);
    grid->addWidget(perTask, 1, 1);
    grid->addWidget(latency, 1, 2);
    for (int gridColumn = 0; gridColumn < 3; ++gridColumn)
        grid->setColumnStretch(gridColumn, 1);
    layout->addLayout(grid, 1);

    for (MetricChart *chart : std::as_const(m_charts))
        chart->setSource(m_source);
    connect(m_jobFilter, &JobCombo::jobChanged, this, &DashboardPage::filterJob);
    connect(m_range, &QComboBox::currentIndexChanged, this, &DashboardPage::setRange);
    setRange(0);
}

QLabel *DashboardPage::addCounter(const QString &name, const QString &title)
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
    m_counterOrder.append(name); // placed by arrangeCounters()
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
    m_engine = engine;
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
    // The recorder closes an interval every 10 s: latency and savings follow at that pace.
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
    m_savings->load(m_engine, now - rangeSeconds() * 1000, now);
    m_history->load(now - rangeSeconds() * 1000, now);
}

void DashboardPage::applySnapshot(const EngineSnapshot &snapshot)
{
    m_lastSnapshot = snapshot;
    m_live->addSnapshot(snapshot);
    if (m_jobLive)
        m_jobLive->addSnapshot(snapshot);
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
    // Divided by the pace of the jobs with work left only, not of every job in the window.
    const double leftRate = running ? m_live->rateOfUnfinishedJobs() : 0.0;
    m_counters.value(u"eta"_s)->setText(left == 0 || !running ? u"–"_s
                                        : leftRate > 0
                                            ? formatDuration(qint64(double(left) / leftRate * 60.0))
                                            : u"∞"_s);
    showGlobalBudget();
    arrangeCounters();
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

void DashboardPage::setJobs(const QList<JobInfo> &jobs)
{
    m_jobPriorities.clear();
    for (const JobInfo &job : jobs)
        m_jobPriorities.insert(job.id, job.spec.priority);
    m_jobFilter->setJobs(jobs);
}

qint64 DashboardPage::filteredJobId() const
{
    return m_jobLive ? m_jobLive->jobId() : 0;
}

void DashboardPage::filterJob(qint64 jobId)
{
    if (m_jobFilter->currentJobId() != jobId) {
        const QSignalBlocker quiet(m_jobFilter);
        m_jobFilter->setCurrentJobId(jobId);
    }
    delete m_jobLive;
    m_jobLive = jobId > 0 ? new LiveMetrics(this, jobId) : nullptr;
    const LiveMetrics *live = m_jobLive ? m_jobLive : m_live;
    if (m_history) {
        m_history->setJob(jobId, m_jobPriorities.value(jobId, 2), live);
        loadHistory();
    } else {
        m_source = live;
    }
    for (MetricChart *chart : std::as_const(m_charts))
        chart->setEmptyText(jobId > 0 ? tr("No data for this job yet") : QString());
    // The recorder keeps latency for the whole database only.
    m_charts.constLast()->setEmptyText(jobId > 0 ? tr("Latency is recorded for all jobs together") : QString());
    setSource(m_history ? static_cast<const MetricSource *>(m_history) : live);
}

void DashboardPage::arrangeCounters()
{
    const int spacing = m_counterGrid->horizontalSpacing();
    const QMargins margins = m_counterGrid->contentsMargins();
    int needed = margins.left() + margins.right() + 2 * m_counterFrame->frameWidth();
    // The global budget (spent, in flight and the cap) needs more than a column: it takes a
    // row of its own under the others (in a column it was clipped at 1,024 px).
    const QString wide = u"budget"_s;
    QStringList counters = m_counterOrder;
    counters.removeOne(wide);
    for (const QString &name : std::as_const(counters)) {
        const QLabel *value = m_counters.value(name);
        needed += std::max({value->minimumWidth(), value->sizeHint().width(),
                            m_captions.value(name)->sizeHint().width()})
                  + spacing;
    }
    const int all = int(counters.size());
    // In one row where it fits, else in two.
    const int columns = needed - spacing <= m_counterFrame->width() ? all : (all + 1) / 2;
    if (columns == m_counterColumns)
        return;
    m_counterColumns = columns;
    const auto place = [this](const QString &name, int row, int column, int span) {
        QLabel *caption = m_captions.value(name);
        QLabel *value = m_counters.value(name);
        m_counterGrid->removeWidget(caption);
        m_counterGrid->removeWidget(value);
        m_counterGrid->addWidget(caption, 2 * row, column, 1, span);
        m_counterGrid->addWidget(value, 2 * row + 1, column, 1, span);
    };
    for (int i = 0; i < all; ++i)
        place(counters.at(i), i / columns, i % columns, 1);
    place(wide, (all + columns - 1) / columns, 0, columns);
}

void DashboardPage::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    arrangeCounters();
}

} // namespace bd::ui
