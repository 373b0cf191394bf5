#pragma once

#include <functional>
#include <QSqlQuery>
#include <QString>

namespace bd::store {

// What a role that keeps prepared statements across calls needs of a connection that can
// reconnect (PostgreSQL): which session it is on, and where statements of an earlier
// session go (kept until the driver is gone, so that no DEALLOCATE is sent for them). A file
// never reconnects: both empty.
struct SessionHooks
{
    std::function<quint64()> generation;
    std::function<void(QSqlQuery &&)> retire;
};

// Which SQL the shared store classes (store/sql/) speak where SQLite and PostgreSQL differ:
// how a writing transaction starts, MAX/MIN (GREATEST/LEAST), SQLite's planner hints (below).
enum class SqlDialect
{
    Sqlite,
    Postgres,
};

// SQLite only: a term that changes no answer but leads its planner to tasks_active (state,
// job_id), where the tasks neither pending nor completed are in id order (it would take
// tasks_job or the table). stateColumn: the state column as the statement names it. Empty for
// PostgreSQL, whose planner finds the index itself.
inline QString activeStatesHint(SqlDialect dialect,
                                const QString &stateColumn = QStringLiteral("state"))
{
    return dialect == SqlDialect::Sqlite ? QStringLiteral(" AND %1 NOT IN (0, 2)").arg(stateColumn)
                                         : QString();
}

// SQLite only: the pending tasks through tasks_claim (job_id, priority, id … WHERE state = 0);
// its planner would rather walk the whole job in tasks_job. Empty for PostgreSQL.
inline QString claimIndexHint(SqlDialect dialect)
{
    return dialect == SqlDialect::Sqlite ? QStringLiteral(" INDEXED BY tasks_claim") : QString();
}

} // namespace bd::store
