// TaskAccounting on its own (dispatch/taskaccounting.h), on a fake clock without threads,
// over a real BudgetGate and MetricsRecorder: a completed answer's cost and a rejected
// answer's cost count against the budget, a retried one's does not; budget_80 is raised
// once, when the warning share is spent; transitions, waits and 429s are recorded under the
// lane that carried the task (a batch-API job's raised tasks as sync calls of their own
// priority, provider batch lines as the batch lane); budget_exhausted names cap and spend.

#include "core/clock.h"
#include "dispatch/budgetgate.h"
#include "dispatch/taskaccounting.h"
#include "metrics/metricsrecorder.h"

#include <QTest>

using namespace Qt::StringLiterals;
using bd::ClaimedTask;
using bd::ErrorClass;
using bd::OutcomeAction;
using bd::TaskTransition;
using bd::dispatch::BudgetGate;
using bd::dispatch::TaskAccounting;
using bd::metrics::MetricSample;
using bd::metrics::MetricsRecorder;

namespace {

constexpr qint64 kT0 = 1'700'000'000'000;
constexpr qint64 kJob = 12;

ClaimedTask task(qint64 id, int priority, qint64 queuedAtMs = kT0)
{
    ClaimedTask claimed;
    claimed.id = id;
    claimed.priority = priority;
    claimed.queuedAtMs = queuedAtMs;
    return claimed;
}

TaskTransition transition(qint64 id, OutcomeAction action, double costUsd,
                          ErrorClass error = ErrorClass::None)
{
    TaskTransition result;
    result.outcome.taskId = id;
    result.outcome.error = error;
    result.action = action;
    if (action == OutcomeAction::Complete)
        result.outcome.costUsd = costUsd;
    return result;
}

// A recorder ticked by hand: what one interval recorded, by series and lane.
struct Metrics
{
    Metrics() { recorder.tick(); }
    static MetricsRecorder::Options manual()
    {
        MetricsRecorder::Options options;
        options.autoTick = false;
        return options;
    }
    QList<MetricSample> closeInterval()
    {
        clock.advance(MetricsRecorder::Options().intervalMs);
        recorder.tick();
        return recorder.lastInterval();
    }
    bd::FakeClock clock{kT0};
    MetricsRecorder recorder{&clock, nullptr, manual()};
};

// A job's accounting recorded into Metrics, on the given lane, without a budget cap.
struct Recorded
{
    Recorded(int priority, const QString &mode, bool batchApi)
    {
        accounting.setMetrics(&metrics.recorder);
        accounting.setLane(priority, mode, batchApi);
    }
    Metrics metrics;
    BudgetGate budget;
    TaskAccounting accounting{kJob, &budget};
};

double sumOf(const QList<MetricSample> &samples, const char *metric, const QString &lane)
{
    double sum = 0.0;
    for (const MetricSample &sample : samples) {
        if (sample.metric == QLatin1StringView(metric) &&
            bd::metrics::labelValue(sample.labels, u"lane"_s) == lane)
            sum += sample.sum;
    }
    return sum;
}

} // namespace

class TestTaskAccounting : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void costsCountAgainstTheBudgetAndWarnOnce()
    {
        BudgetGate budget(1.0);
        TaskAccounting accounting(kJob, &budget);
        accounting.setLane(2, u"sync"_s, false);
        // A retry's answer cost nothing the job pays for; a completion does.
        QVERIFY(!accounting.settled(task(1, 2), transition(1, OutcomeAction::Retry, 0.0), 0.5,
                                    ErrorClass::ServerError, kT0, false));
        QCOMPARE(budget.spentUsd(), 0.0);
        QVERIFY(!accounting.settled(task(2, 2), transition(2, OutcomeAction::Complete, 0.5), 0.5,
                                    ErrorClass::None, kT0, false));
        QCOMPARE(budget.spentUsd(), 0.5);
        // A refused answer that was billed all the same (say, invalid output) counts too.
        TaskTransition rejected =
            transition(3, OutcomeAction::DeadLetter, 0.0, ErrorClass::InvalidOutput);
        rejected.outcome.rejectedCostUsd = 0.25;
        QVERIFY(!accounting.settled(task(3, 2), rejected, 0.0, ErrorClass::None, kT0, false));
        QCOMPARE(budget.spentUsd(), 0.75);
        const auto warning =
            accounting.settled(task(4, 2), transition(4, OutcomeAction::Complete, 0.1), 0.1,
                               ErrorClass::None, kT0, false);
        QVERIFY(warning);
        QCOMPARE(warning->kind, u"budget_80"_s);
        QCOMPARE(warning->jobId, kJob);
        QCOMPARE(warning->message, u"85.0% of the $1.00 budget spent ($0.8500)"_s);
        QCOMPARE(warning->figures, budget.figures());
        QVERIFY(!accounting.settled(task(5, 2), transition(5, OutcomeAction::Complete, 0.1), 0.1,
                                    ErrorClass::None, kT0, false));

        const bd::metrics::AlertEvent exhausted = accounting.budgetExhausted();
        QCOMPARE(exhausted.kind, u"budget_exhausted"_s);
        QCOMPARE(exhausted.jobId, kJob);
        QCOMPARE(exhausted.message, u"budget of $1.00 reached ($0.9500 spent)"_s);
    }

    void transitionsAreRecordedUnderTheirLane()
    {
        Recorded recorded(3, u"batch-api"_s, true);
        TaskAccounting &accounting = recorded.accounting;
        Metrics &metrics = recorded.metrics;
        QCOMPARE(accounting.laneName(), u"batch"_s);
        // A line of a provider batch; a task raised to priority 1 that went as a sync call;
        // a 429 on a task raised to 2.
        accounting.settled(task(1, 3), transition(1, OutcomeAction::Complete, 0.01), 0.01,
                           ErrorClass::None, kT0 + 500, true);
        accounting.settled(task(2, 1), transition(2, OutcomeAction::Complete, 0.02), 0.02,
                           ErrorClass::None, kT0 + 200, false);
        accounting.settled(task(3, 2), transition(3, OutcomeAction::Retry, 0.0), 0.0,
                           ErrorClass::RateLimited, kT0 + 300, false);
        accounting.providerBatchOpened(40, 100);
        QList<MetricSample> samples = metrics.closeInterval();
        QCOMPARE(sumOf(samples, bd::metrics::names::tasksCompleted, u"batch"_s), 1.0);
        QCOMPARE(sumOf(samples, bd::metrics::names::tasksCompleted, u"realtime"_s), 1.0);
        QCOMPARE(sumOf(samples, bd::metrics::names::responses429, u"sync"_s), 1.0);
        QCOMPARE(sumOf(samples, bd::metrics::names::batches, u"batch"_s), 1.0);

        // Moved to a sync lane: its groups and its answers without a request are "sync".
        accounting.setLane(2, u"sync"_s, false);
        QCOMPARE(accounting.laneName(), u"sync"_s);
        QCOMPARE(accounting.laneOf(task(4, 3), false), u"sync"_s);
        QCOMPARE(accounting.laneOf(task(4, 3), true), u"batch"_s);
        accounting.groupSent(8, 16);
        accounting.answeredWithoutRequest(task(5, 2), transition(5, OutcomeAction::Complete, 0.0),
                                          0);
        samples = metrics.closeInterval();
        QCOMPARE(sumOf(samples, bd::metrics::names::batches, u"sync"_s), 1.0);
        QCOMPARE(sumOf(samples, bd::metrics::names::tasksCompleted, u"sync"_s), 1.0);
    }

    void theWaitRunsFromQueuedToSent()
    {
        Recorded recorded(2, u"sync"_s, false);
        TaskAccounting &accounting = recorded.accounting;
        Metrics &metrics = recorded.metrics;
        accounting.settled(task(1, 2, kT0), transition(1, OutcomeAction::Complete, 0.0), 0.0,
                           ErrorClass::None, kT0 + 4'000, false);
        const QList<MetricSample> samples = metrics.closeInterval();
        bool seen = false;
        for (const MetricSample &sample : samples) {
            if (sample.metric == QLatin1StringView(bd::metrics::names::waitMsMean)) {
                QCOMPARE(sample.value, 4'000.0);
                seen = true;
            }
        }
        QVERIFY(seen);
    }
};

QTEST_GUILESS_MAIN(TestTaskAccounting)
#include "test_taskaccounting.moc"
