#pragma once

#include "api/tasks.h"

#include <QWidget>

class QLabel;
class QLineEdit;
class QMenu;
class QPushButton;
class QTableView;
class QTimer;
class QTreeWidget;

namespace bd {
class Engine;
}

namespace bd::ui {

class JobCombo;
class ReplayDialog;
class TaskDetailView;
class TaskTableModel;

// Dead-lettered tasks grouped by error class with counts; replay the selection, a class or
// all of a job, each after a confirmation, as they were or with an edited template.
class DeadLettersPage final : public QWidget
{
    Q_OBJECT

public:
    explicit DeadLettersPage(Engine *engine, QWidget *parent = nullptr);

    void setJobs(const QList<bd::JobInfo> &jobs);
    TaskTableModel *model() const { return m_model; }
    // Skips confirmations (tests and automation).
    void setConfirmBulkActions(bool confirm) { m_confirm = confirm; }
    void replaySelection();
    void replayClass();
    void replayJob();
    // "Replay with edited template…": the dialog for the chosen job (or the job of the
    // current row when all jobs are shown); null when there is no job to replay.
    ReplayDialog *openReplayDialog();
    qint64 replayJobId() const;
    // What the last replay changed ("Replayed 20 tasks of job 3 …"), shown above the table.
    QString lastResultText() const;
    QTreeWidget *classList() const { return m_classes; }
    QTableView *view() const { return m_view; }
    QLineEdit *searchField() const { return m_text; }
    QPushButton *replaySelectionButton() const { return m_replaySelection; }
    // The row menu (Replay, Replay at priority…, Copy prompt / error, Show job) for the row
    // at a view position; the caller owns it.
    QMenu *rowMenu(const QPoint &viewPos);
    // The selected dead tasks back to pending at a priority (1..3).
    void replaySelectionAt(int priority);

Q_SIGNALS:
    // Tasks of these jobs are pending again; a job that is not running should resume.
    void replayed(const QList<qint64> &jobIds);
    void showJobRequested(qint64 jobId);

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void refresh();
    void applyFilter();
    void handleSummary(quint64 ticket, qint64 jobId, const QList<bd::DeadClassCount> &classes);
    QString currentClass() const;
    bool confirm(const QString &text);
    QList<qint64> affectedJobs() const;
    void updateReplayEdited();
    void updateSummary();
    // The selected rows' tasks (loaded ones) and their jobs.
    QList<qint64> selectedTaskIds(QList<qint64> *jobIds = nullptr) const;

    Engine *m_engine;
    JobCombo *m_job = nullptr;
    QTreeWidget *m_classes = nullptr;
    TaskTableModel *m_model = nullptr;
    QTableView *m_view = nullptr;
    TaskDetailView *m_detail = nullptr;
    QLabel *m_summary = nullptr;
    QPushButton *m_replaySelection = nullptr;
    QPushButton *m_replayClass = nullptr;
    QPushButton *m_replayJob = nullptr;
    QPushButton *m_replayEdited = nullptr;
    QLabel *m_result = nullptr;
    QLineEdit *m_text = nullptr;
    QTimer *m_textDebounce = nullptr;
    QList<bd::JobInfo> m_jobs;
    QString m_classSummary;
    qint64 m_deadTotal = -1; // of the chosen job, from the last summary
    quint64 m_summaryTicket = 0; // the summary asked for and not answered yet
    QTimer *m_refresh = nullptr;
    QList<qint64> m_allJobIds;
    bool m_confirm = true;
};

} // namespace bd::ui
