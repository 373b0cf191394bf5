#pragma once

#include <QDialog>

class QTableWidget;

namespace bd::ui {

// Help › Keyboard shortcuts: every shortcut of the window's menus and pages, read from the
// actions themselves so the list cannot drift from what the keys do.
class ShortcutsDialog final : public QDialog
{
    Q_OBJECT

public:
    explicit ShortcutsDialog(QWidget *window);

    QTableWidget *table() const { return m_table; }

private:
    QTableWidget *m_table = nullptr;
};

} // namespace bd::ui
