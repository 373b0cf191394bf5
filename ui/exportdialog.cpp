#include "exportdialog.h"

#include "api/engine.h"
#include "format.h"

#include <QComboBox>
#include <QDesktopServices>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QUrl>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

ExportDialog::ExportDialog(Engine *engine, qint64 jobId, const QString &suggestedPath, QWidget *parent)
    : QDialog(parent)
    , m_engine(engine)
    , m_jobId(jobId)
{
    setWindowTitle(tr("Export job %1").arg(jobId));
    setAttribute(Qt::WA_DeleteOnClose);
    resize(620, 200);
    auto *layout = new QVBoxLayout(this);
    auto *form = new QFormLayout;
    auto *pathRow = new QHBoxLayout;
    m_path = new QLineEdit(this);
    auto *browse = new QPushButton(tr("Browse…"), this);
    pathRow->addWidget(m_path, 1);
    pathRow->addWidget(browse);
    form->addRow(tr("File:"), pathRow);
    m_format = new QComboBox(this);
    m_format->addItem(tr("CSV (.csv)"), u"csv"_s);
    m_format->addItem(tr("JSON Lines (.jsonl)"), u"jsonl"_s);
    m_format->addItem(tr("Excel (.xlsx)"), u"xlsx"_s);
    form->addRow(tr("Format:"), m_format);
    layout->addLayout(form);
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    layout->addWidget(m_progress);
    m_status = new QLabel(tr("Every input column, then status, output, error, model, tokens, cost and attempts."), this);
    m_status->setWordWrap(true);
    layout->addWidget(m_status);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    m_exportButton = buttons->addButton(tr("&Export"), QDialogButtonBox::AcceptRole);
    m_cancelButton = buttons->addButton(tr("&Stop export"), QDialogButtonBox::ActionRole);
    m_cancelButton->setObjectName(u"cancelExport"_s);
    m_cancelButton->setEnabled(false);
    m_openFile = buttons->addButton(tr("&Open file"), QDialogButtonBox::ActionRole);
    m_openFile->setObjectName(u"openExported"_s);
    m_showFolder = buttons->addButton(tr("Show in &folder"), QDialogButtonBox::ActionRole);
    m_showFolder->setObjectName(u"showExportFolder"_s);
    m_openFile->hide();
    m_showFolder->hide();
    layout->addWidget(buttons);
    connect(m_openFile, &QPushButton::clicked, this,
            [this] { QDesktopServices::openUrl(QUrl::fromLocalFile(m_writtenPath)); });
    connect(m_showFolder, &QPushButton::clicked, this, [this] {
        QDesktopServices::openUrl(QUrl::fromLocalFile(QFileInfo(m_writtenPath).absolutePath()));
    });
    connect(m_cancelButton, &QPushButton::clicked, this, &ExportDialog::cancelExport);

    connect(browse, &QPushButton::clicked, this, &ExportDialog::browse);
    connect(m_format, &QComboBox::currentIndexChanged, this, [this] {
        const QFileInfo info(m_path->text());
        const QString ext = m_format->currentData().toString();
        if (!m_path->text().isEmpty() && info.suffix() != ext)
            m_path->setText(info.path() + u"/"_s + info.completeBaseName() + u"."_s + ext);
    });
    connect(m_path, &QLineEdit::textChanged, this, &ExportDialog::syncFormat);
    connect(m_exportButton, &QPushButton::clicked, this, &ExportDialog::startExport);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_engine, &Engine::exportProgressed, this, [this](qint64 id, qint64 rows, qint64 total) {
        if (id != m_jobId || !m_exporting)
            return;
        m_progress->setValue(total > 0 ? int(1000.0 * double(rows) / double(total)) : 0);
        m_status->setText(tr("%1 of %2 rows written…").arg(formatCount(rows), formatCount(total)));
    });
    connect(m_engine, &Engine::exportFinished, this,
            [this](qint64 id, const QString &path, bool ok, const QString &error) {
                if (id != m_jobId || !m_exporting)
                    return;
                m_exporting = false;
                m_exportButton->setEnabled(true);
                m_cancelButton->setEnabled(false);
                m_progress->setValue(ok ? 1000 : 0);
                m_writtenPath = ok ? path : QString();
                m_openFile->setVisible(ok);
                m_showFolder->setVisible(ok);
                if (ok) {
                    QStringList missing;
                    if (m_counts.dead > 0)
                        missing << tr("%1 dead").arg(formatCount(m_counts.dead));
                    if (m_counts.unfinished() > 0)
                        missing << tr("%1 not answered yet").arg(formatCount(m_counts.unfinished()));
                    if (m_counts.cancelled > 0)
                        missing << tr("%1 cancelled").arg(formatCount(m_counts.cancelled));
                    m_status->setText(missing.isEmpty()
                                          ? tr("Exported to %1").arg(path)
                                          : tr("Exported to %1 — partial: %2 (their rows have no answer; "
                                               "the status column says why).")
                                                .arg(path, missing.join(u", "_s)));
                }
                else if (m_cancelling)
                    m_status->setText(tr("Export stopped; nothing was written to %1.").arg(path));
                else
                    m_status->setText(tr("Export failed: %1").arg(error));
                m_cancelling = false;
                Q_EMIT exported(id, path, ok, error);
            });
    setPath(suggestedPath);
}

void ExportDialog::setPath(const QString &path)
{
    m_path->setText(path);
}

QString ExportDialog::path() const
{
    return m_path->text();
}

void ExportDialog::syncFormat()
{
    const QString suffix = QFileInfo(m_path->text()).suffix().toLower();
    const int index = m_format->findData(suffix);
    if (index >= 0 && index != m_format->currentIndex()) {
        const QSignalBlocker blocker(m_format);
        m_format->setCurrentIndex(index);
    }
}

void ExportDialog::browse()
{
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export job %1").arg(m_jobId), m_path->text(),
        tr("CSV (*.csv);;JSON Lines (*.jsonl);;Excel workbook (*.xlsx)"));
    if (!path.isEmpty())
        m_path->setText(path);
}

void ExportDialog::startExport()
{
    if (m_exporting || m_path->text().isEmpty())
        return;
    const QString suffix = QFileInfo(m_path->text()).suffix().toLower();
    if (suffix != u"csv"_s && suffix != u"jsonl"_s && suffix != u"xlsx"_s) {
        m_status->setText(tr("The file name must end in .csv, .jsonl or .xlsx."));
        return;
    }
    m_exporting = true;
    m_cancelling = false;
    m_openFile->hide();
    m_showFolder->hide();
    m_exportButton->setEnabled(false);
    m_cancelButton->setEnabled(true);
    m_progress->setValue(0);
    m_status->setText(tr("Exporting…"));
    m_engine->exportJob(m_jobId, QFileInfo(m_path->text()).absoluteFilePath());
}

void ExportDialog::cancelExport()
{
    if (!m_exporting || m_cancelling)
        return;
    m_cancelling = true;
    m_cancelButton->setEnabled(false);
    m_status->setText(tr("Stopping…"));
    m_engine->cancelExport(m_jobId);
}

QString ExportDialog::statusText() const
{
    return m_status->text();
}

void ExportDialog::reject()
{
    cancelExport();
    QDialog::reject();
}

} // namespace bd::ui
