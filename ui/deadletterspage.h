#pragma once

#include "core/types.h"
#include "store/taskquery.h"

#include <QWidget>

class QLabel;
class QPushButton;
class QTableView;
class QTimer;
class QTreeWidget;

namespace bd {
class Engine;
}

namespace bd::ui {

class JobCombo;
class TaskDetailView;
class TaskTableModel;

// Dead-lettered tasks grouped by error class with counts; replay the selection, a class or
// all of a job, each after a confirmation.
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
    QTreeWidget *classList() const { return m_classes; }

Q_SIGNALS:
    // Tasks of these jobs are pending again; a job that is not running should resume.
    void replayed(const QList<qint64> &jobIds);

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void refresh();
    void applyFilter();
    void handleSummary(qint64 jobId, const QList<bd::store::DeadClassCount> &classes);
    QString currentClass() const;
    bool confirm(const QString &text);
    QList<qint64> affectedJobs() const;

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
    QTimer *m_refresh = nullptr;
    QList<qint64> m_allJobIds;
    bool m_confirm = true;
};

} // namespace bd::ui
