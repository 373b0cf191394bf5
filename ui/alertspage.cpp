#include "alertspage.h"

#include "api/alertfigures.h"
#include "api/engine.h"
#include "format.h"

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
    m_clear = new QPushButton(tr("Clear selected"), this);
    top->addWidget(m_clear);
    layout->addLayout(top);

    m_table = new QTableWidget(this);
    m_table->setColumnCount(ColumnCount);
    m_table->setHorizontalHeaderLabels(
        {tr("Raised"), tr("Job"), tr("Kind"), tr("Figures"), tr("Message"), tr("Cleared")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setSectionResizeMode(MessageColumn, QHeaderView::Stretch);
    const int digit = m_table->fontMetrics().horizontalAdvance(u'0');
    m_table->setColumnWidth(RaisedColumn, digit * 21);
    m_table->setColumnWidth(JobColumn, digit * 6);
    m_table->setColumnWidth(KindColumn, digit * 18);
    m_table->setColumnWidth(FiguresColumn, digit * 44);
    m_table->setColumnWidth(ClearedColumn, digit * 21);
    layout->addWidget(m_table, 1);

    connect(m_showCleared, &QCheckBox::toggled, this, &AlertsPage::reload);
    connect(m_clear, &QPushButton::clicked, this, &AlertsPage::clearSelected);
    connect(m_engine, &Engine::alertsListed, this, &AlertsPage::handleAlerts);
    connect(m_engine, &Engine::alertsChanged, this, &AlertsPage::reload);
}

void AlertsPage::reload()
{
    m_engine->requestAlerts(m_showCleared->isChecked());
}

void AlertsPage::handleAlerts(const QList<AlertRecord> &alerts)
{
    m_alerts = alerts;
    m_table->setRowCount(int(alerts.size()));
    int open = 0;
    // Newest first.
    for (int i = 0; i < alerts.size(); ++i) {
        const AlertRecord &alert = alerts.at(alerts.size() - 1 - i);
        const bool isOpen = !alert.clearedAt.isValid();
        open += isOpen;
        const QString format = u"yyyy-MM-dd HH:mm:ss"_s;
        const QString figures = describeAlertFigures(alert.kind, alert.figures);
        const QStringList cells = {alert.raisedAt.toString(format),
                                   alert.jobId ? QString::number(alert.jobId) : tr("all"),
                                   alert.kind, figures, alert.message,
                                   isOpen ? tr("open") : alert.clearedAt.toString(format)};
        for (int c = 0; c < cells.size(); ++c) {
            auto *item = new QTableWidgetItem(cells.at(c));
            item->setData(Qt::UserRole, qint64(alerts.size() - 1 - i));
            if (c == MessageColumn || c == FiguresColumn)
                item->setToolTip(cells.at(c));
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
}

void AlertsPage::clearSelected()
{
    for (const QModelIndex &index : m_table->selectionModel()->selectedRows()) {
        const int at = m_table->item(index.row(), 0)->data(Qt::UserRole).toInt();
        if (at < 0 || at >= m_alerts.size())
            continue;
        const AlertRecord &alert = m_alerts.at(at);
        if (!alert.clearedAt.isValid())
            m_engine->clearAlerts(alert.jobId, alert.kind);
    }
}

} // namespace bd::ui
