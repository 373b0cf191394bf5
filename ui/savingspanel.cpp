#include "savingspanel.h"

#include "api/engine.h"
#include "api/metrictypes.h"
#include "format.h"

#include <cmath>
#include <QGridLayout>
#include <QLabel>
#include <QLocale>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

SavingsPanel::SavingsPanel(QWidget *parent)
    : QFrame(parent)
{
    setFrameShape(QFrame::StyledPanel);
    setAutoFillBackground(true);
    setBackgroundRole(QPalette::Base);
    auto *layout = new QVBoxLayout(this);
    auto *title = new QLabel(tr("Batching and savings"), this);
    QFont bold = title->font();
    bold.setBold(true);
    title->setFont(bold);
    title->setAlignment(Qt::AlignHCenter);
    layout->addWidget(title);
    m_grid = new QGridLayout;
    m_grid->setVerticalSpacing(10);
    // Room left over goes to the captions, so they wrap as little as they can.
    m_grid->setColumnStretch(0, 1);
    layout->addLayout(m_grid);
    layout->addStretch(1);
    addRow(u"sync_batch"_s, tr("Average group (2)"),
           tr("Grouped calls (priority 2): tasks per grouped request against the most a "
              "group may hold. Low: the lane waits for work that is not there; a longer "
              "grouping window or fewer jobs at priority 2 fills it."));
    addRow(u"batch_batch"_s, tr("Average batch (3)"),
           tr("Batch API (priority 3): lines per provider batch against the most a batch "
              "may hold."));
    addRow(u"batch_share"_s, tr("At the batch price"),
           tr("Completed tasks sent through the batch API, at its discount."));
    addRow(u"saved"_s, tr("Saved vs realtime"),
           tr("Saved against sending everything realtime: what the same answers would have "
              "cost at the realtime price, less what they cost."));
    addRow(u"per_1000"_s, tr("Cost per 1,000 tasks"),
           tr("Spend over the range divided by the tasks completed in it, times 1,000."));
    showFigures();
}

void SavingsPanel::addRow(const QString &name, const QString &caption, const QString &hint)
{
    const int row = m_grid->rowCount();
    auto *label = new QLabel(caption, this);
    label->setWordWrap(true);
    label->setToolTip(hint);
    auto *value = new QLabel(this);
    value->setObjectName(u"savings_"_s + name);
    value->setToolTip(hint);
    value->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
    QFont big = value->font();
    big.setBold(true);
    value->setFont(big);
    m_grid->addWidget(label, row, 0);
    m_grid->addWidget(value, row, 1);
    m_values.insert(name, value);
}

void SavingsPanel::load(Engine *engine, qint64 fromMs, qint64 toMs)
{
    if (!engine)
        return;
    if (m_engine != engine) {
        if (m_engine)
            disconnect(m_engine, nullptr, this, nullptr);
        m_engine = engine;
        connect(m_engine, &Engine::seriesReady, this, &SavingsPanel::handleSeries);
    }
    m_requests.clear();
    m_totals.clear();
    const auto ask = [&](Figure figure, const char *metric, const QString &labels) {
        const quint64 ticket = m_engine->newTicket();
        m_requests.insert(ticket, figure);
        m_engine->requestSeries(ticket, QString::fromLatin1(metric), labels, fromMs, toMs, 120);
    };
    const QString sync = metrics::labelString({{u"lane"_s, u"sync"_s}});
    const QString batch = metrics::labelString({{u"lane"_s, u"batch"_s}});
    ask(Figure::SyncBatches, metrics::names::batches, sync);
    ask(Figure::SyncFill, metrics::names::batchFillRate, sync);
    ask(Figure::BatchBatches, metrics::names::batches, batch);
    ask(Figure::BatchFill, metrics::names::batchFillRate, batch);
    ask(Figure::Completed, metrics::names::tasksCompleted, QString());
    ask(Figure::CompletedAtBatchPrice, metrics::names::tasksCompleted, batch);
    ask(Figure::Cost, metrics::names::costUsd, QString());
    ask(Figure::CostAtRealtime, metrics::names::costUsdAtRealtime, QString());
}

void SavingsPanel::handleSeries(quint64 ticket, const metrics::SeriesData &series)
{
    const auto request = m_requests.constFind(ticket);
    if (request == m_requests.cend())
        return; // another asker's
    Totals &totals = m_totals[int(request.value())];
    m_requests.erase(request);
    totals.arrived = true;
    const double bucketSeconds = double(qMax<qint64>(series.bucketMs, 1)) / 1000.0;
    for (const metrics::MetricPoint &point : series.points) {
        if (series.kind == metrics::MetricKind::Ratio) {
            totals.weighted += point.value * double(point.count);
            totals.denominator += double(point.count);
        } else {
            totals.amount += point.value * bucketSeconds; // counters store a rate per second
        }
    }
    if (m_requests.isEmpty())
        showFigures();
}

QString SavingsPanel::batchSizeText(Figure batches, Figure fill) const
{
    const double count = m_totals.value(int(batches)).amount;
    const Totals filled = m_totals.value(int(fill));
    if (count < 0.5 || filled.denominator <= 0)
        return tr("no batches");
    const QLocale locale;
    const double average = filled.weighted / count;
    const double maximum = filled.denominator / count;
    // "40 of 50" says how full they are (a percentage beside it repeated that and made the
    // figure too wide for the panel at 1,024 px).
    return tr("%1 of %2")
        .arg(locale.toString(average, 'f', average < 10 ? 1 : 0), locale.toString(maximum, 'f', 0));
}

void SavingsPanel::showFigures()
{
    const auto value = [this](Figure figure) { return m_totals.value(int(figure)).amount; };
    m_values.value(u"sync_batch"_s)->setText(batchSizeText(Figure::SyncBatches, Figure::SyncFill));
    m_values.value(u"batch_batch"_s)
        ->setText(batchSizeText(Figure::BatchBatches, Figure::BatchFill));
    const double completed = std::round(value(Figure::Completed));
    const double atBatchPrice = std::round(value(Figure::CompletedAtBatchPrice));
    const QLocale locale;
    m_values.value(u"batch_share"_s)
        ->setText(completed > 0
                      ? tr("%1 % of %2")
                            .arg(locale.toString(100.0 * atBatchPrice / completed, 'f', 0),
                                 formatCount(qint64(completed)))
                      : u"–"_s);
    const double cost = value(Figure::Cost);
    // Stored before the engine recorded realtime prices: nothing to compare against.
    const double atRealtime = value(Figure::CostAtRealtime);
    const bool comparable = completed > 0 && (atRealtime > 0 || cost <= 0);
    m_values.value(u"saved"_s)
        ->setText(comparable ? formatUsd(qMax(0.0, atRealtime - cost)) : u"–"_s);
    m_values.value(u"per_1000"_s)
        ->setText(completed > 0 ? formatUsd(cost / completed * 1000.0) : u"–"_s);
}

QString SavingsPanel::figureText(const QString &name) const
{
    const QLabel *label = m_values.value(name);
    return label ? label->text() : QString();
}

} // namespace bd::ui
