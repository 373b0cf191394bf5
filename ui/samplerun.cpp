#include "samplerun.h"

#include "api/jobsettings.h"
#include "providerconfig.h"

#include <cmath>

namespace bd::ui {

using namespace Qt::StringLiterals;

qint64 projectedSeconds(qint64 rows, qint64 meanLatencyMs, int concurrency, int rpm)
{
    if (rows <= 0)
        return 0;
    if (meanLatencyMs < 0)
        return -1;
    const double roundTrips = std::ceil(double(rows) / double(qMax(1, concurrency)));
    double seconds = roundTrips * double(meanLatencyMs) / 1000.0;
    if (rpm > 0)
        seconds = qMax(seconds, double(rows) * 60.0 / double(rpm));
    return qint64(std::ceil(seconds));
}

SampleRun::SampleRun(Engine *engine, QObject *parent)
    : QObject(parent)
    , m_engine(engine)
{
    if (!m_engine)
        return;
    connect(m_engine, &Engine::jobChecked, this, &SampleRun::handleChecked);
    connect(m_engine, &Engine::importFinished, this, &SampleRun::handleImported);
    connect(m_engine, &Engine::jobProgressed, this, &SampleRun::handleProgress);
    connect(m_engine, &Engine::jobStopped, this, &SampleRun::handleStopped);
    connect(m_engine, &Engine::jobFailed, this, &SampleRun::handleFailed);
    connect(m_engine, &Engine::jobsListed, this, &SampleRun::handleJobs);
    connect(m_engine, &Engine::taskPageReady, this, &SampleRun::handleRows);
    connect(m_engine, &Engine::samplesCompared, this, &SampleRun::handleCompared);
    connect(m_engine, &Engine::readFailed, this, &SampleRun::handleReadFailed);
}

SampleRun::~SampleRun() = default;

bool SampleRun::start(const QList<SampleCandidate> &candidates, int rows)
{
    // The engine's import answers are anonymous: one run at a time, or a late answer
    // would be taken for another candidate's.
    if (m_running || m_importing)
        return false;
    m_stopRequested = false;
    m_candidates = candidates.mid(0, kMaxCandidates);
    m_rows = qMax(1, rows);
    m_outcomes.clear();
    m_comparison.reset();
    m_rowTickets.clear();
    m_compareTicket = 0;
    m_next = 0;
    m_running = true;
    for (const SampleCandidate &candidate : std::as_const(m_candidates)) {
        SampleOutcome outcome;
        outcome.label = candidate.label;
        outcome.spec = candidate.draft.spec;
        m_outcomes.append(outcome);
    }
    Q_EMIT progressed();
    checkNext();
    return true;
}

void SampleRun::stop()
{
    if (!m_engine || !m_running)
        return;
    m_stopRequested = true;
    for (const SampleOutcome &outcome : std::as_const(m_outcomes)) {
        if (outcome.jobId && !outcome.stopped)
            m_engine->pauseJob(outcome.jobId, StopCause::User);
    }
    if (!m_importing && !m_checkTicket)
        checkNext();
}

void SampleRun::checkNext()
{
    if (!m_engine)
        return;
    if (m_stopRequested) {
        for (; m_next < m_outcomes.size(); ++m_next)
            m_outcomes[m_next].error = tr("not run: the sample was stopped");
    }
    if (m_next >= m_candidates.size()) {
        checkFinished();
        return;
    }
    // The sample of this candidate: the rows spread over the input, on synchronous calls
    // now; nothing else of the whole file's job changes (the cache key stays the same).
    JobDraft draft = m_candidates.at(m_next).draft;
    draft.spec.settings.insert(settingkeys::sampleRows, m_rows);
    draft.spec.settings.remove(settingkeys::deadlineMs);
    draft.spec.priority = 1;
    draft.spec.mode = u"realtime"_s;
    m_checkTicket = m_engine->newTicket();
    m_engine->checkJob(m_checkTicket, draft);
}

void SampleRun::handleChecked(quint64 ticket, const JobCheck &check)
{
    if (ticket != m_checkTicket || m_next >= m_outcomes.size())
        return;
    m_checkTicket = 0;
    SampleOutcome &outcome = m_outcomes[m_next];
    if (!check.ok) {
        outcome.error = check.error;
        ++m_next;
        Q_EMIT progressed();
        checkNext();
        return;
    }
    outcome.spec = check.spec;
    if (m_stopRequested) {
        checkNext();
        return;
    }
    m_importing = true;
    m_engine->importJob(check.spec);
}

void SampleRun::handleImported(const ImportResult &result)
{
    if (!m_importing || m_next >= m_outcomes.size())
        return; // another window's import
    m_importing = false;
    SampleOutcome &outcome = m_outcomes[m_next];
    ++m_next;
    if (!result.ok) {
        outcome.error = result.error;
    } else if (outcomeOfJob(result.jobId)) {
        // The same provider, model, template and fields as an earlier candidate.
        outcome.error = tr("the same as candidate %1").arg(outcomeOfJob(result.jobId)->label);
    } else if (m_stopRequested) {
        outcome.jobId = result.jobId;
        outcome.stopped = true;
        outcome.error = tr("not started: the sample was stopped");
        readBack(outcome);
    } else {
        outcome.jobId = result.jobId;
        outcome.continued = result.continued;
        // Asynchronous (the OS keychain). Without a key the job is not started: it would
        // only stop at the provider's 401.
        resolveProviderConfig(
            outcome.spec, this,
            [this, jobId = result.jobId](const ProviderConfig &config, const QString &problem) {
                SampleOutcome *started = outcomeOfJob(jobId);
                if (!started || !m_engine)
                    return;
                if (!problem.isEmpty()) {
                    started->stopped = true;
                    started->error = problem;
                    readBack(*started);
                    Q_EMIT progressed();
                    return;
                }
                m_engine->startJob(jobId, config);
            });
    }
    Q_EMIT progressed();
    checkNext();
}

void SampleRun::handleProgress(qint64 jobId, const TaskCounts &counts, const Usage &usage,
                               double costUsd)
{
    SampleOutcome *outcome = outcomeOfJob(jobId);
    if (!outcome || outcome->stopped)
        return;
    outcome->counts = counts;
    outcome->usage = usage;
    outcome->costUsd = costUsd;
    Q_EMIT progressed();
}

void SampleRun::handleStopped(qint64 jobId, JobState state, const QString &reason)
{
    SampleOutcome *outcome = outcomeOfJob(jobId);
    if (!outcome || outcome->stopped)
        return;
    outcome->stopped = true;
    if (state != JobState::Finished)
        outcome->error = reason.isEmpty() ? tr("the sample stopped (%1)").arg(jobStateName(state))
                                          : tr("the sample stopped: %1").arg(reason);
    // Its rows and totals as stored, whatever stopped it: what did answer is worth seeing.
    readBack(*outcome);
    Q_EMIT progressed();
}

void SampleRun::handleFailed(qint64 jobId, const QString &error)
{
    SampleOutcome *outcome = outcomeOfJob(jobId);
    if (!outcome || outcome->stopped)
        return;
    outcome->stopped = true;
    outcome->error = error;
    readBack(*outcome);
    Q_EMIT progressed();
    checkFinished();
}

void SampleRun::readBack(SampleOutcome &outcome)
{
    if (!m_engine)
        return;
    m_engine->requestJobs();
    TaskFilter filter;
    filter.jobId = outcome.jobId;
    const quint64 ticket = m_engine->newTicket();
    m_rowTickets.insert(ticket, outcome.jobId);
    m_engine->requestTaskPage(ticket, filter, 0, -1, m_rows, TaskOrder{TaskSortKey::Row, false});
}

void SampleRun::handleJobs(const QList<JobInfo> &jobs)
{
    bool changed = false;
    for (const JobInfo &job : jobs) {
        SampleOutcome *outcome = outcomeOfJob(job.id);
        // Only a list read after the job came to rest has its final totals.
        if (!outcome || !outcome->stopped || outcome->job || job.state == JobState::Running ||
            job.state == JobState::Importing)
            continue;
        outcome->job = job;
        outcome->counts = job.counts;
        outcome->usage = job.usage;
        outcome->costUsd = job.costUsd;
        outcome->projection = sampleProjection(job);
        changed = true;
    }
    if (changed) {
        Q_EMIT progressed();
        checkFinished();
    }
}

void SampleRun::handleRows(quint64 ticket, qint64 offset, const QList<TaskRow> &rows)
{
    Q_UNUSED(offset);
    const auto it = m_rowTickets.constFind(ticket);
    if (it == m_rowTickets.cend())
        return;
    SampleOutcome *outcome = outcomeOfJob(it.value());
    m_rowTickets.erase(it);
    if (!outcome)
        return;
    outcome->rows = rows;
    outcome->rowsRead = true;
    qint64 latency = 0;
    qint64 sent = 0;
    for (const TaskRow &row : rows) {
        if (row.attempts > 0 && row.latencyMs >= 0) { // a cache hit took no round trip
            latency += row.latencyMs;
            ++sent;
        }
    }
    outcome->meanLatencyMs = sent > 0 ? latency / sent : -1;
    Q_EMIT progressed();
    checkFinished();
}

void SampleRun::handleReadFailed(quint64 ticket, const QString &error)
{
    if (ticket == m_compareTicket) {
        m_compareTicket = 0;
        SampleComparison failed;
        failed.error = error;
        m_comparison = failed;
        checkFinished();
        return;
    }
    const auto it = m_rowTickets.constFind(ticket);
    if (it == m_rowTickets.cend())
        return;
    SampleOutcome *outcome = outcomeOfJob(it.value());
    m_rowTickets.erase(it);
    if (outcome) {
        outcome->rowsRead = true;
        if (outcome->error.isEmpty())
            outcome->error = tr("its rows could not be read: %1").arg(error);
    }
    checkFinished();
}

void SampleRun::handleCompared(quint64 ticket, const SampleComparison &comparison)
{
    if (ticket != m_compareTicket)
        return;
    m_compareTicket = 0;
    m_comparison = comparison;
    checkFinished();
}

void SampleRun::checkFinished()
{
    if (!m_running || m_next < m_candidates.size() || m_compareTicket)
        return;
    QList<qint64> answered;
    for (const SampleOutcome &outcome : std::as_const(m_outcomes)) {
        if (outcome.jobId && !(outcome.stopped && outcome.job && outcome.rowsRead))
            return; // still running, or its rows are on their way
        if (outcome.jobId && outcome.counts.completed > 0)
            answered.append(outcome.jobId);
    }
    if (answered.size() >= 2 && !m_comparison && m_engine) {
        m_compareTicket = m_engine->newTicket();
        m_engine->compareSamples(m_compareTicket, answered);
        return;
    }
    m_running = false;
    Q_EMIT progressed();
    Q_EMIT finished();
}

SampleOutcome *SampleRun::outcomeOfJob(qint64 jobId)
{
    if (jobId <= 0)
        return nullptr;
    for (SampleOutcome &outcome : m_outcomes) {
        if (outcome.jobId == jobId)
            return &outcome;
    }
    return nullptr;
}

} // namespace bd::ui
