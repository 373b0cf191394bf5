#pragma once

#include "sqliteconnection.h"
#include "store/sql/sqlstore.h"

#include <QSqlDatabase>

#include <memory>

struct sqlite3;

namespace bd::store {

// The queue writer of the SQLite backend, over a SqliteDatabase's connection (see
// SqliteConnection for its pragmas). Connections are opened through Qt Sql; the few
// statements that run once per row (import, claim, transitions) go through the driver's
// native handle with prepared statements that live as long as this object, because
// QSqlQuery's per-row variant conversions cost more than the insert itself.
//
// SQLite's own part, by concern (the rest is SqlStore's): sqlitestore.cpp (statements, import),
// sqlitestoreclaims.cpp (claims, transitions), sqlitestorereads.cpp (counts and totals from
// memory, export), sqlitestorealerts.cpp (response cache, cost lines).
class SqliteStore final : public SqlStore
{
public:
    // Prepares its statements on the connection; check isOpen() / errorString().
    explicit SqliteStore(std::shared_ptr<SqliteConnection> connection);
    // Opens a read-write connection of its own (creating and migrating the database): for
    // the backend's own tests and tools; everything else opens a Database.
    explicit SqliteStore(const QString &databasePath);
    ~SqliteStore() override;
    Q_DISABLE_COPY_MOVE(SqliteStore)

    QString databasePath() const;
    // Set when opening upgraded an older schema.
    QString migrationBackupPath() const;
    // The connection, for the backend's own tests (pragmas, side roles on it).
    std::shared_ptr<SqliteConnection> connection() const { return m_connection; }
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
    void fillJobFigures(QList<JobInfo> &jobs, qint64 jobId) override;
    struct DatabaseState
    {
        qint64 dataVersion = -1; // -1: unknown, answer nothing from memory
        qint64 changes = -1;
    };
    DatabaseState databaseState();
    // One response-cache lookup (cachedResponse, cachedResponses): false when none.
    bool lookUpCached(const QByteArray &key, CachedResponse *entry);
    // packedKey: the key as stored (a PackedKey of sqlitestorealerts.cpp).
    bool lookUpPacked(const void *packedKey, const QByteArray &key, CachedResponse *entry);

    // (SqlStore keeps the connection open until every statement on it is finalised.)
    std::shared_ptr<SqliteConnection> m_connection;
    sqlite3 *m_handle = nullptr;
    std::unique_ptr<Statements> m_statements;
};

} // namespace bd::store
