#pragma once

#include "postgresconnection.h"
#include "store/taskreader.h"

#include <QHash>
#include <QSqlDatabase>

#include <memory>

namespace bd::store {

// The task reader of the PostgreSQL backend: the SQLite reader's queries in PostgreSQL's
// dialect (the planner picks between the (job_id, state) index and the primary key itself).
class PostgresTaskReader final : public TaskReader
{
public:
    explicit PostgresTaskReader(std::shared_ptr<PostgresConnection> connection);
    ~PostgresTaskReader() override;
    Q_DISABLE_COPY_MOVE(PostgresTaskReader)

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
    // would leave the planner a generic plan that cannot use it).
    QString where(const TaskFilter &filter, QVariantList *binds, bool literalJob = false) const;
    std::optional<Dense> denseRange(qint64 jobId);
    bool fail(const QString &what);
    // Runs sql with values bound in order; false, with the error kept, when it failed.
    bool run(QSqlQuery &query, const QString &sql, const QVariantList &values = {});

    std::shared_ptr<PostgresConnection> m_connection;
    QSqlDatabase m_db;
    QString m_error;
    QHash<qint64, Dense> m_dense;
    Stats m_stats;
};

} // namespace bd::store
