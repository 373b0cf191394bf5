#pragma once

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
// changed.
class AlertsPage final : public QWidget
{
    Q_OBJECT

public:
    explicit AlertsPage(Engine *engine, QWidget *parent = nullptr);

    enum Column { RaisedColumn, JobColumn, KindColumn, FiguresColumn, MessageColumn, ClearedColumn, ColumnCount };

    void reload();
    int openAlerts() const { return m_open; }
    QTableWidget *table() const { return m_table; }

Q_SIGNALS:
    void openAlertsChanged(int count);

private:
    void handleAlerts(const QList<bd::AlertRecord> &alerts);
    void clearSelected();

    Engine *m_engine;
    QTableWidget *m_table = nullptr;
    QCheckBox *m_showCleared = nullptr;
    QPushButton *m_clear = nullptr;
    QLabel *m_summary = nullptr;
    QList<bd::AlertRecord> m_alerts;
    int m_open = 0;
};

} // namespace bd::ui
