#include "deadletterspage.h"

#include "api/engine.h"
#include "format.h"
#include "jobcombo.h"
#include "replaydialog.h"
#include "taskdetailview.h"
#include "tasktablemodel.h"
#include "tasktableview.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QSet>
#include <QShortcut>
#include <QSplitter>
#include <QTableView>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace bd::ui {

using namespace Qt::StringLiterals;

DeadLettersPage::DeadLettersPage(Engine *engine, QWidget *parent)
    : QWidget(parent)
    , m_engine(engine)
{
    auto *layout = new QVBoxLayout(this);
    auto *top = new QHBoxLayout;
    m_job = new JobCombo(this);
    top->addWidget(m_job);
    m_text = new QLineEdit(this);
    m_text->setObjectName(u"deadSearch"_s);
    m_text->setPlaceholderText(tr("Search input and errors…"));
    m_text->setClearButtonEnabled(true);
    top->addWidget(m_text, 1);
    m_summary = new QLabel(this);
    m_summary->setObjectName(u"deadSummary"_s);
    top->addWidget(m_summary, 1);
    layout->addLayout(top);
    // The actions on a row of their own, as on the Tasks page: beside the filters they
    // squeezed the search field to "S…" at 1024 px.
    m_text->setMinimumWidth(m_text->fontMetrics().horizontalAdvance(m_text->placeholderText()) +
                            40);
    auto *actions = new QHBoxLayout;
    m_replaySelection = new QPushButton(tr("Replay selected"), this);
    m_replayClass = new QPushButton(tr("Replay class…"), this);
    m_replayJob = new QPushButton(tr("Replay all…"), this);
    actions->addWidget(m_replaySelection);
    actions->addWidget(m_replayClass);
    actions->addWidget(m_replayJob);
    m_replayEdited = new QPushButton(tr("Replay with edited template…"), this);
    m_replayEdited->setObjectName(u"replayEdited"_s);
    actions->addWidget(m_replayEdited);
    actions->addStretch(1);
    layout->addLayout(actions);
    m_result = new QLabel(this);
    m_result->setObjectName(u"replayResult"_s);
    m_result->setWordWrap(true);
    m_result->hide();
    layout->addWidget(m_result);

    auto *splitter = new QSplitter(Qt::Horizontal, this);
    m_classes = new QTreeWidget(splitter);
    m_classes->setObjectName(u"deadClasses"_s);
    m_classes->setRootIsDecorated(false);
    m_classes->setHeaderLabels({tr("Error class"), tr("Tasks"), tr("Example message")});
    m_classes->header()->setStretchLastSection(true);
    m_classes->setColumnWidth(0, m_classes->fontMetrics().horizontalAdvance(u"invalid_request__"_s));
    m_classes->setColumnWidth(1, m_classes->fontMetrics().horizontalAdvance(u"0000000__"_s));

    auto *right = new QSplitter(Qt::Vertical, splitter);
    m_model = new TaskTableModel(engine, this);
    m_view = new QTableView(right);
    m_view->setModel(m_model);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setAlternatingRowColors(true);
    m_view->setWordWrap(false);
    m_view->verticalHeader()->hide();
    m_view->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_view->verticalHeader()->setDefaultSectionSize(m_view->fontMetrics().height() + 8);
    m_view->horizontalHeader()->setStretchLastSection(true);
    for (int column : {TaskTableModel::TokensColumn, TaskTableModel::CostColumn,
                       TaskTableModel::StateColumn, TaskTableModel::PriorityColumn})
        m_view->hideColumn(column);
    enableDatabaseSorting(m_view, m_model);
    const int digit = m_view->fontMetrics().horizontalAdvance(u'0');
    m_view->setColumnWidth(TaskTableModel::IdColumn, digit * 9);
    m_view->setColumnWidth(TaskTableModel::JobColumn, digit * 5);
    m_view->setColumnWidth(TaskTableModel::RowColumn, digit * 8);
    m_view->setColumnWidth(TaskTableModel::AttemptsColumn, digit * 10);
    m_view->setColumnWidth(TaskTableModel::ErrorColumn, digit * 16);
    m_view->setColumnWidth(TaskTableModel::InputColumn, digit * 36);
    m_detail = new TaskDetailView(engine, right);
    right->addWidget(m_view);
    right->addWidget(m_detail);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 2);
    splitter->addWidget(m_classes);
    splitter->addWidget(right);
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 5);
    layout->addWidget(splitter, 1);

    m_textDebounce = new QTimer(this);
    m_textDebounce->setSingleShot(true);
    m_textDebounce->setInterval(300);
    connect(m_text, &QLineEdit::textChanged, m_textDebounce, qOverload<>(&QTimer::start));
    connect(m_textDebounce, &QTimer::timeout, this, &DeadLettersPage::applyFilter);
    auto *find = new QShortcut(QKeySequence::Find, this);
    find->setContext(Qt::WidgetWithChildrenShortcut);
    connect(find, &QShortcut::activated, this, [this] {
        m_text->setFocus(Qt::ShortcutFocusReason);
        m_text->selectAll();
    });
    m_view->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(m_view, &QWidget::customContextMenuRequested, this, [this](const QPoint &pos) {
        QMenu *menu = rowMenu(pos);
        menu->setAttribute(Qt::WA_DeleteOnClose);
        menu->popup(m_view->viewport()->mapToGlobal(pos));
    });

    m_refresh = new QTimer(this);
    m_refresh->setInterval(3000);
    connect(m_refresh, &QTimer::timeout, this, &DeadLettersPage::refresh);
    connect(m_job, &JobCombo::jobChanged, this, [this] {
        applyFilter();
        refresh();
    });
    connect(m_classes, &QTreeWidget::currentItemChanged, this, &DeadLettersPage::applyFilter);
    connect(m_engine, &Engine::deadSummaryReady, this, &DeadLettersPage::handleSummary);
    connect(m_engine, &Engine::tasksActedOn, this, &DeadLettersPage::refresh);
    connect(m_model, &TaskTableModel::pageLoaded, this, [this](qint64 firstRow) {
        if (firstRow == 0 && !m_view->currentIndex().isValid() && m_model->rowCount() > 0)
            m_view->setCurrentIndex(m_model->index(0, 0));
    });
    connect(m_replaySelection, &QPushButton::clicked, this, &DeadLettersPage::replaySelection);
    connect(m_replayClass, &QPushButton::clicked, this, &DeadLettersPage::replayClass);
    connect(m_replayJob, &QPushButton::clicked, this, &DeadLettersPage::replayJob);
    connect(m_replayEdited, &QPushButton::clicked, this, &DeadLettersPage::openReplayDialog);
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &DeadLettersPage::updateReplayEdited);
    connect(m_model, &TaskTableModel::pageLoaded, this, &DeadLettersPage::updateReplayEdited);
    connect(m_model, &TaskTableModel::countChanged, this, &DeadLettersPage::updateSummary);
    connect(m_model, &QAbstractItemModel::modelReset, this, &DeadLettersPage::updateSummary);
    connect(m_model, &QAbstractItemModel::modelReset, this, &DeadLettersPage::updateReplayEdited);
    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this] {
        const QModelIndex current = m_view->currentIndex();
        const QVariant id = m_model->data(m_model->index(current.row(), 0), TaskTableModel::TaskIdRole);
        if (!id.isValid())
            return;
        m_detail->showTask(id.toLongLong());
    });
    applyFilter();
}

void DeadLettersPage::updateSummary()
{
    // A search narrows the table, not the classes: say how many of them match.
    const QString search = m_model->filter().text;
    m_summary->setText(search.isEmpty() || !m_model->hasCount()
                           ? m_classSummary
                           : tr("%1 · %2 match “%3”").arg(m_classSummary, formatCount(m_model->rowCount()), search));
}

void DeadLettersPage::setJobs(const QList<JobInfo> &jobs)
{
    m_allJobIds.clear();
    for (const JobInfo &job : jobs)
        m_allJobIds.append(job.id);
    m_jobs = jobs;
    m_job->setJobs(jobs);
    updateReplayEdited();
}

QString DeadLettersPage::currentClass() const
{
    const QTreeWidgetItem *item = m_classes->currentItem();
    return item ? item->data(0, Qt::UserRole).toString() : QString();
}

void DeadLettersPage::applyFilter()
{
    bd::TaskFilter filter;
    filter.jobId = m_job->currentJobId();
    filter.state = int(TaskState::Dead);
    filter.errorClass = currentClass();
    filter.text = m_text->text().trimmed();
    if (!(m_model->hasCount() && filter == m_model->filter()))
        m_model->setFilter(filter);
    m_replayClass->setEnabled(!filter.errorClass.isEmpty());
    m_replayJob->setText(filter.jobId ? tr("Replay all of job %1…").arg(filter.jobId)
                                      : tr("Replay all…"));
    updateReplayEdited();
}

void DeadLettersPage::refresh()
{
    if (m_summaryTicket) // a summary for another job (or an older one) is no use now
        m_engine->discardRequests({m_summaryTicket});
    m_summaryTicket = m_engine->newTicket();
    m_engine->requestDeadSummary(m_summaryTicket, m_job->currentJobId());
    m_model->refresh();
}

void DeadLettersPage::handleSummary(quint64 ticket, qint64 jobId,
                                    const QList<bd::DeadClassCount> &classes)
{
    if (ticket != m_summaryTicket || jobId != m_job->currentJobId())
        return;
    m_summaryTicket = 0;
    const QString current = currentClass();
    const QSignalBlocker blocker(m_classes);
    m_classes->clear();
    qint64 total = 0;
    for (const bd::DeadClassCount &entry : classes)
        total += entry.count;
    auto *all = new QTreeWidgetItem(m_classes, {tr("All classes"), formatCount(total), QString()});
    all->setData(0, Qt::UserRole, QString());
    all->setTextAlignment(1, Qt::AlignRight | Qt::AlignVCenter);
    QTreeWidgetItem *select = all;
    for (const bd::DeadClassCount &entry : classes) {
        auto *item = new QTreeWidgetItem(m_classes, {entry.errorClass.isEmpty() ? tr("(none)") : entry.errorClass,
                                                     formatCount(entry.count),
                                                     entry.sampleMessage.simplified().left(200)});
        item->setData(0, Qt::UserRole, entry.errorClass);
        item->setData(1, Qt::UserRole, entry.count);
        item->setTextAlignment(1, Qt::AlignRight | Qt::AlignVCenter);
        item->setForeground(0, stateColor(TaskState::Dead));
        item->setToolTip(2, entry.sampleMessage.left(1000));
        if (entry.errorClass == current)
            select = item;
    }
    m_classes->setCurrentItem(select);
    m_classSummary = total ? tr("%1 in %2").arg(countOf(total, "dead task", "dead tasks"),
                                                countOf(classes.size(), "class", "classes"))
                           : tr("No dead letters.");
    updateSummary();
    m_replayJob->setEnabled(total > 0);
    m_deadTotal = total;
    updateReplayEdited();
}

bool DeadLettersPage::confirm(const QString &text)
{
    if (!m_confirm)
        return true;
    return QMessageBox::question(this, tr("Replay dead letters"), text,
                                 QMessageBox::Yes | QMessageBox::Cancel, QMessageBox::Cancel)
           == QMessageBox::Yes;
}

QList<qint64> DeadLettersPage::affectedJobs() const
{
    const qint64 job = m_job->currentJobId();
    return job ? QList<qint64>{job} : m_allJobIds;
}

QList<qint64> DeadLettersPage::selectedTaskIds(QList<qint64> *jobIds) const
{
    QList<qint64> ids;
    QSet<qint64> jobs;
    for (const QModelIndex &index : m_view->selectionModel()->selectedRows()) {
        if (const auto task = m_model->rowAt(index.row())) {
            ids.append(task->id);
            jobs.insert(task->jobId);
        }
    }
    if (jobIds)
        *jobIds = jobs.values();
    return ids;
}

void DeadLettersPage::replaySelection()
{
    QList<qint64> jobs;
    const QList<qint64> ids = selectedTaskIds(&jobs);
    if (ids.isEmpty())
        return;
    if (ids.size() > 1 && !confirm(tr("Put the %1 selected tasks back in the queue?").arg(formatCount(ids.size()))))
        return;
    m_engine->actOnTasks(TaskAction::Replay, ids);
    Q_EMIT replayed(jobs);
}

void DeadLettersPage::replaySelectionAt(int priority)
{
    QList<qint64> jobs;
    const QList<qint64> ids = selectedTaskIds(&jobs);
    if (ids.isEmpty() || priority < 1 || priority > 3)
        return;
    // In this order on the engine thread: pending again, then at the new priority.
    m_engine->actOnTasks(TaskAction::Replay, ids);
    m_engine->actOnTasks(TaskAction::Reprioritise, ids, priority);
    Q_EMIT replayed(jobs);
}

QMenu *DeadLettersPage::rowMenu(const QPoint &viewPos)
{
    const QModelIndex index = m_view->indexAt(viewPos);
    if (index.isValid() && !m_view->selectionModel()->isRowSelected(index.row(), QModelIndex()))
        m_view->setCurrentIndex(index); // the row under the pointer, as file managers do
    const std::optional<bd::TaskRow> row = index.isValid() ? m_model->rowAt(index.row()) : std::nullopt;
    const int selected = int(m_view->selectionModel()->selectedRows().size());
    const QString replayText = selected > 1 ? tr("Replay the %1 selected").arg(formatCount(selected))
                                            : tr("Replay");
    const QList<TaskRowAction> actions = {
        {replayText, true, [this] { replaySelection(); }},
        {tr("Replay at priority…"), true, [this] {
             bool ok = false;
             const QStringList items = priorityLabels();
             const QString choice = QInputDialog::getItem(this, tr("Replay at priority"),
                                                          tr("Pending again at priority:"), items, 0, false, &ok);
             if (ok)
                 replaySelectionAt(int(items.indexOf(choice)) + 1);
         }},
    };
    return taskRowMenu(this, actions, row, m_detail, [this](qint64 jobId) { Q_EMIT showJobRequested(jobId); });
}

void DeadLettersPage::replayClass()
{
    const QString errorClass = currentClass();
    if (errorClass.isEmpty())
        return;
    bd::TaskFilter filter;
    filter.jobId = m_job->currentJobId();
    filter.state = int(TaskState::Dead);
    filter.errorClass = errorClass;
    if (!confirm(tr("Put every dead task of class %1 (%2) back in the queue?")
                     .arg(errorClass, filter.jobId ? tr("job %1").arg(filter.jobId) : tr("all jobs"))))
        return;
    m_engine->actOnMatching(TaskAction::Replay, filter);
    Q_EMIT replayed(affectedJobs());
}

void DeadLettersPage::replayJob()
{
    bd::TaskFilter filter;
    filter.jobId = m_job->currentJobId();
    filter.state = int(TaskState::Dead);
    if (!confirm(filter.jobId ? tr("Put every dead task of job %1 back in the queue?").arg(filter.jobId)
                              : tr("Put every dead task of every job back in the queue?")))
        return;
    m_engine->actOnMatching(TaskAction::Replay, filter);
    Q_EMIT replayed(affectedJobs());
}

qint64 DeadLettersPage::replayJobId() const
{
    if (const qint64 job = m_job->currentJobId())
        return job;
    const QModelIndex current = m_view->currentIndex();
    const auto task = current.isValid() ? m_model->rowAt(current.row()) : std::nullopt;
    return task ? task->jobId : 0;
}

void DeadLettersPage::updateReplayEdited()
{
    const qint64 jobId = replayJobId();
    m_replayEdited->setEnabled(jobId > 0 && m_model->rowCount() > 0);
    // Nothing selected (or not loaded yet): nothing to replay.
    m_replaySelection->setEnabled(!selectedTaskIds().isEmpty());
    m_replayEdited->setToolTip(jobId > 0 ? tr("Replay dead tasks of job %1 with an edited template or system prompt").arg(jobId)
                                         : tr("Choose a job (or a task of one): an edited template belongs to one job"));
}

QString DeadLettersPage::lastResultText() const
{
    return m_result->text();
}

ReplayDialog *DeadLettersPage::openReplayDialog()
{
    const qint64 jobId = replayJobId();
    const auto job = std::find_if(m_jobs.cbegin(), m_jobs.cend(), [jobId](const JobInfo &j) { return j.id == jobId; });
    if (job == m_jobs.cend())
        return nullptr;
    ReplayDialog::Options options;
    options.confirmBulk = m_confirm;
    for (const QModelIndex &index : m_view->selectionModel()->selectedRows()) {
        const auto task = m_model->rowAt(index.row());
        if (task && task->jobId == jobId)
            options.selectedTaskIds.append(task->id);
    }
    // Counts are the page's when it shows this job; across all jobs they would mislead.
    const bool sameJob = m_job->currentJobId() == jobId;
    options.errorClass = currentClass();
    if (sameJob && m_classes->currentItem())
        options.classCount = m_classes->currentItem()->data(1, Qt::UserRole).toLongLong();
    options.deadCount = sameJob ? m_deadTotal : -1;
    auto *dialog = new ReplayDialog(m_engine, *job, options, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &ReplayDialog::replayRequested, this, [this](qint64 id) { Q_EMIT replayed({id}); });
    connect(dialog, &ReplayDialog::replayed, this, [this](qint64 id, int changed, int skipped, bool edited) {
        const QString tasks = countOf(changed, "task", "tasks");
        QString text = edited ? tr("Replayed %1 of job %2 with the edited template.").arg(tasks).arg(id)
                              : tr("Replayed %1 of job %2.").arg(tasks).arg(id);
        if (skipped > 0)
            text += u' ' + tr("%1 skipped: no longer dead-lettered.").arg(formatCount(skipped));
        m_result->setText(text);
        m_result->show();
        refresh();
    });
    dialog->open();
    return dialog;
}

void DeadLettersPage::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    refresh();
    m_refresh->start();
}

void DeadLettersPage::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_refresh->stop();
}

} // namespace bd::ui
