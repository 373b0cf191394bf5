#include "fieldsstep.h"

#include <algorithm>
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QStackedWidget>
#include <QTableWidget>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;
using ingest::FieldKind;
using ingest::OutputField;

namespace {

// The kinds the step offers, in the order the list shows them.
constexpr FieldKind kOfferedKinds[] = {FieldKind::Text, FieldKind::Number, FieldKind::YesNo,
                                       FieldKind::Choice, FieldKind::TextList};

bool isOffered(FieldKind kind)
{
    return std::find(std::begin(kOfferedKinds), std::end(kOfferedKinds), kind) !=
           std::end(kOfferedKinds);
}

QStringList splitChoices(const QString &text)
{
    QStringList choices;
    for (const QString &choice : text.split(u',', Qt::SkipEmptyParts)) {
        if (!choice.trimmed().isEmpty())
            choices.append(choice.trimmed());
    }
    return choices;
}

} // namespace

FieldsStep::FieldsStep(QWidget *parent)
    : QGroupBox(tr("Fields"), parent)
{
    setObjectName(u"fieldsStep"_s);
    auto *layout = new QVBoxLayout(this);
    m_ask = new QCheckBox(tr("Answer in fields (one export column each)"), this);
    m_ask->setObjectName(u"askForFields"_s);
    layout->addWidget(m_ask);
    m_paste = new QCheckBox(tr("Paste a JSON Schema instead"), this);
    layout->addWidget(m_paste);

    m_pages = new QStackedWidget(this);
    auto *fieldsPage = new QWidget(m_pages);
    auto *fieldsLayout = new QVBoxLayout(fieldsPage);
    fieldsLayout->setContentsMargins(0, 0, 0, 0);
    m_table = new QTableWidget(0, ColumnCount, fieldsPage);
    m_table->setHorizontalHeaderLabels(
        {tr("Name"), tr("Kind"), tr("Values (one of a list)"), tr("Description")});
    m_table->horizontalHeader()->setStretchLastSection(true);
    // Each header whole: at the default width "Values (one of a list)" read "lues (one of a lis".
    for (int column = Name; column < Description; ++column)
        m_table->setColumnWidth(column, qMax(m_table->columnWidth(column),
                                             m_table->horizontalHeader()->sectionSizeHint(column)));
    m_table->verticalHeader()->hide();
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    fieldsLayout->addWidget(m_table);
    auto *buttons = new QHBoxLayout;
    auto *add = new QPushButton(tr("Add field"), fieldsPage);
    m_remove = new QPushButton(tr("Remove"), fieldsPage);
    buttons->addWidget(add);
    buttons->addWidget(m_remove);
    buttons->addStretch(1);
    fieldsLayout->addLayout(buttons);
    m_pages->addWidget(fieldsPage);
    m_pasted = new QPlainTextEdit(m_pages);
    m_pasted->setObjectName(u"pastedSchema"_s);
    m_pasted->setPlaceholderText(
        uR"({"type": "object", "properties": {"label": {"type": "string", "enum": ["positive", "negative"]}}})"_s);
    m_pages->addWidget(m_pasted);
    layout->addWidget(m_pages, 1);

    m_structuredRow = new QWidget(this);
    auto *structuredLayout = new QHBoxLayout(m_structuredRow);
    structuredLayout->setContentsMargins(0, 0, 0, 0);
    structuredLayout->addWidget(new QLabel(tr("Ask the server with:"), m_structuredRow));
    m_structuredOutput = new QComboBox(m_structuredRow);
    m_structuredOutput->setObjectName(u"structuredOutput"_s);
    m_structuredOutput->addItem(tr("JSON Schema (json_schema)"), u"json_schema"_s);
    m_structuredOutput->addItem(tr("JSON mode + validation (json_object)"), u"json_object"_s);
    m_structuredOutput->setToolTip(
        tr("Servers without json_schema support (older vLLM, llama.cpp builds) take JSON mode: "
           "the schema goes in the system prompt and every answer is validated against it"));
    structuredLayout->addWidget(m_structuredOutput, 1);
    m_structuredRow->hide();
    layout->addWidget(m_structuredRow);

    m_status = new QLabel(this);
    m_status->setObjectName(u"fieldsStatus"_s);
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_status);

    connect(m_ask, &QCheckBox::toggled, this, &FieldsStep::updateSchema);
    connect(m_paste, &QCheckBox::toggled, this, [this](bool paste) {
        // Switching to the pasted schema starts from what the fields say.
        if (paste && m_pasted->toPlainText().trimmed().isEmpty() && m_schema)
            m_pasted->setPlainText(QString::fromUtf8(m_schema->text()));
        m_pages->setCurrentIndex(paste ? 1 : 0);
        updateSchema();
    });
    connect(add, &QPushButton::clicked, this, [this] {
        addRow(OutputField{tr("field%1").arg(m_table->rowCount() + 1), FieldKind::Text, {}, {}});
        m_table->editItem(m_table->item(m_table->rowCount() - 1, Name));
    });
    connect(m_remove, &QPushButton::clicked, this, [this] {
        const int row = m_table->currentRow();
        if (row >= 0) {
            m_table->removeRow(row);
            updateSchema();
        }
    });
    connect(m_table, &QTableWidget::itemChanged, this, &FieldsStep::updateSchema);
    connect(m_pasted, &QPlainTextEdit::textChanged, this, &FieldsStep::updateSchema);
    connect(m_structuredOutput, &QComboBox::currentIndexChanged, this, &FieldsStep::changed);
    updateSchema();
}

void FieldsStep::setProvider(const QString &providerId)
{
    m_provider = providerId;
    updateSchema();
}

QString FieldsStep::structuredOutput() const
{
    if (m_provider != u"openai-compatible"_s || schemaText().isEmpty())
        return {};
    return m_structuredOutput->currentData().toString();
}

void FieldsStep::setStructuredOutput(const QString &mode)
{
    m_structuredOutput->setCurrentIndex(
        qMax(0, m_structuredOutput->findData(mode.isEmpty() ? u"json_schema"_s : mode)));
}

bool FieldsStep::isEnabledForJob() const
{
    return m_ask->isChecked();
}

QString FieldsStep::schemaText() const
{
    return isEnabledForJob() && m_schema ? QString::fromUtf8(m_schema->text()) : QString();
}

void FieldsStep::setAsking(bool asking)
{
    m_ask->setChecked(asking);
}

void FieldsStep::addField(const OutputField &field)
{
    addRow(field);
    updateSchema();
}

void FieldsStep::setPastedSchema(const QString &text)
{
    m_pasted->setPlainText(text);
    m_paste->setChecked(true);
    updateSchema();
}

void FieldsStep::setSchemaText(const QString &text)
{
    m_table->setRowCount(0);
    m_pasted->clear();
    if (text.isEmpty()) {
        m_ask->setChecked(false);
        updateSchema();
        return;
    }
    m_ask->setChecked(true);
    QString error;
    const auto schema = ingest::OutputSchema::parse(text.toUtf8(), tr("the job's schema"), &error);
    const bool asFields = schema && schema->isStrict() &&
                          std::all_of(schema->fields().begin(), schema->fields().end(),
                                      [](const OutputField &f) { return isOffered(f.kind); });
    if (!asFields) {
        setPastedSchema(text);
        return;
    }
    m_paste->setChecked(false);
    for (const OutputField &field : schema->fields())
        addRow(field);
    updateSchema();
}

void FieldsStep::addRow(const OutputField &field)
{
    const QSignalBlocker blocker(m_table); // one update for the whole row
    const int row = m_table->rowCount();
    m_table->insertRow(row);
    m_table->setItem(row, Name, new QTableWidgetItem(field.name));
    auto *kind = new QComboBox(m_table);
    for (FieldKind offered : kOfferedKinds)
        kind->addItem(ingest::fieldKindName(offered), int(offered));
    kind->setCurrentIndex(qMax(0, kind->findData(int(field.kind))));
    m_table->setCellWidget(row, Kind, kind);
    m_table->setColumnWidth(Kind, qMax(m_table->columnWidth(Kind), kind->sizeHint().width()));
    m_table->setItem(row, Choices, new QTableWidgetItem(field.choices.join(u", "_s)));
    m_table->setItem(row, Description, new QTableWidgetItem(field.description));
    connect(kind, &QComboBox::currentIndexChanged, this, &FieldsStep::updateSchema);
}

QList<OutputField> FieldsStep::fieldsFromTable() const
{
    QList<OutputField> fields;
    for (int row = 0; row < m_table->rowCount(); ++row) {
        OutputField field;
        field.name = m_table->item(row, Name) ? m_table->item(row, Name)->text() : QString();
        const auto *kind = qobject_cast<QComboBox *>(m_table->cellWidget(row, Kind));
        field.kind = kind ? FieldKind(kind->currentData().toInt()) : FieldKind::Text;
        if (field.kind == FieldKind::Choice && m_table->item(row, Choices))
            field.choices = splitChoices(m_table->item(row, Choices)->text());
        if (m_table->item(row, Description))
            field.description = m_table->item(row, Description)->text();
        fields.append(field);
    }
    return fields;
}

void FieldsStep::updateRowHints()
{
    const QSignalBlocker blocker(m_table);
    for (int row = 0; row < m_table->rowCount(); ++row) {
        const auto *kind = qobject_cast<QComboBox *>(m_table->cellWidget(row, Kind));
        QTableWidgetItem *choices = m_table->item(row, Choices);
        const bool isChoice = kind && FieldKind(kind->currentData().toInt()) == FieldKind::Choice;
        if (choices)
            choices->setFlags(isChoice
                                  ? choices->flags() | Qt::ItemIsEditable | Qt::ItemIsEnabled
                                  : choices->flags() & ~(Qt::ItemIsEditable | Qt::ItemIsEnabled));
    }
}

void FieldsStep::updateSchema()
{
    const bool asking = m_ask->isChecked();
    m_paste->setEnabled(asking);
    m_pages->setEnabled(asking);
    m_remove->setEnabled(m_table->rowCount() > 0);
    m_structuredRow->setVisible(asking && m_provider == u"openai-compatible"_s);
    updateRowHints();
    m_schema.reset();
    m_problem.clear();
    if (asking) {
        QString error;
        m_schema = m_paste->isChecked()
                       ? ingest::OutputSchema::parse(m_pasted->toPlainText().toUtf8(),
                                                     tr("the pasted schema"), &error)
                       : ingest::OutputSchema::fromFields(fieldsFromTable(), &error);
        m_problem = error;
    }
    if (!asking) {
        m_status->setStyleSheet(QString());
        m_status->setText(tr("Answers are free text in the output column."));
    } else if (!m_schema) {
        m_status->setStyleSheet(u"color: #b00020;"_s);
        m_status->setText(m_problem);
    } else {
        m_status->setStyleSheet(QString());
        QStringList columns;
        for (const OutputField &field : m_schema->fields())
            columns.append(u"%1 (%2)"_s.arg(field.name, ingest::fieldKindName(field.kind)));
        m_status->setText(
            tr("The export gets a column per field after output: %1").arg(columns.join(u", "_s)));
    }
    Q_EMIT changed();
}

} // namespace bd::ui
