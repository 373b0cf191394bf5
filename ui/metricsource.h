#pragma once

#include <QList>
#include <QObject>
#include <QPointF>
#include <QString>

namespace bd::ui {

// The series a dashboard chart can draw. Points are (ms since the epoch, value).
enum class Metric
{
    QueuePriority1, // pending tasks of priority 1 jobs
    QueuePriority2,
    QueuePriority3,
    InFlight,       // leased tasks
    RatePerMinute,  // tasks finished per minute
    SpendUsd,       // cumulative spend
    CostPerTask,    // USD per completed task over the interval
    Completed,
    Dead,
    // From the stored metrics only (engine/metrics), refreshed as the recorder writes them:
    WaitP50,       // seconds a task waited before it was sent
    WaitP95,
    RunP50,        // seconds a request took
    RunP95,
};

// Where chart points come from. The live source keeps what engine snapshots said since
// the window opened; a stored-history source (the metrics tables) plugs in the same way,
// so reopening the window can draw the past.
class MetricSource : public QObject
{
    Q_OBJECT

public:
    using QObject::QObject;
    ~MetricSource() override = default;

    // Points within [fromMs, toMs], oldest first, at most maxPoints (decimated).
    virtual QList<QPointF> points(Metric metric, qint64 fromMs, qint64 toMs, int maxPoints) const = 0;
    // Earliest time the source can answer for (charts clamp their range to it).
    virtual qint64 earliestMs() const = 0;

Q_SIGNALS:
    void changed();
};

} // namespace bd::ui
