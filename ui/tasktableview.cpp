#include "tasktableview.h"

#include "taskdetailview.h"
#include "tasktablemodel.h"

#include <QCoreApplication>
#include <QHeaderView>
#include <QMenu>
#include <QProxyStyle>
#include <QStyleOptionHeader>
#include <QTableView>

namespace bd::ui {

namespace {
QString tr(const char *text)
{
    return QCoreApplication::translate("bd::ui::TaskTable", text);
}

// Draws the header arrow of the other order (see pointSortArrowsWithTheOrder).
class OrderArrowStyle final : public QProxyStyle
{
public:
    using QProxyStyle::QProxyStyle;

    void drawPrimitive(PrimitiveElement element, const QStyleOption *option, QPainter *painter,
                       const QWidget *widget) const override
    {
        const auto *header = qstyleoption_cast<const QStyleOptionHeader *>(option);
        if (element != PE_IndicatorHeaderArrow || !header) {
            QProxyStyle::drawPrimitive(element, option, painter, widget);
            return;
        }
        QStyleOptionHeader flipped(*header);
        if (header->sortIndicator == QStyleOptionHeader::SortDown)
            flipped.sortIndicator = QStyleOptionHeader::SortUp;
        else if (header->sortIndicator == QStyleOptionHeader::SortUp)
            flipped.sortIndicator = QStyleOptionHeader::SortDown;
        QProxyStyle::drawPrimitive(element, &flipped, painter, widget);
    }
};
} // namespace

void pointSortArrowsWithTheOrder(QHeaderView *header)
{
    // Over the application's style (so the palette and a dark theme still apply); the
    // widget does not own a style set on it, so the header does.
    auto *style = new OrderArrowStyle(header->style()->name());
    style->setParent(header);
    header->setStyle(style);
}

void enableDatabaseSorting(QTableView *view, TaskTableModel *model)
{
    QHeaderView *header = view->horizontalHeader();
    pointSortArrowsWithTheOrder(header);
    header->setSortIndicator(model->sortColumn(), model->sortOrder());
    view->setSortingEnabled(true);
    // The view has asked the model to sort already (it ignores other columns): put the
    // indicator back where the order is.
    QObject::connect(header, &QHeaderView::sortIndicatorChanged, view, [header, model](int column) {
        if (!TaskTableModel::isSortable(column))
            header->setSortIndicator(model->sortColumn(), model->sortOrder());
    });
}

void widenToContents(QTableView *view, const QList<int> &columns)
{
    QAbstractItemModel *model = view->model();
    const auto widen = [view, columns] {
        for (const int column : columns) {
            // Public through the base class (QTableView hides it).
            const int wanted = static_cast<QAbstractItemView *>(view)->sizeHintForColumn(column);
            if (wanted > view->columnWidth(column))
                view->setColumnWidth(column, wanted);
        }
    };
    QObject::connect(model, &QAbstractItemModel::dataChanged, view, widen);
    QObject::connect(model, &QAbstractItemModel::modelReset, view, widen);
    QObject::connect(model, &QAbstractItemModel::rowsInserted, view, widen);
    widen();
}

QMenu *taskRowMenu(QWidget *parent, const QList<TaskRowAction> &actions,
                   const std::optional<bd::TaskRow> &row, TaskDetailView *detail,
                   const std::function<void(qint64)> &showJob)
{
    auto *menu = new QMenu(parent);
    for (const TaskRowAction &entry : actions) {
        QAction *action = menu->addAction(entry.text, parent, entry.run);
        action->setEnabled(row && entry.enabled);
    }
    if (!actions.isEmpty())
        menu->addSeparator();
    using Part = TaskDetailView::Part;
    const auto copy = [menu, parent, detail](const QString &text, Part part, bool enabled) {
        QAction *action =
            menu->addAction(text, parent, [detail, part] { detail->copyToClipboard(part); });
        action->setEnabled(enabled);
    };
    copy(tr("Copy prompt"), Part::Prompt, row.has_value());
    copy(tr("Copy answer"), Part::Answer, row && row->state == TaskState::Completed);
    copy(tr("Copy error"), Part::Error,
         row && !row->errorClass.isEmpty() && row->state != TaskState::Completed);
    menu->addSeparator();
    const qint64 jobId = row ? row->jobId : 0;
    QAction *job = menu->addAction(jobId > 0 ? tr("Show job %1").arg(jobId) : tr("Show job"),
                                   parent, [showJob, jobId] { showJob(jobId); });
    job->setEnabled(jobId > 0);
    return menu;
}

} // namespace bd::ui
