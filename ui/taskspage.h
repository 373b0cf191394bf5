#pragma once

#include "api/tasks.h"

#include <QHash>
#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QMenu;
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
    // The filter's job, state, priority and error class in the filter row (no search
    // text), sorted by the order (an alert's tasks).
    void showTasks(const bd::TaskFilter &filter, const bd::TaskOrder &order);
    TaskTableModel *model() const { return m_model; }
    QTableView *view() const { return m_view; }
    bd::TaskFilter currentFilter() const;
    // The row menu (Replay, Reprioritise, Cancel, Copy prompt / answer, Show job) for the
    // row at a view position, its actions enabled as they apply; the caller owns it.
    QMenu *rowMenu(const QPoint &viewPos);
    QLineEdit *searchField() const { return m_text; }
    // From how many tasks a sort over every job (never indexed) says what each page
    // costs: where this window's engine starts indexing a job's sort, as configured; the
    // compiled default when it indexes none (0).
    qint64 slowSortTasks() const;
    // The last task detail shown (id 0 before one arrived).
    const bd::TaskDetail &shownDetail() const { return m_shownDetail; }

Q_SIGNALS:
    void showJobRequested(qint64 jobId);

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void applyFilter();
    void handleCurrentChanged();
    void act(int action);
    void updateCountLabel();
    // What a sort costs or waits for: the sort index being prepared for a big job, or
    // every job's tasks sorted for each page.
    void updateSortNote();
    void updateActions();

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
    QLabel *m_sortNote = nullptr;
    QTimer *m_textDebounce = nullptr;
    QTimer *m_refresh = nullptr;
    // Structured answers: each job's output fields (shown as columns, filtered with
    // "field = value" in the search box).
    QHash<qint64, QStringList> m_fieldsOfJob;
    QList<QPushButton *> m_actionButtons;
    bd::TaskDetail m_shownDetail;
    bool m_detailWaiting = false; // "Loading…" until the current row's page arrives
};

} // namespace bd::ui
