#include "alertspage.h"

#include "alertlinks.h"
#include "api/alertfigures.h"
#include "api/engine.h"
#include "format.h"
#include "tasktableview.h"

#include <algorithm>
#include <QCheckBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

AlertsPage::AlertsPage(Engine *engine, QWidget *parent)
    : QWidget(parent)
    , m_engine(engine)
{
    auto *layout = new QVBoxLayout(this);
    auto *top = new QHBoxLayout;
    m_summary = new QLabel(this);
    top->addWidget(m_summary, 1);
    m_showCleared = new QCheckBox(tr("Show cleared"), this);
    m_showCleared->setChecked(true);
    top->addWidget(m_showCleared);
    m_showTasks = new QPushButton(tr("Show tasks"), this);
    m_showTasks->setToolTip(
        tr("The tasks this alert is about, in the Tasks view (or double-click it)"));
    top->addWidget(m_showTasks);
    m_clear = new QPushButton(tr("Clear selected"), this);
    top->addWidget(m_clear);
    layout->addLayout(top);

    m_table = new QTableWidget(this);
    m_table->setColumnCount(ColumnCount);
    m_table->setHorizontalHeaderLabels(
        {tr("Raised"), tr("Job"), tr("Alert"), tr("Figures"), tr("Message"), tr("Cleared")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->verticalHeader()->hide();
    // Times, job ids and the alert's name keep their width; its figures and message share
    // the rest, eliding visibly ("…", the whole text in the tooltip).
    fitColumnsToWidth(m_table, {FiguresColumn, MessageColumn});
    layout->addWidget(m_table, 1);

    connect(m_showCleared, &QCheckBox::toggled, this, &AlertsPage::reload);
    connect(m_clear, &QPushButton::clicked, this, &AlertsPage::clearSelected);
    connect(m_showTasks, &QPushButton::clicked, this, [this] {
        if (const QModelIndex current = m_table->currentIndex(); current.isValid())
            showTasksOf(current.row());
    });
    connect(m_table, &QTableWidget::cellDoubleClicked, this, [this](int row) { showTasksOf(row); });
    connect(m_table, &QTableWidget::currentCellChanged, this, &AlertsPage::updateButtons);
    connect(m_table->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &AlertsPage::updateButtons);
    updateButtons();
    connect(m_engine, &Engine::alertsListed, this, &AlertsPage::handleAlerts);
    connect(m_engine, &Engine::alertsChanged, this, &AlertsPage::reload);
}

void AlertsPage::reload()
{
    m_engine->requestAlerts(m_showCleared->isChecked());
}

void AlertsPage::handleAlerts(const QList<AlertRecord> &alerts)
{
    // Read again every few seconds (other processes raise alerts too): an unchanged list
    // leaves the table and its selection alone; a changed one keeps the current alert.
    const auto same = [](const AlertRecord &a, const AlertRecord &b) {
        return a.id == b.id && a.clearedAt == b.clearedAt && a.message == b.message &&
               a.figures == b.figures;
    };
    if (alerts.size() == m_alerts.size() && m_table->rowCount() == alerts.size() &&
        std::equal(alerts.cbegin(), alerts.cend(), m_alerts.cbegin(), same))
        return;
    const AlertRecord *current = alertAt(m_table->currentRow());
    const qint64 currentId = current ? current->id : 0;
    m_alerts = alerts;
    const QSignalBlocker blocker(m_table);
    m_table->setRowCount(int(alerts.size()));
    int open = 0;
    // Newest first.
    for (int i = 0; i < alerts.size(); ++i) {
        const AlertRecord &alert = alerts.at(alerts.size() - 1 - i);
        const bool isOpen = !alert.clearedAt.isValid();
        open += isOpen;
        const QString format = u"yyyy-MM-dd HH:mm:ss"_s;
        const QString figures = describeAlertFigures(alert.kind, alert.figures);
        const AlertLink link = alertLink(alert);
        const QStringList cells = {alert.raisedAt.toString(format),
                                   alert.jobId ? QString::number(alert.jobId) : tr("all"),
                                   link.title,
                                   figures,
                                   alert.message,
                                   isOpen ? tr("open") : alert.clearedAt.toString(format)};
        for (int c = 0; c < cells.size(); ++c) {
            auto *item = new QTableWidgetItem(cells.at(c));
            item->setData(Qt::UserRole, qint64(alerts.size() - 1 - i));
            if (c == MessageColumn || c == FiguresColumn)
                item->setToolTip(cells.at(c));
            if (c == KindColumn)
                item->setToolTip(
                    link.filter
                        ? tr("%1 (%2)\nDouble-click: the %3").arg(link.title, alert.kind, link.what)
                        : tr("%1 (%2)").arg(link.title, alert.kind));
            if (isOpen && (c == KindColumn || c == ClearedColumn))
                item->setForeground(stateColor(TaskState::Dead));
            m_table->setItem(i, c, item);
        }
    }
    if (open != m_open) {
        m_open = open;
        Q_EMIT openAlertsChanged(open);
    }
    m_summary->setText(alerts.isEmpty() ? tr("No alerts.")
                                        : tr("%1 open, %2 in all").arg(open).arg(alerts.size()));
    for (int row = 0; currentId && row < m_table->rowCount(); ++row) {
        if (alertAt(row)->id == currentId) {
            m_table->setCurrentCell(row, 0);
            break;
        }
    }
    updateButtons();
}

const AlertRecord *AlertsPage::alertAt(int row) const
{
    const QTableWidgetItem *item = row >= 0 ? m_table->item(row, 0) : nullptr;
    const int at = item ? item->data(Qt::UserRole).toInt() : -1;
    return at >= 0 && at < m_alerts.size() ? &m_alerts.at(at) : nullptr;
}

void AlertsPage::showTasksOf(int row)
{
    const AlertRecord *alert = alertAt(row);
    if (!alert)
        return;
    const AlertLink link = alertLink(*alert);
    if (link.filter)
        Q_EMIT showTasksRequested(*link.filter, link.order);
}

void AlertsPage::updateButtons()
{
    const AlertRecord *alert = alertAt(m_table->currentRow());
    const AlertLink link = alert ? alertLink(*alert) : AlertLink();
    m_showTasks->setEnabled(link.filter.has_value());
    m_showTasks->setToolTip(link.filter ? tr("Show the %1 in the Tasks view").arg(link.what)
                                        : tr("The tasks this alert is about, in the Tasks view "
                                             "(or double-click it)"));
    m_clear->setEnabled(!m_table->selectionModel()->selectedRows().isEmpty());
}

void AlertsPage::clearSelected()
{
    for (const QModelIndex &index : m_table->selectionModel()->selectedRows()) {
        const AlertRecord *alert = alertAt(index.row());
        if (alert && !alert->clearedAt.isValid())
            m_engine->clearAlerts(alert->jobId, alert->kind);
    }
}

} // namespace bd::ui
