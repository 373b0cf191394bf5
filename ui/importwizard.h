#pragma once

#include "core/types.h"
#include "cost/pricetable.h"
#include "cost/tiering.h"
#include "csvpreview.h"

#include <QDialog>
#include <QFutureWatcher>

#include <atomic>
#include <memory>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace bd {
class Engine;
struct ImportResult;
}

namespace bd::ui {

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
    QPushButton *importButton() const { return m_importButton; }
    QComboBox *modelBox() const { return m_model; }
    bool isPreviewReady() const { return m_preview.ok; }
    bool isPreviewLoading() const;
    QString errorText() const;       // the file problem shown, or empty
    QString templateProblem() const; // why the template cannot be used, or empty
    QString estimateText() const;
    bool isImporting() const { return m_importing; }
    void setSimulatorLatency(int ms);
    // Model tiering: "auto (tiering)" in the model list, with this config file (read off
    // the GUI thread, then checked like batchctl --tiering). Empty when it is fine.
    void setTieringFile(const QString &path);
    bool isTieringFileLoading() const { return m_tieringLoading; }
    QString tieringProblem() const { return m_tieringProblem; }
    // Starts the import if everything checks; false (and the reason shown) otherwise.
    bool startImport();
    // Cancels a running import first; closes otherwise.
    void reject() override;

Q_SIGNALS:
    void jobImported(qint64 jobId, bool continued, bool started);

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void buildUi();
    void loadPreview();
    void handlePreviewLoaded();
    void handleScanFinished();
    void showPreview();
    void updateProviderModels();
    void validate();
    void updateEstimate();
    bool isTiering() const;
    void checkTiering();
    void handleImportProgressed(qint64 rows, qint64 bytesRead, qint64 totalBytes);
    void handleImportFinished(const bd::ImportResult &result);
    void setImporting(bool importing);
    bd::JobSpec buildSpec() const;

    Engine *m_engine;
    QString m_path;
    cost::PriceTable m_prices;
    CsvPreview m_preview;
    quint64 m_previewGeneration = 0;
    QFutureWatcher<CsvPreview> m_previewWatcher;
    QFutureWatcher<CsvScan> m_scanWatcher;
    std::shared_ptr<std::atomic<bool>> m_cancelScan;
    qint64 m_exactRows = -1;
    bool m_importing = false;
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
    QComboBox *m_provider = nullptr;
    QComboBox *m_model = nullptr;
    QComboBox *m_priority = nullptr;
    QComboBox *m_mode = nullptr;
    QSpinBox *m_maxTokens = nullptr;
    QSpinBox *m_maxRetries = nullptr;
    QSpinBox *m_concurrency = nullptr; // pre-filled from Settings › Limits
    QDoubleSpinBox *m_budget = nullptr;
    QGroupBox *m_simulatorBox = nullptr;
    QSpinBox *m_simLatency = nullptr;
    QDoubleSpinBox *m_simFailure = nullptr;
    QCheckBox *m_startAfter = nullptr;
    QLabel *m_estimate = nullptr;
    QProgressBar *m_progress = nullptr;
    QPushButton *m_importButton = nullptr;
    QPushButton *m_cancelButton = nullptr;
    QString m_templateProblem;

    struct TieringFile
    {
        std::optional<cost::TieringConfig> config;
        QString error;
    };
    QFutureWatcher<TieringFile> m_tieringWatcher;
    bool m_tieringLoading = false; // until the watcher's result is taken
    std::optional<cost::TieringConfig> m_tiering; // read from the file, not yet bound
    QString m_tieringLoadError;
    QString m_tieringProblem;
    QWidget *m_tieringRow = nullptr;
    QLineEdit *m_tieringPath = nullptr;
    QLabel *m_tieringStatus = nullptr;
};

} // namespace bd::ui
