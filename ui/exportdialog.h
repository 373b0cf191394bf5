#pragma once

#include "api/types.h"

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
    // The job's counts when the export was asked for: a file without an answer for every
    // row says so when it is written (partial: dead, unfinished, cancelled rows).
    void setJobCounts(const bd::TaskCounts &counts) { m_counts = counts; }
    QString path() const;
    void startExport();
    // Stops the export under way; the file is not written (exported() follows with ok false).
    void cancelExport();
    bool isExporting() const { return m_exporting; }
    QString statusText() const;
    // After a successful export: open the file, or its folder, with the desktop's
    // application (QDesktopServices).
    QPushButton *openFileButton() const { return m_openFile; }
    QPushButton *showFolderButton() const { return m_showFolder; }

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
    QPushButton *m_openFile = nullptr;
    QPushButton *m_showFolder = nullptr;
    QString m_writtenPath;
    bd::TaskCounts m_counts;
    bool m_exporting = false;
    bool m_cancelling = false;
};

} // namespace bd::ui
