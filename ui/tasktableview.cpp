#include "tasktableview.h"

#include "taskdetailview.h"
#include "tasktablemodel.h"

#include <numeric>
#include <QCoreApplication>
#include <QEvent>
#include <QHeaderView>
#include <QMenu>
#include <QProxyStyle>
#include <QStyleOptionHeader>
#include <QTableView>

namespace bd::ui {

using namespace Qt::StringLiterals;

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

namespace {
// See fitColumnsToWidth: refits on the viewport's resizes (a vertical scroll bar coming
// or going is one) at once, and after the model's changes.
class ColumnFitter final : public QObject
{
public:
    ColumnFitter(QTableView *view, const QList<int> &elastic)
        : QObject(view)
        , m_view(view)
        , m_viewport(view->viewport())
        , m_elastic(elastic)
    {
        m_viewport->installEventFilter(this);
    }

    bool eventFilter(QObject *watched, QEvent *event) override
    {
        // The viewport's events go on while the view is torn down (its QAbstractScrollArea
        // part already gone, UBSan: calling viewport() then is undefined): only the kept
        // pointer is compared.
        if (event->type() == QEvent::Resize && watched == m_viewport)
            fit();
        return false;
    }

    // The model's changes come in bursts (a cell at a time) and also while the view is
    // being destroyed: they fit once, from the event loop.
    void fitSoon()
    {
        if (std::exchange(m_fitPending, true))
            return;
        QMetaObject::invokeMethod(
            this,
            [this] {
                m_fitPending = false;
                fit();
            },
            Qt::QueuedConnection);
    }

    // The widest cell of the column among the rows in view (QTableView's own hint reads up
    // to a thousand rows beyond them, which a paged model then loads).
    int shownCellsWidth(int column) const
    {
        const QAbstractItemModel *model = m_view->model();
        const int rows = model->rowCount();
        if (rows == 0)
            return 0;
        const int first = qMax(0, m_view->rowAt(0));
        int last = m_view->rowAt(m_view->viewport()->height() - 1);
        if (last < 0) {
            const int rowHeight = qMax(1, m_view->verticalHeader()->defaultSectionSize());
            last = qMin(rows - 1, first + m_view->viewport()->height() / rowHeight + 1);
        }
        const int grid = m_view->showGrid() ? 1 : 0;
        int widest = 0;
        for (int row = first; row <= last; ++row)
            widest =
                qMax(widest, m_view->sizeHintForIndex(model->index(row, column)).width() + grid);
        return widest;
    }

    void fit()
    {
        const QHeaderView *header = m_view->horizontalHeader();
        const int columns = m_view->model()->columnCount();
        QList<int> elastic = m_elastic; // of the columns there are now
        elastic.removeIf([columns](int column) { return column >= columns; });
        // Each column's widths from the most it would like down to the least it takes: a
        // figure keeps its cells whole (its title may elide); an elastic column keeps its
        // title whole while it can, and then at least a few characters.
        const int fewCharacters = m_view->fontMetrics().horizontalAdvance(u"00…"_s) + 8;
        QList<int> full(columns, 0);
        QList<int> mid(columns, 0);
        QList<int> least(columns, 0);
        for (int column = 0; column < columns; ++column) {
            if (m_view->isColumnHidden(column))
                continue;
            const int title = header->sectionSizeHint(column);
            const int cells = shownCellsWidth(column);
            full[column] = qMax(title, cells);
            if (elastic.contains(column)) {
                mid[column] = qMin(full[column], title);
                least[column] = qMin(mid[column], fewCharacters);
            } else {
                mid[column] = full[column];
                least[column] = qMin(full[column], qMax(cells, fewCharacters / 2));
            }
        }
        const auto sum = [](const QList<int> &widths) {
            return std::accumulate(widths.cbegin(), widths.cend(), 0);
        };
        // Between two sets of widths: from `from` toward `to` by the share of the room.
        const auto between = [columns](const QList<int> &from, const QList<int> &to, double share) {
            QList<int> widths(columns, 0);
            for (int column = 0; column < columns; ++column)
                widths[column] = from[column] + int((to[column] - from[column]) * share);
            return widths;
        };
        const auto share = [](int room, int low, int high) {
            return high > low ? qBound(0.0, double(room - low) / (high - low), 1.0) : 1.0;
        };
        const int room = m_view->viewport()->width();
        // Stages, in the order room runs out: elastic columns give up what their content
        // wants beyond the title, then the title down to a few characters; then the
        // figures' titles elide; only then do the figures narrow and elide ("$0.01…").
        QList<int> titlesLeast = mid; // elastic at least, figures full
        for (const int column : std::as_const(elastic))
            titlesLeast[column] = least[column];
        QList<int> widths;
        if (room >= sum(mid)) {
            // The figures full; the elastic columns share the rest in proportion to what
            // their content wants beyond the title.
            const double part = share(room, sum(mid), sum(full));
            widths = between(mid, full, part);
        } else if (room >= sum(titlesLeast)) {
            widths = between(titlesLeast, mid, share(room, sum(titlesLeast), sum(mid)));
        } else if (room >= sum(least)) {
            widths = between(least, titlesLeast, share(room, sum(least), sum(titlesLeast)));
        } else {
            // Not even the figures fit: they narrow in proportion and elide ("…").
            int figures = 0;
            int elasticLeast = 0;
            for (int column = 0; column < columns; ++column)
                (elastic.contains(column) ? elasticLeast : figures) += least[column];
            const double scale = figures > 0 ? double(qMax(0, room - elasticLeast)) / figures : 0;
            widths = least;
            for (int column = 0; column < columns; ++column)
                if (!elastic.contains(column))
                    widths[column] = int(least[column] * scale);
        }
        // What rounding left, or room to spare: the first elastic column takes it.
        const int used = sum(widths);
        if (!elastic.isEmpty() && used < room)
            widths[elastic.first()] += room - used;
        for (int column = 0; column < columns; ++column) {
            if (!m_view->isColumnHidden(column) && m_view->columnWidth(column) != widths[column])
                m_view->setColumnWidth(column, widths[column]);
        }
    }

private:
    QTableView *m_view;
    QWidget *m_viewport; // compared only, never called: see eventFilter
    QList<int> m_elastic;
    bool m_fitPending = false;
};
} // namespace

void fitColumnsToWidth(QTableView *view, const QList<int> &elastic)
{
    QHeaderView *header = view->horizontalHeader();
    header->setStretchLastSection(false);
    header->setSectionResizeMode(QHeaderView::Fixed);
    header->setMinimumSectionSize(1); // the fitter's widths stand as they are
    view->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    view->setTextElideMode(Qt::ElideRight);
    auto *fitter = new ColumnFitter(view, elastic);
    const auto fit = [fitter] { fitter->fitSoon(); };
    QAbstractItemModel *model = view->model();
    QObject::connect(model, &QAbstractItemModel::dataChanged, fitter, fit);
    QObject::connect(model, &QAbstractItemModel::modelReset, fitter, fit);
    QObject::connect(model, &QAbstractItemModel::rowsInserted, fitter, fit);
    QObject::connect(model, &QAbstractItemModel::rowsRemoved, fitter, fit);
    QObject::connect(model, &QAbstractItemModel::layoutChanged, fitter, fit);
    QObject::connect(model, &QAbstractItemModel::columnsInserted, fitter, fit);
    QObject::connect(model, &QAbstractItemModel::columnsRemoved, fitter, fit);
    QObject::connect(model, &QAbstractItemModel::headerDataChanged, fitter, fit);
    fitter->fit();
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
