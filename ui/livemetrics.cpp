#include "livemetrics.h"

#include <algorithm>

namespace bd::ui {

namespace {
constexpr qint64 kFineSpanMs = 3600'000;
constexpr qint64 kCoarseSpanMs = 7 * 24 * 3600'000LL;
constexpr qint64 kCoarseStepMs = 60'000;
constexpr qint64 kRateWindowMs = 30'000;
} // namespace

LiveMetrics::LiveMetrics(QObject *parent, qint64 jobId)
    : MetricSource(parent)
    , m_jobId(jobId)
{
}

void LiveMetrics::addSnapshot(const EngineSnapshot &snapshot)
{
    if (m_jobId == 0) {
        addJobs(snapshot.atMs, snapshot.jobs);
        return;
    }
    QList<JobSnapshot> jobs;
    for (const JobSnapshot &job : snapshot.jobs) {
        if (job.jobId == m_jobId)
            jobs.append(job);
    }
    addJobs(snapshot.atMs, jobs);
}

void LiveMetrics::addJobs(qint64 atMs, const QList<JobSnapshot> &jobs)
{
    EngineSnapshot snapshot;
    snapshot.atMs = atMs;
    snapshot.jobs = jobs;
    Sample sample;
    sample.atMs = snapshot.atMs;
    for (int p = 1; p <= 3; ++p)
        sample.pending[p - 1] = snapshot.pendingAtPriority(p);
    const TaskCounts totals = snapshot.totals();
    sample.inFlight = totals.leased;
    for (const JobSnapshot &job : snapshot.jobs) {
        const qint64 finished = job.counts.completed + job.counts.dead + job.counts.cancelled;
        const qint64 before = m_finishedOfJob.value(job.jobId, -1);
        if (before >= 0 && finished > before) // a replay lowers it: no negative progress
            m_finishedWhileWatched += finished - before;
        m_finishedOfJob.insert(job.jobId, finished);
    }
    noteJobProgress(atMs, jobs);
    sample.finished = m_finishedWhileWatched;
    sample.completed = totals.completed;
    sample.dead = totals.dead;
    sample.spendUsd = snapshot.costUsd();
    addSample(sample);
}

void LiveMetrics::addSample(const Sample &sample)
{
    if (!m_fine.empty() && sample.atMs <= m_fine.back().atMs)
        return;
    m_fine.push_back(sample);
    while (!m_fine.empty() && m_fine.front().atMs < sample.atMs - kFineSpanMs)
        m_fine.pop_front();
    if (m_coarse.empty() || sample.atMs - m_coarse.back().atMs >= kCoarseStepMs)
        m_coarse.push_back(sample);
    while (!m_coarse.empty() && m_coarse.front().atMs < sample.atMs - kCoarseSpanMs)
        m_coarse.pop_front();
    Q_EMIT changed();
}

qint64 LiveMetrics::earliestMs() const
{
    if (!m_coarse.empty())
        return m_coarse.front().atMs;
    return m_fine.empty() ? 0 : m_fine.front().atMs;
}

double LiveMetrics::currentRate() const
{
    if (m_fine.size() < 2)
        return 0;
    const Sample &last = m_fine.back();
    auto first = std::lower_bound(m_fine.begin(), m_fine.end(), last.atMs - kRateWindowMs,
                                  [](const Sample &s, qint64 t) { return s.atMs < t; });
    if (first == m_fine.end() || first->atMs >= last.atMs)
        return 0;
    if (first->finished > last.finished)
        return 0;
    return double(last.finished - first->finished) * 60'000.0 / double(last.atMs - first->atMs);
}

void LiveMetrics::noteJobProgress(qint64 atMs, const QList<JobSnapshot> &jobs)
{
    if (!m_fine.empty() && atMs <= m_fine.back().atMs)
        return; // addSample drops it too
    QHash<qint64, JobProgress> progress;
    for (const JobSnapshot &job : jobs) {
        JobProgress entry = m_jobProgress.value(job.jobId);
        entry.finished.emplace_back(atMs,
                                    job.counts.completed + job.counts.dead + job.counts.cancelled);
        while (entry.finished.front().first < atMs - kRateWindowMs)
            entry.finished.pop_front();
        entry.unfinished = job.counts.unfinished();
        progress.insert(job.jobId, std::move(entry));
    }
    m_jobProgress = std::move(progress);
}

double LiveMetrics::rateOfUnfinishedJobs() const
{
    double sum = 0;
    for (const JobProgress &job : m_jobProgress) {
        if (job.unfinished <= 0 || job.finished.size() < 2)
            continue;
        const auto &[fromMs, fromDone] = job.finished.front();
        const auto &[toMs, toDone] = job.finished.back();
        if (toMs > fromMs && toDone > fromDone) // a replay lowers it: no negative pace
            sum += double(toDone - fromDone) * 60'000.0 / double(toMs - fromMs);
    }
    return sum;
}

bool LiveMetrics::isLive(Metric metric)
{
    return metric < Metric::WaitP50;
}

double LiveMetrics::value(Metric metric, const Sample &s, const Sample *previous) const
{
    switch (metric) {
    case Metric::QueuePriority1: return double(s.pending[0]);
    case Metric::QueuePriority2: return double(s.pending[1]);
    case Metric::QueuePriority3: return double(s.pending[2]);
    case Metric::InFlight: return double(s.inFlight);
    case Metric::SpendUsd: return s.spendUsd;
    case Metric::Completed: return double(s.completed);
    case Metric::Dead: return double(s.dead);
    case Metric::RatePerMinute:
        if (!previous || s.atMs <= previous->atMs || s.finished < previous->finished)
            return 0;
        return double(s.finished - previous->finished) * 60'000.0 / double(s.atMs - previous->atMs);
    case Metric::CostPerTask:
        if (!previous || s.completed <= previous->completed)
            return 0;
        return (s.spendUsd - previous->spendUsd) / double(s.completed - previous->completed);
    case Metric::WaitP50:
    case Metric::WaitP95:
    case Metric::RunP50:
    case Metric::RunP95:
        break; // not in snapshots
    }
    return 0;
}

QList<QPointF> LiveMetrics::points(Metric metric, qint64 fromMs, qint64 toMs, int maxPoints) const
{
    // The fine tier when it covers the range, else the coarse one.
    const bool fine = toMs - fromMs <= kFineSpanMs || m_coarse.size() < 2;
    const std::deque<Sample> &samples = fine ? m_fine : m_coarse;
    QList<QPointF> result;
    if (samples.empty() || !isLive(metric))
        return result;
    auto begin = std::lower_bound(samples.begin(), samples.end(), fromMs,
                                  [](const Sample &s, qint64 t) { return s.atMs < t; });
    auto end = std::upper_bound(samples.begin(), samples.end(), toMs,
                                [](qint64 t, const Sample &s) { return t < s.atMs; });
    const qsizetype n = std::distance(begin, end);
    if (n <= 0)
        return result;
    // Rates are differences: over a stride of samples, so decimation keeps them smooth. The
    // newest sample is always among the points: the chart's present is the engine's.
    const qsizetype stride = qMax<qsizetype>(1, (n + maxPoints - 1) / qMax(1, maxPoints));
    const bool isRate = metric == Metric::RatePerMinute || metric == Metric::CostPerTask;
    // A rate over a few samples (~5 s) reads steadier than one from tick to tick.
    const qsizetype rateSpan = isRate ? qMax<qsizetype>(stride, fine ? 5 : 1) : stride;
    result.reserve(n / stride + 1);
    const qsizetype firstIndex = std::distance(samples.begin(), begin);
    for (qsizetype i = 0; i < n; i = (i + stride < n || i == n - 1) ? i + stride : n - 1) {
        const qsizetype index = firstIndex + i;
        const Sample &s = samples[size_t(index)];
        const Sample *previous = index >= rateSpan ? &samples[size_t(index - rateSpan)]
                                 : index > 0       ? &samples.front()
                                                   : nullptr;
        // Cost per task is undefined while nothing completes: no point, not a false zero.
        if (metric == Metric::CostPerTask && (!previous || s.completed <= previous->completed))
            continue;
        result.append(QPointF(double(s.atMs), value(metric, s, previous)));
    }
    return result;
}

} // namespace bd::ui
