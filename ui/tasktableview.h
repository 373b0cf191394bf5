#pragma once

#include "api/tasks.h"

#include <functional>
#include <optional>
#include <QList>
#include <QString>

class QHeaderView;
class QMenu;
class QTableView;
class QWidget;

namespace bd::ui {

class TaskDetailView;
class TaskTableModel;

// What the Tasks and Dead letters pages share about their task tables.

// Clicking a sortable header sorts every matching task by that column in the database
// (TaskTableModel::sort), with the indicator on it; clicking another column leaves the
// order and the indicator as they were. The table starts in task order.
void enableDatabaseSorting(QTableView *view, TaskTableModel *model);

// The header's sort indicator points the way its values grow: up when ascending (the
// smallest at the top), down when descending. QHeaderView asks the style for a "sort
// down" arrow when ascending, which Fusion draws pointing down.
void pointSortArrowsWithTheOrder(QHeaderView *header);

// Keeps every column inside the view's width, so the table never scrolls sideways and no
// figure is cut at its edge into another number ("$0.0109" reading "$0.010"). The figures'
// columns are as wide as what they show; the elastic columns (names, states: they elide
// with "…" and keep their tooltips) share what is left, the first of them taking any spare
// room. Only when the figures alone do not fit do they narrow too, and then they elide
// visibly ("$0.01…"). Refitted when the view is resized and whenever the model changes.
void fitColumnsToWidth(QTableView *view, const QList<int> &elastic);

// A page's own entries of a row menu (Replay…, Reprioritise…), enabled as they apply.
struct TaskRowAction
{
    QString text;
    bool enabled = false;
    std::function<void()> run;
};

// The menu of a task row (row: the task under the pointer; nullopt: none): the page's
// entries, then Copy prompt / answer / error (from the detail pane, which shows that row)
// and Show job. Everything is disabled where there is no row. The caller owns the menu.
QMenu *taskRowMenu(QWidget *parent, const QList<TaskRowAction> &actions,
                   const std::optional<bd::TaskRow> &row, TaskDetailView *detail,
                   const std::function<void(qint64 jobId)> &showJob);

} // namespace bd::ui
