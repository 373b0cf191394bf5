#pragma once

#include "api/metrictypes.h"

#include <QList>
#include <QString>

namespace bd::metrics {

// Where the recorder puts closed samples. Called on the recorder's thread, a few times per
// interval at most, never per task.
class MetricsSink
{
public:
    virtual ~MetricsSink() = default;
    // Writes the samples in one transaction. A sample whose (metric, labels, resolution,
    // atMs) is already stored is merged into it (counters add, gauges and ratios average
    // by weight, quantiles keep the larger): that is what happens when a restarted engine
    // finishes an interval it had flushed half of, or when two processes record into the
    // same database.
    virtual bool writeSamples(const QList<MetricSample> &samples) = 0;
    // Drops samples of one resolution that start before beforeMs (the retention policy).
    virtual bool prune(qint64 resolutionMs, qint64 beforeMs) = 0;
    virtual QString errorString() const = 0;
};

} // namespace bd::metrics
