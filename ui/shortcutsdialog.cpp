#include "shortcutsdialog.h"

#include <QAction>
#include <QDialogButtonBox>
#include <QHeaderView>
#include <QMenu>
#include <QSet>
#include <QTableWidget>
#include <QVBoxLayout>

namespace bd::ui {

namespace {
QString plainText(const QString &text)
{
    QString plain = text;
    plain.remove(u'&');
    if (plain.endsWith(u'…'))
        plain.chop(1);
    return plain;
}
} // namespace

ShortcutsDialog::ShortcutsDialog(QWidget *window)
    : QDialog(window)
{
    setWindowTitle(tr("Keyboard shortcuts"));
    auto *layout = new QVBoxLayout(this);
    m_table = new QTableWidget(0, 2, this);
    m_table->setHorizontalHeaderLabels({tr("Action"), tr("Keys")});
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionMode(QAbstractItemView::NoSelection);
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_table->horizontalHeader()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
    QSet<QString> seen;
    const QList<QAction *> actions = window->findChildren<QAction *>();
    for (QAction *action : actions) {
        const QList<QKeySequence> keys = action->shortcuts();
        if (keys.isEmpty() || action->text().isEmpty())
            continue;
        QStringList keyTexts;
        for (const QKeySequence &key : keys)
            keyTexts.append(key.toString(QKeySequence::NativeText));
        const QString row = plainText(action->text()) + u'\t' + keyTexts.join(u", ");
        if (seen.contains(row))
            continue;
        seen.insert(row);
        const int r = m_table->rowCount();
        m_table->insertRow(r);
        m_table->setItem(r, 0, new QTableWidgetItem(plainText(action->text())));
        m_table->setItem(r, 1, new QTableWidgetItem(keyTexts.join(tr(" or "))));
    }
    m_table->sortItems(0);
    layout->addWidget(m_table);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
    resize(460, 420);
}

} // namespace bd::ui
