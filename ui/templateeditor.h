#pragma once

#include <QPlainTextEdit>
#include <QStringList>

class QCompleter;
class QStringListModel;

namespace bd::ui {

class PlaceholderHighlighter;

// A prompt template editor: typing "{{" offers the CSV's column names (QCompleter), known
// placeholders are highlighted and unknown ones underlined in red.
class TemplateEditor final : public QPlainTextEdit
{
    Q_OBJECT

public:
    explicit TemplateEditor(QWidget *parent = nullptr);

    void setColumns(const QStringList &columns);
    QStringList columns() const { return m_columns; }
    QCompleter *completer() const { return m_completer; }

protected:
    void keyPressEvent(QKeyEvent *event) override;

private:
    QString placeholderPrefix() const; // the partial name after an open "{{", or null
    void insertCompletion(const QString &name);

    QStringList m_columns;
    QStringListModel *m_model = nullptr;
    QCompleter *m_completer = nullptr;
    PlaceholderHighlighter *m_highlighter = nullptr;
};

} // namespace bd::ui
