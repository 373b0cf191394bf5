#pragma once

#include "api/tasks.h"
#include "api/types.h"

#include <QWidget>

class QCheckBox;
class QLabel;
class QPushButton;
class QTableWidget;

namespace bd {
class Engine;
}

namespace bd::ui {

// Raised and cleared alerts from the store, asked for again whenever the engine says they
// changed. Each reads by its title ("Error rate high"; the kind in the tooltip) and, when
// it is about tasks, links to them: Show tasks (or a double-click) asks for the Tasks view
// filtered (and sorted) to the alert's job, state, priority or error class (alertlinks.h).
class AlertsPage final : public QWidget
{
    Q_OBJECT

public:
    explicit AlertsPage(Engine *engine, QWidget *parent = nullptr);

    enum Column { RaisedColumn, JobColumn, KindColumn, FiguresColumn, MessageColumn, ClearedColumn, ColumnCount };

    void reload();
    int openAlerts() const { return m_open; }
    QTableWidget *table() const { return m_table; }
    QPushButton *showTasksButton() const { return m_showTasks; }
    // The alert shown in a table row (nullptr: none).
    const bd::AlertRecord *alertAt(int row) const;
    // Asks for the Tasks view of the alert in this row, if it links to tasks.
    void showTasksOf(int row);

Q_SIGNALS:
    void openAlertsChanged(int count);
    void showTasksRequested(const bd::TaskFilter &filter, const bd::TaskOrder &order);

private:
    void handleAlerts(const QList<bd::AlertRecord> &alerts);
    void clearSelected();
    void updateButtons();

    Engine *m_engine;
    QTableWidget *m_table = nullptr;
    QCheckBox *m_showCleared = nullptr;
    QPushButton *m_clear = nullptr;
    QPushButton *m_showTasks = nullptr;
    QLabel *m_summary = nullptr;
    QList<bd::AlertRecord> m_alerts;
    int m_open = 0;
};

} // namespace bd::ui
