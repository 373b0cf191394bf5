#pragma once

#include "metrics/metricsrecorder.h"
#include "metrics/metricsstore.h"
#include "sqldialect.h"

#include <memory>
#include <QHash>
#include <QSqlDatabase>
#include <QVariantList>

class QSqlQuery;

namespace bd {
class Clock;
}

namespace bd::store {

// The metric tables of schema version 2 over either backend's connection (keepAlive holds it
// open while this lives). Holds no QSqlQuery between calls, so it never keeps the connection
// busy; buckets series() in SQL.
class SqlMetricsStore final : public metrics::MetricsStore
{
public:
    // options: the recorder's resolutions and retentions, to pick where series() reads.
    SqlMetricsStore(QSqlDatabase db, SqlDialect dialect, std::shared_ptr<void> keepAlive,
                    const Clock *clock, const metrics::MetricsRecorder::Options &options = {});

    bool writeSamples(const QList<metrics::MetricSample> &samples) override;
    bool prune(qint64 resolutionMs, qint64 beforeMs) override;
    QString errorString() const override { return m_error; }

    metrics::SeriesData series(const QString &metric, const QString &labels, qint64 fromMs,
                               qint64 toMs, int maxPoints) override;
    QStringList labelSets(const QString &metric) override;
    QList<metrics::MetricSample> samples(const QStringList &metrics, qint64 resolutionMs,
                                         qint64 fromMs, qint64 toMs) override;
    qint64 sampleCount(qint64 resolutionMs, const QString &metric = QString()) override;

private:
    bool fail(const QString &what);
    // Runs sql with values bound in order; false, with the error kept, when it failed.
    bool run(QSqlQuery &query, const QString &sql, const QVariantList &values = {});
    qint64 seriesId(const QString &metric, const QString &labels, bool create);
    QSqlDatabase &db() { return m_db; }

    // Declared before m_db, so the connection is closed only after this handle is gone.
    std::shared_ptr<void> m_keepAlive;
    QSqlDatabase m_db;
    SqlDialect m_dialect;
    const Clock *m_clock;
    metrics::MetricsRecorder::Options m_options;
    QHash<std::pair<QString, QString>, qint64> m_seriesIds;
    QString m_error;
};

} // namespace bd::store
