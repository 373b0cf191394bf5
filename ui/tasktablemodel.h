#pragma once


#include "api/tasks.h"

#include <QAbstractTableModel>
#include <QHash>
#include <QList>
#include <QSet>

#include <optional>

namespace bd {
class Engine;
}

namespace bd::ui {

// Tasks matching a filter, as a table that is as long as the result (the count comes
// first) but holds only the pages that were looked at: data() for a row whose page is not
// loaded answers a placeholder and asks the engine's reader thread for that page; the page
// arrives by a queued signal and repaints its rows. Pages are keyed by row index; a page
// after a loaded one is asked for by keyset (the id of the row before it), so scrolling a
// million rows reads page by page and never the whole table. At most maxCachedPages pages
// stay in memory (least recently used go first). refresh() recounts and marks pages stale:
// a stale page keeps showing until its rows are painted again, then it is read anew.
// sort() orders by a numeric column (id, job, row, state, priority, attempts, tokens,
// cost, latency): the database sorts and pages as before, keyset after the row before.
// While the engine builds a big job's sort index for the key, the pages come in task
// order (sortPreparing() says so); once it is built every page is read anew, sorted.
class TaskTableModel final : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column
    {
        IdColumn,
        JobColumn,
        RowColumn,
        StateColumn,
        PriorityColumn,
        AttemptsColumn,
        ErrorColumn,
        TokensColumn,
        CostColumn,
        LatencyColumn,
        InputColumn,
        OutputColumn,
        ColumnCount
    };
    enum Role
    {
        TaskIdRole = Qt::UserRole + 1,
        JobIdRole,
        LoadedRole,
    };
    static constexpr int kPageSize = 200;
    static constexpr int kRetryFailedPageMs = 500;

    explicit TaskTableModel(Engine *engine, QObject *parent = nullptr);

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;
    // Other columns (texts, answer fields) are not sorted: nothing changes.
    void sort(int column, Qt::SortOrder order = Qt::AscendingOrder) override;
    static bool isSortable(int column);
    // The column showing a sort key.
    static int columnOf(bd::TaskSortKey key);
    const bd::TaskOrder &order() const { return m_order; }
    int sortColumn() const;
    // The pages shown are in task order while the job's sort index is built.
    bool isSortPreparing() const { return m_sortPreparing; }
    Qt::SortOrder sortOrder() const { return m_order.descending ? Qt::DescendingOrder : Qt::AscendingOrder; }

    // Structured answers: one column per output field after the fixed ones (set with the
    // filter of a job that has fields; empty for none).
    void setFilter(const bd::TaskFilter &filter, const QStringList &fieldColumns = {});
    const QStringList &fieldColumns() const { return m_fieldColumns; }
    const bd::TaskFilter &filter() const { return m_filter; }
    void refresh();
    bool hasCount() const { return m_hasCount; }
    std::optional<bd::TaskRow> rowAt(int row) const;
    // Ids of the given rows that are loaded; rows not loaded are counted in *missing.
    QList<qint64> taskIds(const QList<int> &rows, int *missing = nullptr) const;

    void setMaxCachedPages(int pages) { m_maxPages = qMax(4, pages); }
    // Figures for tests and the benchmark.
    int pageRequests() const { return m_pageRequests; }
    int cachedPages() const { return int(m_pages.size()); }
    qint64 cachedRows() const;

Q_SIGNALS:
    void countChanged(qint64 count);
    void pageLoaded(qint64 firstRow, int rows);
    void sortPreparingChanged(bool preparing);

private:
    struct Page
    {
        QList<bd::TaskRow> rows;
        QList<QStringList> fields; // per row: the field columns' texts (parsed once)
        quint64 generation = 0;
        mutable quint64 lastUse = 0;
    };
    void requestCount();
    void handleCount(quint64 ticket, qint64 count);
    void handleReadFailed(quint64 ticket);
    void handlePage(quint64 ticket, qint64 offset, const QList<bd::TaskRow> &rows);
    void want(qint64 page) const;
    void flushRequests();
    void evict();
    void dropPages();
    void setSortPreparing(bool preparing);
    void handleSortPreparing(quint64 ticket);
    void handleSortReady(qint64 jobId, bd::TaskSortKey key);
    void reorder(const bd::TaskOrder &order);

    Engine *m_engine;
    bd::TaskFilter m_filter;
    bd::TaskOrder m_order;
    QStringList m_fieldColumns;
    qint64 m_count = 0;
    bool m_hasCount = false;
    bool m_sortPreparing = false;
    // This model's requests not answered yet, by the engine-wide tickets they were asked
    // with: another view's answers (same signals) and those to an old filter are not ours.
    QSet<quint64> m_countTickets;
    mutable QHash<quint64, qint64> m_pageTickets; // ticket -> page
    quint64 m_generation = 0;
    int m_maxPages = 64;
    int m_pageRequests = 0;
    mutable QHash<qint64, Page> m_pages;
    mutable QHash<qint64, quint64> m_inFlight; // page -> generation asked for
    mutable QList<qint64> m_wanted;            // newest last
    mutable bool m_flushScheduled = false;
    mutable quint64 m_useClock = 0;
};

} // namespace bd::ui
