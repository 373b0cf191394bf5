#pragma once

#include "sqldialect.h"
#include "store/taskreader.h"

#include <memory>
#include <QHash>
#include <QSqlDatabase>

namespace bd::store {

// The task reader over QtSql, for both backends. The queries are the same but for what each
// planner needs told and each dialect spells its own way, all at the top of sqltaskreader.cpp:
// SQLite's index hints (unary +, INDEXED BY, a redundant state term) and its snapshot around
// a sorted page, the JSON field test, and the catalogue a sort index is looked up in.
// keepAlive holds the backend's connection object open while this lives.
class SqlTaskReader final : public TaskReader
{
public:
    SqlTaskReader(QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> keepAlive);
    ~SqlTaskReader() override;
    Q_DISABLE_COPY_MOVE(SqlTaskReader)

    QString errorString() const override { return m_error; }

    std::optional<qint64> count(const TaskFilter &filter) override;
    std::optional<QList<TaskRow>> page(const TaskFilter &filter, qint64 offset, qint64 afterId,
                                       int limit, const TaskOrder &order = {}) override;
    std::optional<TaskDetail> detail(qint64 taskId) override;
    QList<DeadClassCount> deadByClass(qint64 jobId) override;
    QList<qint64> ids(const TaskFilter &filter, qint64 limit) override;
    bool hasSortIndex(qint64 jobId, TaskSortKey key) override;
    Stats stats() const override { return m_stats; }

private:
    struct Dense
    {
        qint64 minId = 0;
        qint64 maxId = 0;
        qint64 count = -1;
    };
    // literalJob: the job as a literal, as a partial sort index needs it (a bound value
    // would leave PostgreSQL's planner a generic plan that cannot use it).
    QString where(const TaskFilter &filter, QVariantList *binds, bool literalJob = false) const;
    std::optional<QList<TaskRow>> sortedPage(const TaskFilter &filter, qint64 offset,
                                             qint64 afterId, int limit, const TaskOrder &order);
    std::optional<Dense> denseRange(qint64 jobId);
    bool fail(const QString &what);
    // Runs sql with values bound in order; false, with the error kept, when it failed.
    bool run(QSqlQuery &query, const QString &sql, const QVariantList &values = {});

    QSqlDatabase m_db;
    SqlDialect m_dialect;
    std::shared_ptr<void> m_keepAlive;
    QString m_error;
    QHash<qint64, Dense> m_dense;
    Stats m_stats;
};

} // namespace bd::store
