#include "workerspage.h"

#include "api/engine.h"
#include "format.h"

#include <QDateTime>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QTableWidget>
#include <QTimer>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

constexpr qint64 kSeenWithinMs = 10 * 60'000;
constexpr int kRefreshMs = 2'000;

QString lanesText(const QList<int> &lanes)
{
    if (lanes.isEmpty())
        return u"–"_s;
    QStringList names;
    for (const int lane : lanes)
        names.append(QString::number(lane));
    return names.join(u", "_s);
}

QTableWidgetItem *numberItem(const QString &text)
{
    auto *item = new QTableWidgetItem(text);
    item->setTextAlignment(int(Qt::AlignRight | Qt::AlignVCenter));
    return item;
}

} // namespace

WorkersPage::WorkersPage(Engine *engine, QWidget *parent)
    : QWidget(parent)
    , m_engine(engine)
{
    auto *layout = new QVBoxLayout(this);
    m_summary = new QLabel(this);
    m_summary->setObjectName(u"workersSummary"_s);
    m_summary->setWordWrap(true);
    layout->addWidget(m_summary);
    m_table = new QTableWidget(0, ColumnCount, this);
    m_table->setObjectName(u"workersTable"_s);
    m_table->setHorizontalHeaderLabels({tr("Worker"), tr("Lanes"), tr("In flight"), tr("Completed"),
                                        tr("Tasks/s"), tr("Rescued"), tr("Last heartbeat"),
                                        tr("Started")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setAlternatingRowColors(true);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setSectionResizeMode(WorkerColumn, QHeaderView::Stretch);
    m_table->horizontalHeaderItem(RescuedColumn)
        ->setToolTip(tr("Expired leases of other workers this one returned to pending"));
    layout->addWidget(m_table, 1);
    auto *hint = new QLabel(tr("Every engine on this database shows here: batchctl worker, run and "
                               "serve, other consoles and this window. A worker whose heartbeat "
                               "stops is gone; its tasks return to the others when its leases "
                               "expire."),
                            this);
    hint->setWordWrap(true);
    hint->setForegroundRole(QPalette::PlaceholderText);
    layout->addWidget(hint);

    m_timer = new QTimer(this);
    m_timer->setInterval(kRefreshMs);
    connect(m_timer, &QTimer::timeout, this, &WorkersPage::reload);
    connect(m_engine, &Engine::workersListed, this, &WorkersPage::handleWorkers);
    m_summary->setText(tr("Looking for workers…"));
}

void WorkersPage::reload()
{
    m_engine->requestWorkers(QDateTime::currentMSecsSinceEpoch() - kSeenWithinMs);
}

void WorkersPage::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    reload();
    m_timer->start();
}

void WorkersPage::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_timer->stop();
}

void WorkersPage::handleWorkers(const QList<WorkerInfo> &workers)
{
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const QString self = m_engine->workerId();
    const QLocale locale;
    m_table->setRowCount(int(workers.size()));
    qint64 inFlight = 0;
    double rate = 0.0;
    int live = 0;
    int stopped = 0;
    for (int row = 0; row < workers.size(); ++row) {
        const WorkerInfo &worker = workers.at(row);
        const qint64 sinceMs = worker.lastSeen.isValid() ? now - worker.lastSeen.toMSecsSinceEpoch() : -1;
        const bool hasStopped = worker.stoppedAt.isValid();
        const bool stale = !hasStopped && (sinceMs < 0 || sinceMs > kStaleMs);
        if (hasStopped)
            ++stopped;
        else if (!stale) {
            ++live;
            inFlight += worker.inFlight;
            rate += worker.tasksPerSecond;
        }
        QString name = tr("%1, pid %2").arg(worker.host).arg(worker.pid);
        if (worker.id == self)
            name += tr(" · this window");
        auto *nameItem = new QTableWidgetItem(name);
        nameItem->setToolTip(worker.id);
        m_table->setItem(row, WorkerColumn, nameItem);
        m_table->setItem(row, LanesColumn, new QTableWidgetItem(lanesText(worker.lanes)));
        m_table->setItem(row, InFlightColumn, numberItem(formatCount(worker.inFlight)));
        m_table->setItem(row, CompletedColumn, numberItem(formatCount(worker.completed)));
        m_table->setItem(row, RateColumn,
                         numberItem(!hasStopped && worker.tasksPerSecond > 0
                                        ? locale.toString(worker.tasksPerSecond, 'f', 1)
                                        : u"–"_s));
        m_table->setItem(row, RescuedColumn, numberItem(formatCount(worker.rescued)));
        const QString ago = tr("%1 ago").arg(formatDuration(qMax<qint64>(0, sinceMs / 1000)));
        auto *beat = new QTableWidgetItem(sinceMs < 0  ? u"–"_s
                                          : hasStopped ? tr("stopped %1").arg(ago)
                                                       : ago);
        if (hasStopped) {
            beat->setForeground(palette().brush(QPalette::Disabled, QPalette::Text));
            beat->setToolTip(tr("It stopped: its last heartbeat said so"));
        } else if (stale) {
            beat->setForeground(palette().brush(QPalette::Disabled, QPalette::Text));
            beat->setToolTip(tr("No heartbeat for more than %1 s: the worker may be gone").arg(kStaleMs / 1000));
        }
        m_table->setItem(row, HeartbeatColumn, beat);
        m_table->setItem(row, StartedColumn,
                         new QTableWidgetItem(locale.toString(worker.startedAt.toLocalTime(), QLocale::ShortFormat)));
    }
    if (workers.isEmpty()) {
        m_summary->setText(tr("No engine has worked on this database in the last 10 minutes."));
        return;
    }
    QString summary = tr("%1 alive · %2 in flight · %3 tasks/s together")
                          .arg(countOf(live, "worker", "workers"),
                               countOf(inFlight, "request", "requests"),
                               locale.toString(rate, 'f', 1));
    if (stopped > 0)
        summary += tr(" · %1 stopped").arg(formatCount(stopped));
    if (live + stopped < workers.size())
        summary += tr(" · %1 quiet for more than %2 s")
                       .arg(formatCount(workers.size() - live - stopped))
                       .arg(kStaleMs / 1000);
    m_summary->setText(summary);
}

} // namespace bd::ui
