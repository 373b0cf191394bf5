#include "taskspage.h"

#include "api/engine.h"
#include "api/jobsettings.h"
#include "format.h"
#include "ingest/outputschema.h"
#include "jobcombo.h"
#include "taskdetailview.h"
#include "tasktablemodel.h"
#include "tasktableview.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>
#include <QMenu>
#include <QShortcut>

namespace bd::ui {

using namespace Qt::StringLiterals;

TasksPage::TasksPage(Engine *engine, QWidget *parent)
    : QWidget(parent)
    , m_engine(engine)
{
    auto *layout = new QVBoxLayout(this);
    auto *filters = new QHBoxLayout;
    m_job = new JobCombo(this);
    filters->addWidget(m_job);
    m_state = new QComboBox(this);
    m_state->addItem(tr("Any state"), -1);
    for (const TaskState state : {TaskState::Pending, TaskState::Leased, TaskState::Completed,
                                  TaskState::Dead, TaskState::Cancelled})
        m_state->addItem(taskStateLabel(state), int(state));
    filters->addWidget(m_state);
    m_priority = new QComboBox(this);
    m_priority->addItem(tr("Any priority"), 0);
    for (int p = 1; p <= 3; ++p)
        m_priority->addItem(priorityLabel(p), p);
    filters->addWidget(m_priority);
    m_errorClass = new QComboBox(this);
    m_errorClass->addItem(tr("Any error"), QString());
    for (int e = int(ErrorClass::RateLimited); e <= int(kLastErrorClass); ++e) {
        const QString name = errorClassName(static_cast<ErrorClass>(e));
        m_errorClass->addItem(name, name);
    }
    filters->addWidget(m_errorClass);
    m_text = new QLineEdit(this);
    m_text->setObjectName(u"taskSearch"_s);
    m_text->setPlaceholderText(tr("Search input, output and errors… (or field = value)"));
    m_text->setClearButtonEnabled(true);
    filters->addWidget(m_text, 1);
    m_count = new QLabel(this);
    filters->addWidget(m_count);
    layout->addLayout(filters);

    auto *actions = new QHBoxLayout;
    auto *replay = new QPushButton(tr("Replay…"), this);
    replay->setToolTip(tr("Dead tasks back to pending (selection or all matching)"));
    auto *reprioritise = new QPushButton(tr("Reprioritise…"), this);
    auto *cancel = new QPushButton(tr("Cancel tasks…"), this);
    actions->addWidget(replay);
    actions->addWidget(reprioritise);
    actions->addWidget(cancel);
    m_actionButtons = {replay, reprioritise, cancel};
    actions->addStretch(1);
    m_sortNote = new QLabel(this);
    m_sortNote->setObjectName(u"sortNote"_s);
    m_sortNote->setWordWrap(true);
    m_sortNote->hide();
    actions->addWidget(m_sortNote, 3);
    layout->addLayout(actions);

    auto *splitter = new QSplitter(Qt::Horizontal, this);
    m_model = new TaskTableModel(engine, this);
    m_view = new QTableView(splitter);
    m_view->setObjectName(u"tasksView"_s);
    m_view->setModel(m_model);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setAlternatingRowColors(true);
    m_view->setWordWrap(false);
    m_view->setTextElideMode(Qt::ElideRight);
    m_view->verticalHeader()->hide();
    // Uniform rows: the view never measures a million rows.
    m_view->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_view->verticalHeader()->setDefaultSectionSize(m_view->fontMetrics().height() + 8);
    enableDatabaseSorting(m_view, m_model);
    // No sideways scrolling: the window's edge cut "35 / 39" tokens to "35 / 3". The
    // figures are whole; the input, answer, error, state and priority elide (whole in the
    // detail pane), the input taking the spare width.
    fitColumnsToWidth(m_view, {TaskTableModel::InputColumn, TaskTableModel::OutputColumn,
                               TaskTableModel::ErrorColumn, TaskTableModel::PriorityColumn,
                               TaskTableModel::StateColumn});
    m_detail = new TaskDetailView(m_engine, splitter);
    splitter->addWidget(m_view);
    splitter->addWidget(m_detail);
    // At 1280 px the numeric columns, Latency the last of them, fit beside the detail pane.
    splitter->setStretchFactor(0, 4);
    splitter->setStretchFactor(1, 1);
    splitter->setSizes({900, 260});
    layout->addWidget(splitter, 1);

    m_textDebounce = new QTimer(this);
    m_textDebounce->setSingleShot(true);
    m_textDebounce->setInterval(300);
    m_refresh = new QTimer(this);
    m_refresh->setInterval(2000);

    connect(m_job, &JobCombo::jobChanged, this, &TasksPage::applyFilter);
    connect(m_state, &QComboBox::currentIndexChanged, this, &TasksPage::applyFilter);
    connect(m_priority, &QComboBox::currentIndexChanged, this, &TasksPage::applyFilter);
    connect(m_errorClass, &QComboBox::currentIndexChanged, this, &TasksPage::applyFilter);
    connect(m_text, &QLineEdit::textChanged, m_textDebounce, qOverload<>(&QTimer::start));
    connect(m_textDebounce, &QTimer::timeout, this, &TasksPage::applyFilter);
    connect(m_refresh, &QTimer::timeout, m_model, &TaskTableModel::refresh);
    connect(m_model, &TaskTableModel::countChanged, this, &TasksPage::updateCountLabel);
    connect(m_model, &TaskTableModel::countChanged, this, &TasksPage::updateSortNote);
    connect(m_model, &TaskTableModel::sortPreparingChanged, this, &TasksPage::updateSortNote);
    connect(m_model, &QAbstractItemModel::modelReset, this, &TasksPage::updateSortNote);
    // The first loaded row is shown in the detail pane until the user picks another.
    // A current row whose page was not loaded yet (the view sets one after a sort) shows
    // once its page arrives instead of "Loading…" for good.
    connect(m_model, &TaskTableModel::pageLoaded, this, [this](qint64 firstRow, int rows) {
        const QModelIndex current = m_view->currentIndex();
        if (firstRow == 0 && !current.isValid() && m_model->rowCount() > 0)
            m_view->setCurrentIndex(m_model->index(0, 0));
        else if (m_detailWaiting && current.isValid() && current.row() >= firstRow &&
                 current.row() < firstRow + rows)
            handleCurrentChanged();
    });
    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &TasksPage::handleCurrentChanged);
    connect(m_detail, &TaskDetailView::detailShown, this,
            [this](const bd::TaskDetail &detail) { m_shownDetail = detail; });
    m_view->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_view, &QWidget::customContextMenuRequested, this, [this](const QPoint &pos) {
        QMenu *menu = rowMenu(pos);
        menu->setAttribute(Qt::WA_DeleteOnClose);
        menu->popup(m_view->viewport()->mapToGlobal(pos));
    });
    auto *find = new QShortcut(QKeySequence::Find, this);
    find->setContext(Qt::WidgetWithChildrenShortcut);
    connect(find, &QShortcut::activated, this, [this] {
        m_text->setFocus(Qt::ShortcutFocusReason);
        m_text->selectAll();
    });
    connect(m_model, &QAbstractItemModel::modelReset, this, &TasksPage::updateActions);
    connect(m_model, &QAbstractItemModel::rowsInserted, this, &TasksPage::updateActions);
    connect(m_model, &QAbstractItemModel::rowsRemoved, this, &TasksPage::updateActions);
    connect(m_model, &TaskTableModel::countChanged, this, &TasksPage::updateActions);
    connect(m_engine, &Engine::tasksActedOn, this, [this] { m_model->refresh(); });
    connect(replay, &QPushButton::clicked, this, [this] { act(int(TaskAction::Replay)); });
    connect(reprioritise, &QPushButton::clicked, this,
            [this] { act(int(TaskAction::Reprioritise)); });
    connect(cancel, &QPushButton::clicked, this, [this] { act(int(TaskAction::Cancel)); });
    updateCountLabel();
    updateActions();
}

void TasksPage::updateActions()
{
    // The buttons act on the selection or on every matching task: nothing to act on, off.
    for (QPushButton *button : std::as_const(m_actionButtons))
        button->setEnabled(m_model->rowCount() > 0);
}

QMenu *TasksPage::rowMenu(const QPoint &viewPos)
{
    const QModelIndex index = m_view->indexAt(viewPos);
    if (index.isValid() && !m_view->selectionModel()->isRowSelected(index.row(), QModelIndex()))
        m_view->setCurrentIndex(index); // the row under the pointer, as file managers do
    const std::optional<bd::TaskRow> row = index.isValid() ? m_model->rowAt(index.row()) : std::nullopt;
    const TaskState state = row ? row->state : TaskState::Pending;
    const QList<TaskRowAction> actions = {
        {tr("Replay…"), state == TaskState::Dead, [this] { act(int(TaskAction::Replay)); }},
        {tr("Reprioritise…"), state == TaskState::Pending, [this] { act(int(TaskAction::Reprioritise)); }},
        {tr("Cancel…"), state == TaskState::Pending, [this] { act(int(TaskAction::Cancel)); }},
    };
    return taskRowMenu(this, actions, row, m_detail, [this](qint64 jobId) { Q_EMIT showJobRequested(jobId); });
}

void TasksPage::setJobs(const QList<JobInfo> &jobs)
{
    m_job->setJobs(jobs);
    for (const bd::JobInfo &job : jobs) {
        if (m_fieldsOfJob.contains(job.id))
            continue;
        QStringList fields;
        const QString schema = job.spec.settings.value(settingkeys::outputSchema).toString();
        QString error;
        if (const auto parsed = ingest::OutputSchema::parse(schema.toUtf8(), {}, &error))
            fields = parsed->fieldNames();
        m_fieldsOfJob.insert(job.id, fields);
    }
}

void TasksPage::showJob(qint64 jobId, int state)
{
    {
        const QSignalBlocker a(m_job), b(m_state);
        m_job->setCurrentJobId(jobId);
        m_state->setCurrentIndex(qMax(0, m_state->findData(state)));
    }
    applyFilter();
}

void TasksPage::showTasks(const bd::TaskFilter &filter, const bd::TaskOrder &order)
{
    {
        const QSignalBlocker a(m_job), b(m_state), c(m_priority), d(m_errorClass), e(m_text);
        m_job->setCurrentJobId(filter.jobId);
        m_state->setCurrentIndex(qMax(0, m_state->findData(filter.state)));
        m_priority->setCurrentIndex(qMax(0, m_priority->findData(filter.priority)));
        m_errorClass->setCurrentIndex(qMax(0, m_errorClass->findData(filter.errorClass)));
        m_text->clear();
    }
    m_textDebounce->stop();
    // The header tells the model (the view sorts through it), and shows the indicator.
    m_view->horizontalHeader()->setSortIndicator(TaskTableModel::columnOf(order.key),
                                                 order.descending ? Qt::DescendingOrder
                                                                  : Qt::AscendingOrder);
    applyFilter();
}

bd::TaskFilter TasksPage::currentFilter() const
{
    bd::TaskFilter filter;
    filter.jobId = m_job->currentJobId();
    filter.state = m_state->currentData().toInt();
    filter.priority = m_priority->currentData().toInt();
    filter.errorClass = m_errorClass->currentData().toString();
    filter.text = m_text->text().trimmed();
    // "label = negative" on a job with output fields filters on that field.
    const QString text = filter.text;
    const qsizetype equals = text.indexOf(u'=');
    const QStringList fields = m_fieldsOfJob.value(filter.jobId);
    if (equals > 0 && fields.contains(text.left(equals).trimmed())) {
        filter.field = text.left(equals).trimmed();
        filter.fieldValue = text.mid(equals + 1).trimmed();
        filter.text.clear();
    }
    return filter;
}

void TasksPage::applyFilter()
{
    const bd::TaskFilter filter = currentFilter();
    if (m_model->hasCount() && filter == m_model->filter() &&
        m_model->fieldColumns() == m_fieldsOfJob.value(filter.jobId))
        return;
    m_model->setFilter(filter, m_fieldsOfJob.value(filter.jobId));
    m_detail->showTask(0);
    updateCountLabel();
}

void TasksPage::updateCountLabel()
{
    m_count->setText(m_model->hasCount() ? countOf(m_model->rowCount(), "task", "tasks")
                                         : tr("counting…"));
}

void TasksPage::updateSortNote()
{
    // Sorting every job has no index to read (one over the whole table would tax every
    // job's drain): each page reads every task's key, about 2 s per million tasks.
    const QString key =
        m_model->headerData(m_model->sortColumn(), Qt::Horizontal, Qt::DisplayRole).toString();
    QString note;
    if (m_model->isSortPreparing()) {
        // About 1 s per million tasks, under SQLite's write lock: the drain waits for it.
        const qint64 tasks = m_model->rowCount();
        const QString takes =
            tasks < 1'000'000 ? tr("under a second")
                              : tr("about %1").arg(formatDuration((tasks + 999'999) / 1'000'000));
        // The cap this window's engine keeps, as configured (not the compiled default).
        const int kept = m_engine->maxSortIndexes();
        const QString keeps =
            kept > 0 ? tr("the %1 most recently used sort indexes are kept").arg(formatCount(kept))
                     : tr("every sort index is kept");
        note = tr("Preparing the sort by %1… (an index over this job's %2 tasks: %3, while "
                  "jobs running on an SQLite database wait for it; %4). Tasks show in task "
                  "order meanwhile.")
                   .arg(key.toLower(), formatCount(tasks), takes, keeps);
    } else if (m_model->filter().jobId == 0 && !m_model->order().isIdOrder() &&
               m_model->rowCount() >= slowSortTasks()) {
        note = tr("Sorted over every job: each page reads all %1 tasks' %2 (about 2 s a page "
                  "per million tasks). Choose a job for fast sorted pages.")
                   .arg(formatCount(m_model->rowCount()), key.toLower());
    }
    m_sortNote->setText(note);
    m_sortNote->setVisible(!note.isEmpty());
}

qint64 TasksPage::slowSortTasks() const
{
    const qint64 configured = m_engine->sortIndexMinTasks();
    return configured > 0 ? configured : bd::kSortIndexMinTasks;
}

void TasksPage::handleCurrentChanged()
{
    const QModelIndex current = m_view->currentIndex();
    if (!current.isValid())
        return;
    const QVariant id = m_model->data(m_model->index(current.row(), 0), TaskTableModel::TaskIdRole);
    m_detailWaiting = !id.isValid();
    if (m_detailWaiting) {
        m_detail->showPlaceholder(tr("Loading…"));
        return;
    }
    m_detail->showTask(id.toLongLong());
}

void TasksPage::act(int actionValue)
{
    const auto action = static_cast<TaskAction>(actionValue);
    QList<int> rows;
    for (const QModelIndex &index : m_view->selectionModel()->selectedRows())
        rows.append(index.row());
    int missing = 0;
    const QList<qint64> ids = m_model->taskIds(rows, &missing);
    const QString verb = action == TaskAction::Replay         ? tr("Replay")
                         : action == TaskAction::Reprioritise ? tr("Reprioritise")
                                                                      : tr("Cancel");
    QMessageBox box(QMessageBox::Question, verb,
                    tr("%1 which tasks? Replay acts on dead tasks, reprioritise and cancel on "
                       "pending ones; others are left as they are.").arg(verb),
                    QMessageBox::NoButton, this);
    QPushButton *selection = ids.isEmpty() || missing > 0
                                 ? nullptr
                                 : box.addButton(tr("The %1 selected").arg(formatCount(ids.size())),
                                                 QMessageBox::AcceptRole);
    QPushButton *matching = box.addButton(
        tr("All %1 matching the filter").arg(formatCount(m_model->rowCount())), QMessageBox::AcceptRole);
    box.addButton(QMessageBox::Cancel);
    box.exec();
    if (box.clickedButton() != selection && box.clickedButton() != matching)
        return;
    int argument = 0;
    if (action == TaskAction::Reprioritise) {
        bool ok = false;
        const QStringList items = priorityLabels();
        const QString choice = QInputDialog::getItem(this, verb, tr("New priority:"), items, 1, false, &ok);
        if (!ok)
            return;
        argument = int(items.indexOf(choice)) + 1;
    }
    if (box.clickedButton() == selection && selection)
        m_engine->actOnTasks(action, ids, argument);
    else
        m_engine->actOnMatching(action, currentFilter(), argument);
}

void TasksPage::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    if (!m_model->hasCount())
        applyFilter();
    else
        m_model->refresh();
    m_refresh->start();
}

void TasksPage::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_refresh->stop();
}

} // namespace bd::ui
