#include "alertrules.h"

#include "api/durationtext.h"
#include "core/clock.h"
#include "core/tasktypes.h"
#include "core/usdtext.h"

#include <cmath>
#include <limits>
#include <QDateTime>
#include <QJsonArray>

namespace bd::metrics {

using namespace Qt::StringLiterals;

namespace {

constexpr qint64 kBaselineBucketMs = 5LL * 60 * 1000;
constexpr qint64 kHourMs = 3600LL * 1000;

qint64 alignDown(qint64 t, qint64 step)
{
    qint64 q = t / step;
    if (t % step < 0)
        --q;
    return q * step;
}

QString percent(double fraction)
{
    return QString::number(fraction * 100.0, 'f', 1) + u'%';
}

QString count(double n)
{
    return QString::number(qint64(std::llround(n)));
}

// The keys every alert's figures share, so a front end can say "value > threshold over
// window" without knowing each rule: value and threshold in the rule's own unit (a
// fraction for rates, seconds for waits, USD for spend, tasks for depths).
QJsonObject reading(QJsonObject figures, const QJsonValue &value, const QJsonValue &threshold,
                    const QJsonValue &windowS = QJsonValue::Undefined,
                    const QJsonValue &baseline = QJsonValue::Undefined)
{
    figures.insert(u"value"_s, value);
    figures.insert(u"threshold"_s, threshold);
    if (!windowS.isUndefined())
        figures.insert(u"window_s"_s, windowS);
    if (!baseline.isUndefined())
        figures.insert(u"baseline"_s, baseline);
    return figures;
}

QString iso(qint64 ms)
{
    return QDateTime::fromMSecsSinceEpoch(ms).toUTC().toString(Qt::ISODate);
}

// Reads "<key>": seconds into milliseconds.
qint64 secondsMs(const QJsonObject &o, const char *key, qint64 fallback)
{
    const double v = o.value(QLatin1StringView(key)).toDouble(-1);
    return v >= 0 ? qint64(std::llround(v * 1000.0)) : fallback;
}

double number(const QJsonObject &o, const char *key, double fallback)
{
    const QJsonValue v = o.value(QLatin1StringView(key));
    return v.isDouble() ? v.toDouble() : fallback;
}

bool enabled(const QJsonObject &o, bool fallback)
{
    return o.value(u"enabled"_s).toBool(fallback);
}

} // namespace

// ---------------------------------------------------------------- thresholds

AlertThresholds AlertThresholds::fromJson(const QJsonObject &json)
{
    AlertThresholds t;
    const QJsonObject q = json.value(u"queue_depth"_s).toObject();
    t.queueDepth.enabled = enabled(q, t.queueDepth.enabled);
    t.queueDepth.factor = number(q, "factor", t.queueDepth.factor);
    t.queueDepth.clearFactor = qMin(t.queueDepth.factor, number(q, "clear_factor", t.queueDepth.clearFactor));
    t.queueDepth.sustainMs = secondsMs(q, "sustain_s", t.queueDepth.sustainMs);
    t.queueDepth.baselineWindowMs = secondsMs(q, "baseline_window_s", t.queueDepth.baselineWindowMs);
    t.queueDepth.minHistoryMs = secondsMs(q, "min_history_s", t.queueDepth.minHistoryMs);
    t.queueDepth.minDepth = qint64(number(q, "min_depth", double(t.queueDepth.minDepth)));

    const QJsonObject e = json.value(u"error_rate"_s).toObject();
    t.errorRate.enabled = enabled(e, t.errorRate.enabled);
    t.errorRate.threshold = number(e, "threshold", t.errorRate.threshold);
    t.errorRate.clearThreshold = qMin(t.errorRate.threshold, number(e, "clear_threshold", t.errorRate.clearThreshold));
    t.errorRate.windowMs = qMax<qint64>(1000, secondsMs(e, "window_s", t.errorRate.windowMs));
    t.errorRate.minAttempts = qint64(number(e, "min_attempts", double(t.errorRate.minAttempts)));
    if (e.value(u"ignored_classes"_s).isArray()) {
        t.errorRate.ignoredClasses.clear();
        for (const QJsonValue &v : e.value(u"ignored_classes"_s).toArray())
            t.errorRate.ignoredClasses.append(v.toString());
    }

    const QJsonObject c = json.value(u"cost_per_task"_s).toObject();
    t.costPerTask.enabled = enabled(c, t.costPerTask.enabled);
    t.costPerTask.increase = number(c, "increase", t.costPerTask.increase);
    t.costPerTask.clearIncrease = qMin(t.costPerTask.increase, number(c, "clear_increase", t.costPerTask.clearIncrease));
    t.costPerTask.periodMs = qMax<qint64>(kHourMs, secondsMs(c, "period_s", t.costPerTask.periodMs));
    t.costPerTask.minTasks = qint64(number(c, "min_tasks", double(t.costPerTask.minTasks)));

    const QJsonObject w = json.value(u"priority_wait"_s).toObject();
    t.priorityWait.enabled = enabled(w, t.priorityWait.enabled);
    const int legacyPriority = qBound(1, int(number(w, "priority", 1)), 3);
    qint64 &legacy = t.priorityWait.maxWaitMs[legacyPriority - 1];
    legacy = secondsMs(w, "max_wait_s", legacy);
    for (int priority = 1; priority <= 3; ++priority) {
        qint64 &maxWait = t.priorityWait.maxWaitMs[priority - 1];
        const QByteArray key = "priority" + QByteArray::number(priority) + "_max_wait_s";
        maxWait = qMax<qint64>(1000, secondsMs(w, key.constData(), maxWait));
    }

    const QJsonObject b = json.value(u"budget"_s).toObject();
    t.budget.enabled = enabled(b, t.budget.enabled);
    t.budget.warnFraction = number(b, "warn_fraction", t.budget.warnFraction);

    t.circuitOpen.enabled = enabled(json.value(u"circuit_open"_s).toObject(), true);
    t.quotaExhausted.enabled = enabled(json.value(u"quota_exhausted"_s).toObject(), true);

    const QJsonObject p = json.value(u"no_progress"_s).toObject();
    t.noProgress.enabled = enabled(p, t.noProgress.enabled);
    t.noProgress.afterMs = secondsMs(p, "after_s", t.noProgress.afterMs);
    return t;
}

QJsonObject AlertThresholds::toJson() const
{
    auto s = [](qint64 ms) { return double(ms) / 1000.0; };
    return QJsonObject{
        {u"queue_depth"_s, QJsonObject{{u"enabled"_s, queueDepth.enabled},
                                       {u"factor"_s, queueDepth.factor},
                                       {u"clear_factor"_s, queueDepth.clearFactor},
                                       {u"sustain_s"_s, s(queueDepth.sustainMs)},
                                       {u"baseline_window_s"_s, s(queueDepth.baselineWindowMs)},
                                       {u"min_history_s"_s, s(queueDepth.minHistoryMs)},
                                       {u"min_depth"_s, double(queueDepth.minDepth)}}},
        {u"error_rate"_s,
         QJsonObject{{u"enabled"_s, errorRate.enabled},
                     {u"threshold"_s, errorRate.threshold},
                     {u"clear_threshold"_s, errorRate.clearThreshold},
                     {u"window_s"_s, s(errorRate.windowMs)},
                     {u"min_attempts"_s, double(errorRate.minAttempts)},
                     {u"ignored_classes"_s, QJsonArray::fromStringList(errorRate.ignoredClasses)}}},
        {u"cost_per_task"_s, QJsonObject{{u"enabled"_s, costPerTask.enabled},
                                         {u"increase"_s, costPerTask.increase},
                                         {u"clear_increase"_s, costPerTask.clearIncrease},
                                         {u"period_s"_s, s(costPerTask.periodMs)},
                                         {u"min_tasks"_s, double(costPerTask.minTasks)}}},
        {u"priority_wait"_s, QJsonObject{{u"enabled"_s, priorityWait.enabled},
                                         {u"max_wait_s"_s, s(priorityWait.maxWait(1))},
                                         {u"priority2_max_wait_s"_s, s(priorityWait.maxWait(2))},
                                         {u"priority3_max_wait_s"_s, s(priorityWait.maxWait(3))}}},
        {u"budget"_s,
         QJsonObject{{u"enabled"_s, budget.enabled}, {u"warn_fraction"_s, budget.warnFraction}}},
        {u"circuit_open"_s, QJsonObject{{u"enabled"_s, circuitOpen.enabled}}},
        {u"quota_exhausted"_s, QJsonObject{{u"enabled"_s, quotaExhausted.enabled}}},
        {u"no_progress"_s,
         QJsonObject{{u"enabled"_s, noProgress.enabled}, {u"after_s"_s, s(noProgress.afterMs)}}},
    };
}

// ---------------------------------------------------------------- rules

AlertRules::AlertRules(const AlertThresholds &thresholds, const Clock *clock)
    : m_thresholds(thresholds)
    , m_clock(clock)
{
}

QStringList AlertRules::ruleKinds()
{
    return {QString::fromLatin1(kinds::queueDepthHigh), QString::fromLatin1(kinds::errorRateHigh),
            QString::fromLatin1(kinds::costPerTaskUp),  QString::fromLatin1(kinds::priorityWait),
            QString::fromLatin1(kinds::priority2Wait),  QString::fromLatin1(kinds::priority3Wait),
            QString::fromLatin1(kinds::budget80),       QString::fromLatin1(kinds::budgetExhausted),
            QString::fromLatin1(kinds::quotaExhausted), QString::fromLatin1(kinds::noProgress)};
}

void AlertRules::adoptOpen(const QString &kind, qint64 jobId, const QString &message)
{
    if (ruleKinds().contains(kind))
        m_open.insert(AlertKey{kind, jobId}, message);
}

bool AlertRules::isRaised(const QString &kind, qint64 jobId) const
{
    return m_open.contains(AlertKey{kind, jobId});
}

std::optional<double> AlertRules::queueBaseline() const
{
    return m_baseline;
}

void AlertRules::raise(QList<AlertEvent> &out, const QString &kind, qint64 jobId,
                       const QString &message, const QJsonObject &figures)
{
    const AlertKey key{kind, jobId};
    if (m_open.contains(key))
        return;
    m_open.insert(key, message);
    out.append(AlertEvent{AlertEvent::Type::Raised, kind, jobId, message, figures, m_clock->nowMs()});
}

void AlertRules::clear(QList<AlertEvent> &out, const QString &kind, qint64 jobId,
                       const QString &message, const QJsonObject &figures)
{
    if (m_open.remove(AlertKey{kind, jobId}) == 0)
        return;
    out.append(AlertEvent{AlertEvent::Type::Cleared, kind, jobId, message, figures, m_clock->nowMs()});
}

void AlertRules::prime(const QList<MetricSample> &samples)
{
    observe(samples, m_clock->nowMs());
}

void AlertRules::observe(const QList<MetricSample> &samples, qint64 nowMs)
{
    QMap<qint64, std::pair<double, qint64>> depthAt; // interval start -> (total, resolution)
    QMap<qint64, ErrorEntry> errorsAt;
    const QStringList &ignored = m_thresholds.errorRate.ignoredClasses;
    for (const MetricSample &s : samples) {
        if (s.metric == QLatin1StringView(names::queuePending)) {
            auto &depth = depthAt[s.atMs];
            depth.first += s.value;
            depth.second = s.resolutionMs;
        } else if (s.metric == QLatin1StringView(names::tasksCompleted)) {
            ErrorEntry &entry = errorsAt[s.atMs];
            entry.atMs = s.atMs;
            entry.attempts += s.sum;
            m_costHours[alignDown(s.atMs, kHourMs)].second += s.sum;
        } else if (s.metric == QLatin1StringView(names::tasksFailed)) {
            QString errorClass = labelValue(s.labels, u"error_class"_s);
            if (ignored.contains(errorClass) || s.sum <= 0)
                continue;
            ErrorEntry &entry = errorsAt[s.atMs];
            entry.atMs = s.atMs;
            entry.attempts += s.sum;
            entry.failures += s.sum;
            entry.byClass[errorClass] += s.sum;
        } else if (s.metric == QLatin1StringView(names::costUsd)) {
            m_costHours[alignDown(s.atMs, kHourMs)].first += s.sum;
        }
    }

    for (auto it = depthAt.cbegin(); it != depthAt.cend(); ++it) {
        const double weight = double(qMax<qint64>(1, it->second));
        auto &bucket = m_depthBuckets[alignDown(it.key(), kBaselineBucketMs)];
        bucket.first += it->first * weight;
        bucket.second += weight;
        if (m_depthFirstMs < 0 || it.key() < m_depthFirstMs)
            m_depthFirstMs = it.key();
    }
    for (const ErrorEntry &entry : std::as_const(errorsAt)) {
        if (!m_errors.isEmpty() && m_errors.constLast().atMs == entry.atMs) {
            ErrorEntry &last = m_errors.last();
            last.attempts += entry.attempts;
            last.failures += entry.failures;
            for (auto it = entry.byClass.cbegin(); it != entry.byClass.cend(); ++it)
                last.byClass[it.key()] += it.value();
        } else {
            m_errors.append(entry);
        }
    }

    // Bounded memory: only what the windows can still see.
    const qint64 depthFrom = nowMs - m_thresholds.queueDepth.baselineWindowMs - kBaselineBucketMs;
    while (!m_depthBuckets.isEmpty() && m_depthBuckets.firstKey() < depthFrom)
        m_depthBuckets.erase(m_depthBuckets.begin());
    const qint64 errorsFrom = nowMs - 2 * m_thresholds.errorRate.windowMs;
    while (!m_errors.isEmpty() && m_errors.constFirst().atMs < errorsFrom)
        m_errors.removeFirst();
    const qint64 costFrom = nowMs - 2 * m_thresholds.costPerTask.periodMs - kHourMs;
    while (!m_costHours.isEmpty() && m_costHours.firstKey() < costFrom)
        m_costHours.erase(m_costHours.begin());
}

QList<AlertEvent> AlertRules::evaluate(const QList<MetricSample> &samples, const RuleInputs &inputs)
{
    QList<AlertEvent> out;
    const qint64 now = m_clock->nowMs();

    // The baseline is what was normal before this interval.
    m_baseline.reset();
    if (m_depthFirstMs >= 0 && now - m_depthFirstMs >= m_thresholds.queueDepth.minHistoryMs) {
        double weighted = 0, weight = 0;
        const qint64 from = now - m_thresholds.queueDepth.baselineWindowMs;
        for (auto it = m_depthBuckets.lowerBound(alignDown(from, kBaselineBucketMs));
             it != m_depthBuckets.cend(); ++it) {
            weighted += it->first;
            weight += it->second;
        }
        if (weight > 0)
            m_baseline = weighted / weight;
    }
    observe(samples, now);

    qint64 latestAt = std::numeric_limits<qint64>::min();
    for (const MetricSample &s : samples)
        latestAt = qMax(latestAt, s.atMs);
    QList<MetricSample> latest;
    for (const MetricSample &s : samples) {
        if (s.atMs == latestAt)
            latest.append(s);
    }

    checkQueueDepth(out, latest, now);
    checkErrorRate(out, now);
    checkCostPerTask(out, now);
    checkPriorityWait(out, latest);
    checkBudgets(out, inputs);
    checkJobs(out, samples, latest, now);
    return out;
}

void AlertRules::checkQueueDepth(QList<AlertEvent> &out, const QList<MetricSample> &latest, qint64 now)
{
    const auto &t = m_thresholds.queueDepth;
    const QString kind = QString::fromLatin1(kinds::queueDepthHigh);
    if (!t.enabled) {
        clear(out, kind, 0, u"queue depth rule disabled"_s);
        m_depthExceedSince.reset();
        return;
    }
    bool known = false;
    double depth = 0;
    qint64 at = 0;
    for (const MetricSample &s : latest) {
        if (s.metric == QLatin1StringView(names::queuePending)) {
            depth += s.value;
            known = true;
            at = s.atMs;
        }
    }
    if (!known)
        return; // no reading this interval: keep the state as it is
    const QJsonObject figures = reading(
        QJsonObject{
            {u"depth"_s, depth},
            {u"ratio"_s, m_baseline && *m_baseline > 0 ? QJsonValue(depth / *m_baseline) : QJsonValue()},
            {u"factor"_s, t.factor},
            {u"sustain_s"_s, double(t.sustainMs) / 1000.0},
        },
        depth, m_baseline ? QJsonValue(t.factor * *m_baseline) : QJsonValue(),
        double(t.sustainMs) / 1000.0, m_baseline ? QJsonValue(*m_baseline) : QJsonValue());
    if (isRaised(kind, 0)) {
        const bool stillHigh = m_baseline && depth >= double(t.minDepth) && depth > t.clearFactor * *m_baseline;
        if (!stillHigh) {
            m_depthExceedSince.reset();
            clear(out, kind, 0,
                  u"queue depth back to %1 (baseline %2)"_s.arg(count(depth),
                                                                  m_baseline ? count(*m_baseline) : u"unknown"_s),
                  figures);
        }
        return;
    }
    const bool breach = m_baseline && depth >= double(t.minDepth) && depth > t.factor * *m_baseline;
    if (!breach) {
        m_depthExceedSince.reset();
        return;
    }
    if (!m_depthExceedSince)
        m_depthExceedSince = at;
    const qint64 lasting = now - *m_depthExceedSince;
    if (lasting > t.sustainMs) {
        QJsonObject f = figures;
        f.insert(u"since"_s, iso(*m_depthExceedSince));
        f.insert(u"duration_s"_s, double(lasting) / 1000.0);
        const QString times = *m_baseline > 0
                                  ? QString::number(depth / *m_baseline, 'f', 1) + u"x"_s
                                  : u"far above"_s;
        raise(out, kind, 0,
              u"queue depth %1 is %2 its baseline of %3 and has been above %4x for %5"_s.arg(
                  count(depth), times, count(*m_baseline), QString::number(t.factor, 'g', 3),
                  durationText(lasting)),
              f);
    }
}

void AlertRules::checkErrorRate(QList<AlertEvent> &out, qint64 now)
{
    const auto &t = m_thresholds.errorRate;
    const QString kind = QString::fromLatin1(kinds::errorRateHigh);
    if (!t.enabled) {
        clear(out, kind, 0, u"error rate rule disabled"_s);
        return;
    }
    double attempts = 0, failures = 0;
    QMap<QString, double> byClass;
    for (const ErrorEntry &entry : std::as_const(m_errors)) {
        if (entry.atMs < now - t.windowMs)
            continue;
        attempts += entry.attempts;
        failures += entry.failures;
        for (auto it = entry.byClass.cbegin(); it != entry.byClass.cend(); ++it)
            byClass[it.key()] += it.value();
    }
    const double rate = attempts > 0 ? failures / attempts : 0.0;
    QJsonObject classes;
    QStringList parts;
    for (auto it = byClass.cbegin(); it != byClass.cend(); ++it) {
        classes.insert(it.key(), it.value());
        parts.append(it.key() + u' ' + count(it.value()));
    }
    const QJsonObject figures = reading(
        QJsonObject{
            {u"rate"_s, rate},
            {u"failures"_s, failures},
            {u"attempts"_s, attempts},
            {u"by_class"_s, classes},
        },
        rate, t.threshold, double(t.windowMs) / 1000.0);
    const bool enough = attempts >= double(qMax<qint64>(1, t.minAttempts));
    if (isRaised(kind, 0)) {
        if (attempts == 0 || (enough && rate <= t.clearThreshold))
            clear(out, kind, 0,
                  u"error rate back to %1 (%2 of %3 calls) in the last %4"_s.arg(
                      percent(rate), count(failures), count(attempts), durationText(t.windowMs)),
                  figures);
        return;
    }
    if (enough && rate > t.threshold) {
        raise(out, kind, 0,
              u"error rate %1 (%2 of %3 calls) in the last %4, above %5: %6"_s.arg(
                  percent(rate), count(failures), count(attempts), durationText(t.windowMs),
                  percent(t.threshold), parts.join(u", "_s)),
              figures);
    }
}

void AlertRules::checkCostPerTask(QList<AlertEvent> &out, qint64 now)
{
    const auto &t = m_thresholds.costPerTask;
    const QString kind = QString::fromLatin1(kinds::costPerTaskUp);
    if (!t.enabled) {
        clear(out, kind, 0, u"cost per task rule disabled"_s);
        return;
    }
    double curCost = 0, curTasks = 0, prevCost = 0, prevTasks = 0;
    for (auto it = m_costHours.cbegin(); it != m_costHours.cend(); ++it) {
        if (it.key() >= now - t.periodMs) {
            curCost += it->first;
            curTasks += it->second;
        } else if (it.key() >= now - 2 * t.periodMs) {
            prevCost += it->first;
            prevTasks += it->second;
        }
    }
    const bool enough = curTasks >= double(qMax<qint64>(1, t.minTasks))
                        && prevTasks >= double(qMax<qint64>(1, t.minTasks)) && prevCost > 0;
    const double current = curTasks > 0 ? curCost / curTasks : 0.0;
    const double previous = prevTasks > 0 ? prevCost / prevTasks : 0.0;
    const double increase = enough ? current / previous - 1.0 : 0.0;
    const QJsonObject figures = reading(
        QJsonObject{
            {u"cost_per_task"_s, current},
            {u"previous_cost_per_task"_s, previous},
            {u"increase"_s, increase},
            {u"tasks"_s, curTasks},
            {u"previous_tasks"_s, prevTasks},
            {u"period_s"_s, double(t.periodMs) / 1000.0},
        },
        increase, t.increase, double(t.periodMs) / 1000.0, previous);
    if (isRaised(kind, 0)) {
        if (!enough || increase <= t.clearIncrease)
            clear(out, kind, 0,
                  enough ? u"cost per task %1, %2 against the period before"_s.arg(
                               usdText(current),
                               (increase >= 0 ? u"+"_s : QString()) + percent(increase))
                         : u"cost per task: not enough tasks to compare"_s,
                  figures);
        return;
    }
    if (enough && increase > t.increase) {
        raise(out, kind, 0,
              u"cost per task %1 over the last %2, up %3 from %4 the %2 before (%5 and %6 tasks)"_s
                  .arg(usdText(current), durationText(t.periodMs), percent(increase),
                       usdText(previous), count(curTasks), count(prevTasks)),
              figures);
    }
}

void AlertRules::checkPriorityWait(QList<AlertEvent> &out, const QList<MetricSample> &latest)
{
    const auto &t = m_thresholds.priorityWait;
    static const char *const kinds[3] = {kinds::priorityWait, kinds::priority2Wait,
                                         kinds::priority3Wait};
    for (int level = 1; level <= 3; ++level) {
        const QString kind = QString::fromLatin1(kinds[level - 1]);
        if (!t.enabled) {
            clear(out, kind, 0, u"priority wait rule disabled"_s);
            continue;
        }
        const QString priority = QString::number(level);
        const qint64 maxWaitMs = t.maxWait(level);
        bool known = false;
        double age = 0, pending = 0;
        for (const MetricSample &s : latest) {
            if (s.metric == QLatin1StringView(names::oldestPendingAgeMs) &&
                labelValue(s.labels, u"priority"_s) == priority) {
                age = qMax(age, s.max);
                known = true;
            } else if (s.metric == QLatin1StringView(names::queuePending) &&
                       labelValue(s.labels, u"priority"_s) == priority) {
                pending += s.value;
                known = true;
            }
        }
        if (!known && !isRaised(kind, 0))
            continue;
        const QJsonObject figures = reading(
            QJsonObject{
                {u"priority"_s, level},
                {u"oldest_wait_s"_s, age / 1000.0},
                {u"max_wait_s"_s, double(maxWaitMs) / 1000.0},
                {u"pending"_s, pending},
            },
            age / 1000.0, double(maxWaitMs) / 1000.0);
        if (age > double(maxWaitMs)) {
            raise(
                out, kind, 0,
                u"a priority-%1 task has waited %2 (limit %3); %4 priority-%1 tasks pending"_s.arg(
                    priority, durationText(qint64(age)), durationText(maxWaitMs), count(pending)),
                figures);
        } else {
            clear(out, kind, 0,
                  u"priority-%1 tasks wait %2 at most now"_s.arg(priority, durationText(qint64(age))),
                  figures);
        }
    }
}

void AlertRules::checkBudgets(QList<AlertEvent> &out, const RuleInputs &inputs)
{
    const auto &t = m_thresholds.budget;
    const QString warnKind = QString::fromLatin1(kinds::budget80);
    const QString fullKind = QString::fromLatin1(kinds::budgetExhausted);
    for (const RuleInputs::Budget &b : inputs.budgets) {
        const double fraction = b.budgetUsd > 0 ? b.spentUsd / b.budgetUsd : 0.0;
        const QJsonObject figures = reading(
            QJsonObject{
                {u"budget_usd"_s, b.budgetUsd},
                {u"spent_usd"_s, b.spentUsd},
                {u"fraction"_s, fraction},
            },
            b.spentUsd, b.budgetUsd);
        if (!t.enabled || b.budgetUsd <= 0) {
            clear(out, fullKind, b.jobId, u"no budget"_s, figures);
            clear(out, warnKind, b.jobId, u"no budget"_s, figures);
            continue;
        }
        if (fraction >= t.warnFraction)
            raise(out, warnKind, b.jobId,
                  u"%1 of the %2 budget spent (%3)"_s.arg(percent(fraction), usdText(b.budgetUsd),
                                                          usdText(b.spentUsd)),
                  figures);
        else
            clear(out, warnKind, b.jobId,
                  u"spend %1 of the %2 budget"_s.arg(percent(fraction), usdText(b.budgetUsd)),
                  figures);
        if (fraction >= 1.0)
            raise(
                out, fullKind, b.jobId,
                u"budget of %1 reached (%2 spent)"_s.arg(usdText(b.budgetUsd), usdText(b.spentUsd)),
                figures);
        else
            clear(out, fullKind, b.jobId,
                  u"spend %1 of the %2 budget"_s.arg(percent(fraction), usdText(b.budgetUsd)),
                  figures);
    }
}

void AlertRules::checkJobs(QList<AlertEvent> &out, const QList<MetricSample> &all,
                           const QList<MetricSample> &latest, qint64 now)
{
    const QString quotaKind = QString::fromLatin1(kinds::quotaExhausted);
    const QString idleKind = QString::fromLatin1(kinds::noProgress);
    struct JobState
    {
        double quotaFailures = 0;
        double completed = 0;
        double dead = 0;
        bool reported = false;
        bool running = false;
        double pending = 0;
        double leased = 0;
    };
    QMap<qint64, JobState> jobs;
    auto jobOf = [](const MetricSample &s) { return labelValue(s.labels, u"job"_s).toLongLong(); };
    for (const MetricSample &s : all) {
        if (s.metric == QLatin1StringView(names::jobTasksFailed)
            && labelValue(s.labels, u"error_class"_s) == errorClassName(ErrorClass::QuotaExhausted))
            jobs[jobOf(s)].quotaFailures += s.sum;
        else if (s.metric == QLatin1StringView(names::jobTasksCompleted))
            jobs[jobOf(s)].completed += s.sum;
        else if (s.metric == QLatin1StringView(names::jobTasksDead))
            jobs[jobOf(s)].dead += s.sum;
    }
    for (const MetricSample &s : latest) {
        if (s.metric == QLatin1StringView(names::jobRunning)) {
            JobState &job = jobs[jobOf(s)];
            job.reported = true;
            job.running = s.max >= 1.0;
        } else if (s.metric == QLatin1StringView(names::jobQueuePending)) {
            jobs[jobOf(s)].pending += s.value;
        } else if (s.metric == QLatin1StringView(names::jobQueueLeased)) {
            jobs[jobOf(s)].leased += s.value;
        }
    }

    // Quota: raised by a quota failure, cleared once the job answers again.
    for (auto it = jobs.cbegin(); it != jobs.cend(); ++it) {
        const JobState &job = it.value();
        if (!m_thresholds.quotaExhausted.enabled) {
            clear(out, quotaKind, it.key(), u"quota rule disabled"_s);
        } else if (job.quotaFailures > 0) {
            raise(out, quotaKind, it.key(),
                  u"quota exhausted: the provider refused %1 call(s) with insufficient_quota; the job is paused until the quota is raised"_s
                      .arg(count(job.quotaFailures)),
                  reading(QJsonObject{{u"failures"_s, job.quotaFailures}}, job.quotaFailures, 0.0));
        } else if (job.completed > 0) {
            clear(out, quotaKind, it.key(), u"the job completes tasks again"_s,
                  QJsonObject{{u"completed"_s, job.completed}});
        }
    }

    // No progress while running with work left.
    const auto &t = m_thresholds.noProgress;
    QSet<qint64> active;
    for (auto it = jobs.cbegin(); it != jobs.cend(); ++it) {
        const qint64 jobId = it.key();
        const JobState &job = it.value();
        const double work = job.pending + job.leased;
        const QJsonObject base{{u"pending"_s, job.pending}, {u"leased"_s, job.leased}};
        if (!t.enabled || !job.reported || !job.running || work <= 0) {
            m_lastProgress.remove(jobId);
            clear(out, idleKind, jobId,
                  !job.running ? u"the job is no longer running"_s : u"the job has no work left"_s, base);
            continue;
        }
        active.insert(jobId);
        if (job.completed + job.dead > 0 || !m_lastProgress.contains(jobId)) {
            m_lastProgress.insert(jobId, now);
            if (job.completed + job.dead > 0)
                clear(out, idleKind, jobId,
                      u"progress again: %1 task(s) finished"_s.arg(count(job.completed + job.dead)), base);
            continue;
        }
        const qint64 idle = now - m_lastProgress.value(jobId);
        if (idle >= t.afterMs) {
            QJsonObject figures = reading(base, double(idle) / 1000.0, double(t.afterMs) / 1000.0);
            figures.insert(u"idle_s"_s, double(idle) / 1000.0);
            figures.insert(u"after_s"_s, double(t.afterMs) / 1000.0);
            raise(out, idleKind, jobId,
                  u"job %1 has made no progress for %2 with %3 task(s) waiting and %4 in flight"_s.arg(
                      QString::number(jobId), durationText(idle), count(job.pending), count(job.leased)),
                  figures);
        }
    }
    // Jobs that vanished from the reports: nothing to watch any more.
    QList<qint64> gone;
    for (auto it = m_lastProgress.cbegin(); it != m_lastProgress.cend(); ++it) {
        if (!active.contains(it.key()))
            gone.append(it.key());
    }
    for (const qint64 jobId : std::as_const(gone))
        m_lastProgress.remove(jobId);
    QList<qint64> stale;
    for (auto it = m_open.cbegin(); it != m_open.cend(); ++it) {
        if (it.key().first == idleKind && !jobs.contains(it.key().second))
            stale.append(it.key().second);
    }
    for (const qint64 jobId : std::as_const(stale))
        clear(out, idleKind, jobId, u"the job is no longer reported"_s);
}

} // namespace bd::metrics
