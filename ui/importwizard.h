#pragma once

#include "api/engine.h"
#include "csvpreview.h"

#include <QDialog>
#include <QFutureWatcher>
#include <QMessageBox>
#include <QPointer>

#include <atomic>
#include <memory>

class QCheckBox;
class QComboBox;
class QDateTimeEdit;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;

class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStackedWidget;
class QTableWidget;
class QTimer;

namespace bd::ui {

class FieldsStep;
class SamplePage;
class TemplateEditor;

// Import of one CSV as a job: shows the first rows as parsed (encoding and delimiter
// detected, changeable), a template editor over the columns, the job's settings and a cost
// estimate; imports through the engine with progress and cancel, then starts the job.
// The file is read off the GUI thread (QtConcurrent); nothing is stored until Import.
class ImportWizard final : public QDialog
{
    Q_OBJECT

public:
    ImportWizard(Engine *engine, const QString &path, QWidget *parent = nullptr);
    ~ImportWizard() override;

    // Fills the settings from an existing job ("run again").
    void setFromJob(const bd::JobInfo &job);

    // For tests and automation.
    TemplateEditor *templateEditor() const { return m_template; }
    QPlainTextEdit *systemPromptEdit() const { return m_system; }
    FieldsStep *fieldsStep() const { return m_fields; }
    QPushButton *importButton() const { return m_importButton; }
    QComboBox *modelBox() const { return m_model; }
    QComboBox *providerBox() const { return m_provider; }
    QComboBox *priorityBox() const { return m_priority; }
    bool isPreviewReady() const { return m_preview.ok; }
    bool isPreviewLoading() const;
    QString errorText() const;       // the file problem shown, or empty
    QString templateProblem() const; // why the template cannot be used, or empty
    QString estimateText() const;
    bool isImporting() const { return m_importing; }
    void setSimulatorLatency(int ms);
    // Model tiering: "auto (tiering)" in the model list, with this config file (checked by
    // the engine off the GUI thread, as batchctl --tiering is). Empty when it is fine.
    void setTieringFile(const QString &path);
    // The engine is still checking the job (tiering file, columns, lane) or estimating it.
    bool isTieringFileLoading() const { return isEstimating(); }
    bool isEstimating() const { return m_estimatePending || m_checkPending; }
    QString tieringProblem() const { return m_tieringProblem; }
    // The job as the engine last checked it (resolved model, lane, tiering).
    const bd::JobCheck &lastCheck() const { return m_check; }
    // The engine's last estimate of it (rows 0 before the first).
    const bd::JobEstimate &lastEstimate() const { return m_estimateFigures; }
    // The prompt of the selected preview row (the first when none is selected), as the
    // template renders it; updated as the template is typed.
    QPlainTextEdit *promptPreview() const { return m_promptPreview; }
    QTableWidget *previewTable() const { return m_previewTable; }
    // The chosen provider needs a key and none was found (environment, keychain): why,
    // shown at once with a button to Settings › Providers. Empty otherwise.
    QString keyProblem() const { return m_keyProblem; }
    bool isCheckingKey() const { return m_keyCheckPending; }
    QPushButton *providerSettingsButton() const { return m_providerSettings; }
    // Looks for the provider's key again (Settings › Providers may have saved one).
    void checkProviderKey();
    // A large import (more than kLargeImportRows rows) or an expensive one (an upper bound
    // above kExpensiveImportUsd or above what the global budget has left) asks first.
    static constexpr qint64 kLargeImportRows = 50'000;
    static constexpr double kExpensiveImportUsd = 10.0;
    void setConfirmLargeImports(bool confirm) { m_confirmLarge = confirm; }
    // Why this import would ask (empty: it would not).
    QString largeImportReason() const;
    // The question asked, while it is open.
    QMessageBox *importConfirmation() const { return m_confirmation; }
    // Starts the import if everything checks (a large or expensive one once confirmed);
    // false (and the reason shown) otherwise.
    bool startImport();
    // Starts the import as soon as the file's preview is read (the sample job).
    void startWhenReady();

    // Try on a sample: N rows (sampleRowsBox(), default 10) spread over the file run as real
    // sample jobs, for the job as set up and up to two other models or templates
    // (samplePage()); false (nothing runs) while the file or template is not usable.
    bool trySample();
    bool isShowingSample() const;
    // Back from the sample to the settings (a sample still running is paused).
    void backToSettings();
    SamplePage *samplePage() const { return m_samplePage; }
    QSpinBox *sampleRowsBox() const { return m_sampleRows; }
    QPushButton *trySampleButton() const { return m_trySample; }
    // Cancels a running import first; closes otherwise.
    void reject() override;

Q_SIGNALS:
    void jobImported(qint64 jobId, bool continued, bool started);
    // "Settings › Providers…" was pressed (no key for the chosen provider).
    void providerSettingsRequested();

protected:
    void closeEvent(QCloseEvent *event) override;
    void keyPressEvent(QKeyEvent *event) override;

private:
    // Shows one of the pages (settings, sample), each scrolled on its own.
    void showPage(QWidget *page);
    void buildUi();
    void loadPreview();
    void handlePreviewLoaded();
    void handleScanFinished();
    QString rowsText() const; // the row count as known so far
    void showPreview();
    void updateProviderModels();
    void validate();
    void updateEstimate();
    bool isTiering() const;
    // The engine checks the draft (and then estimates it); answers come back by ticket and
    // only the newest is taken.
    void scheduleCheck();
    void requestCheck();
    void handleJobChecked(quint64 ticket, const bd::JobCheck &check);
    void handleJobEstimated(quint64 ticket, const bd::JobEstimate &estimate, const QString &error);
    void showTieringStatus();
    void updatePromptPreview();
    // The engine's plan for the deadline under it; the row is hidden whole without one.
    void showDeadlinePlan(const QString &plan);
    void showEstimate();
    std::optional<double> upperBoundUsd() const;
    bd::JobDraft buildDraft() const;
    void handleImportProgressed(qint64 rows, qint64 bytesRead, qint64 totalBytes);
    void handleImportFinished(const bd::ImportResult &result);
    void setImporting(bool importing);
    bd::JobSpec buildSpec() const;
    // "Run the whole file" from the sample page: the chosen candidate's provider, model and
    // template go to the settings, then the import starts as Import does.
    bool runWholeFile();
    void updateSampleButtons();

    Engine *m_engine;
    QString m_path;
    CsvPreview m_preview;
    quint64 m_previewGeneration = 0;
    QFutureWatcher<CsvPreview> m_previewWatcher;
    QFutureWatcher<CsvScan> m_scanWatcher;
    std::shared_ptr<std::atomic<bool>> m_cancelScan;
    qint64 m_exactRows = -1;
    bool m_importing = false;
    bool m_startWhenReady = false;
    QList<QMetaObject::Connection> m_importConnections;

    QLabel *m_fileLabel = nullptr;
    QComboBox *m_encoding = nullptr;
    QComboBox *m_delimiter = nullptr;
    QLabel *m_rowsLabel = nullptr;
    QLabel *m_errorLabel = nullptr;
    QTableWidget *m_previewTable = nullptr;
    TemplateEditor *m_template = nullptr;
    QLabel *m_templateStatus = nullptr;
    QPlainTextEdit *m_system = nullptr;
    FieldsStep *m_fields = nullptr; // structured answers
    QComboBox *m_provider = nullptr;
    QComboBox *m_model = nullptr;
    QComboBox *m_priority = nullptr;
    QComboBox *m_mode = nullptr;
    QCheckBox *m_deadlineOn = nullptr;
    QDateTimeEdit *m_deadline = nullptr;
    QLabel *m_deadlinePlan = nullptr; // the engine's plan for the deadline
    QSpinBox *m_maxTokens = nullptr;
    QSpinBox *m_maxRetries = nullptr;
    QSpinBox *m_concurrency = nullptr; // pre-filled from Settings › Limits
    QDoubleSpinBox *m_budget = nullptr;
    QGroupBox *m_simulatorBox = nullptr;
    QSpinBox *m_simLatency = nullptr;
    QDoubleSpinBox *m_simFailure = nullptr;
    QCheckBox *m_startAfter = nullptr;
    QLabel *m_estimate = nullptr;
    QPlainTextEdit *m_promptPreview = nullptr;
    QLabel *m_promptPreviewTitle = nullptr;
    QWidget *m_keyWarning = nullptr;
    QLabel *m_keyWarningText = nullptr;
    QPushButton *m_providerSettings = nullptr;
    QString m_keyProblem;
    quint64 m_keyCheck = 0;
    bool m_keyCheckPending = false;
    bool m_confirmLarge = true;
    bool m_importConfirmed = false;
    QPointer<QMessageBox> m_confirmation;
    double m_globalCapUsd = 0;
    double m_globalSpentUsd = 0;
    QString m_globalPeriod;
    QProgressBar *m_progress = nullptr;
    QPushButton *m_importButton = nullptr;
    QPushButton *m_cancelButton = nullptr;
    QStackedWidget *m_pages = nullptr;
    QWidget *m_setupPage = nullptr;
    SamplePage *m_samplePage = nullptr;
    QSpinBox *m_sampleRows = nullptr;
    QPushButton *m_trySample = nullptr;
    QPushButton *m_backButton = nullptr;
    QString m_templateProblem;

    QTimer *m_checkTimer = nullptr; // typing settles before the engine is asked
    quint64 m_checkTicket = 0;
    quint64 m_estimateTicket = 0;
    bool m_checkPending = false;
    bool m_importWhenChecked = false; // Import asked while the check was under way
    bool m_estimatePending = false;
    bd::JobCheck m_check;
    bd::JobEstimate m_estimateFigures;
    QString m_tieringFile;      // chosen by the user
    QJsonObject m_jobTiering;   // a "run again" job's bound tiering, when no file is chosen
    QString m_tieringProblem;
    QWidget *m_tieringRow = nullptr;
    QLineEdit *m_tieringPath = nullptr;
    QLabel *m_tieringStatus = nullptr;
};

} // namespace bd::ui
