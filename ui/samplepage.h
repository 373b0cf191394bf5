#pragma once

#include "samplerun.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;
class QVBoxLayout;

namespace bd::ui {

// The import wizard's Try on a sample and Compare steps: N rows spread over the file run
// as real sample jobs (SampleRun) for the job as set up (candidate A) and up to two other
// models or templates (B, C); their inputs, answers, fields, tokens and cost side by side,
// what each would cost and take for the whole file from what the sample really cost, and,
// with two or three candidates, how often they agree, field by field. The wizard's "Run the
// whole file" then takes the chosen candidate (chosenCandidate()).
class SamplePage final : public QWidget
{
    Q_OBJECT

public:
    explicit SamplePage(Engine *engine, QWidget *parent = nullptr);

    // What the figures are worked out against: the file, its rows, the concurrency the
    // whole job would run at, and the engine's estimate of it (for the batch API's price
    // beside the synchronous one, when the job would go there).
    struct Context
    {
        QString fileName;
        qint64 inputRows = 0;
        int concurrency = 16;
        QString lane;         // the whole job's mode as checked: "batch-api" or a sync one
        JobEstimate estimate; // rows 0: none yet
    };
    // Runs the sample: candidate A is the job as set up, the others as edited on the page.
    void run(const JobDraft &setup, int rows, const Context &context);
    void stop();
    bool isRunning() const { return m_run->isRunning(); }
    SampleRun *sampleRun() const { return m_run; }

    // The other candidates (B, C): another provider, model or template over the same rows.
    int extraCandidates() const { return int(m_editors.size()); }
    void addCandidate(const QString &provider, const QString &model, const QString &templateText);
    // The candidate "Run the whole file" takes: A (the setup) unless another is chosen.
    SampleCandidate chosenCandidate() const;
    int chosenIndex() const;
    void choose(int index);

    // For tests and screenshots.
    QTableWidget *resultsTable() const { return m_results; }
    QTableWidget *summaryTable() const { return m_summary; }
    QTableWidget *agreementTable() const { return m_agreement; }
    QLabel *statusLabel() const { return m_status; }
    QPushButton *runButton() const { return m_runButton; }

private:
    struct Editor
    {
        QWidget *row = nullptr;
        QLabel *label = nullptr;
        QComboBox *provider = nullptr;
        QComboBox *model = nullptr;
        QPlainTextEdit *templateText = nullptr;
    };

    QList<SampleCandidate> candidates() const;
    void relabel();
    void rerun();
    void refresh();
    void showSummary();
    void showResults();
    void showAgreement();
    void fillModels(Editor &editor);

    SampleRun *m_run = nullptr;
    Context m_context;
    JobDraft m_setup;
    QList<Editor> m_editors;
    QLabel *m_title = nullptr;
    QLabel *m_candidateA = nullptr;
    QVBoxLayout *m_editorLayout = nullptr;
    QPushButton *m_addButton = nullptr;
    QPushButton *m_runButton = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_status = nullptr;
    QTableWidget *m_summary = nullptr;
    QTableWidget *m_agreement = nullptr;
    QLabel *m_agreementTitle = nullptr;
    QTableWidget *m_results = nullptr;
    QComboBox *m_chosen = nullptr;
};

} // namespace bd::ui
