#pragma once

#include "api/tasks.h"

#include <QHash>
#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTableView;
class QTimer;

namespace bd {
class Engine;
}

namespace bd::ui {

class JobCombo;
class TaskDetailView;
class TaskTableModel;

// Every task, a page at a time: filters (job, state, priority, error class, text), the
// table, a detail pane, and actions on the selection or on everything matching.
class TasksPage final : public QWidget
{
    Q_OBJECT

public:
    explicit TasksPage(Engine *engine, QWidget *parent = nullptr);

    void setJobs(const QList<bd::JobInfo> &jobs);
    void showJob(qint64 jobId, int state = -1);
    TaskTableModel *model() const { return m_model; }
    QTableView *view() const { return m_view; }
    bd::TaskFilter currentFilter() const;

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void applyFilter();
    void handleCurrentChanged();
    void act(int action);
    void updateCountLabel();

    Engine *m_engine;
    TaskTableModel *m_model = nullptr;
    QTableView *m_view = nullptr;
    TaskDetailView *m_detail = nullptr;
    JobCombo *m_job = nullptr;
    QComboBox *m_state = nullptr;
    QComboBox *m_priority = nullptr;
    QComboBox *m_errorClass = nullptr;
    QLineEdit *m_text = nullptr;
    QLabel *m_count = nullptr;
    QTimer *m_textDebounce = nullptr;
    QTimer *m_refresh = nullptr;
    // Structured answers: each job's output fields (shown as columns, filtered with
    // "field = value" in the search box).
    QHash<qint64, QStringList> m_fieldsOfJob;
};

} // namespace bd::ui
