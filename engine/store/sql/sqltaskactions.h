#pragma once

#include "sqldialect.h"
#include "store/taskactions.h"

#include <memory>
#include <QSqlDatabase>
#include <QVariantList>

namespace bd::store {

// The task actions over QtSql, for both backends: plain SQL that SQLite and PostgreSQL read
// alike (but for an index hint SQLite needs), on the writer's connection. keepAlive holds the
// backend's connection object open while this lives.
class SqlTaskActions final : public TaskActions
{
public:
    SqlTaskActions(QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> keepAlive);

    int reprioritiseJob(qint64 jobId, int priority, const QString &mode, qint64 nowMs) override;
    int reprioritiseTasks(const QList<qint64> &taskIds, int priority) override;
    int cancelPending(qint64 jobId, qint64 nowMs) override;
    int cancelTasks(const QList<qint64> &taskIds, qint64 nowMs) override;
    qint64 recordControl(const JobControl &control) override;
    QList<JobControl> controlsAfter(qint64 afterId) override;
    qint64 lastControlId() override;

    QString errorString() const override { return m_error; }

private:
    int updateIds(const QString &sql, const QList<qint64> &taskIds, const QVariantList &leading);

    QSqlDatabase m_db;
    SqlDialect m_dialect;
    std::shared_ptr<void> m_keepAlive;
    QString m_error;
};

} // namespace bd::store
