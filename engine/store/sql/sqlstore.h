#pragma once

#include "sqldialect.h"
#include "store/store.h"

#include <QSqlDatabase>
#include <QVariantList>

#include <memory>

class QSqlQuery;

namespace bd::store {

// What both backends' queue writers share: the statements over QtSql that SQLite and
// PostgreSQL read alike (SqlDialect marks the few words they spell apart). A backend's store
// derives from this and adds what it does its own way: its per-row prepared statements
// (import, claims, transitions), the response cache, and how it counts a job's tasks.
class SqlStore : public Store
{
public:
    ~SqlStore() override;
    Q_DISABLE_COPY_MOVE(SqlStore)

    bool isOpen() const { return m_open; }
    QString errorString() const override { return m_error; }

    std::optional<qint64> findJobByFingerprint(const QByteArray &fingerprint) override;
    qint64 createJob(const JobSpec &spec, const QStringList &columns, qint64 nowMs) override;
    std::optional<JobInfo> job(qint64 jobId) override;
    QList<JobInfo> jobs() override;
    bool setJobState(qint64 jobId, JobState state, const QString &reason, qint64 nowMs) override;
    bool setJobRunner(qint64 jobId, const QString &workerId, qint64 nowMs) override;
    QList<JobStamp> jobStamps() override;
    bool setJobSettings(qint64 jobId, const QJsonObject &settings) override;
    bool urgentWorkElsewhere(const QString &workerId, qint64 nowMs) override;
    bool discardTasks(qint64 jobId) override;
    bool deleteJob(qint64 jobId) override;
    QList<std::pair<qint64, TaskSortKey>> sortIndexes() override;
    bool dropSortIndex(qint64 jobId, TaskSortKey key) override;

    bool renewLeases(const QString &owner, qint64 leaseUntilMs) override;
    int releaseExpiredLeases(qint64 nowMs) override;
    QStringList leaseOwners() override;
    int releaseLeasesOf(const QString &owner, qint64 nowMs) override;
    std::optional<qint64> nextPendingAtMs(qint64 jobId) override;

    qint64 createBatch(qint64 jobId, const QString &provider, const QString &lane, int size,
                       int maxSize, const QString &state, qint64 nowMs) override;
    int assignTasksToBatch(qint64 batchId, const QString &fromOwner, const QList<qint64> &taskIds,
                           const QString &batchOwner, qint64 leaseUntilMs) override;
    bool updateBatch(qint64 batchId, const QString &state, const QString &providerBatchId,
                     qint64 nowMs) override;
    QList<ProviderBatchRecord> batches(qint64 jobId, const QStringList &states) override;
    QList<ClaimedTask> leasedTasksOfBatch(qint64 batchId) override;

    QList<DeadTask> deadTasks(qint64 jobId, int limit, qint64 afterTaskId) override;
    QList<AttemptRecord> attempts(qint64 taskId) override;
    int replayDead(qint64 jobId, const QList<qint64> &taskIds, qint64 nowMs) override;
    int replayDead(qint64 jobId, const QList<qint64> &taskIds, qint64 nowMs,
                   const QString &errorClass, int templateRevision) override;
    int addTemplateRevision(qint64 jobId, const QString &templateText,
                            const QString &systemPrompt, qint64 nowMs) override;
    std::optional<std::pair<QString, QString>> templateRevision(qint64 jobId, int revision) override;

    qint64 raiseAlert(qint64 jobId, const QString &kind, const QString &message, qint64 nowMs,
                      const QJsonObject &figures = {}, bool *created = nullptr) override;
    bool clearAlerts(qint64 jobId, const QString &kind, qint64 nowMs,
                     const QJsonObject &figures = {}, int *cleared = nullptr) override;
    QList<AlertRecord> alerts(bool includeCleared) override;

    std::optional<QString> setting(const QString &key) override;
    bool setSetting(const QString &key, const QString &value) override;
    double spendSince(qint64 fromMs) override;
    bool recordJobCharge(qint64 jobId, const JobCharge &charge, qint64 nowMs,
                         double *deltaUsd = nullptr) override;
    QList<JobCharge> jobCharges(qint64 jobId) override;
    qint64 cachedResponseCount() override;
    UsageCalibration usageCalibration(const QString &templateText, const QString &systemPrompt,
                                      const QString &model) override;

protected:
    // keepAlive: the backend's connection, held open until this base goes, after the derived
    // store's statements on it are finalised.
    SqlStore(QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> keepAlive);

    // Keeps what failed as the error; false. SQLite's store says a full disk instead.
    virtual bool fail(const QString &what);
    // Runs sql with values bound in order; false, with the error kept, when it failed.
    bool run(QSqlQuery &query, const QString &sql, const QVariantList &values = {});
    bool exec(const QString &sql);

    // The task counts and totals of the jobs listed (one job's when jobId is set).
    virtual void fillJobFigures(QList<JobInfo> &jobs, qint64 jobId) = 0;

private:
    std::shared_ptr<void> m_keepAlive; // declared first, so released last

protected:
    QSqlDatabase m_db;
    const SqlDialect m_dialect;
    QString m_error;
    bool m_open = false;
};

} // namespace bd::store
