#pragma once

#include "ingest/outputschema.h"

#include <optional>
#include <QGroupBox>

class QCheckBox;
class QComboBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QStackedWidget;
class QTableWidget;

namespace bd::ui {

// The import wizard's Fields step (structured answers, CLI.md --schema): the user names the
// output fields (text, number, yes/no, one of a list, list of text) and the step builds the
// JSON Schema, or takes one pasted. Problems show inline as one types; the schema the job
// gets is schemaText() (empty: free-text answers).
class FieldsStep final : public QGroupBox
{
    Q_OBJECT

public:
    explicit FieldsStep(QWidget *parent = nullptr);

    // Whether the job asks for fields at all.
    bool isEnabledForJob() const;
    // The schema as the job stores it (compact, in field order); empty when off or invalid.
    QString schemaText() const;
    // Why the fields cannot be used, or empty.
    QString problem() const { return m_problem; }
    // A stored job's schema ("run again"): shown as fields when they are all of the kinds
    // the step offers, else as the pasted schema.
    void setSchemaText(const QString &text);

    // How an OpenAI-compatible server is asked (settingkeys::structuredOutput): "json_schema"
    // (the default: the server holds the answer to the schema) or "json_object" (JSON mode,
    // the schema told in the system prompt, each answer validated) for servers without
    // json_schema support. The choice shows only for that provider (setProvider); empty
    // for every other provider, or without fields.
    void setProvider(const QString &providerId);
    QString structuredOutput() const;
    void setStructuredOutput(const QString &mode);
    QComboBox *structuredOutputBox() const { return m_structuredOutput; }

    // For tests and automation.
    void setAsking(bool asking);
    void addField(const ingest::OutputField &field);
    void setPastedSchema(const QString &text); // switches to the pasted schema
    QTableWidget *fieldTable() const { return m_table; }
    QLabel *statusLabel() const { return m_status; }

Q_SIGNALS:
    // The schema or the problem changed.
    void changed();

private:
    enum Column
    {
        Name,
        Kind,
        Choices,
        Description,
        ColumnCount
    };

    void addRow(const ingest::OutputField &field);
    QList<ingest::OutputField> fieldsFromTable() const;
    void updateSchema();
    void updateRowHints();

    QCheckBox *m_ask = nullptr;
    QCheckBox *m_paste = nullptr;
    QStackedWidget *m_pages = nullptr;
    QTableWidget *m_table = nullptr;
    QPushButton *m_remove = nullptr;
    QPlainTextEdit *m_pasted = nullptr;
    QWidget *m_structuredRow = nullptr;
    QComboBox *m_structuredOutput = nullptr;
    QString m_provider;
    QLabel *m_status = nullptr;
    std::optional<ingest::OutputSchema> m_schema;
    QString m_problem;
};

} // namespace bd::ui
