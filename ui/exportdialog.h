#pragma once

#include <QDialog>

class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;

namespace bd {
class Engine;
}

namespace bd::ui {

// Export of one job (CSV, JSONL, XLSX; the columns of `batchctl export`) through the
// engine's reader thread, with progress.
class ExportDialog final : public QDialog
{
    Q_OBJECT

public:
    ExportDialog(Engine *engine, qint64 jobId, const QString &suggestedPath, QWidget *parent = nullptr);

    void setPath(const QString &path);
    QString path() const;
    void startExport();
    // Stops the export under way; the file is not written (exported() follows with ok false).
    void cancelExport();
    bool isExporting() const { return m_exporting; }
    QString statusText() const;

protected:
    void reject() override; // closing while exporting cancels the export

Q_SIGNALS:
    void exported(qint64 jobId, const QString &path, bool ok, const QString &error);

private:
    void browse();
    void syncFormat();

    Engine *m_engine;
    qint64 m_jobId;
    QLineEdit *m_path = nullptr;
    QComboBox *m_format = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_status = nullptr;
    QPushButton *m_exportButton = nullptr;
    QPushButton *m_cancelButton = nullptr;
    bool m_exporting = false;
    bool m_cancelling = false;
};

} // namespace bd::ui
