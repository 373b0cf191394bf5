#pragma once

#include "api/types.h"

#include <QDialog>

class QLabel;
class QPlainTextEdit;
class QPushButton;
class QRadioButton;

namespace bd {
class Engine;
}

namespace bd::ui {

class TemplateEditor;

// Replays dead-lettered tasks of one job with an edited template and/or system prompt
// (Engine::replayDead): the selected tasks, one error class, or every dead task of the job.
// Pre-filled with the job's own template; placeholders are checked against the job's
// columns as one types. Stays open until the engine answers, so its error (or the
// changed and skipped counts) is shown where the request was made.
class ReplayDialog final : public QDialog
{
    Q_OBJECT

public:
    enum Scope
    {
        SelectedTasks,
        ErrorClass,
        WholeJob,
    };

    struct Options
    {
        QList<qint64> selectedTaskIds; // of this job
        QString errorClass;            // the class chosen on the page; empty: none
        qint64 classCount = -1;        // dead tasks of it in the job (-1: unknown)
        qint64 deadCount = -1;         // dead tasks of the job (-1: unknown)
        bool confirmBulk = true;       // ask before more than one task
    };

    ReplayDialog(Engine *engine, const bd::JobInfo &job, const Options &options,
                 QWidget *parent = nullptr);

    qint64 jobId() const { return m_job.id; }
    TemplateEditor *templateEditor() const { return m_template; }
    QPlainTextEdit *systemPromptEdit() const { return m_system; }
    QPushButton *replayButton() const { return m_replay; }
    void setScope(Scope scope);
    Scope scope() const;
    bool isScopeAvailable(Scope scope) const;
    // Unknown placeholders, syntax errors, an empty template; empty when it may go.
    QString problem() const { return m_problem; }
    // What the dialog says under the editors: the problem, the engine's error, or progress.
    QString statusText() const;
    // Sends the request (after a confirmation for more than one task); false when it
    // cannot go (a problem, cancelled, already waiting for an answer).
    bool replay();

Q_SIGNALS:
    // About to ask the engine: the job should run once the tasks are back (MainWindow).
    void replayRequested(qint64 jobId);
    // The engine's answer, on success (the dialog then closes).
    void replayed(qint64 jobId, int changed, int skipped, bool edited);

private:
    void validate();
    void handleActedOn(int changed, const QString &error, int skipped);
    void setStatus(const QString &text, bool isError);

    Engine *m_engine;
    bd::JobInfo m_job;
    Options m_options;
    QRadioButton *m_scopeSelected = nullptr;
    QRadioButton *m_scopeClass = nullptr;
    QRadioButton *m_scopeJob = nullptr;
    TemplateEditor *m_template = nullptr;
    QPlainTextEdit *m_system = nullptr;
    QLabel *m_status = nullptr;
    QPushButton *m_replay = nullptr;
    QString m_problem;
    bool m_waiting = false;
    bool m_edited = false;
};

} // namespace bd::ui
