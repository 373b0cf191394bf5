#pragma once

#include "postgresconnection.h"
#include "store/sql/sqlstore.h"

#include <QSqlDatabase>

#include <memory>

namespace bd::store {

// The queue writer of the PostgreSQL backend, over a PostgresDatabase's connection (QPSQL).
// The per-row statements (import, claim, transitions) are prepared once on the server and
// kept as long as this object. Claims take a group of tasks in one UPDATE … WHERE id IN
// (SELECT … FOR UPDATE SKIP LOCKED) RETURNING, so workers on other machines never wait on
// each other's rows; a group of outcomes is one transaction, each row checked against the
// lease owner.
//
// PostgreSQL's own part, by concern (the rest is SqlStore's): postgresstore.cpp (statements,
// import, job figures), postgresstoreclaims.cpp (claims, transitions), postgresstorereads.cpp
// (counts, totals, export), postgresstorealerts.cpp (response cache, cost lines).
class PostgresStore final : public SqlStore
{
public:
    // Prepares its statements on the connection; check isOpen() / errorString().
    explicit PostgresStore(std::shared_ptr<PostgresConnection> connection);
    ~PostgresStore() override;
    Q_DISABLE_COPY_MOVE(PostgresStore)

    QString databasePath() const;
    // Set when opening upgraded an older schema.
    QString migrationBackupPath() const;
    // The connection, for the backend's own tests (pragmas, side roles on it).
    std::shared_ptr<PostgresConnection> connection() const { return m_connection; }
    QString connectionName() const;

    bool ensureSortIndex(qint64 jobId, TaskSortKey key) override;

    bool appendTasks(qint64 jobId, qint64 firstRowNumber, const QList<QStringList> &rows,
                     int priority, qint64 nowMs) override;

    bool claimTasks(qint64 jobId, const QString &owner, int limit, qint64 nowMs,
                    qint64 leaseUntilMs, QList<ClaimedTask> *claimed) override;
    bool applyTransitions(const QString &owner, const QList<TaskTransition> &transitions,
                          qint64 nowMs, int *skipped = nullptr) override;

    TaskCounts taskCounts(qint64 jobId) override;
    bool jobTotals(qint64 jobId, Usage *usage, double *costUsd, qint64 *billedTasks) override;
    bool forEachExportRow(qint64 jobId,
                          const std::function<bool(const ExportRow &)> &sink) override;

    std::optional<CachedResponse> cachedResponse(const QByteArray &key) override;
    QHash<QByteArray, CachedResponse> cachedResponses(const QList<QByteArray> &keys) override;
    bool storeCachedResponses(const QList<CachedResponse> &entries) override;
    QList<CostLine> costLines(qint64 jobId) override;

private:
    class Statements;
    bool fail(const QString &what) override;
    bool failSql(const QString &what);
    // The plain answers of a group of transitions in one statement; *stored: rows changed.
    bool completeGroup(const QString &owner, const QList<TaskTransition> &transitions,
                       qint64 nowMs, int *stored);
    void fillJobFigures(QList<JobInfo> &jobs, qint64 jobId) override;

    // (SqlStore keeps the connection open until every statement on it is finalised.)
    std::shared_ptr<PostgresConnection> m_connection;
    std::unique_ptr<Statements> m_statements;
    // Rows this store imported, and at how many it analyzes tasks next (appendTasks).
    qint64 m_rowsImported = 0;
    qint64 m_analyzeAtRows = 10'000;
};

} // namespace bd::store
