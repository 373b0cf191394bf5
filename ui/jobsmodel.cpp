#include "jobsmodel.h"

#include "api/intake.h"
#include "api/jobsettings.h"
#include "estimatekeys.h"
#include "format.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QFileInfo>
#include <QLocale>
#include <QRegularExpression>
#include <QSysInfo>

namespace bd::ui {

using namespace Qt::StringLiterals;

namespace {

// A job's state as the list names it: the engine's word (jobDisplayState, as `batchctl
// status` prints it, "serving" for a standing queue that runs), translated.
QString stateLabelOf(const JobInfo &job)
{
    const QString word = jobDisplayState(job);
    if (word == jobStateName(job.state))
        return jobStateLabel(job.state);
    static const char *const words[] = {QT_TRANSLATE_NOOP("JobsModel", "serving")};
    for (const char *known : words) {
        if (word == QLatin1StringView(known))
            return QCoreApplication::translate("JobsModel", known);
    }
    return word;
}

constexpr qint64 kRateWindowMs = 30'000;

qint64 finishedOf(const TaskCounts &counts)
{
    return counts.completed + counts.dead + counts.cancelled;
}

// Who runs a job, from its worker id (host:pid:nonce): a process on this computer by its
// pid, one elsewhere by host and pid.
QString workerText(const QString &workerId)
{
    const QStringList parts = workerId.split(u':');
    if (parts.size() < 2)
        return workerId;
    if (parts.at(0) == QSysInfo::machineHostName())
        return JobsModel::tr("pid %1").arg(parts.at(1));
    return JobsModel::tr("%1, pid %2").arg(parts.at(0), parts.at(1));
}

} // namespace

int JobsModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_jobs.size());
}

int JobsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant JobsModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_jobs.size())
        return {};
    const JobInfo &job = m_jobs.at(index.row());
    const qint64 total = job.counts.total();
    const qint64 done = finishedOf(job.counts);
    switch (role) {
    case JobIdRole: return job.id;
    case JobStateRole: return int(job.state);
    case ProgressRole:
        // A standing queue never finishes: its bar is how full it is against its cap.
        if (job.queueMaxPending > 0)
            return qMin(1.0, double(job.counts.unfinished()) / double(job.queueMaxPending));
        return total ? double(done) / double(total) : 0.0;
    case Qt::DisplayRole:
        switch (index.column()) {
        case IdColumn: return job.id;
        case SourceColumn: {
            const QString file = QFileInfo(job.spec.sourcePath).fileName();
            // A sample (--sample, the wizard's Try on a sample) reads as one, not as the file.
            const qint64 of = job.spec.settings.value(settingkeys::sampleOfRows).toInteger();
            if (!job.spec.settings.contains(settingkeys::sampleRows))
                return file;
            return of > 0 ? QCoreApplication::translate("bd::ui::JobsModel", "%1 · sample of %2 rows")
                                .arg(file, formatCount(of))
                          : QCoreApplication::translate("bd::ui::JobsModel", "%1 · sample").arg(file);
        }
        case StateColumn: {
            const QString runner = runnerText(job);
            return runner.isEmpty() ? stateText(job) : u"%1 · %2"_s.arg(stateText(job), runner);
        }
        case ProgressColumn:
            if (job.queueMaxPending > 0)
                return tr("%1% full").arg(QLocale().toString(
                    100.0 * double(job.counts.unfinished()) / double(job.queueMaxPending), 'f', 1));
            return total ? u"%1%"_s.arg(QLocale().toString(100.0 * double(done) / double(total), 'f', 1))
                         : u"–"_s;
        case DoneColumn: return u"%1 / %2"_s.arg(formatCount(done), formatCount(total));
        case DeadColumn: return formatCount(job.counts.dead);
        case RateColumn: {
            // A job that does not run has no pace, whatever it did a moment ago.
            const double rate = job.state == JobState::Running ? ratePerMinute(job.id) : 0.0;
            return rate > 0 ? formatRate(rate) : u"–"_s;
        }
        case EtaColumn: return etaText(job);
        case CostColumn: {
            // Done: the actual cost beside what the estimate said at import.
            const QJsonValue bound = job.spec.settings.value(estimatekeys::maxUsd);
            if (job.state != JobState::Finished || bound.isUndefined())
                return formatUsd(job.costUsd);
            const QJsonValue expected = job.spec.settings.value(estimatekeys::expectedUsd);
            return expected.isUndefined()
                       ? tr("%1 · est. ≤ %2").arg(formatUsd(job.costUsd), formatUsd(bound.toDouble()))
                       : tr("%1 · est. %2").arg(formatUsd(job.costUsd), formatUsd(expected.toDouble()));
        }
        case PriorityColumn: return priorityShortLabel(job.spec.priority);
        case ModelColumn:
            return job.spec.provider == u"simulator"_s
                       ? tr("%1 (simulated)").arg(job.spec.model)
                       : u"%1 · %2"_s.arg(job.spec.provider, job.spec.model);
        }
        break;
    case Qt::ForegroundRole:
        if (index.column() == StateColumn) {
            // Running but held (off-peak, paused lane): the colour of waiting work.
            if (job.state == JobState::Running && stateText(job) != stateLabelOf(job))
                return jobStateColor(JobState::Paused);
            return jobStateColor(job.state);
        }
        // A queue about to refuse work (or refusing it) reads as trouble.
        if (index.column() == ProgressColumn && job.queueMaxPending > 0 &&
            job.counts.unfinished() >= job.queueMaxPending * 9 / 10)
            return stateColor(TaskState::Dead);
        if (index.column() == DeadColumn && job.counts.dead > 0)
            return stateColor(TaskState::Dead);
        if (index.column() == EtaColumn && secondsLate(job).value_or(0) > 0)
            return stateColor(TaskState::Dead);
        break;
    case Qt::TextAlignmentRole:
        switch (index.column()) {
        case SourceColumn:
        case StateColumn:
        case ModelColumn: return int(Qt::AlignLeft | Qt::AlignVCenter);
        case PriorityColumn: return int(Qt::AlignCenter);
        default: return int(Qt::AlignRight | Qt::AlignVCenter);
        }
    case Qt::ToolTipRole:
        if (index.column() == SourceColumn)
            return job.spec.sourcePath;
        if (index.column() == ProgressColumn && job.queueMaxPending > 0)
            return tr("Queue %1 holds %2 unfinished tasks of at most %3 (max_pending); a "
                      "submission that would pass it is refused whole (429).")
                .arg(queueOfJob(job.spec), formatCount(job.counts.unfinished()),
                     formatCount(job.queueMaxPending));
        if (index.column() == StateColumn) {
            QString tip = stateToolTip(job);
            if (const QString limit = limitOf(job.id); !limit.isEmpty())
                tip += (tip.isEmpty() ? QString() : u"\n"_s) + tr("Limited by: %1").arg(limit);
            if (const int workers = m_workers.value(job.id); workers > 1)
                tip += (tip.isEmpty() ? QString() : u"\n"_s) +
                       tr("Run by %n workers together (see Workers)", nullptr, workers);
            else if (!job.runner.isEmpty())
                tip += (tip.isEmpty() ? QString() : u"\n"_s) +
                       tr("Run by worker %1%2")
                           .arg(job.runner,
                                m_runningHere.contains(job.id) ? tr(" (this window)") : QString());
            else if (job.state == JobState::Running && !m_runningHere.contains(job.id))
                tip += (tip.isEmpty() ? QString() : u"\n"_s) +
                       tr("No process runs it now: the one that did stopped without handing it "
                          "back (killed?). Any batchctl worker on this database takes it up; "
                          "Pause, then Resume runs it in this window.");
            if (!tip.isEmpty())
                return tip;
        }
        if (index.column() == RateColumn && !limitOf(job.id).isEmpty())
            return tr("Limited by: %1").arg(limitOf(job.id));
        if (index.column() == RateColumn && m_concurrency.contains(job.id)) {
            const auto [limit, ceiling] = m_concurrency.value(job.id);
            return limit < ceiling
                       ? tr("%1 of at most %2 requests in flight: fewer while the provider answers "
                            "429, is overloaded or slows down")
                             .arg(limit)
                             .arg(ceiling)
                       : tr("%1 requests in flight (the job's concurrency)").arg(limit);
        }
        if (index.column() == EtaColumn && job.spec.settings.contains(settingkeys::deadlineMs)) {
            const QDateTime due = QDateTime::fromMSecsSinceEpoch(
                job.spec.settings.value(settingkeys::deadlineMs).toInteger());
            const QString note = m_deadlineNotes.value(job.id);
            const QString tip = tr("Finish by %1").arg(QLocale().toString(due, QLocale::ShortFormat));
            return note.isEmpty() ? tip : tip + u"\n"_s + note;
        }
        if (index.column() == CostColumn && job.spec.settings.contains(estimatekeys::maxUsd)) {
            QString tip = tr("Estimated at import: at most %1")
                              .arg(formatUsd(job.spec.settings.value(estimatekeys::maxUsd).toDouble()));
            if (job.spec.settings.contains(estimatekeys::expectedUsd))
                tip += tr(", expected %1").arg(formatUsd(job.spec.settings.value(estimatekeys::expectedUsd).toDouble()));
            tip += u"\n"_s
                   + tr("%1 input, %2 output, %3 cached tokens")
                         .arg(formatCount(job.usage.inputTokens), formatCount(job.usage.outputTokens),
                              formatCount(job.usage.cachedTokens));
            return tip;
        }
        if (index.column() == CostColumn)
            return tr("%1 input, %2 output, %3 cached tokens")
                .arg(formatCount(job.usage.inputTokens), formatCount(job.usage.outputTokens),
                     formatCount(job.usage.cachedTokens));
        break;
    }
    return {};
}

QVariant JobsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section >= ColumnCount)
        return {};
    static const char *const titles[] = {"Job", "Source", "State", "Progress", "Done / total",
                                         "Dead", "Rate", "ETA", "Spend", "Priority", "Model"};
    return tr(titles[section]);
}

QString JobsModel::runnerText(const JobInfo &job) const
{
    if (job.state != JobState::Running)
        return {};
    // Several workers on one database: the job's owner of record is only one of them.
    if (const int workers = m_workers.value(job.id); workers > 1)
        return tr("%n workers", nullptr, workers);
    if (m_runningHere.contains(job.id))
        return tr("this window");
    // Running with no runner of record: the process that ran it died without handing it
    // back (engines clear a dead local runner), so nothing moves until someone takes it up.
    return job.runner.isEmpty() ? tr("no worker") : workerText(job.runner);
}

QString JobsModel::stateText(const JobInfo &job) const
{
    const QString label = stateLabelOf(job);
    if (job.state == JobState::Finished) {
        // As batchctl exits 4: finished, but not every row has an answer.
        return job.counts.dead > 0 ? tr("%1 · %2 dead").arg(label, formatCount(job.counts.dead))
                                   : label;
    }
    if (waitsForAWorker(job.state, job.stateReason))
        return tr("waiting for a worker");
    if (job.state != JobState::Running)
        return job.stateReason.isEmpty() ? label : u"%1 (%2)"_s.arg(label, job.stateReason);
    QStringList why;
    const int lane = qBound(1, job.spec.priority, 3);
    if (m_runningHere.contains(job.id) && m_pausedLanes.contains(lane))
        why.append(tr("lane %1 paused").arg(priorityShortLabel(lane)));
    // Sending nothing while priority 1 work goes first read "running" with no rate.
    if (m_heldForUrgentWork.contains(job.id))
        why.append(tr("held: priority 1 goes first"));
    // Here the runner's own word; a job another worker runs stores only that reason with
    // its running state.
    const QString waiting = m_runningHere.contains(job.id) ? m_waiting.value(job.id) : job.stateReason;
    if (!waiting.isEmpty()) {
        // The column is narrow: "off-peak, opens in 1 h 40 min"; the tooltip has it all.
        static const QRegularExpression opens(u"^waiting for off-peak window .*\\((opens in [^)]*)\\)$"_s);
        const QRegularExpressionMatch match = opens.match(waiting);
        why.append(match.hasMatch() ? tr("off-peak, %1").arg(match.captured(1)) : waiting);
    }
    return why.isEmpty() ? label : u"%1 (%2)"_s.arg(label, why.join(u"; "_s));
}

QString JobsModel::stateToolTip(const JobInfo &job) const
{
    if (waitsForAWorker(job.state, job.stateReason))
        return tr("No process runs this job now (%1). A console with the provider's key, or "
                  "any batchctl worker or serve on this database, takes it up; Resume runs it "
                  "in this window.")
            .arg(job.stateReason);
    if (job.state != JobState::Running)
        return job.stateReason;
    QStringList why;
    const int lane = qBound(1, job.spec.priority, 3);
    if (m_runningHere.contains(job.id) && m_pausedLanes.contains(lane))
        why.append(tr("The lane %1 is paused in this window: the job sends nothing new until "
                      "the lane is resumed.")
                       .arg(priorityLabel(lane)));
    const QString waiting = m_runningHere.contains(job.id) ? m_waiting.value(job.id) : job.stateReason;
    if (!waiting.isEmpty())
        why.append(waiting + u"; "_s + tr("Job › Run now sends it at once."));
    return why.join(u'\n');
}

void JobsModel::setWaiting(qint64 jobId, const QString &reason)
{
    if (reason.isEmpty())
        m_waiting.remove(jobId);
    else
        m_waiting.insert(jobId, reason);
    m_runningHere.insert(jobId);
    const int row = rowOf(jobId);
    if (row >= 0)
        Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

void JobsModel::setLanePaused(int priority, bool paused)
{
    if (paused == m_pausedLanes.contains(priority))
        return;
    if (paused)
        m_pausedLanes.insert(priority);
    else
        m_pausedLanes.remove(priority);
    if (!m_jobs.isEmpty())
        Q_EMIT dataChanged(index(0, 0), index(int(m_jobs.size()) - 1, ColumnCount - 1));
}

std::optional<JobInfo> JobsModel::job(qint64 jobId) const
{
    const int row = rowOf(jobId);
    return row >= 0 ? std::optional<JobInfo>(m_jobs.at(row)) : std::nullopt;
}

int JobsModel::rowOf(qint64 jobId) const
{
    for (int row = 0; row < m_jobs.size(); ++row) {
        if (m_jobs.at(row).id == jobId)
            return row;
    }
    return -1;
}

void JobsModel::setJobs(const QList<JobInfo> &jobs)
{
    // Same jobs in the same order: update in place, so selections and scroll stay.
    bool sameIds = jobs.size() == m_jobs.size();
    for (int i = 0; sameIds && i < jobs.size(); ++i)
        sameIds = jobs.at(i).id == m_jobs.at(i).id;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (sameIds) {
        m_jobs = jobs;
        if (!m_jobs.isEmpty())
            Q_EMIT dataChanged(index(0, 0), index(int(m_jobs.size()) - 1, ColumnCount - 1));
    } else {
        beginResetModel();
        m_jobs = jobs;
        endResetModel();
    }
    for (const JobInfo &job : jobs)
        addSample(job.id, now, finishedOf(job.counts));
}

void JobsModel::addSample(qint64 jobId, qint64 atMs, qint64 finished)
{
    auto &samples = m_samples[jobId];
    if (!samples.empty() && samples.back().finished > finished)
        samples.clear(); // replayed: the pace starts again
    samples.push_back({atMs, finished});
    while (samples.size() > 2 && samples.front().atMs < atMs - kRateWindowMs)
        samples.pop_front();
}

double JobsModel::ratePerMinute(qint64 jobId) const
{
    const auto it = m_samples.constFind(jobId);
    if (it == m_samples.constEnd() || it->size() < 2)
        return 0.0;
    const Sample &first = it->front();
    const Sample &last = it->back();
    const qint64 dt = last.atMs - first.atMs;
    if (dt <= 0)
        return 0.0;
    return double(last.finished - first.finished) * 60'000.0 / double(dt);
}

std::optional<qint64> JobsModel::secondsLate(const JobInfo &job) const
{
    const QJsonValue deadline = job.spec.settings.value(settingkeys::deadlineMs);
    if (deadline.isUndefined() || job.counts.unfinished() == 0)
        return std::nullopt;
    const qint64 now = m_nowMs > 0 ? m_nowMs : QDateTime::currentMSecsSinceEpoch();
    const qint64 eta = job.state == JobState::Running ? qMax<qint64>(0, etaSeconds(job.id)) : 0;
    return qMax<qint64>(0, (now + eta * 1000 - deadline.toInteger()) / 1000);
}

QString JobsModel::etaText(const JobInfo &job) const
{
    const bool running = job.counts.unfinished() > 0 && job.state == JobState::Running;
    const qint64 eta = running ? etaSeconds(job.id) : -1;
    const auto late = secondsLate(job);
    if (!late)
        return eta >= 0 ? formatDuration(eta) : u"–"_s;
    const qint64 now = m_nowMs > 0 ? m_nowMs : QDateTime::currentMSecsSinceEpoch();
    const qint64 left = (job.spec.settings.value(settingkeys::deadlineMs).toInteger() - now) / 1000;
    if (eta < 0) // no pace yet: the time left is all there is to say
        return left >= 0 ? tr("due in %1").arg(formatDuration(left))
                         : tr("overdue %1").arg(formatDuration(-left));
    return *late > 0 ? tr("%1 · late by %2").arg(formatDuration(eta), formatDuration(*late))
                     : tr("%1 · on track").arg(formatDuration(eta));
}

qint64 JobsModel::etaSeconds(qint64 jobId) const
{
    const int row = rowOf(jobId);
    if (row < 0)
        return -1;
    const double rate = ratePerMinute(jobId);
    if (rate <= 0)
        return -1;
    return qint64(double(m_jobs.at(row).counts.unfinished()) / rate * 60.0);
}

void JobsModel::applySnapshot(const EngineSnapshot &snapshot)
{
    int first = -1;
    int last = -1;
    const QSet<int> lanes(snapshot.pausedLanes.cbegin(), snapshot.pausedLanes.cend());
    if (lanes != m_pausedLanes) {
        m_pausedLanes = lanes;
        if (!m_jobs.isEmpty()) {
            first = 0;
            last = int(m_jobs.size()) - 1;
        }
    }
    m_nowMs = snapshot.atMs;
    for (const JobSnapshot &js : snapshot.jobs) {
        if (js.runningHere)
            m_runningHere.insert(js.jobId);
        else
            m_runningHere.remove(js.jobId);
        if (js.runningHere && js.concurrencyCeiling > 0)
            m_concurrency.insert(js.jobId, {js.concurrency, js.concurrencyCeiling});
        else
            m_concurrency.remove(js.jobId);
        if (js.runningHere && !js.deadlineNote.isEmpty())
            m_deadlineNotes.insert(js.jobId, js.deadlineNote);
        else
            m_deadlineNotes.remove(js.jobId);
        if (js.state == JobState::Running && !js.limit.text.isEmpty())
            m_limits.insert(js.jobId, js.limit.text);
        else
            m_limits.remove(js.jobId);
        if (js.runningHere && js.state == JobState::Running &&
            js.limit.kind == JobLimit::Kind::UrgentWork)
            m_heldForUrgentWork.insert(js.jobId);
        else
            m_heldForUrgentWork.remove(js.jobId);
        if (js.state == JobState::Running)
            m_workers.insert(js.jobId, js.limit.workers);
        else
            m_workers.remove(js.jobId);
        if (js.runningHere && !js.waitingFor.isEmpty())
            m_waiting.insert(js.jobId, js.waitingFor);
        else
            m_waiting.remove(js.jobId);
        const int row = rowOf(js.jobId);
        if (row < 0)
            continue;
        JobInfo &job = m_jobs[row];
        job.counts = js.counts;
        job.usage = js.usage;
        job.costUsd = js.costUsd;
        // The engine reads every job's state each second, whoever changed it.
        job.state = js.state;
        if (!js.runningHere)
            job.stateReason = js.stateReason;
        job.runner = js.runner;
        job.spec.priority = js.priority;
        addSample(js.jobId, snapshot.atMs, finishedOf(js.counts));
        first = first < 0 ? row : qMin(first, row);
        last = qMax(last, row);
    }
    // One range for the lot (the qBittorrent way): views repaint once.
    if (first >= 0)
        Q_EMIT dataChanged(index(first, 0), index(last, ColumnCount - 1));
}

void JobsModel::updateProgress(qint64 jobId, const TaskCounts &counts, const Usage &usage,
                               double costUsd)
{
    const int row = rowOf(jobId);
    if (row < 0)
        return;
    JobInfo &job = m_jobs[row];
    job.counts = counts;
    job.usage = usage;
    job.costUsd = costUsd;
    Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

void JobsModel::setJobState(qint64 jobId, JobState state, const QString &reason)
{
    const int row = rowOf(jobId);
    if (row < 0)
        return;
    m_jobs[row].state = state;
    m_jobs[row].stateReason = reason;
    Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

} // namespace bd::ui
