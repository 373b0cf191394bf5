#include "templateeditor.h"

#include <QAbstractItemView>
#include <QCompleter>
#include <QKeyEvent>
#include <QRegularExpression>
#include <QScrollBar>
#include <QStringListModel>
#include <QSyntaxHighlighter>

namespace bd::ui {

using namespace Qt::StringLiterals;

class PlaceholderHighlighter final : public QSyntaxHighlighter
{
public:
    using QSyntaxHighlighter::QSyntaxHighlighter;

    void setColumns(const QStringList &columns)
    {
        m_columns = columns;
        rehighlight();
    }

protected:
    void highlightBlock(const QString &text) override
    {
        static const QRegularExpression placeholder(u"\\{\\{\\s*([^{}]*?)\\s*\\}\\}"_s);
        QTextCharFormat known;
        known.setFontWeight(QFont::Bold);
        known.setForeground(QColor(0x1f, 0x8f, 0xff));
        QTextCharFormat unknown;
        unknown.setUnderlineStyle(QTextCharFormat::WaveUnderline);
        unknown.setUnderlineColor(Qt::red);
        unknown.setForeground(QColor(0xd0, 0x30, 0x30));
        for (auto it = placeholder.globalMatch(text); it.hasNext();) {
            const auto match = it.next();
            const bool ok = m_columns.contains(match.captured(1));
            setFormat(int(match.capturedStart()), int(match.capturedLength()), ok ? known : unknown);
        }
    }

private:
    QStringList m_columns;
};

TemplateEditor::TemplateEditor(QWidget *parent)
    : QPlainTextEdit(parent)
{
    setTabChangesFocus(true);
    m_model = new QStringListModel(this);
    m_completer = new QCompleter(m_model, this);
    m_completer->setWidget(this);
    m_completer->setCompletionMode(QCompleter::PopupCompletion);
    m_completer->setCaseSensitivity(Qt::CaseInsensitive);
    m_completer->setFilterMode(Qt::MatchContains);
    connect(m_completer, qOverload<const QString &>(&QCompleter::activated), this,
            &TemplateEditor::insertCompletion);
    m_highlighter = new PlaceholderHighlighter(document());
    connect(this, &QPlainTextEdit::textChanged, this, [this] {
        const QString prefix = placeholderPrefix();
        if (prefix.isNull() || !hasFocus()) {
            m_completer->popup()->hide();
            return;
        }
        m_completer->setCompletionPrefix(prefix);
        if (m_completer->completionCount() == 0) {
            m_completer->popup()->hide();
            return;
        }
        QRect rect = cursorRect();
        rect.setWidth(m_completer->popup()->sizeHintForColumn(0)
                      + m_completer->popup()->verticalScrollBar()->sizeHint().width());
        m_completer->complete(rect);
    });
}

void TemplateEditor::setColumns(const QStringList &columns)
{
    m_columns = columns;
    m_model->setStringList(columns);
    m_highlighter->setColumns(columns);
}

QString TemplateEditor::placeholderPrefix() const
{
    const QTextCursor cursor = textCursor();
    const QString before = cursor.block().text().left(cursor.positionInBlock());
    const qsizetype open = before.lastIndexOf(u"{{"_s);
    if (open < 0 || before.indexOf(u"}}"_s, open) >= 0)
        return {};
    const QString partial = before.mid(open + 2).trimmed();
    if (partial.contains(u'{') || partial.contains(u'}'))
        return {};
    return partial.isNull() ? u""_s : partial;
}

void TemplateEditor::insertCompletion(const QString &name)
{
    QTextCursor cursor = textCursor();
    const QString before = cursor.block().text().left(cursor.positionInBlock());
    const qsizetype open = before.lastIndexOf(u"{{"_s);
    if (open < 0)
        return;
    cursor.movePosition(QTextCursor::Left, QTextCursor::KeepAnchor, int(before.size() - open - 2));
    const QString after = cursor.block().text().mid(textCursor().positionInBlock());
    cursor.insertText(after.trimmed().startsWith(u"}}"_s) ? name : name + u"}}"_s);
    setTextCursor(cursor);
}

void TemplateEditor::keyPressEvent(QKeyEvent *event)
{
    if (m_completer->popup()->isVisible()) {
        switch (event->key()) {
        case Qt::Key_Enter:
        case Qt::Key_Return:
        case Qt::Key_Escape:
        case Qt::Key_Tab:
        case Qt::Key_Backtab:
            event->ignore(); // the completer's popup takes these
            return;
        default:
            break;
        }
    }
    QPlainTextEdit::keyPressEvent(event);
}

} // namespace bd::ui
