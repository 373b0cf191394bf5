#pragma once

#include "sqliteconnection.h"
#include "store/taskactions.h"

#include <QVariantList>

#include <memory>

namespace bd::store {

// The task actions of the SQLite backend, over the writer's connection.
class SqliteTaskActions final : public TaskActions
{
public:
    explicit SqliteTaskActions(std::shared_ptr<SqliteConnection> connection);

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

    std::shared_ptr<SqliteConnection> m_connection;
    QString m_error;
};

} // namespace bd::store
