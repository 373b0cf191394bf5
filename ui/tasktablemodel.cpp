#include "tasktablemodel.h"

#include "api/engine.h"
#include "format.h"
#include "ingest/outputschema.h"

#include <algorithm>
#include <QJsonDocument>
#include <QCoreApplication>
#include <QJsonObject>
#include <QLocale>
#include <QTimer>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {
constexpr int kMaxInFlight = 4;
constexpr int kMaxWanted = 8;

std::optional<TaskSortKey> sortKeyOf(int column)
{
    switch (column) {
    case TaskTableModel::IdColumn: return TaskSortKey::Id;
    case TaskTableModel::JobColumn: return TaskSortKey::Job;
    case TaskTableModel::RowColumn: return TaskSortKey::Row;
    case TaskTableModel::StateColumn: return TaskSortKey::State;
    case TaskTableModel::PriorityColumn: return TaskSortKey::Priority;
    case TaskTableModel::AttemptsColumn: return TaskSortKey::Attempts;
    case TaskTableModel::TokensColumn: return TaskSortKey::Tokens;
    case TaskTableModel::CostColumn: return TaskSortKey::Cost;
    case TaskTableModel::LatencyColumn: return TaskSortKey::Latency;
    default: return std::nullopt;
    }
}

QString formatLatency(qint64 ms)
{
    if (ms < 1000)
        return QCoreApplication::translate("bd::ui", "%1 ms").arg(ms);
    if (ms < 60'000)
        return QCoreApplication::translate("bd::ui", "%1 s").arg(QLocale().toString(ms / 1000.0, 'f', 1));
    return formatDuration(ms / 1000);
}
} // namespace

TaskTableModel::TaskTableModel(Engine *engine, QObject *parent)
    : QAbstractTableModel(parent)
    , m_engine(engine)
{
    connect(m_engine, &Engine::taskCountReady, this, &TaskTableModel::handleCount);
    connect(m_engine, &Engine::taskPageReady, this, &TaskTableModel::handlePage);
    connect(m_engine, &Engine::readFailed, this, &TaskTableModel::handleReadFailed);
    connect(m_engine, &Engine::taskSortPreparing, this, &TaskTableModel::handleSortPreparing);
    connect(m_engine, &Engine::taskSortReady, this, &TaskTableModel::handleSortReady);
}

int TaskTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_count);
}

int TaskTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount + int(m_fieldColumns.size());
}

qint64 TaskTableModel::cachedRows() const
{
    qint64 n = 0;
    for (const Page &page : std::as_const(m_pages))
        n += page.rows.size();
    return n;
}

std::optional<bd::TaskRow> TaskTableModel::rowAt(int row) const
{
    const auto it = m_pages.constFind(row / kPageSize);
    if (it == m_pages.constEnd() || row % kPageSize >= it->rows.size())
        return std::nullopt;
    return it->rows.at(row % kPageSize);
}

QList<qint64> TaskTableModel::taskIds(const QList<int> &rows, int *missing) const
{
    QList<qint64> ids;
    int notLoaded = 0;
    for (int row : rows) {
        if (const auto task = rowAt(row))
            ids.append(task->id);
        else
            ++notLoaded;
    }
    if (missing)
        *missing = notLoaded;
    return ids;
}

QVariant TaskTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_count)
        return {};
    const qint64 pageNo = index.row() / kPageSize;
    const auto it = m_pages.constFind(pageNo);
    const bool loaded = it != m_pages.constEnd() && index.row() % kPageSize < it->rows.size();
    if (role == LoadedRole)
        return loaded;
    if (!loaded || it->generation < m_generation)
        want(pageNo);
    if (!loaded) {
        if (role == Qt::DisplayRole && index.column() == IdColumn)
            return u"…"_s;
        return {};
    }
    it->lastUse = ++m_useClock;
    const bd::TaskRow &task = it->rows.at(index.row() % kPageSize);
    if (index.column() >= ColumnCount) { // a structured answer's field
        if (role == Qt::DisplayRole || role == Qt::ToolTipRole)
            return it->fields.at(index.row() % kPageSize).value(index.column() - ColumnCount);
        return {};
    }
    switch (role) {
    case TaskIdRole: return task.id;
    case JobIdRole: return task.jobId;
    case Qt::DisplayRole:
        switch (index.column()) {
        case IdColumn: return task.id;
        case JobColumn: return task.jobId;
        case RowColumn: return task.rowNumber;
        case StateColumn: return taskStateLabel(task.state);
        case PriorityColumn: return priorityShortLabel(task.priority);
        case AttemptsColumn: return task.attempts;
        case ErrorColumn: return task.errorClass;
        case TokensColumn:
            return task.inputTokens || task.outputTokens
                       ? u"%1 / %2"_s.arg(formatCount(task.inputTokens), formatCount(task.outputTokens))
                       : QString();
        case CostColumn:
            return task.state == TaskState::Completed ? formatUsd(task.costUsd) : QString();
        case LatencyColumn: return task.latencyMs >= 0 ? formatLatency(task.latencyMs) : QString();
        case InputColumn: return task.inputPreview;
        case OutputColumn: return task.outputPreview;
        }
        break;
    case Qt::ForegroundRole:
        if (index.column() == StateColumn)
            return stateColor(task.state);
        if (index.column() == ErrorColumn || (index.column() == OutputColumn && task.state == TaskState::Dead))
            return stateColor(TaskState::Dead);
        break;
    case Qt::TextAlignmentRole:
        switch (index.column()) {
        case IdColumn:
        case JobColumn:
        case RowColumn:
        case AttemptsColumn:
        case TokensColumn:
        case CostColumn:
        case LatencyColumn: return int(Qt::AlignRight | Qt::AlignVCenter);
        default: return int(Qt::AlignLeft | Qt::AlignVCenter);
        }
    case Qt::ToolTipRole:
        if (index.column() == PriorityColumn)
            return priorityLabel(task.priority);
        if (index.column() == InputColumn)
            return task.inputPreview;
        if (index.column() == OutputColumn)
            return task.outputPreview;
        break;
    }
    return {};
}

QVariant TaskTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::ToolTipRole && section == TokensColumn)
        return tr("Input / output tokens. Click to sort all matching tasks by their sum "
                  "(again: the other way)");
    if (role == Qt::ToolTipRole && isSortable(section))
        return tr("Click to sort all matching tasks by this column (again: the other way)");
    if (role != Qt::DisplayRole)
        return {};
    if (section >= ColumnCount)
        return m_fieldColumns.value(section - ColumnCount);
    static const char *const titles[] = {"Task",     "Job",      "Row",   "State",
                                         "Priority", "Attempts", "Error", "Tokens",
                                         "Cost",     "Latency",  "Input", "Output / error"};
    static_assert(std::size(titles) == ColumnCount);
    return tr(titles[section]);
}

bool TaskTableModel::isSortable(int column)
{
    return sortKeyOf(column).has_value();
}

int TaskTableModel::columnOf(bd::TaskSortKey key)
{
    for (int column = 0; column < ColumnCount; ++column) {
        if (sortKeyOf(column) == key)
            return column;
    }
    return IdColumn;
}

int TaskTableModel::sortColumn() const
{
    return columnOf(m_order.key);
}

void TaskTableModel::sort(int column, Qt::SortOrder order)
{
    const auto key = sortKeyOf(column);
    if (!key)
        return;
    const bd::TaskOrder wanted{*key, order == Qt::DescendingOrder};
    if (wanted == m_order)
        return;
    setSortPreparing(false);
    reorder(wanted);
}

void TaskTableModel::reorder(const bd::TaskOrder &order)
{
    // The same rows in another order: the count stands, every page is read anew.
    beginResetModel();
    dropPages();
    m_order = order;
    endResetModel();
    want(0);
}

void TaskTableModel::setSortPreparing(bool preparing)
{
    if (preparing == m_sortPreparing)
        return;
    m_sortPreparing = preparing;
    Q_EMIT sortPreparingChanged(preparing);
}

void TaskTableModel::handleSortPreparing(quint64 ticket)
{
    // Comes just before the page of that ticket.
    if (m_pageTickets.contains(ticket))
        setSortPreparing(true);
}

void TaskTableModel::handleSortReady(qint64 jobId, bd::TaskSortKey key)
{
    if (!m_sortPreparing || jobId != m_filter.jobId || key != m_order.key)
        return;
    setSortPreparing(false);
    // The pages in task order make way for sorted ones.
    reorder(m_order);
}

void TaskTableModel::dropPages()
{
    // Pages asked for before are of no use now: the reader drops them.
    m_engine->discardRequests(m_pageTickets.keys());
    m_pageTickets.clear();
    m_pages.clear();
    m_inFlight.clear();
    m_wanted.clear();
}

void TaskTableModel::setFilter(const bd::TaskFilter &filter, const QStringList &fieldColumns)
{
    // So are counts under the old filter.
    m_engine->discardRequests(m_countTickets.values());
    m_countTickets.clear();
    setSortPreparing(false);
    beginResetModel();
    dropPages();
    m_filter = filter;
    m_fieldColumns = fieldColumns;
    m_count = 0;
    m_hasCount = false;
    endResetModel();
    requestCount();
    // The first page travels with the count, so the first paint needs one round trip.
    want(0);
}

void TaskTableModel::refresh()
{
    ++m_generation;
    requestCount();
}

void TaskTableModel::requestCount()
{
    const quint64 ticket = m_engine->newTicket();
    m_countTickets.insert(ticket);
    m_engine->requestTaskCount(ticket, m_filter);
}

void TaskTableModel::handleCount(quint64 ticket, qint64 count)
{
    if (!m_countTickets.remove(ticket))
        return;
    count = qMin<qint64>(count, std::numeric_limits<int>::max());
    m_hasCount = true;
    if (count > m_count) {
        beginInsertRows({}, int(m_count), int(count - 1));
        m_count = count;
        endInsertRows();
    } else if (count < m_count) {
        beginRemoveRows({}, int(count), int(m_count - 1));
        m_count = count;
        const qint64 lastPage = count > 0 ? (count - 1) / kPageSize : -1;
        for (auto it = m_pages.begin(); it != m_pages.end();) {
            if (it.key() > lastPage)
                it = m_pages.erase(it);
            else
                ++it;
        }
        endRemoveRows();
    }
    Q_EMIT countChanged(m_count);
}

void TaskTableModel::want(qint64 page) const
{
    if (m_inFlight.contains(page) && m_inFlight.value(page) >= m_generation)
        return;
    m_wanted.removeOne(page);
    m_wanted.append(page);
    while (m_wanted.size() > kMaxWanted)
        m_wanted.removeFirst();
    if (!m_flushScheduled) {
        m_flushScheduled = true;
        // Coalesce everything one paint asks for into one round of requests.
        QTimer::singleShot(0, const_cast<TaskTableModel *>(this), &TaskTableModel::flushRequests);
    }
}

void TaskTableModel::flushRequests()
{
    m_flushScheduled = false;
    // Newest first: what the user looks at now beats what they scrolled past.
    while (!m_wanted.isEmpty() && m_inFlight.size() < kMaxInFlight) {
        const qint64 page = m_wanted.takeLast();
        if (m_inFlight.contains(page) && m_inFlight.value(page) >= m_generation)
            continue;
        const auto cached = m_pages.constFind(page);
        if (cached != m_pages.constEnd() && cached->generation >= m_generation
            && (cached->rows.size() == kPageSize || (page + 1) * kPageSize >= m_count))
            continue;
        qint64 afterId = -1;
        const auto previous = m_pages.constFind(page - 1);
        if (page > 0 && previous != m_pages.constEnd() && previous->rows.size() == kPageSize
            && previous->generation >= m_generation)
            afterId = previous->rows.constLast().id;
        m_inFlight.insert(page, m_generation);
        ++m_pageRequests;
        const quint64 ticket = m_engine->newTicket();
        m_pageTickets.insert(ticket, page);
        m_engine->requestTaskPage(ticket, m_filter, page * kPageSize, afterId, kPageSize, m_order);
    }
}

void TaskTableModel::handlePage(quint64 ticket, qint64 offset, const QList<bd::TaskRow> &rows)
{
    if (!m_pageTickets.remove(ticket))
        return;
    const qint64 pageNo = offset / kPageSize;
    const quint64 generation = m_inFlight.value(pageNo, m_generation);
    m_inFlight.remove(pageNo);
    Page &page = m_pages[pageNo];
    page.rows = rows;
    page.fields.clear();
    page.fields.reserve(rows.size());
    for (const bd::TaskRow &row : rows) {
        QStringList texts;
        if (!m_fieldColumns.isEmpty() && !row.answerJson.isEmpty()) {
            const QJsonObject answer = QJsonDocument::fromJson(row.answerJson.toUtf8()).object();
            for (const QString &field : std::as_const(m_fieldColumns))
                texts.append(ingest::fieldValueText(answer.value(field)));
        }
        page.fields.append(texts);
    }
    page.generation = generation;
    page.lastUse = ++m_useClock;
    evict();
    const qint64 first = offset;
    const qint64 last = qMin<qint64>(offset + rows.size(), m_count) - 1;
    if (last >= first)
        Q_EMIT dataChanged(index(int(first), 0), index(int(last), columnCount() - 1));
    Q_EMIT pageLoaded(offset, int(rows.size()));
    if (!m_wanted.isEmpty())
        flushRequests();
}

void TaskTableModel::handleReadFailed(quint64 ticket)
{
    m_countTickets.remove(ticket);
    const auto page = m_pageTickets.constFind(ticket);
    if (page == m_pageTickets.constEnd())
        return;
    const qint64 pageNo = page.value();
    m_inFlight.remove(pageNo);
    m_pageTickets.erase(page);
    // A failed read (the database busy or away for a moment) would leave its rows at "…"
    // until the user scrolled: a little later their rows are painted again, and a page
    // still in view is asked for again. Nothing is asked for a page scrolled away.
    QTimer::singleShot(kRetryFailedPageMs, this, [this, pageNo] {
        const qint64 first = pageNo * kPageSize;
        const qint64 last = qMin<qint64>(first + kPageSize, m_count) - 1;
        if (last >= first && !m_pages.contains(pageNo))
            Q_EMIT dataChanged(index(int(first), 0), index(int(last), columnCount() - 1));
    });
}

void TaskTableModel::evict()
{
    if (m_pages.size() <= m_maxPages)
        return;
    QList<std::pair<quint64, qint64>> byUse;
    byUse.reserve(m_pages.size());
    for (auto it = m_pages.cbegin(); it != m_pages.cend(); ++it)
        byUse.append({it->lastUse, it.key()});
    std::sort(byUse.begin(), byUse.end());
    for (qsizetype i = 0; i < byUse.size() - m_maxPages; ++i)
        m_pages.remove(byUse.at(i).second);
}

} // namespace bd::ui
