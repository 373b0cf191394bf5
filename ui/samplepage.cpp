#include "samplepage.h"

#include "api/jobsettings.h"
#include "format.h"
#include "ingest/outputschema.h"
#include "tasktableview.h"

#include <QComboBox>
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QLocale>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

const QString kLabels[] = {u"A"_s, u"B"_s, u"C"_s};
constexpr int kSummaryModelColumn = 1;
constexpr int kSummaryTemplateColumn = 8;

// A field's value as a cell shows it.
QString cellText(const QJsonValue &value)
{
    switch (value.type()) {
    case QJsonValue::String:
        return value.toString();
    case QJsonValue::Bool:
        return value.toBool() ? SamplePage::tr("yes") : SamplePage::tr("no");
    case QJsonValue::Double:
        return QLocale().toString(value.toDouble(), 'g', 12);
    case QJsonValue::Array: {
        QStringList parts;
        for (const QJsonValue &item : value.toArray())
            parts.append(cellText(item));
        return parts.join(u", "_s);
    }
    case QJsonValue::Object:
        return QString::fromUtf8(QJsonDocument(value.toObject()).toJson(QJsonDocument::Compact));
    default:
        return QString();
    }
}

// As the engine's comparison reads answers: case and surrounding space do not count.
QString comparable(const QString &text)
{
    return text.trimmed().toCaseFolded();
}

QStringList fieldNamesOf(const JobSpec &spec)
{
    const QString schema = spec.settings.value(settingkeys::outputSchema).toString();
    if (schema.isEmpty())
        return {};
    QString error;
    const auto parsed = ingest::OutputSchema::parse(schema.toUtf8(), QString(), &error);
    return parsed ? parsed->fieldNames() : QStringList();
}

QString describeCandidate(const JobSpec &spec)
{
    const auto info = providerInfo(spec.provider);
    const QString provider = info ? info->displayName : spec.provider;
    return spec.model.isEmpty() ? provider : u"%1 · %2"_s.arg(provider, spec.model);
}

QTableWidget *makeTable(QWidget *parent, const QString &name)
{
    auto *table = new QTableWidget(parent);
    table->setObjectName(name);
    table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table->setSelectionBehavior(QAbstractItemView::SelectRows);
    table->setAlternatingRowColors(true);
    table->setWordWrap(false);
    table->verticalHeader()->hide();
    table->horizontalHeader()->setStretchLastSection(true);
    table->verticalHeader()->setDefaultSectionSize(table->fontMetrics().height() + 6);
    return table;
}

QTableWidgetItem *item(const QString &text,
                       Qt::Alignment alignment = Qt::AlignLeft | Qt::AlignVCenter)
{
    auto *cell = new QTableWidgetItem(text);
    cell->setTextAlignment(alignment);
    cell->setToolTip(text.left(2000));
    return cell;
}

QTableWidgetItem *number(const QString &text)
{
    return item(text, Qt::AlignRight | Qt::AlignVCenter);
}

} // namespace

SamplePage::SamplePage(Engine *engine, QWidget *parent)
    : QWidget(parent)
    , m_run(new SampleRun(engine, this))
{
    setObjectName(u"samplePage"_s);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    m_title = new QLabel(this);
    m_title->setObjectName(u"sampleTitle"_s);
    m_title->setWordWrap(true);
    layout->addWidget(m_title);

    auto *candidatesBox = new QGroupBox(tr("Compare (up to three models or templates)"), this);
    auto *candidatesLayout = new QVBoxLayout(candidatesBox);
    m_candidateA = new QLabel(candidatesBox);
    m_candidateA->setWordWrap(true);
    candidatesLayout->addWidget(m_candidateA);
    m_editorLayout = new QVBoxLayout;
    candidatesLayout->addLayout(m_editorLayout);
    auto *buttons = new QHBoxLayout;
    m_addButton = new QPushButton(tr("+ Compare with another model or template"), candidatesBox);
    m_addButton->setObjectName(u"addCandidate"_s);
    buttons->addWidget(m_addButton);
    buttons->addStretch(1);
    m_runButton = new QPushButton(tr("Run the sample"), candidatesBox);
    m_runButton->setObjectName(u"runSample"_s);
    m_runButton->setToolTip(tr("Runs the sample for every candidate; a candidate that ran before "
                               "shows its answers again without sending anything"));
    buttons->addWidget(m_runButton);
    candidatesLayout->addLayout(buttons);
    layout->addWidget(candidatesBox);

    auto *statusRow = new QHBoxLayout;
    m_progress = new QProgressBar(this);
    m_progress->setMaximumWidth(220);
    m_progress->setTextVisible(true);
    statusRow->addWidget(m_progress);
    m_status = new QLabel(this);
    m_status->setObjectName(u"sampleStatus"_s);
    m_status->setWordWrap(true);
    statusRow->addWidget(m_status, 1);
    // The choice stands above the tables, so three candidates' rows of answers never push
    // it below the fold at 700 px.
    statusRow->addWidget(new QLabel(tr("Run the whole file with:"), this));
    m_chosen = new QComboBox(this);
    m_chosen->setObjectName(u"chosenCandidate"_s);
    m_chosen->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    statusRow->addWidget(m_chosen);
    layout->addLayout(statusRow);

    auto *splitter = new QSplitter(Qt::Vertical, this);
    m_summary = makeTable(splitter, u"sampleSummary"_s);
    m_summary->setMinimumHeight(90);
    // As wide as the page: the figures whole, the template and the model elide.
    fitColumnsToWidth(m_summary, {kSummaryTemplateColumn, kSummaryModelColumn});
    splitter->addWidget(m_summary);
    auto *agreementBox = new QWidget(splitter);
    auto *agreementLayout = new QVBoxLayout(agreementBox);
    agreementLayout->setContentsMargins(0, 0, 0, 0);
    m_agreementTitle = new QLabel(agreementBox);
    m_agreementTitle->setWordWrap(true);
    agreementLayout->addWidget(m_agreementTitle);
    m_agreement = makeTable(agreementBox, u"sampleAgreement"_s);
    agreementLayout->addWidget(m_agreement);
    splitter->addWidget(agreementBox);
    m_results = makeTable(splitter, u"sampleResults"_s);
    splitter->addWidget(m_results);
    splitter->setStretchFactor(0, 0);
    splitter->setStretchFactor(1, 0);
    splitter->setStretchFactor(2, 1);
    splitter->setSizes({110, 110, 320});
    layout->addWidget(splitter, 1);

    connect(m_addButton, &QPushButton::clicked, this,
            [this] { addCandidate(m_setup.spec.provider, QString(), m_setup.spec.templateText); });
    connect(m_runButton, &QPushButton::clicked, this, &SamplePage::rerun);
    connect(m_run, &SampleRun::progressed, this, &SamplePage::refresh);
    relabel();
}

void SamplePage::run(const JobDraft &setup, int rows, const Context &context)
{
    m_setup = setup;
    m_context = context;
    m_title->setText(
        tr("<b>Try on a sample:</b> %1 spread evenly over %2 (%3), run as real jobs "
           "on synchronous calls. Running the whole file afterwards answers these "
           "rows from the response cache: they are not sent or paid for again.")
            .arg(countOf(qMin<qint64>(rows, qMax<qint64>(1, context.inputRows)), "row", "rows"),
                 context.fileName.toHtmlEscaped(),
                 context.inputRows > 0 ? countOf(context.inputRows, "row", "rows")
                                       : tr("rows being counted")));
    m_candidateA->setText(tr("<b>A</b> &nbsp; %1 · the template and fields as set up")
                              .arg(describeCandidate(setup.spec).toHtmlEscaped()));
    m_run->start(candidates(), rows);
}

void SamplePage::rerun()
{
    if (m_run->isRunning())
        return;
    m_run->start(candidates(), m_run->sampleRows());
}

void SamplePage::stop()
{
    m_run->stop();
}

void SamplePage::addCandidate(const QString &provider, const QString &model,
                              const QString &templateText)
{
    if (m_editors.size() >= SampleRun::kMaxCandidates - 1)
        return;
    Editor editor;
    editor.row = new QWidget(this);
    editor.row->setObjectName(u"candidate%1"_s.arg(m_editors.size() + 1));
    auto *rowLayout = new QHBoxLayout(editor.row);
    rowLayout->setContentsMargins(0, 0, 0, 0);
    editor.label = new QLabel(editor.row);
    rowLayout->addWidget(editor.label);
    editor.provider = new QComboBox(editor.row);
    for (const ProviderInfo &info : availableProviders())
        editor.provider->addItem(info.displayName, info.id);
    const int index = editor.provider->findData(provider);
    editor.provider->setCurrentIndex(qMax(0, index));
    rowLayout->addWidget(editor.provider);
    editor.model = new QComboBox(editor.row);
    editor.model->setEditable(true);
    editor.model->setMinimumContentsLength(16);
    rowLayout->addWidget(editor.model);
    editor.templateText = new QPlainTextEdit(editor.row);
    editor.templateText->setTabChangesFocus(true);
    editor.templateText->setPlainText(templateText);
    editor.templateText->setMaximumHeight(editor.templateText->fontMetrics().height() * 3 + 12);
    editor.templateText->setToolTip(tr("This candidate's template ({{column}} placeholders)"));
    rowLayout->addWidget(editor.templateText, 1);
    auto *remove = new QPushButton(tr("Remove"), editor.row);
    rowLayout->addWidget(remove);
    m_editorLayout->addWidget(editor.row);
    m_editors.append(editor);
    fillModels(m_editors.last());
    if (!model.isEmpty())
        m_editors.last().model->setCurrentText(model);
    QWidget *row = editor.row;
    connect(editor.provider, &QComboBox::currentIndexChanged, this, [this, row] {
        for (Editor &each : m_editors) {
            if (each.row == row)
                fillModels(each);
        }
    });
    connect(remove, &QPushButton::clicked, this, [this, row] {
        m_editors.removeIf([row](const Editor &each) { return each.row == row; });
        row->deleteLater();
        relabel();
    });
    relabel();
}

void SamplePage::fillModels(Editor &editor)
{
    const QString id = editor.provider->currentData().toString();
    editor.model->clear();
    if (const auto info = providerInfo(id)) {
        editor.model->addItems(info->knownModels);
        if (!info->knownModels.contains(info->defaultModel))
            editor.model->insertItem(0, info->defaultModel);
        // Another model than A's by default: that is what a comparison is for.
        QString pick = info->defaultModel;
        for (const QString &known : info->knownModels) {
            if (known != m_setup.spec.model) {
                pick = known;
                break;
            }
        }
        editor.model->setCurrentText(id == m_setup.spec.provider ? pick : info->defaultModel);
    }
}

void SamplePage::relabel()
{
    for (int i = 0; i < m_editors.size(); ++i)
        m_editors[i].label->setText(u"<b>%1</b>"_s.arg(kLabels[i + 1]));
    m_addButton->setEnabled(m_editors.size() < SampleRun::kMaxCandidates - 1);
}

QList<SampleCandidate> SamplePage::candidates() const
{
    QList<SampleCandidate> list{{kLabels[0], m_setup}};
    for (int i = 0; i < m_editors.size(); ++i) {
        const Editor &editor = m_editors.at(i);
        JobDraft draft = m_setup;
        const QString provider = editor.provider->currentData().toString();
        if (provider != draft.spec.provider) {
            // Settings of A's provider mean nothing to another one.
            draft.spec.settings.remove(settingkeys::structuredOutput);
            draft.spec.baseUrl.clear();
        }
        draft.spec.provider = provider;
        draft.spec.model = editor.model->currentText().trimmed();
        draft.modelGiven = !draft.spec.model.isEmpty();
        draft.spec.templateText = editor.templateText->toPlainText();
        if (draft.spec.model != u"auto"_s) {
            draft.tieringFile.clear();
            draft.spec.settings.remove(settingkeys::tiering);
        }
        list.append({kLabels[i + 1], draft});
    }
    return list;
}

SampleCandidate SamplePage::chosenCandidate() const
{
    const int index = chosenIndex();
    const QList<SampleOutcome> &outcomes = m_run->outcomes();
    if (index > 0 && index < outcomes.size()) {
        // As the sample ran it (the engine's resolved model), so the cache key is the same.
        JobDraft draft = candidates().value(index, {kLabels[0], m_setup}).draft;
        draft.spec.provider = outcomes.at(index).spec.provider;
        draft.spec.model = outcomes.at(index).spec.model;
        draft.spec.templateText = outcomes.at(index).spec.templateText;
        return {kLabels[index], draft};
    }
    return {kLabels[0], m_setup};
}

int SamplePage::chosenIndex() const
{
    return qMax(0, m_chosen->currentIndex());
}

void SamplePage::choose(int index)
{
    m_chosen->setCurrentIndex(index);
}

void SamplePage::refresh()
{
    const QList<SampleOutcome> &outcomes = m_run->outcomes();
    qint64 total = 0;
    qint64 settled = 0;
    QStringList problems;
    for (const SampleOutcome &outcome : outcomes) {
        const qint64 rows =
            outcome.counts.total() > 0 ? outcome.counts.total() : m_run->sampleRows();
        total += rows;
        settled += outcome.isDone()
                       ? rows
                       : outcome.counts.completed + outcome.counts.dead + outcome.counts.cancelled;
        if (!outcome.error.isEmpty())
            problems.append(tr("%1: %2").arg(outcome.label, outcome.error));
    }
    m_progress->setRange(0, int(qMax<qint64>(1, total)));
    m_progress->setValue(int(qMin(settled, total)));
    m_progress->setFormat(m_run->isRunning() ? tr("%v of %m rows") : tr("done"));
    m_runButton->setEnabled(!m_run->isRunning());
    QString status = m_run->isRunning() ? tr("Running the sample…") : tr("The sample is done.");
    if (!problems.isEmpty())
        status += u' ' + problems.join(u"; "_s);
    m_status->setStyleSheet(problems.isEmpty() ? QString() : u"color: #b00020;"_s);
    m_status->setText(status);

    const int chosen = chosenIndex();
    m_chosen->blockSignals(true);
    m_chosen->clear();
    for (const SampleOutcome &outcome : outcomes)
        m_chosen->addItem(u"%1 · %2"_s.arg(outcome.label, describeCandidate(outcome.spec)));
    m_chosen->setCurrentIndex(qMin(chosen, int(m_chosen->count()) - 1));
    m_chosen->blockSignals(false);

    showSummary();
    showAgreement();
    showResults();
}

void SamplePage::showSummary()
{
    const QList<SampleOutcome> &outcomes = m_run->outcomes();
    const QStringList headers{tr("Candidate"),   tr("Model"),           tr("Answered"),
                              tr("Sample cost"), tr("Tokens per row"),  tr("Latency"),
                              tr("Whole file"),  tr("Whole file time"), tr("Template")};
    m_summary->setColumnCount(int(headers.size()));
    m_summary->setHorizontalHeaderLabels(headers);
    m_summary->setRowCount(int(outcomes.size()));
    // The batch API's price beside the synchronous one, from the engine's estimate of the
    // whole file (the same tokens at the lane's price).
    const JobEstimate &estimate = m_context.estimate;
    std::optional<double> batchFactor;
    if (estimate.rows > 0 && estimate.realtime.maxUsd && estimate.batchApi.maxUsd &&
        *estimate.realtime.maxUsd > 0)
        batchFactor = *estimate.batchApi.maxUsd / *estimate.realtime.maxUsd;
    const bool batchLane = m_context.lane == u"batch-api"_s;
    for (int r = 0; r < outcomes.size(); ++r) {
        const SampleOutcome &outcome = outcomes.at(r);
        const qint64 rows = outcome.counts.total();
        m_summary->setItem(r, 0, item(outcome.label));
        m_summary->setItem(r, 1, item(describeCandidate(outcome.spec)));
        QString answered =
            rows > 0 ? tr("%1 of %2").arg(outcome.counts.completed).arg(rows) : tr("–");
        if (outcome.counts.dead > 0)
            answered += u" · "_s + tr("%1 failed").arg(outcome.counts.dead);
        m_summary->setItem(r, 2, number(answered));
        m_summary->setItem(r, 3, number(rows > 0 ? formatUsd(outcome.costUsd) : tr("–")));
        const qint64 tokens = outcome.usage.inputTokens + outcome.usage.cachedTokens +
                              outcome.usage.cacheWriteTokens + outcome.usage.outputTokens;
        m_summary->setItem(r, 4,
                           number(outcome.counts.completed > 0
                                      ? formatCount(tokens / outcome.counts.completed)
                                      : tr("–")));
        m_summary->setItem(r, 5,
                           number(outcome.meanLatencyMs >= 0
                                      ? tr("%1 ms").arg(formatCount(outcome.meanLatencyMs))
                                      : tr("–")));
        QString whole = tr("–");
        QString wholeTip;
        QString time = tr("–");
        if (outcome.projection) {
            const SampleProjection &p = *outcome.projection;
            whole = formatUsd(p.costUsd);
            if (batchFactor)
                whole = batchLane
                            ? tr("%1 on the batch API (%2 on sync calls)")
                                  .arg(formatUsd(p.costUsd * *batchFactor), formatUsd(p.costUsd))
                            : tr("%1 (%2 on the batch API)")
                                  .arg(formatUsd(p.costUsd), formatUsd(p.costUsd * *batchFactor));
            const double perRow = p.completedRows > 0 ? p.costUsd / double(p.inputRows) : 0.0;
            wholeTip = tr("%1 rows at what the sample's %2 answered rows really cost (%3 a row, "
                          "%4 tokens in all); the %2 sampled rows come from the response cache, "
                          "so about %5 is left to pay.")
                           .arg(formatCount(p.inputRows))
                           .arg(p.completedRows)
                           .arg(formatUsd(perRow), formatCount(p.tokens),
                                formatUsd(perRow *
                                          double(qMax<qint64>(0, p.inputRows - p.completedRows))));
            const qint64 seconds = projectedSeconds(
                p.inputRows - p.completedRows, outcome.meanLatencyMs, m_context.concurrency,
                outcome.spec.settings.value(settingkeys::rpm).toInt());
            if (batchLane)
                time = tr("within the batch window (24 h)");
            else if (seconds >= 0)
                time = tr("about %1 at %2 in flight")
                           .arg(seconds <= 1 ? tr("a second") : formatDuration(seconds))
                           .arg(m_context.concurrency);
        } else if (outcome.counts.completed == 0 && outcome.isDone()) {
            whole = tr("no answer to project from");
        }
        auto *wholeItem = number(whole);
        if (!wholeTip.isEmpty())
            wholeItem->setToolTip(wholeTip);
        m_summary->setItem(r, 6, wholeItem);
        m_summary->setItem(r, 7, number(time));
        m_summary->setItem(r, 8, item(outcome.spec.templateText.simplified()));
    }
}

void SamplePage::showAgreement()
{
    const auto &comparison = m_run->comparison();
    const bool shown = m_run->outcomes().size() >= 2;
    m_agreement->parentWidget()->setVisible(shown);
    if (!shown)
        return;
    if (!comparison) {
        m_agreementTitle->setText(m_run->isRunning()
                                      ? tr("Agreement: once every candidate has answered.")
                                      : tr("Agreement: needs two candidates with answers."));
        m_agreement->setRowCount(0);
        return;
    }
    if (!comparison->error.isEmpty()) {
        m_agreementTitle->setText(tr("Agreement: – (%1)").arg(comparison->error));
        m_agreement->setRowCount(0);
        return;
    }
    QStringList labels;
    for (const auto &candidate : comparison->candidates) {
        for (const SampleOutcome &outcome : m_run->outcomes()) {
            if (outcome.jobId == candidate.jobId)
                labels.append(outcome.label);
        }
    }
    const bool wholeAnswer =
        comparison->fields.size() == 1 && comparison->fields.first().field == u"output"_s;
    m_agreementTitle->setText(
        (wholeAnswer ? tr("<b>Agreement</b> of %1 on the %2 rows all of them answered, on the "
                          "whole answer (case and surrounding spaces ignored):")
                     : tr("<b>Agreement</b> of %1 on the %2 rows all of them answered, field by "
                          "field (case and surrounding spaces ignored):"))
            .arg(labels.join(u", "_s))
            .arg(comparison->comparedRows));
    const QStringList headers{tr("Field"), tr("Agree"), tr("Of"), tr("Agreement")};
    m_agreement->setColumnCount(int(headers.size()));
    m_agreement->setHorizontalHeaderLabels(headers);
    m_agreement->setRowCount(int(comparison->fields.size()));
    for (int r = 0; r < comparison->fields.size(); ++r) {
        const auto &field = comparison->fields.at(r);
        m_agreement->setItem(r, 0, item(field.field == u"output"_s ? tr("answer") : field.field));
        m_agreement->setItem(r, 1, number(QString::number(field.agreeing)));
        m_agreement->setItem(r, 2, number(QString::number(field.compared)));
        const double share =
            field.compared > 0 ? 100.0 * double(field.agreeing) / double(field.compared) : 0.0;
        m_agreement->setItem(
            r, 3,
            number(field.compared > 0 ? u"%1 %"_s.arg(QString::number(share, 'f', 0)) : tr("–")));
    }
    m_agreement->resizeColumnsToContents();
}

void SamplePage::showResults()
{
    const QList<SampleOutcome> &outcomes = m_run->outcomes();
    struct Column
    {
        int candidate;
        QString field; // empty: the answer; "#tokens", "#cost"
    };
    QStringList headers{tr("Row"), tr("Input")};
    QList<Column> columns;
    QList<QStringList> fieldsOf;
    QMap<qint64, int> rowOf; // input row number -> table row
    QList<QMap<qint64, const TaskRow *>> byRow;
    for (int c = 0; c < outcomes.size(); ++c) {
        const SampleOutcome &outcome = outcomes.at(c);
        const QStringList fields = fieldNamesOf(outcome.spec);
        fieldsOf.append(fields);
        QMap<qint64, const TaskRow *> rows;
        for (const TaskRow &row : outcome.rows) {
            rows.insert(row.rowNumber, &row);
            rowOf.insert(row.rowNumber, 0);
        }
        byRow.append(rows);
        if (outcome.jobId == 0)
            continue;
        if (fields.isEmpty()) {
            columns.append({c, QString()});
            headers.append(tr("%1 · answer").arg(outcome.label));
        }
        for (const QString &field : fields) {
            columns.append({c, field});
            headers.append(u"%1 · %2"_s.arg(outcome.label, field));
        }
        columns.append({c, u"#tokens"_s});
        headers.append(tr("%1 · tokens").arg(outcome.label));
        columns.append({c, u"#cost"_s});
        headers.append(tr("%1 · cost").arg(outcome.label));
    }
    int next = 0;
    for (auto it = rowOf.begin(); it != rowOf.end(); ++it)
        it.value() = next++;
    m_results->clear();
    m_results->setColumnCount(int(headers.size()));
    m_results->setHorizontalHeaderLabels(headers);
    m_results->setRowCount(int(rowOf.size()));
    const QColor differs = QColor(255, 196, 0, 70); // a candidate disagrees with A here
    for (auto it = rowOf.cbegin(); it != rowOf.cend(); ++it) {
        const int r = it.value();
        m_results->setItem(r, 0, number(QString::number(it.key())));
        for (const auto &rows : std::as_const(byRow)) {
            if (const TaskRow *row = rows.value(it.key())) {
                m_results->setItem(r, 1, item(row->inputPreview));
                break;
            }
        }
        QHash<QString, QString> firstValue; // field -> the first candidate's value, comparable
        for (int col = 0; col < columns.size(); ++col) {
            const Column &column = columns.at(col);
            const TaskRow *row = byRow.at(column.candidate).value(it.key());
            if (!row)
                continue;
            QTableWidgetItem *cell = nullptr;
            if (column.field == u"#tokens"_s) {
                cell = number(row->state == TaskState::Completed
                                  ? formatCount(row->inputTokens + row->outputTokens)
                                  : QString());
            } else if (column.field == u"#cost"_s) {
                cell = number(row->costUsd ? formatUsd(*row->costUsd) : QString());
                if (row->state == TaskState::Completed && row->attempts == 0)
                    cell->setToolTip(tr("answered from the response cache: nothing was sent"));
            } else {
                QString text;
                if (row->state != TaskState::Completed) {
                    text = u"[%1] %2"_s.arg(taskStateLabel(row->state), row->outputPreview);
                } else if (column.field.isEmpty()) {
                    text = row->outputPreview;
                } else {
                    const QJsonObject answer =
                        QJsonDocument::fromJson(row->answerJson.toUtf8()).object();
                    text = cellText(answer.value(column.field));
                }
                text.replace(u'\n', u" ⏎ "_s);
                cell = item(text);
                if (row->state != TaskState::Completed)
                    cell->setForeground(stateColor(row->state));
                const QString key = column.field.isEmpty() ? u"#answer"_s : column.field;
                const auto first = firstValue.constFind(key);
                if (first == firstValue.cend())
                    firstValue.insert(key, comparable(text));
                else if (*first != comparable(text))
                    cell->setBackground(differs);
            }
            m_results->setItem(r, col + 2, cell);
        }
    }
    // Every candidate's answers in view at once, also three candidates' at 1,024 px (their
    // eleven columns scrolled sideways): the numbers as wide as they need, the input and the
    // answers share the rest of the width (whole in their tooltips).
    QHeaderView *header = m_results->horizontalHeader();
    header->setStretchLastSection(false);
    for (int c = 0; c < m_results->columnCount(); ++c) {
        const bool text = c == 1 || (c >= 2 && !columns.at(c - 2).field.startsWith(u'#'));
        header->setSectionResizeMode(c,
                                     text ? QHeaderView::Stretch : QHeaderView::ResizeToContents);
    }
}

} // namespace bd::ui
