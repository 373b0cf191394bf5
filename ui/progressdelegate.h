#pragma once

#include <QStyledItemDelegate>

namespace bd::ui {

// Draws a progress bar from the model's progress role (double 0..1) with the display text
// on it, styled by the current QStyle so it follows the platform and palette.
class ProgressDelegate final : public QStyledItemDelegate
{
    Q_OBJECT

public:
    explicit ProgressDelegate(int progressRole, QObject *parent = nullptr);

    void paint(QPainter *painter, const QStyleOptionViewItem &option,
               const QModelIndex &index) const override;

private:
    int m_role;
};

} // namespace bd::ui
