// The alert rules on a fake clock with synthetic samples, table-driven: every rule raises
// once when its condition has held long enough, carries its figures in the message and in
// the figures object, and clears once when the condition ends (with hysteresis where the
// rule has a clear level). Then the alert center: one notification per transition, user
// acknowledgement, alerts adopted from the store, thresholds from JSON.

#include "api/alertfigures.h"
#include "core/clock.h"
#include "metrics/alertcenter.h"
#include "metrics/alertrules.h"
#include "api/metrictypes.h"

#include <QJsonArray>
#include <QSignalSpy>
#include <QTest>

#include <functional>

using namespace Qt::StringLiterals;
using namespace bd::metrics;

namespace {

constexpr qint64 kT0 = 1'700'000'400'000; // a multiple of 10 s
constexpr qint64 kSecond = 1000;
constexpr qint64 kMinute = 60 * kSecond;
constexpr qint64 kHour = 60 * kMinute;
constexpr qint64 kDay = 24 * kHour;

MetricSample gauge(const char *metric, const QString &labels, qint64 at, qint64 res, double value)
{
    MetricSample s;
    s.metric = QString::fromLatin1(metric);
    s.labels = labels;
    s.atMs = at;
    s.resolutionMs = res;
    s.value = value;
    s.count = 1;
    s.sum = value;
    s.min = value;
    s.max = value;
    return s;
}

MetricSample counter(const char *metric, const QString &labels, qint64 at, qint64 res, double sum)
{
    MetricSample s;
    s.metric = QString::fromLatin1(metric);
    s.labels = labels;
    s.atMs = at;
    s.resolutionMs = res;
    s.value = sum * 1000.0 / double(res);
    s.count = qint64(sum);
    s.sum = sum;
    s.min = s.value;
    s.max = s.value;
    return s;
}

const QString kP2Sync = u"lane=sync,priority=2"_s;
const QString kP1Real = u"lane=realtime,priority=1"_s;

QString jobLabel(qint64 job)
{
    return u"job="_s + QString::number(job);
}

// One scenario: `steps` evaluations `stepMs` apart; feed(step, at, res, samples, inputs)
// builds the interval that starts at `at`. The alert (kind, jobId) must be raised first at
// a step in [raiseFrom, raiseTo] (-1: never) and cleared at a step in [clearFrom, clearTo]
// (-1: never), exactly once each.
struct Scenario
{
    const char *name;
    const char *kind;
    qint64 jobId = 0;
    int steps = 0;
    qint64 stepMs = 10 * kSecond;
    std::function<void(int, qint64, qint64, QList<MetricSample> &, RuleInputs &)> feed;
    int raiseFrom = -1, raiseTo = -1;
    int clearFrom = -1, clearTo = -1;
    QStringList messageHas;   // in the raised message
    QStringList figureKeys;   // in the raised figures
    std::function<void(AlertThresholds &)> tune = nullptr;
};

void queueFeed(int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &, double normal,
               double high, double dip, double after)
{
    // 24 h at `normal`, 40 min at `high`, 10 min at `dip`, then `after`.
    const int normalSteps = int(kDay / res);
    const int highSteps = int(40 * kMinute / res);
    const int dipSteps = int(10 * kMinute / res);
    double depth = normal;
    if (step >= normalSteps + highSteps + dipSteps)
        depth = after;
    else if (step >= normalSteps + highSteps)
        depth = dip;
    else if (step >= normalSteps)
        depth = high;
    // Split over two levels: the rule sums them.
    out.append(gauge(names::queuePending, kP2Sync, at, res, depth * 0.75));
    out.append(gauge(names::queuePending, kP1Real, at, res, depth * 0.25));
}

void errorFeed(int step, qint64 at, qint64 res, QList<MetricSample> &out, double failuresA,
               double failuresB, double failuresC, const char *errorClass, double completed = 100)
{
    // 60 steps of A, 60 of B, then C.
    const double failures = step < 60 ? failuresA : step < 120 ? failuresB : failuresC;
    out.append(counter(names::tasksCompleted, kP2Sync, at, res, completed));
    out.append(counter(names::tasksFailed,
                       u"error_class="_s + QString::fromLatin1(errorClass) + u","_s + kP2Sync, at, res, failures));
}

QList<Scenario> scenarios()
{
    QList<Scenario> list;

    // Queue depth 1000 for a day, then 3000 (3x): raised once it has lasted > 30 min. A
    // dip to 1800 stays above 1.5x the baseline (hysteresis), 1200 clears.
    // Normal ends at step 8640; the breach starts with interval 8640 (at = T0 + 86400 s),
    // so "more than 30 min" is first true at now = T0 + 88210 s, step 8820.
    list.append(Scenario{
        "queue depth 3x baseline for > 30 min", kinds::queueDepthHigh, 0, 8640 + 240 + 60 + 60, 10 * kSecond,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &inputs) {
            queueFeed(step, at, res, out, inputs, 1000, 3000, 1800, 1200);
        },
        8820, 8820, 8640 + 240 + 60, 8640 + 240 + 60, {u"3000"_s, u"baseline"_s, u"30 min"_s},
        {u"depth"_s, u"baseline"_s, u"ratio"_s, u"duration_s"_s}});
    // Same shape below the minimum depth: nothing.
    list.append(Scenario{
        "queue depth below min_depth never alerts", kinds::queueDepthHigh, 0, 8640 + 240, 10 * kSecond,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &inputs) {
            queueFeed(step, at, res, out, inputs, 100, 900, 900, 100);
        },
        -1, -1, -1, -1, {}, {}});
    // A spike shorter than the sustain time: nothing.
    list.append(Scenario{
        "queue depth spike shorter than 30 min", kinds::queueDepthHigh, 0, 8640 + 200, 10 * kSecond,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            const double depth = step >= 8640 && step < 8640 + 150 ? 5000 : 1000; // 25 min
            out.append(gauge(names::queuePending, kP2Sync, at, res, depth));
        },
        -1, -1, -1, -1, {}, {}});

    // Error rate: 2 % for 10 min, then 9 % server errors. Window sums over the last 60
    // steps: (120 + 8k) / (6120 + 8k) > 5 % from k = 25 B-steps on, so step 84. Then 0 %:
    // the window falls to <= 4 % after (8*60 ... ) steps; cleared within the next window.
    list.append(Scenario{
        "error rate above 5 % in 10 min", kinds::errorRateHigh, 0, 240, 10 * kSecond,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            errorFeed(step, at, res, out, 2, 10, 0, "server_error");
        },
        84, 84, 120, 180, {u"error rate"_s, u"server_error"_s, u"10 min"_s},
        {u"rate"_s, u"failures"_s, u"attempts"_s, u"by_class"_s}});
    // 429s are the limiter's business (ignored class): 20 % of them raise nothing.
    list.append(Scenario{
        "rate limits do not count as errors", kinds::errorRateHigh, 0, 180, 10 * kSecond,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            errorFeed(step, at, res, out, 20, 20, 20, "rate_limited");
        },
        -1, -1, -1, -1, {}, {}});
    // Too few calls to judge: one failing call a minute is 10 calls in the 10-minute
    // window, below min_attempts (20), however bad the rate.
    list.append(Scenario{
        "too few calls say nothing", kinds::errorRateHigh, 0, 180, 60 * kSecond,
        [](int, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            out.append(counter(names::tasksCompleted, kP2Sync, at, res, 0));
            out.append(counter(names::tasksFailed, u"error_class=timeout,"_s + kP2Sync, at, res, 1));
        },
        -1, -1, -1, -1, {}, {},
        [](AlertThresholds &t) { t.errorRate.minAttempts = 20; }});

    // Cost per task: two weeks at 1 cent, then 1.5 cents. Hourly samples of 10 tasks.
    // Current week vs. the week before: up 50 % x (days at the new price / 7), > 20 % after
    // 2.8 days (step 336 + 67..68), then back to 1 cent: the increase falls below 15 %.
    list.append(Scenario{
        "cost per task up > 20 % week over week", kinds::costPerTaskUp, 0, 24 * 28, kHour,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            const double perTask = step < 24 * 14 ? 0.01 : step < 24 * 19 ? 0.015 : 0.01;
            out.append(counter(names::tasksCompleted, kP2Sync, at, res, 10));
            out.append(counter(names::costUsd, kP2Sync, at, res, 10 * perTask));
        },
        24 * 14 + 66, 24 * 14 + 69, 24 * 19, 24 * 28, {u"cost per task"_s, u"$0.0"_s, u"%"_s},
        {u"cost_per_task"_s, u"previous_cost_per_task"_s, u"increase"_s}});

    // A priority-1 task waiting: age grows 10 s per step from step 0; > 5 min first at
    // step 30 (age 310 s). Picked up at step 40: age 0, cleared.
    list.append(Scenario{
        "priority-1 task waiting > 5 min", kinds::priorityWait, 0, 60, 10 * kSecond,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            const double age = step < 40 ? double(step + 1) * 10 * kSecond : 0;
            out.append(gauge(names::oldestPendingAgeMs, u"priority=1"_s, at, res, age));
            out.append(gauge(names::oldestPendingAgeMs, u"priority=3"_s, at, res, 50 * kMinute));
            out.append(gauge(names::queuePending, kP1Real, at, res, step < 40 ? 3 : 0));
        },
        30, 30, 40, 40, {u"priority-1"_s, u"5 min"_s, u"3 priority-1 tasks"_s},
        {u"oldest_wait_s"_s, u"max_wait_s"_s, u"pending"_s}});

    // Priority 2 within the hour: age 50 min at step 0, +1 min per step; > 1 h from step 11.
    // Replayed (the wait starts again) at step 20: cleared.
    list.append(Scenario{
        "priority-2 task waiting > 1 h",
        kinds::priority2Wait,
        0,
        30,
        kMinute,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            const double age = step < 20 ? double(50 + step) * kMinute : kMinute;
            out.append(gauge(names::oldestPendingAgeMs, u"priority=2"_s, at, res, age));
            out.append(gauge(names::oldestPendingAgeMs, u"priority=1"_s, at, res, kMinute));
        },
        11,
        11,
        20,
        20,
        {u"priority-2"_s, u"1 h"_s},
        {u"oldest_wait_s"_s, u"max_wait_s"_s}});

    // Priority 3 within a day: age 23 h at step 0, +10 min per step; > 24 h from step 7.
    list.append(Scenario{
        "priority-3 task waiting > 24 h",
        kinds::priority3Wait,
        0,
        20,
        10 * kMinute,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            const double age = step < 15 ? 23 * 60 * kMinute + double(step) * 10 * kMinute : 0;
            out.append(gauge(names::oldestPendingAgeMs, u"priority=3"_s, at, res, age));
            out.append(gauge(names::oldestPendingAgeMs, u"priority=2"_s, at, res, 30 * kMinute));
        },
        7,
        7,
        15,
        15,
        {u"priority-3"_s, u"24 h"_s},
        {u"oldest_wait_s"_s, u"max_wait_s"_s}});

    // Budget: $1 spent per step of a $10 budget; 80 % at step 7, 100 % at step 9. Raised
    // to $20 at step 15: 50 %, both clear.
    auto budgetFeed = [](int step, qint64, qint64, QList<MetricSample> &, RuleInputs &inputs) {
        const double spent = qMin(10.0, double(step + 1));
        inputs.budgets.append(RuleInputs::Budget{4, step < 15 ? 10.0 : 20.0, spent});
    };
    list.append(Scenario{"budget at 80 %", kinds::budget80, 4, 20, 10 * kSecond, budgetFeed, 7, 7, 15, 15,
                         {u"80.0%"_s, u"$10.00"_s}, {u"budget_usd"_s, u"spent_usd"_s, u"fraction"_s}});
    list.append(Scenario{"budget at 100 %", kinds::budgetExhausted, 4, 20, 10 * kSecond, budgetFeed, 9, 9, 15, 15,
                         {u"budget of $10.00 reached"_s}, {u"fraction"_s}});

    // Quota: a quota failure of job 5 at step 2; the job answers again at step 6.
    list.append(Scenario{
        "quota exhausted", kinds::quotaExhausted, 5, 10, 10 * kSecond,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            out.append(counter(names::jobTasksFailed, u"error_class=quota_exhausted,"_s + jobLabel(5), at, res,
                               step == 2 ? 1 : 0));
            out.append(counter(names::jobTasksCompleted, jobLabel(5), at, res, step >= 6 ? 3 : 0));
            // Another job's completions do not clear it.
            out.append(counter(names::jobTasksCompleted, jobLabel(6), at, res, 5));
        },
        2, 2, 6, 6, {u"quota exhausted"_s, u"insufficient_quota"_s}, {u"failures"_s}});

    // No progress: job 9 runs with work; completions until step 5, then none. Idle counts
    // from step 5 (now = T0 + 60 s): >= 15 min at step 95. Progress again at step 120.
    list.append(Scenario{
        "no progress while work is pending", kinds::noProgress, 9, 140, 10 * kSecond,
        [](int step, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            const bool progress = step <= 5 || step >= 120;
            out.append(counter(names::jobTasksCompleted, jobLabel(9), at, res, progress ? 4 : 0));
            out.append(gauge(names::jobRunning, jobLabel(9), at, res, 1));
            out.append(gauge(names::jobQueuePending, jobLabel(9), at, res, 100));
            out.append(gauge(names::jobQueueLeased, jobLabel(9), at, res, 8));
        },
        95, 95, 120, 120, {u"job 9"_s, u"15 min"_s, u"100 task(s) waiting"_s}, {u"idle_s"_s, u"pending"_s}});
    // A paused job with work never alerts.
    list.append(Scenario{
        "a paused job is not stuck", kinds::noProgress, 9, 200, 10 * kSecond,
        [](int, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            out.append(gauge(names::jobRunning, jobLabel(9), at, res, 0));
            out.append(gauge(names::jobQueuePending, jobLabel(9), at, res, 100));
        },
        -1, -1, -1, -1, {}, {}});
    // Configurable: after 2 min.
    list.append(Scenario{
        "no progress after a configured 2 min", kinds::noProgress, 9, 30, 10 * kSecond,
        [](int, qint64 at, qint64 res, QList<MetricSample> &out, RuleInputs &) {
            out.append(gauge(names::jobRunning, jobLabel(9), at, res, 1));
            out.append(gauge(names::jobQueuePending, jobLabel(9), at, res, 0));
            out.append(gauge(names::jobQueueLeased, jobLabel(9), at, res, 2));
        },
        12, 12, -1, -1, {u"2 min"_s}, {u"idle_s"_s},
        [](AlertThresholds &t) { t.noProgress.afterMs = 2 * kMinute; }});
    return list;
}

} // namespace

class TestMetricsRules : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void rule_data();
    void rule();
    void disabledRulesStayQuiet();
    void thresholdsFromJson();
    void adoptedAlertsClearWhenConditionIsGone();
    void centerNotifiesOncePerTransition();
    void centerClearsByJobLikeTheStore();
    void primeBuildsBaselineWithoutRaising();
};

void TestMetricsRules::rule_data()
{
    QTest::addColumn<int>("index");
    const QList<Scenario> list = scenarios();
    for (int i = 0; i < list.size(); ++i)
        QTest::newRow(list.at(i).name) << i;
}

void TestMetricsRules::rule()
{
    QFETCH(int, index);
    const Scenario scenario = scenarios().at(index);
    AlertThresholds thresholds;
    if (scenario.tune)
        scenario.tune(thresholds);
    bd::FakeClock clock(kT0);
    AlertRules rules(thresholds, &clock);
    const QString kind = QString::fromLatin1(scenario.kind);

    int raisedAt = -1, clearedAt = -1, raises = 0, clears = 0;
    AlertEvent raisedEvent;
    for (int step = 0; step < scenario.steps; ++step) {
        const qint64 at = clock.nowMs();
        clock.advance(scenario.stepMs);
        QList<MetricSample> samples;
        RuleInputs inputs;
        scenario.feed(step, at, scenario.stepMs, samples, inputs);
        const QList<AlertEvent> events = rules.evaluate(samples, inputs);
        for (const AlertEvent &event : events) {
            QCOMPARE(event.atMs, clock.nowMs());
            if (event.kind != kind || event.jobId != scenario.jobId)
                continue;
            if (event.raised()) {
                ++raises;
                if (raisedAt < 0) {
                    raisedAt = step;
                    raisedEvent = event;
                }
            } else {
                ++clears;
                if (clearedAt < 0)
                    clearedAt = step;
                QVERIFY(!event.message.isEmpty());
            }
        }
        QCOMPARE(rules.isRaised(kind, scenario.jobId), raises > clears);
    }

    if (scenario.raiseFrom < 0) {
        QVERIFY2(raisedAt < 0, qPrintable(u"raised at step %1: %2"_s.arg(raisedAt).arg(raisedEvent.message)));
        return;
    }
    qInfo("raised at step %d: %s", raisedAt, qPrintable(raisedEvent.message));
    QVERIFY2(raisedAt >= scenario.raiseFrom && raisedAt <= scenario.raiseTo,
             qPrintable(u"raised at step %1, expected %2..%3"_s.arg(raisedAt).arg(scenario.raiseFrom).arg(scenario.raiseTo)));
    QCOMPARE(raises, 1);
    for (const QString &part : scenario.messageHas)
        QVERIFY2(raisedEvent.message.contains(part), qPrintable(raisedEvent.message + u" lacks "_s + part));
    for (const QString &key : scenario.figureKeys)
        QVERIFY2(raisedEvent.figures.contains(key), qPrintable(u"figures lack "_s + key));
    // Every rule fills the shared keys a front end writes in words.
    for (const QString &key : {u"value"_s, u"threshold"_s})
        QVERIFY2(raisedEvent.figures.contains(key), qPrintable(u"figures lack "_s + key));
    const QString words = bd::describeAlertFigures(raisedEvent.kind, raisedEvent.figures);
    qInfo("in words: %s", qPrintable(words));
    // "value > threshold", "spent X of Y", or what the kind has instead of a threshold.
    QVERIFY2(words.contains(u" > "_s) || words.contains(u"spent $"_s) ||
                 words.endsWith(u"refused"_s),
             qPrintable(raisedEvent.kind + u": "_s + words));
    if (scenario.clearFrom < 0) {
        QCOMPARE(clears, 0);
        return;
    }
    QVERIFY2(clearedAt >= scenario.clearFrom && clearedAt <= scenario.clearTo,
             qPrintable(u"cleared at step %1, expected %2..%3"_s.arg(clearedAt).arg(scenario.clearFrom).arg(scenario.clearTo)));
    QCOMPARE(clears, 1);
}

void TestMetricsRules::disabledRulesStayQuiet()
{
    const QJsonObject json{
        {u"priority_wait"_s, QJsonObject{{u"enabled"_s, false}}},
        {u"budget"_s, QJsonObject{{u"enabled"_s, false}}},
    };
    bd::FakeClock clock(kT0);
    AlertRules rules(AlertThresholds::fromJson(json), &clock);
    clock.advance(10 * kSecond);
    RuleInputs inputs;
    inputs.budgets.append({1, 10.0, 50.0});
    const QList<AlertEvent> events = rules.evaluate(
        {gauge(names::oldestPendingAgeMs, u"priority=1"_s, kT0, 10 * kSecond, 3600.0 * kSecond)}, inputs);
    QVERIFY2(events.isEmpty(), qPrintable(events.value(0).kind));
}

void TestMetricsRules::thresholdsFromJson()
{
    const QJsonObject json{
        {u"queue_depth"_s,
         QJsonObject{{u"factor"_s, 3.0}, {u"sustain_s"_s, 600}, {u"min_depth"_s, 10}}},
        {u"error_rate"_s, QJsonObject{{u"threshold"_s, 0.1},
                                      {u"window_s"_s, 300},
                                      {u"ignored_classes"_s, QJsonArray{u"timeout"_s}}}},
        {u"cost_per_task"_s, QJsonObject{{u"increase"_s, 0.5}, {u"period_s"_s, 86400}}},
        {u"priority_wait"_s,
         QJsonObject{{u"priority"_s, 2}, {u"max_wait_s"_s, 60}, {u"priority3_max_wait_s"_s, 7200}}},
        {u"budget"_s, QJsonObject{{u"warn_fraction"_s, 0.9}}},
        {u"circuit_open"_s, QJsonObject{{u"enabled"_s, false}}},
        {u"no_progress"_s, QJsonObject{{u"after_s"_s, 120}}},
    };
    const AlertThresholds t = AlertThresholds::fromJson(json);
    QCOMPARE(t.queueDepth.factor, 3.0);
    QCOMPARE(t.queueDepth.clearFactor, 1.5); // default, below the factor
    QCOMPARE(t.queueDepth.sustainMs, 600 * kSecond);
    QCOMPARE(t.queueDepth.minDepth, 10);
    QCOMPARE(t.errorRate.threshold, 0.1);
    QCOMPARE(t.errorRate.windowMs, 300 * kSecond);
    QCOMPARE(t.errorRate.ignoredClasses, QStringList{u"timeout"_s});
    QCOMPARE(t.costPerTask.increase, 0.5);
    QCOMPARE(t.costPerTask.periodMs, kDay);
    QCOMPARE(t.priorityWait.maxWait(1), 5 * kMinute); // older settings named one priority
    QCOMPARE(t.priorityWait.maxWait(2), kMinute);
    QCOMPARE(t.priorityWait.maxWait(3), 2 * 60 * kMinute);
    QCOMPARE(t.budget.warnFraction, 0.9);
    QVERIFY(!t.circuitOpen.enabled);
    QVERIFY(t.quotaExhausted.enabled);
    QCOMPARE(t.noProgress.afterMs, 2 * kMinute);

    // Defaults are the guide's, and they survive a round trip.
    const AlertThresholds d;
    QCOMPARE(d.queueDepth.factor, 2.0);
    QCOMPARE(d.queueDepth.sustainMs, 30 * kMinute);
    QCOMPARE(d.errorRate.threshold, 0.05);
    QCOMPARE(d.errorRate.windowMs, 10 * kMinute);
    QCOMPARE(d.costPerTask.increase, 0.20);
    QCOMPARE(d.costPerTask.periodMs, 7 * kDay);
    QCOMPARE(d.priorityWait.maxWait(1), 5 * kMinute);
    QCOMPARE(d.priorityWait.maxWait(2), 60 * kMinute);
    QCOMPARE(d.priorityWait.maxWait(3), 24 * 60 * kMinute);
    QCOMPARE(d.budget.warnFraction, 0.8);
    QCOMPARE(AlertThresholds::fromJson(t.toJson()).toJson(), t.toJson());
    QCOMPARE(AlertThresholds::fromJson({}).toJson(), d.toJson());
}

void TestMetricsRules::adoptedAlertsClearWhenConditionIsGone()
{
    bd::FakeClock clock(kT0);
    AlertRules rules(AlertThresholds{}, &clock);
    rules.adoptOpen(QString::fromLatin1(kinds::priorityWait), 0, u"from before the restart"_s);
    rules.adoptOpen(u"auth"_s, 3); // not a rule's kind: not the rules' business
    QVERIFY(rules.isRaised(QString::fromLatin1(kinds::priorityWait)));
    QVERIFY(!rules.isRaised(u"auth"_s, 3));
    clock.advance(10 * kSecond);
    const QList<AlertEvent> events =
        rules.evaluate({gauge(names::oldestPendingAgeMs, u"priority=1"_s, kT0, 10 * kSecond, 0)});
    QCOMPARE(events.size(), 1);
    QCOMPARE(events.at(0).kind, QString::fromLatin1(kinds::priorityWait));
    QVERIFY(!events.at(0).raised());
}

void TestMetricsRules::centerNotifiesOncePerTransition()
{
    qRegisterMetaType<AlertEvent>();
    bd::FakeClock clock(kT0);
    AlertCenter center(&clock, AlertThresholds{});
    QSignalSpy raised(&center, &AlertCenter::raised);
    QSignalSpy updated(&center, &AlertCenter::updated);
    QSignalSpy cleared(&center, &AlertCenter::cleared);
    RuleInputs inputs;
    center.setInputsProvider([&inputs] { return inputs; });

    // The dispatcher raises quota_exhausted for job 5 first; the rules see the same
    // failure in the interval and raise it too: one notification, one refresh.
    center.raise(5, QString::fromLatin1(kinds::quotaExhausted), u"quota exhausted: insufficient_quota"_s);
    QCOMPARE(raised.size(), 1);
    clock.advance(10 * kSecond);
    center.evaluate({counter(names::jobTasksFailed, u"error_class=quota_exhausted,job=5"_s, kT0, 10 * kSecond, 1)});
    QCOMPARE(raised.size(), 1);
    QCOMPARE(updated.size(), 1);
    const auto refreshed = updated.at(0).at(0).value<AlertEvent>();
    QCOMPARE(refreshed.atMs, kT0); // still raised at the first time
    QVERIFY(refreshed.figures.contains(u"failures"_s));

    // Budget: raised by the rules, acknowledged by the user, not raised again while the
    // condition lasts; cleared by the rules later without a second cleared().
    inputs.budgets = {{2, 10.0, 9.0}};
    clock.advance(10 * kSecond);
    center.evaluate({});
    QCOMPARE(raised.size(), 2);
    QVERIFY(center.isOpen(QString::fromLatin1(kinds::budget80), 2));
    center.clear(2, QString::fromLatin1(kinds::budget80));
    QCOMPARE(cleared.size(), 1);
    QCOMPARE(cleared.at(0).at(0).value<AlertEvent>().message, u"cleared by the user"_s);
    clock.advance(10 * kSecond);
    center.evaluate({});
    QCOMPARE(raised.size(), 2);
    inputs.budgets = {{2, 100.0, 9.0}};
    clock.advance(10 * kSecond);
    center.evaluate({});
    QCOMPARE(cleared.size(), 1);
    // It comes back: raised again.
    inputs.budgets = {{2, 10.0, 9.5}};
    clock.advance(10 * kSecond);
    center.evaluate({});
    QCOMPARE(raised.size(), 3);
    QCOMPARE(center.openAlerts().size(), 2);
}

void TestMetricsRules::centerClearsByJobLikeTheStore()
{
    qRegisterMetaType<AlertEvent>();
    bd::FakeClock clock(kT0);
    AlertCenter center(&clock, AlertThresholds{});
    QList<bd::AlertRecord> stored;
    for (const auto &[job, kind] : QList<std::pair<qint64, QString>>{
             {0, u"queue_depth_high"_s}, {3, u"auth"_s}, {3, u"budget_80"_s}, {4, u"auth"_s}}) {
        bd::AlertRecord record;
        record.jobId = job;
        record.kind = kind;
        record.message = u"open"_s;
        record.raisedAt = QDateTime::fromMSecsSinceEpoch(kT0 - kHour);
        stored.append(record);
    }
    center.adoptOpen(stored);
    QSignalSpy raised(&center, &AlertCenter::raised);
    QSignalSpy cleared(&center, &AlertCenter::cleared);
    center.raise(3, u"auth"_s, u"still failing"_s); // known open: no second notification
    QCOMPARE(raised.size(), 0);
    center.clear(3, QString());
    QCOMPARE(cleared.size(), 2);
    QVERIFY(center.isOpen(u"auth"_s, 4));
    QVERIFY(center.isOpen(u"queue_depth_high"_s, 0));
    center.clear(0, QString());
    QCOMPARE(cleared.size(), 3);
    QCOMPARE(center.openAlerts().size(), 1);
}

void TestMetricsRules::primeBuildsBaselineWithoutRaising()
{
    // A day of 5-minute rollups at depth 500 from the database, then a live interval at
    // 2000: the baseline is known at once (no hour of warm-up after a restart).
    bd::FakeClock clock(kT0 + kDay);
    AlertThresholds thresholds;
    thresholds.queueDepth.minDepth = 100;
    thresholds.queueDepth.sustainMs = 0;
    AlertRules rules(thresholds, &clock);
    QList<MetricSample> history;
    for (qint64 at = kT0; at < kT0 + kDay; at += 5 * kMinute)
        history.append(gauge(names::queuePending, kP2Sync, at, 5 * kMinute, 500));
    rules.prime(history);
    QVERIFY(!rules.isRaised(QString::fromLatin1(kinds::queueDepthHigh)));
    const qint64 at = clock.nowMs();
    clock.advance(10 * kSecond);
    const QList<AlertEvent> events =
        rules.evaluate({gauge(names::queuePending, kP2Sync, at, 10 * kSecond, 2000)});
    QVERIFY(rules.queueBaseline().has_value());
    QCOMPARE(qRound(*rules.queueBaseline()), 500);
    QCOMPARE(events.size(), 1);
    QCOMPARE(events.at(0).kind, QString::fromLatin1(kinds::queueDepthHigh));
    QCOMPARE(events.at(0).figures.value(u"baseline"_s).toDouble(), 500.0);
}

QTEST_GUILESS_MAIN(TestMetricsRules)
#include "test_metrics_rules.moc"
