#include "importwizard.h"

#include "api/engine.h"
#include "api/jobsettings.h"
#include "consolesettings.h"
#include "costestimate.h"
#include "estimatekeys.h"
#include "fieldsstep.h"
#include "format.h"
#include "ingest/prompttemplate.h"
#include "providerconfig.h"
#include "samplepage.h"
#include "templateeditor.h"

#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDateTimeEdit>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QFrame>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScreen>
#include <QScrollArea>
#include <QSettings>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableWidget>
#include <QtConcurrent>
#include <QTimer>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

constexpr int kPreviewRows = 50;
// The head read for the first row estimate (exact for files no larger).
constexpr qint64 kRowSampleBytes = qint64(1) << 20;
// The model list's entry for model tiering (model "auto").
const QString kAutoTieringItem = u"auto (tiering)"_s;

QString delimiterName(QChar delimiter)
{
    if (delimiter == u',')
        return ImportWizard::tr("comma");
    if (delimiter == u';')
        return ImportWizard::tr("semicolon");
    if (delimiter == u'\t')
        return ImportWizard::tr("tab");
    if (delimiter == u'|')
        return ImportWizard::tr("pipe");
    return QString(delimiter);
}

} // namespace

ImportWizard::ImportWizard(Engine *engine, const QString &path, QWidget *parent)
    : QDialog(parent)
    , m_engine(engine)
    , m_path(QFileInfo(path).absoluteFilePath())
    , m_cancelScan(std::make_shared<std::atomic<bool>>(false))
{
    setObjectName(u"importWizard"_s);
    setWindowTitle(tr("Import %1").arg(QFileInfo(path).fileName()));
    setAttribute(Qt::WA_DeleteOnClose);
    buildUi();
    connect(&m_previewWatcher, &QFutureWatcher<CsvPreview>::finished, this,
            &ImportWizard::handlePreviewLoaded);
    connect(&m_scanWatcher, &QFutureWatcher<CsvScan>::finished, this,
            &ImportWizard::handleScanFinished);
    if (m_engine) {
        connect(m_engine, &Engine::jobChecked, this, &ImportWizard::handleJobChecked);
        connect(m_engine, &Engine::jobEstimated, this, &ImportWizard::handleJobEstimated);
        connect(m_engine, &Engine::globalBudgetChanged, this,
                [this](double capUsd, const QString &period, double spentUsd) {
                    m_globalCapUsd = capUsd;
                    m_globalPeriod = period;
                    m_globalSpentUsd = spentUsd;
                    showEstimate();
                });
        m_engine->requestGlobalBudget();
    }
    loadPreview();
    checkProviderKey();
}

ImportWizard::~ImportWizard()
{
    m_cancelScan->store(true);
    // The futures only read the file; waiting for them here bounds the wait to one chunk.
    m_previewWatcher.waitForFinished();
    m_scanWatcher.waitForFinished();
    for (const auto &connection : std::as_const(m_importConnections))
        disconnect(connection);
}

void ImportWizard::buildUi()
{
    // No larger than the screen (1024×700 must fit: its buttons were off the bottom and
    // its settings needed 1,127 px wide): the pages scroll, the buttons below them stay.
    QSize size(1080, 760);
    if (const QScreen *shown = screen())
        size = size.boundedTo(shown->availableGeometry().size());
    resize(size);
    auto *outer = new QVBoxLayout(this);
    // The settings, and the sample tried with them (Try on a sample, Compare), each in a
    // scroll area of its own: scrolled together, the pages were as wide and as tall as
    // the largest (the sample's chooser came after a blank stretch as tall as the settings).
    m_pages = new QStackedWidget(this);
    outer->addWidget(m_pages, 1);
    const auto addScrolled = [this](QWidget *page) {
        auto *scroll = new QScrollArea(m_pages);
        scroll->setFrameShape(QFrame::NoFrame);
        scroll->setWidgetResizable(true);
        scroll->setWidget(page);
        m_pages->addWidget(scroll);
    };
    m_setupPage = new QWidget(this);
    auto *layout = new QVBoxLayout(m_setupPage);
    layout->setContentsMargins(0, 0, 0, 0);
    addScrolled(m_setupPage);
    m_samplePage = new SamplePage(m_engine, this);
    addScrolled(m_samplePage);

    // --- the file as parsed
    auto *fileRow = new QHBoxLayout;
    m_fileLabel = new QLabel(this);
    m_fileLabel->setText(u"<b>%1</b>"_s.arg(QFileInfo(m_path).fileName().toHtmlEscaped()));
    m_fileLabel->setToolTip(m_path);
    fileRow->addWidget(m_fileLabel);
    fileRow->addSpacing(12);
    fileRow->addWidget(new QLabel(tr("Encoding:"), this));
    m_encoding = new QComboBox(this);
    m_encoding->addItem(tr("Detect"), QString());
    for (const QString &name : {u"UTF-8"_s, u"UTF-16LE"_s, u"UTF-16BE"_s, u"Windows-1252"_s})
        m_encoding->addItem(name, name);
    fileRow->addWidget(m_encoding);
    fileRow->addWidget(new QLabel(tr("Delimiter:"), this));
    m_delimiter = new QComboBox(this);
    m_delimiter->addItem(tr("Detect"), QString());
    for (const QChar c : {u',', u';', u'\t', u'|'})
        m_delimiter->addItem(delimiterName(c), QString(c));
    fileRow->addWidget(m_delimiter);
    fileRow->addStretch(1);
    m_rowsLabel = new QLabel(this);
    m_rowsLabel->setObjectName(u"rowsLabel"_s);
    fileRow->addWidget(m_rowsLabel);
    layout->addLayout(fileRow);

    m_errorLabel = new QLabel(this);
    m_errorLabel->setObjectName(u"fileError"_s);
    m_errorLabel->setWordWrap(true);
    m_errorLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_errorLabel->setStyleSheet(u"QLabel { color: #b00020; font-weight: bold; padding: 6px; "
                                "border: 1px solid #b00020; border-radius: 4px; }"_s);
    m_errorLabel->hide();
    layout->addWidget(m_errorLabel);

    auto *splitter = new QSplitter(Qt::Vertical, this);
    m_previewTable = new QTableWidget(this);
    m_previewTable->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_previewTable->setAlternatingRowColors(true);
    m_previewTable->setWordWrap(false);
    m_previewTable->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    m_previewTable->horizontalHeader()->setStretchLastSection(true);
    m_previewTable->setMinimumHeight(160);
    m_previewTable->verticalHeader()->setDefaultSectionSize(
        m_previewTable->fontMetrics().height() + 6);
    splitter->addWidget(m_previewTable);

    // --- the prompt and the job's settings
    auto *lower = new QWidget(this);
    // Two columns, the fields below them: three side by side needed 1,127 px and scrolled
    // sideways at 1,024.
    auto *lowerLayout = new QGridLayout(lower);
    lowerLayout->setContentsMargins(0, 0, 0, 0);

    auto *promptBox = new QGroupBox(tr("Prompt"), lower);
    auto *promptLayout = new QVBoxLayout(promptBox);
    promptLayout->addWidget(new QLabel(tr("Template (type {{ to insert a column):"), promptBox));
    m_template = new TemplateEditor(promptBox);
    m_template->setObjectName(u"templateEditor"_s);
    m_template->setPlaceholderText(tr("Summarise this review in one sentence: {{review}}"));
    promptLayout->addWidget(m_template, 3);
    m_templateStatus = new QLabel(promptBox);
    m_templateStatus->setWordWrap(true);
    promptLayout->addWidget(m_templateStatus);
    m_promptPreviewTitle = new QLabel(promptBox);
    promptLayout->addWidget(m_promptPreviewTitle);
    m_promptPreview = new QPlainTextEdit(promptBox);
    m_promptPreview->setObjectName(u"promptPreview"_s);
    m_promptPreview->setReadOnly(true);
    m_promptPreview->setTabChangesFocus(true);
    m_promptPreview->setFrameShape(QFrame::StyledPanel);
    m_promptPreview->setBackgroundRole(QPalette::AlternateBase);
    promptLayout->addWidget(m_promptPreview, 2);
    promptLayout->addWidget(new QLabel(tr("System prompt (optional, sent first and cached):"), promptBox));
    m_system = new QPlainTextEdit(promptBox);
    m_system->setTabChangesFocus(true);
    m_system->setPlaceholderText(tr("You are a careful analyst. Answer briefly."));
    m_system->setMaximumHeight(m_system->fontMetrics().height() * 5);
    promptLayout->addWidget(m_system, 1);
    lowerLayout->addWidget(promptBox, 0, 0);
    m_fields = new FieldsStep(lower);
    lowerLayout->addWidget(m_fields, 1, 0, 1, 2);

    auto *settingsBox = new QGroupBox(tr("Job"), lower);
    auto *form = new QFormLayout(settingsBox);
    m_provider = new QComboBox(settingsBox);
    for (const ProviderInfo &info : availableProviders())
        m_provider->addItem(info.displayName, info.id);
    form->addRow(tr("Provider:"), m_provider);
    m_model = new QComboBox(settingsBox);
    m_model->setEditable(true);
    form->addRow(tr("Model:"), m_model);
    // Model tiering: each row goes to the model of its tier, by the rules of a config file.
    m_tieringRow = new QWidget(settingsBox);
    auto *tieringLayout = new QVBoxLayout(m_tieringRow);
    tieringLayout->setContentsMargins(0, 0, 0, 0);
    auto *tieringPick = new QHBoxLayout;
    m_tieringPath = new QLineEdit(m_tieringRow);
    m_tieringPath->setObjectName(u"tieringPath"_s);
    m_tieringPath->setReadOnly(true);
    m_tieringPath->setPlaceholderText(tr("tiering.json: tiers, models and rules"));
    tieringPick->addWidget(m_tieringPath, 1);
    auto *choose = new QPushButton(tr("Choose…"), m_tieringRow);
    tieringPick->addWidget(choose);
    tieringLayout->addLayout(tieringPick);
    m_tieringStatus = new QLabel(m_tieringRow);
    m_tieringStatus->setWordWrap(true);
    tieringLayout->addWidget(m_tieringStatus);
    form->addRow(tr("Tiering:"), m_tieringRow);
    connect(choose, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Tiering config"), QString(),
                                                          tr("JSON (*.json);;All files (*)"));
        if (!path.isEmpty())
            setTieringFile(path);
    });
    m_priority = new QComboBox(settingsBox);
    for (int priority = 1; priority <= 3; ++priority)
        m_priority->addItem(priorityLabel(priority), priority);
    m_priority->setCurrentIndex(1);
    form->addRow(tr("Priority:"), m_priority);
    m_mode = new QComboBox(settingsBox);
    m_mode->addItem(tr("Auto (from priority)"), u"auto"_s);
    m_mode->addItem(tr("Realtime"), u"realtime"_s);
    m_mode->addItem(tr("Grouped"), u"grouped"_s);
    m_mode->addItem(tr("Batch API (half price)"), u"batch-api"_s);
    form->addRow(tr("Mode:"), m_mode);
    // A deadline instead of a lane: the engine picks priority and mode (batch API only when
    // the deadline is 24 h or more away) and re-plans while the job runs.
    auto *deadlineRow = new QWidget(settingsBox);
    auto *deadlineLayout = new QHBoxLayout(deadlineRow);
    deadlineLayout->setContentsMargins(0, 0, 0, 0);
    m_deadlineOn = new QCheckBox(tr("Finish by"), deadlineRow);
    m_deadlineOn->setObjectName(u"wizardDeadlineOn"_s);
    m_deadline = new QDateTimeEdit(QDateTime::currentDateTime().addSecs(36 * 3600), deadlineRow);
    m_deadline->setObjectName(u"wizardDeadline"_s);
    m_deadline->setCalendarPopup(true);
    m_deadline->setEnabled(false);
    deadlineLayout->addWidget(m_deadlineOn);
    deadlineLayout->addWidget(m_deadline, 1);
    form->addRow(tr("Deadline:"), deadlineRow);
    m_deadlinePlan = new QLabel(settingsBox);
    m_deadlinePlan->setObjectName(u"wizardDeadlinePlan"_s);
    m_deadlinePlan->setWordWrap(true);
    m_deadlinePlan->setForegroundRole(QPalette::PlaceholderText);
    form->addRow(QString(), m_deadlinePlan);
    form->setRowVisible(m_deadlinePlan, false); // until there is a plan to show
    m_maxTokens = new QSpinBox(settingsBox);
    m_maxTokens->setRange(1, 200'000);
    m_maxTokens->setValue(256);
    form->addRow(tr("Max output tokens:"), m_maxTokens);
    m_maxRetries = new QSpinBox(settingsBox);
    m_maxRetries->setRange(0, 50);
    m_maxRetries->setValue(3);
    form->addRow(tr("Max retries:"), m_maxRetries);
    m_concurrency = new QSpinBox(settingsBox);
    m_concurrency->setObjectName(u"wizardConcurrency"_s);
    m_concurrency->setRange(1, 4096);
    m_concurrency->setValue(consolesettings::value(QSettings(), consolesettings::kConcurrency).toInt());
    m_concurrency->setToolTip(tr("Requests in flight; the default comes from Settings › Limits"));
    form->addRow(tr("Concurrency:"), m_concurrency);
    m_budget = new QDoubleSpinBox(settingsBox);
    m_budget->setRange(0, 1e7);
    m_budget->setDecimals(2);
    m_budget->setPrefix(u"$"_s);
    m_budget->setSpecialValueText(tr("no budget"));
    form->addRow(tr("Budget:"), m_budget);
    m_simulatorBox = new QGroupBox(tr("Simulator"), settingsBox);
    auto *simForm = new QFormLayout(m_simulatorBox);
    m_simLatency = new QSpinBox(m_simulatorBox);
    m_simLatency->setRange(0, 60'000);
    m_simLatency->setValue(50);
    m_simLatency->setSuffix(tr(" ms"));
    simForm->addRow(tr("Latency:"), m_simLatency);
    m_simFailure = new QDoubleSpinBox(m_simulatorBox);
    m_simFailure->setRange(0, 1);
    m_simFailure->setSingleStep(0.01);
    m_simFailure->setDecimals(2);
    simForm->addRow(tr("Failure rate:"), m_simFailure);
    form->addRow(m_simulatorBox);
    m_startAfter = new QCheckBox(tr("Start the job after the import"), settingsBox);
    m_startAfter->setObjectName(u"startAfterImport"_s);
    m_startAfter->setChecked(true);
    form->addRow(m_startAfter);
    lowerLayout->addWidget(settingsBox, 0, 1);
    lowerLayout->setColumnStretch(0, 3);
    lowerLayout->setColumnStretch(1, 2);
    splitter->addWidget(lower);
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 1);
    splitter->setSizes({300, 380});
    layout->addWidget(splitter, 1);

    m_keyWarning = new QFrame(this);
    m_keyWarning->setObjectName(u"keyWarning"_s);
    m_keyWarning->setStyleSheet(u"#keyWarning { border: 1px solid #b26a00; border-radius: 4px; }"_s);
    auto *keyLayout = new QHBoxLayout(m_keyWarning);
    m_keyWarningText = new QLabel(m_keyWarning);
    m_keyWarningText->setWordWrap(true);
    keyLayout->addWidget(m_keyWarningText, 1);
    m_providerSettings = new QPushButton(tr("Settings › Providers…"), m_keyWarning);
    m_providerSettings->setObjectName(u"providerSettings"_s);
    keyLayout->addWidget(m_providerSettings);
    m_keyWarning->hide();
    layout->addWidget(m_keyWarning);
    connect(m_providerSettings, &QPushButton::clicked, this, &ImportWizard::providerSettingsRequested);

    m_estimate = new QLabel(this);
    m_estimate->setObjectName(u"costEstimate"_s);
    m_estimate->setWordWrap(true);
    layout->addWidget(m_estimate);

    auto *bottom = new QHBoxLayout;
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setFormat(QString());
    m_progress->hide();
    bottom->addWidget(m_progress, 1);
    m_backButton = new QPushButton(tr("‹ Back to the settings"), this);
    m_backButton->setObjectName(u"sampleBack"_s);
    m_backButton->hide();
    bottom->addWidget(m_backButton);
    m_sampleRows = new QSpinBox(this);
    m_sampleRows->setObjectName(u"sampleRows"_s);
    m_sampleRows->setRange(1, 1000);
    m_sampleRows->setValue(10);
    m_sampleRows->setSuffix(tr(" rows"));
    m_sampleRows->setToolTip(tr("How many rows the sample takes, spread evenly over the file"));
    bottom->addWidget(m_sampleRows);
    m_trySample = new QPushButton(tr("Try on a &sample"), this);
    m_trySample->setObjectName(u"trySample"_s);
    m_trySample->setToolTip(tr("Run a few rows first as a real job: answers, fields, tokens and "
                               "cost side by side, and what the whole file would cost and take; "
                               "compare up to three models or templates"));
    bottom->addWidget(m_trySample);
    connect(m_trySample, &QPushButton::clicked, this, [this] { trySample(); });
    connect(m_samplePage->sampleRun(), &SampleRun::progressed, this, &ImportWizard::updateSampleButtons);
    connect(m_backButton, &QPushButton::clicked, this, &ImportWizard::backToSettings);
    auto *buttons = new QDialogButtonBox(this);
    m_importButton = buttons->addButton(tr("&Import"), QDialogButtonBox::AcceptRole);
    m_importButton->setObjectName(u"importButton"_s);
    // Enter in a field or a combo box must not start a 20,000-row job (keyPressEvent);
    // Ctrl+Enter does, on purpose.
    m_importButton->setToolTip(tr("Import the file and start the job (Ctrl+Enter)"));
    auto *importKey = new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), this);
    connect(importKey, &QShortcut::activated, this, [this] {
        if (m_importButton->isEnabled())
            m_importButton->click();
    });
    m_cancelButton = buttons->addButton(QDialogButtonBox::Cancel);
    bottom->addWidget(buttons);
    outer->addLayout(bottom);

    connect(m_importButton, &QPushButton::clicked, this, [this] {
        if (isShowingSample())
            runWholeFile();
        else
            startImport();
    });
    connect(m_cancelButton, &QPushButton::clicked, this, &ImportWizard::reject);
    connect(m_encoding, &QComboBox::currentIndexChanged, this, &ImportWizard::loadPreview);
    connect(m_delimiter, &QComboBox::currentIndexChanged, this, &ImportWizard::loadPreview);
    connect(m_template, &QPlainTextEdit::textChanged, this, &ImportWizard::validate);
    connect(m_previewTable, &QTableWidget::currentCellChanged, this, &ImportWizard::updatePromptPreview);
    connect(m_system, &QPlainTextEdit::textChanged, this, &ImportWizard::updateEstimate);
    connect(m_fields, &FieldsStep::changed, this, &ImportWizard::validate);
    connect(m_provider, &QComboBox::currentIndexChanged, this, &ImportWizard::updateProviderModels);
    connect(m_model, &QComboBox::currentTextChanged, this, &ImportWizard::validate);
    connect(m_mode, &QComboBox::currentIndexChanged, this, &ImportWizard::validate);
    connect(m_priority, &QComboBox::currentIndexChanged, this, &ImportWizard::validate);
    connect(m_deadlineOn, &QCheckBox::toggled, this, [this](bool on) {
        m_deadline->setEnabled(on);
        m_priority->setEnabled(!on);
        m_mode->setEnabled(!on);
        if (!on)
            showDeadlinePlan(QString());
        validate();
    });
    connect(m_deadline, &QDateTimeEdit::dateTimeChanged, this, &ImportWizard::validate);
    connect(m_maxTokens, &QSpinBox::valueChanged, this, &ImportWizard::updateEstimate);
    connect(m_budget, &QDoubleSpinBox::valueChanged, this, &ImportWizard::updateEstimate);
    m_checkTimer = new QTimer(this);
    m_checkTimer->setSingleShot(true);
    m_checkTimer->setInterval(250);
    connect(m_checkTimer, &QTimer::timeout, this, &ImportWizard::requestCheck);
    updateProviderModels();
    validate();
}

bool ImportWizard::isPreviewLoading() const
{
    return m_previewWatcher.isRunning();
}

QString ImportWizard::errorText() const
{
    return m_errorLabel->isVisible() || !m_errorLabel->isHidden() ? m_errorLabel->text() : QString();
}

QString ImportWizard::templateProblem() const
{
    return m_templateProblem;
}

QString ImportWizard::estimateText() const
{
    return m_estimate->text();
}

void ImportWizard::setSimulatorLatency(int ms)
{
    m_simLatency->setValue(ms);
}

void ImportWizard::loadPreview()
{
    m_cancelScan->store(true);
    m_cancelScan = std::make_shared<std::atomic<bool>>(false);
    m_exactRows = -1;
    ++m_previewGeneration;
    const QString encoding = m_encoding->currentData().toString();
    const QString delimiterText = m_delimiter->currentData().toString();
    const QChar delimiter = delimiterText.isEmpty() ? QChar() : delimiterText.at(0);
    m_rowsLabel->setText(tr("Reading…"));
    m_importButton->setEnabled(false);
    m_previewWatcher.setFuture(QtConcurrent::run(readCsvPreview, m_path, encoding, delimiter,
                                                 kPreviewRows, kRowSampleBytes));
}

void ImportWizard::handlePreviewLoaded()
{
    if (m_previewWatcher.isCanceled())
        return;
    m_preview = m_previewWatcher.result();
    if (m_preview.ok && m_preview.complete)
        m_exactRows = m_preview.rows.size(); // before the label shows it ("≈ 30 rows (counting…)")
    showPreview();
    if (m_preview.ok && !m_preview.complete) {
        const QString encoding = m_encoding->currentData().toString();
        const QString delimiterText = m_delimiter->currentData().toString();
        const QChar delimiter = delimiterText.isEmpty() ? QChar() : delimiterText.at(0);
        m_scanWatcher.setFuture(
            QtConcurrent::run(scanCsv, m_path, encoding, delimiter, m_cancelScan.get()));
    }
    validate();
    if (m_preview.ok && std::exchange(m_startWhenReady, false))
        startImport();
}

void ImportWizard::handleScanFinished()
{
    const CsvScan scan = m_scanWatcher.result();
    if (scan.cancelled)
        return;
    if (!scan.ok) {
        m_preview.ok = false;
        m_preview.error = scan.error;
        showPreview();
    } else {
        m_exactRows = scan.rows;
        // The label said "counting…" until the wizard closed.
        if (m_preview.ok)
            m_rowsLabel->setText(m_rowsLabel->text().section(u" · "_s, 0, -2) + u" · "_s +
                                 rowsText());
    }
    validate();
}

QString ImportWizard::rowsText() const
{
    if (m_exactRows >= 0)
        return tr("%1 rows").arg(formatCount(m_exactRows));
    if (m_preview.rowsExact)
        return tr("%1 rows (checking…)").arg(formatCount(m_preview.estimatedRows));
    return tr("≈ %1 rows (estimated, counting…)").arg(formatCount(m_preview.estimatedRows));
}

void ImportWizard::showPreview()
{
    m_previewTable->clear();
    if (!m_preview.ok) {
        m_errorLabel->setText(tr("This file cannot be imported: %1").arg(m_preview.error));
        m_errorLabel->show();
        m_rowsLabel->setText(QString());
        m_template->setColumns(m_preview.header);
        if (m_preview.header.isEmpty()) {
            m_previewTable->setRowCount(0);
            m_previewTable->setColumnCount(0);
            return;
        }
    } else {
        m_errorLabel->hide();
        m_errorLabel->clear();
    }
    m_previewTable->setColumnCount(int(m_preview.header.size()));
    m_previewTable->setHorizontalHeaderLabels(m_preview.header);
    m_previewTable->setRowCount(int(m_preview.rows.size()));
    for (int r = 0; r < m_preview.rows.size(); ++r) {
        const QStringList &row = m_preview.rows.at(r);
        for (int c = 0; c < row.size() && c < m_preview.header.size(); ++c) {
            QString text = row.at(c);
            text.replace(u'\n', u" ⏎ "_s);
            auto *item = new QTableWidgetItem(text);
            item->setToolTip(row.at(c).left(2000));
            m_previewTable->setItem(r, c, item);
        }
    }
    for (int c = 0; c < m_previewTable->columnCount(); ++c) {
        m_previewTable->resizeColumnToContents(c);
        m_previewTable->setColumnWidth(c, qMin(m_previewTable->columnWidth(c), 360));
    }
    m_template->setColumns(m_preview.header);
    // Show what was detected in the combos' tooltips and the label.
    if (m_preview.ok) {
        const QString detected = tr("%1, %2-separated").arg(m_preview.encoding, delimiterName(m_preview.delimiter));
        m_encoding->setToolTip(tr("Detected: %1").arg(m_preview.encoding));
        m_delimiter->setToolTip(tr("Detected: %1").arg(delimiterName(m_preview.delimiter)));
        m_rowsLabel->setText(
            u"%1 · %2 columns · %3"_s.arg(detected).arg(m_preview.header.size()).arg(rowsText()));
        if (!m_preview.warnings.isEmpty())
            m_rowsLabel->setToolTip(m_preview.warnings.join(u'\n'));
    }
    if (m_template->toPlainText().isEmpty() && !m_preview.header.isEmpty()) {
        // A useful start: the longest-looking text column.
        QString column = m_preview.header.constLast();
        qsizetype longest = -1;
        for (int c = 0; c < m_preview.header.size(); ++c) {
            qsizetype total = 0;
            for (const QStringList &row : std::as_const(m_preview.rows))
                total += c < row.size() ? row.at(c).size() : 0;
            if (total > longest) {
                longest = total;
                column = m_preview.header.at(c);
            }
        }
        m_template->setPlainText(tr("Classify the sentiment of this text as positive, neutral or "
                                    "negative, with one sentence of reasons:\n\n{{%1}}\n").arg(column));
    }
    validate(); // the columns may have changed under the template
}

void ImportWizard::updateProviderModels()
{
    const QString id = m_provider->currentData().toString();
    const QString current = m_model->currentText();
    m_model->blockSignals(true);
    m_model->clear();
    for (const ProviderInfo &info : availableProviders()) {
        if (info.id != id)
            continue;
        m_model->addItems(info.knownModels);
        if (!info.knownModels.contains(info.defaultModel))
            m_model->insertItem(0, info.defaultModel);
        m_model->setCurrentText(info.defaultModel);
    }
    m_model->addItem(kAutoTieringItem);
    m_model->blockSignals(false);
    m_simulatorBox->setVisible(id == u"simulator"_s);
    m_fields->setProvider(id);
    Q_UNUSED(current);
    checkProviderKey();
    validate(); // a tiering file's models are checked against the provider's
}

void ImportWizard::validate()
{
    QString problem;
    const QString text = m_template->toPlainText();
    ingest::PromptTemplate prompt(text);
    if (text.trimmed().isEmpty()) {
        problem = tr("The template is empty.");
    } else if (!prompt.syntaxError().isEmpty()) {
        problem = prompt.syntaxError();
    } else if (!m_preview.header.isEmpty()) {
        QString error;
        if (!prompt.bind(m_preview.header, &error))
            problem = error;
    }
    m_templateProblem = problem;
    if (problem.isEmpty()) {
        const QStringList used = prompt.placeholders();
        m_templateStatus->setStyleSheet(QString());
        m_templateStatus->setText(used.isEmpty() ? tr("No placeholders: every row gets the same prompt.")
                                                 : tr("Uses %1.").arg(used.join(u", "_s)));
    } else {
        m_templateStatus->setStyleSheet(u"color: #b00020;"_s);
        m_templateStatus->setText(problem);
    }
    // The Fields step shows its own problem; it holds the import back like the template's.
    if (m_templateProblem.isEmpty() && !m_fields->problem().isEmpty())
        m_templateProblem = tr("Fields: %1").arg(m_fields->problem());
    // The whole row, its "Tiering:" label too.
    if (auto *form = qobject_cast<QFormLayout *>(m_tieringRow->parentWidget()->layout()))
        form->setRowVisible(m_tieringRow, isTiering());
    updatePromptPreview();
    scheduleCheck();
}

void ImportWizard::showDeadlinePlan(const QString &plan)
{
    m_deadlinePlan->setText(plan);
    // No plan, no row: an empty one left a gap under Deadline.
    if (auto *form = qobject_cast<QFormLayout *>(m_deadlinePlan->parentWidget()->layout()))
        form->setRowVisible(m_deadlinePlan, !plan.isEmpty());
}

void ImportWizard::updatePromptPreview()
{
    if (!m_promptPreview)
        return;
    const int row = qMax(0, m_previewTable->currentRow());
    if (!m_preview.ok || m_preview.rows.isEmpty()) {
        m_promptPreviewTitle->setText(tr("The prompt of a row shows here once the file is read."));
        m_promptPreview->clear();
        return;
    }
    m_promptPreviewTitle->setText(tr("Prompt for row %1 (select another row above):").arg(row + 1));
    ingest::PromptTemplate prompt(m_template->toPlainText());
    QString error;
    if (!m_templateProblem.isEmpty() || !prompt.bind(m_preview.header, &error)) {
        m_promptPreview->setPlainText(tr("(fix the template first)"));
        return;
    }
    m_promptPreview->setPlainText(prompt.render(m_preview.rows.value(row)));
}

void ImportWizard::checkProviderKey()
{
    const auto info = providerInfo(m_provider->currentData().toString());
    const quint64 check = ++m_keyCheck;
    if (!info || !info->requiresKey) {
        m_keyCheckPending = false;
        m_keyProblem.clear();
        m_keyWarning->hide();
        return;
    }
    m_keyCheckPending = true;
    resolveProviderConfig(buildSpec(), this, [this, check, name = info->displayName](const ProviderConfig &, const QString &problem) {
        if (check != m_keyCheck)
            return; // the provider changed since
        m_keyCheckPending = false;
        m_keyProblem = problem;
        const QString sentence = problem.endsWith(u'.') ? problem : problem + u'.';
        m_keyWarningText->setText(tr("<b>No API key for %1.</b> %2 Without one the job stops at its "
                                     "first request.").arg(name.toHtmlEscaped(), sentence.toHtmlEscaped()));
        m_keyWarning->setVisible(!problem.isEmpty());
    });
}

bool ImportWizard::isTiering() const
{
    const QString model = m_model->currentText().trimmed();
    return model == kAutoTieringItem || model == u"auto"_s;
}

void ImportWizard::setTieringFile(const QString &path)
{
    m_tieringPath->setText(path);
    m_tieringFile = path;
    m_jobTiering = {};
    validate();
}

void ImportWizard::updateEstimate()
{
    scheduleCheck();
}

void ImportWizard::scheduleCheck()
{
    // Nothing can be imported until the engine has checked what is on screen now.
    m_checkPending = true;
    // An answer to an older draft is stale from here on. The engine's numbers: the sample
    // page asks the same engine checks of its own.
    m_checkTicket = m_engine ? m_engine->newTicket() : m_checkTicket + 1;
    m_importButton->setEnabled(false);
    const bool tieringWithoutFile = isTiering() && m_tieringFile.isEmpty() && m_jobTiering.isEmpty();
    if (!m_preview.ok || !m_templateProblem.isEmpty() || tieringWithoutFile) {
        m_checkPending = false;
        m_check = JobCheck{};
        m_estimate->setText(tieringWithoutFile
                                ? tr("Cost estimate: – (needs a tiering file)")
                                : tr("Cost estimate: – (needs a readable file and a valid template)"));
        m_tieringProblem = tieringWithoutFile ? tr("Model tiering needs a tiering file.") : QString();
        showTieringStatus();
        return;
    }
    m_checkTimer->start();
}

void ImportWizard::requestCheck()
{
    if (!m_engine) {
        m_checkPending = false;
        return;
    }
    m_estimatePending = false;
    m_engine->checkJob(m_checkTicket, buildDraft());
}

void ImportWizard::handleJobChecked(quint64 ticket, const JobCheck &check)
{
    if (ticket != m_checkTicket)
        return; // asked by another window, or an older draft
    m_checkPending = false;
    m_check = check;
    m_tieringProblem = isTiering() ? check.error : QString();
    if (m_deadlineOn->isChecked()) {
        // The engine's plan for the deadline ("due in 36 h: the batch API at half price ..."),
        // or why it cannot be kept.
        QString plan = check.ok ? QString() : check.error;
        for (const QString &note : check.notes) {
            if (note.startsWith(u"deadline: "_s))
                plan = note.mid(10);
        }
        showDeadlinePlan(plan);
    }
    showTieringStatus();
    const bool importNow = std::exchange(m_importWhenChecked, false);
    if (!check.ok) {
        m_estimate->setText(tr("Cost estimate: – (%1)").arg(check.error));
        m_importButton->setEnabled(false);
        if (importNow) {
            m_errorLabel->setText(tr("Nothing was imported: %1").arg(check.error));
            m_errorLabel->show();
        }
        return;
    }
    if (importNow)
        startImport();
    m_importButton->setEnabled(!m_importing && m_preview.ok && m_templateProblem.isEmpty());
    m_estimateTicket = ticket;
    m_estimatePending = true;
    m_estimate->setText(tr("Cost estimate: working it out…"));
    m_engine->estimateJob(ticket, check.spec);
}

void ImportWizard::handleJobEstimated(quint64 ticket, const JobEstimate &estimate, const QString &error)
{
    if (ticket != m_estimateTicket || !m_estimatePending || ticket != m_checkTicket)
        return;
    m_estimatePending = false;
    if (!error.isEmpty()) {
        m_estimate->setText(tr("Cost estimate: – (%1)").arg(error));
        return;
    }
    m_estimateFigures = estimate;
    showEstimate();
}

void ImportWizard::showEstimate()
{
    if (m_estimatePending || m_estimateFigures.rows <= 0 || !m_check.ok)
        return;
    QString text = tr("Cost estimate: %1").arg(describeEstimate(m_estimateFigures, m_check.spec.mode));
    if (m_globalCapUsd > 0) {
        const double left = qMax(0.0, m_globalCapUsd - m_globalSpentUsd);
        text += u"\n"_s + tr("Global budget: %1 left of %2 this %3 (spent and reserved in flight).")
                              .arg(formatUsd(left), formatUsd(m_globalCapUsd),
                                   m_globalPeriod == u"all"_s ? tr("budget") : m_globalPeriod);
        const auto bound = upperBoundUsd();
        if (bound && *bound > left)
            text += u' ' + tr("This job may need more than that: it pauses when the budget is reached.");
    }
    m_estimate->setText(text);
}

std::optional<double> ImportWizard::upperBoundUsd() const
{
    if (m_estimateFigures.rows <= 0 || !m_estimateFigures.priced)
        return std::nullopt;
    return m_check.spec.mode == u"batch-api"_s ? m_estimateFigures.batchApi.maxUsd
                                               : m_estimateFigures.realtime.maxUsd;
}

QString ImportWizard::largeImportReason() const
{
    QStringList reasons;
    const qint64 rows = m_exactRows >= 0 ? m_exactRows : m_preview.estimatedRows;
    if (rows > kLargeImportRows)
        reasons << tr("%1 rows").arg(formatCount(rows));
    if (const auto bound = upperBoundUsd()) {
        const double left = qMax(0.0, m_globalCapUsd - m_globalSpentUsd);
        if (m_globalCapUsd > 0 && *bound > left)
            reasons << tr("up to %1, more than the %2 the global budget has left").arg(formatUsd(*bound), formatUsd(left));
        else if (*bound > kExpensiveImportUsd)
            reasons << tr("up to %1").arg(formatUsd(*bound));
    }
    return reasons.join(u" · "_s);
}

void ImportWizard::showTieringStatus()
{
    QString text = m_tieringProblem;
    if (text.isEmpty() && isTiering() && m_check.ok) {
        const QJsonObject tiers = m_check.spec.settings.value(settingkeys::tiering).toObject()
                                      .value(u"tiers"_s).toObject();
        text = tr("simple → %1, standard → %2, complex → %3")
                   .arg(tiers.value(u"simple"_s).toString(), tiers.value(u"standard"_s).toString(),
                        tiers.value(u"complex"_s).toString());
    } else if (text.isEmpty() && isTiering() && m_checkPending) {
        text = tr("Checking the tiering file…");
    }
    m_tieringStatus->setStyleSheet(m_tieringProblem.isEmpty() ? QString() : u"color: #b00020;"_s);
    m_tieringStatus->setText(text);
}

JobDraft ImportWizard::buildDraft() const
{
    JobDraft draft;
    draft.spec = buildSpec();
    draft.modelGiven = !m_model->currentText().trimmed().isEmpty();
    if (isTiering())
        draft.tieringFile = m_tieringFile;
    return draft;
}

JobSpec ImportWizard::buildSpec() const
{
    JobSpec spec;
    spec.sourcePath = m_path;
    spec.templateText = m_template->toPlainText();
    spec.systemPrompt = m_system->toPlainText();
    spec.provider = m_provider->currentData().toString();
    spec.model = isTiering() ? u"auto"_s : m_model->currentText().trimmed();
    spec.priority = m_priority->currentData().toInt();
    spec.maxRetries = m_maxRetries->value();
    spec.maxOutputTokens = m_maxTokens->value();
    spec.mode = m_mode->currentData().toString(); // "auto": the engine picks the lane
    QJsonObject settings;
    if (m_deadlineOn->isChecked()) {
        spec.priority = 2; // the engine's plan replaces both
        spec.mode = u"auto"_s;
        settings.insert(settingkeys::deadlineMs, m_deadline->dateTime().toMSecsSinceEpoch());
    }
    // Only a concurrency other than the console's default is the job's own; otherwise the
    // job follows the default (Settings › Limits) whenever it starts.
    if (m_concurrency->value() != consolesettings::value(QSettings(), consolesettings::kConcurrency).toInt())
        settings.insert(settingkeys::concurrency, m_concurrency->value());
    if (m_budget->value() > 0)
        settings.insert(settingkeys::budgetUsd, m_budget->value());
    if (isTiering() && m_tieringFile.isEmpty() && !m_jobTiering.isEmpty())
        settings.insert(settingkeys::tiering, m_jobTiering);
    if (const QString schema = m_fields->schemaText(); !schema.isEmpty())
        settings.insert(settingkeys::outputSchema, schema);
    // json_schema is the engine's default: only JSON mode is the job's own choice.
    if (m_fields->structuredOutput() == u"json_object"_s)
        settings.insert(settingkeys::structuredOutput, m_fields->structuredOutput());
    if (spec.provider == u"simulator"_s) {
        settings.insert(settingkeys::simLatencyMs, m_simLatency->value());
        if (m_simFailure->value() > 0)
            settings.insert(settingkeys::simFailureRate, m_simFailure->value());
    }
    // What the preview was read with, when the user chose it (the engine's import sniffs
    // the same way unless it honours these).
    if (!m_encoding->currentData().toString().isEmpty())
        settings.insert(settingkeys::csvEncoding, m_encoding->currentData().toString());
    if (!m_delimiter->currentData().toString().isEmpty())
        settings.insert(settingkeys::csvDelimiter, m_delimiter->currentData().toString());
    spec.settings = settings;
    return spec;
}

void ImportWizard::setFromJob(const JobInfo &job)
{
    m_template->setPlainText(job.spec.templateText);
    m_system->setPlainText(job.spec.systemPrompt);
    m_fields->setSchemaText(job.spec.settings.value(settingkeys::outputSchema).toString());
    m_fields->setStructuredOutput(job.spec.settings.value(settingkeys::structuredOutput).toString());
    const int provider = m_provider->findData(job.spec.provider);
    if (provider >= 0)
        m_provider->setCurrentIndex(provider);
    const bool tiered = job.spec.model == u"auto"_s;
    m_model->setCurrentText(tiered ? kAutoTieringItem : job.spec.model);
    if (tiered) {
        m_tieringFile.clear();
        m_jobTiering = job.spec.settings.value(settingkeys::tiering).toObject();
        m_tieringPath->setText(tr("(the tiering of job %1)").arg(job.id));
        validate();
    }
    const int priority = m_priority->findData(job.spec.priority);
    if (priority >= 0)
        m_priority->setCurrentIndex(priority);
    const int mode = m_mode->findData(job.spec.mode);
    if (mode >= 0)
        m_mode->setCurrentIndex(mode);
    const QJsonValue deadline = job.spec.settings.value(settingkeys::deadlineMs);
    m_deadlineOn->setChecked(!deadline.isUndefined());
    if (!deadline.isUndefined())
        m_deadline->setDateTime(QDateTime::fromMSecsSinceEpoch(deadline.toInteger()));
    m_maxTokens->setValue(job.spec.maxOutputTokens);
    m_maxRetries->setValue(job.spec.maxRetries);
    m_budget->setValue(job.spec.settings.value(settingkeys::budgetUsd).toDouble());
    if (job.spec.settings.value(settingkeys::concurrency).toInt() > 0)
        m_concurrency->setValue(job.spec.settings.value(settingkeys::concurrency).toInt());
    if (job.spec.settings.contains(settingkeys::simLatencyMs))
        m_simLatency->setValue(job.spec.settings.value(settingkeys::simLatencyMs).toInt());
    m_simFailure->setValue(job.spec.settings.value(settingkeys::simFailureRate).toDouble());
}

bool ImportWizard::startImport()
{
    // Only what the engine checked for the draft on screen is imported; while the check is
    // under way the import waits for it (and is dropped if the check refuses the draft).
    if (m_importing || !m_preview.ok || !m_templateProblem.isEmpty() || !m_engine)
        return false;
    if (m_checkPending) {
        m_importWhenChecked = true;
        if (m_checkTimer->isActive()) {
            m_checkTimer->stop();
            requestCheck();
        }
        return true;
    }
    if (!m_check.ok)
        return false;
    if (m_confirmLarge && !std::exchange(m_importConfirmed, false)) {
        const QString reason = largeImportReason();
        if (!reason.isEmpty()) {
            if (m_confirmation)
                return true; // asked already
            m_confirmation = new QMessageBox(QMessageBox::Question, tr("Import a large job?"),
                                             tr("This job is large: %1.").arg(reason), QMessageBox::Cancel, this);
            m_confirmation->setObjectName(u"confirmImport"_s);
            m_confirmation->setInformativeText(tr("Nothing is sent before you start it, but a started job "
                                                  "spends until it finishes, is paused, or reaches a budget."));
            QPushButton *yes = m_confirmation->addButton(tr("Import"), QMessageBox::AcceptRole);
            m_confirmation->setDefaultButton(QMessageBox::Cancel);
            m_confirmation->setAttribute(Qt::WA_DeleteOnClose);
            connect(m_confirmation, &QMessageBox::finished, this, [this, yes] {
                if (m_confirmation && m_confirmation->clickedButton() == yes) {
                    m_importConfirmed = true;
                    startImport();
                }
            });
            m_confirmation->open();
            return true; // the import starts when confirmed
        }
    }
    JobSpec spec = m_check.spec;
    // Kept with the job so that, once it is done, the actual cost stands beside the estimate.
    if (const auto bound = upperBoundUsd()) {
        spec.settings.insert(estimatekeys::maxUsd, *bound);
        const LaneCost &lane = spec.mode == u"batch-api"_s ? m_estimateFigures.batchApi
                                                            : m_estimateFigures.realtime;
        if (lane.typicalUsd)
            spec.settings.insert(estimatekeys::expectedUsd, *lane.typicalUsd);
    }
    setImporting(true);
    m_importConnections << connect(m_engine, &Engine::importProgressed, this,
                                   &ImportWizard::handleImportProgressed);
    m_importConnections << connect(m_engine, &Engine::importFinished, this,
                                   &ImportWizard::handleImportFinished);
    m_engine->importJob(spec);
    return true;
}

void ImportWizard::startWhenReady()
{
    if (m_preview.ok)
        startImport();
    else
        m_startWhenReady = true;
}

void ImportWizard::setImporting(bool importing)
{
    m_importing = importing;
    m_progress->setVisible(importing);
    m_progress->setValue(0);
    m_progress->setFormat(importing ? tr("Importing…") : QString());
    m_cancelButton->setText(importing ? tr("Cancel import") : tr("Cancel"));
    for (QWidget *widget : std::initializer_list<QWidget *>{m_template, m_system, m_provider, m_model,
                                                            m_deadlineOn, m_maxTokens,
                                                            m_concurrency, m_budget, m_encoding, m_delimiter})
        widget->setEnabled(!importing);
    m_priority->setEnabled(!importing && !m_deadlineOn->isChecked());
    m_mode->setEnabled(!importing && !m_deadlineOn->isChecked());
    m_deadline->setEnabled(!importing && m_deadlineOn->isChecked());
    m_importButton->setEnabled(!importing && m_preview.ok && m_templateProblem.isEmpty() && m_check.ok
                               && !m_checkPending);
    m_trySample->setEnabled(!importing);
    m_backButton->setEnabled(!importing);
}

void ImportWizard::handleImportProgressed(qint64 rows, qint64 bytesRead, qint64 totalBytes)
{
    if (totalBytes > 0)
        m_progress->setValue(int(1000.0 * double(bytesRead) / double(totalBytes)));
    m_progress->setFormat(tr("Importing… %1 rows").arg(formatCount(rows)));
}

void ImportWizard::handleImportFinished(const ImportResult &result)
{
    for (const auto &connection : std::as_const(m_importConnections))
        disconnect(connection);
    m_importConnections.clear();
    setImporting(false);
    if (!result.ok) {
        m_errorLabel->setText(tr("Nothing was imported: %1").arg(result.error));
        m_errorLabel->show();
        return;
    }
    const bool start = m_startAfter->isChecked();
    if (start) {
        // Asynchronous (the OS keychain); the engine outlives this dialog. Without a key the
        // job still starts and stops at the provider's 401 with the reason in the jobs list.
        resolveProviderConfig(m_check.spec, m_engine,
                              [engine = m_engine, jobId = result.jobId](
                                  const ProviderConfig &config, const QString &) {
                                  engine->startJob(jobId, config);
                              });
    } else {
        // Imported to wait for the user, not for a worker: no console or batchctl worker on
        // the database takes it up until Resume.
        m_engine->pauseJob(result.jobId, StopCause::User);
    }
    Q_EMIT jobImported(result.jobId, result.continued, start);
    accept();
}

void ImportWizard::keyPressEvent(QKeyEvent *event)
{
    // QDialog presses the default button (QDialogButtonBox makes Import one) on an Enter
    // that no child took: a combo box or a line edit passes it on.
    const bool enter = event->key() == Qt::Key_Return || event->key() == Qt::Key_Enter;
    if (enter && !(event->modifiers() & Qt::ControlModifier)) {
        event->accept();
        return;
    }
    QDialog::keyPressEvent(event);
}

bool ImportWizard::trySample()
{
    if (m_importing || !m_preview.ok || !m_templateProblem.isEmpty() || !m_engine
        || m_samplePage->isRunning())
        return false;
    SamplePage::Context context;
    context.fileName = QFileInfo(m_path).fileName();
    context.inputRows = m_exactRows >= 0 ? m_exactRows : m_preview.estimatedRows;
    context.concurrency = m_concurrency->value();
    if (m_check.ok && !m_checkPending) {
        context.lane = m_check.spec.mode;
        if (!m_estimatePending)
            context.estimate = m_estimateFigures;
    }
    showPage(m_samplePage);
    m_samplePage->run(buildDraft(), m_sampleRows->value(), context);
    updateSampleButtons();
    return true;
}

void ImportWizard::showPage(QWidget *page)
{
    for (int i = 0; i < m_pages->count(); ++i) {
        if (m_pages->widget(i)->isAncestorOf(page))
            m_pages->setCurrentIndex(i);
    }
}

bool ImportWizard::isShowingSample() const
{
    return m_pages->currentWidget()->isAncestorOf(m_samplePage);
}

void ImportWizard::backToSettings()
{
    if (m_samplePage->isRunning())
        m_samplePage->stop();
    showPage(m_setupPage);
    updateSampleButtons();
}

bool ImportWizard::runWholeFile()
{
    if (m_samplePage->isRunning() || m_importing)
        return false;
    if (m_samplePage->chosenIndex() > 0) {
        // Another candidate won: the settings become its provider, model and template, and
        // the engine checks them again before the import (startImport waits for that).
        const JobSpec spec = m_samplePage->chosenCandidate().draft.spec;
        const int provider = m_provider->findData(spec.provider);
        if (provider >= 0)
            m_provider->setCurrentIndex(provider);
        m_model->setCurrentText(spec.model);
        m_template->setPlainText(spec.templateText);
    }
    return startImport();
}

void ImportWizard::updateSampleButtons()
{
    const bool sample = isShowingSample();
    m_backButton->setVisible(sample);
    m_sampleRows->setVisible(!sample);
    m_trySample->setVisible(!sample);
    m_trySample->setEnabled(!m_importing);
    m_importButton->setText(sample ? tr("Run the &whole file") : tr("&Import"));
    m_importButton->setToolTip(sample ? tr("Import the whole file with the chosen candidate and start it; "
                                           "the sampled rows come from the response cache (Ctrl+Enter)")
                                      : tr("Import the file and start the job (Ctrl+Enter)"));
    m_importButton->setEnabled(!m_importing && !m_samplePage->isRunning() && m_preview.ok
                               && m_templateProblem.isEmpty() && (m_checkPending || m_check.ok));
}

void ImportWizard::reject()
{
    if (m_samplePage->isRunning())
        m_samplePage->stop(); // its jobs stay in the list, paused, with what they answered
    if (m_importing) {
        m_engine->cancelImport();
        m_progress->setFormat(tr("Cancelling…"));
        return; // importFinished() follows and reports the cancellation
    }
    QDialog::reject();
}

void ImportWizard::closeEvent(QCloseEvent *event)
{
    if (m_importing) {
        reject();
        event->ignore();
        return;
    }
    QDialog::closeEvent(event);
}

} // namespace bd::ui
