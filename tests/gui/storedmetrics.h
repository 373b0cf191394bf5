#pragma once

#include "api/metrictypes.h"
#include "core/clock.h"
#include "store/sql/sqlmetricsstore.h"
#include "store/sqlite/sqlitestore.h"

#include <QList>
#include <QString>

namespace bd::testing {

// Metric rows as the engine's recorder writes them, for charts and panels that read the
// stored history of a real database.
inline metrics::MetricSample metricSample(const char *metric, const QString &labels, qint64 atMs,
                                          qint64 resolutionMs, double value, qint64 count, double sum)
{
    metrics::MetricSample sample;
    sample.metric = QString::fromLatin1(metric);
    sample.labels = labels;
    sample.atMs = atMs - atMs % resolutionMs;
    sample.resolutionMs = resolutionMs;
    sample.value = value;
    sample.count = count;
    sample.sum = sum;
    sample.min = sample.max = value;
    return sample;
}

// Writes the samples into the SQLite database at the path (created when missing); the
// reason when it cannot.
inline QString writeMetricSamples(const QString &dbPath, const QList<metrics::MetricSample> &samples)
{
    store::SqliteStore store(dbPath);
    if (!store.isOpen())
        return store.errorString();
    store::SqlMetricsStore metricsStore(store.connection()->db(), store::SqlDialect::Sqlite,
                                        store.connection(), SystemClock::instance());
    return metricsStore.writeSamples(samples) ? QString() : metricsStore.errorString();
}

} // namespace bd::testing
