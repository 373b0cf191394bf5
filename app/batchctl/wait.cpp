#include "cli.h"
#include "commands.h"
#include "output.h"
#include "parsing.h"
#include "session.h"

#include <algorithm>
#include <QDeadlineTimer>
#include <QEventLoop>
#include <QTimer>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

constexpr int kPollMs = 500;

// Whether the job has come to rest: finished, cancelled, or paused for a reason of its own
// (the user, a budget, a quota, a key). Imported and not started, or handed back by an
// engine that stopped, it waits for a worker: not at rest.
bool hasStopped(const bd::JobInfo &job)
{
    switch (job.state) {
    case bd::JobState::Finished:
    case bd::JobState::Cancelled:
        return true;
    case bd::JobState::Paused:
        return !bd::waitsForAWorker(job.state, job.stateReason);
    case bd::JobState::Importing:
    case bd::JobState::Running:
        return false;
    }
    return false;
}

} // namespace

// `wait JOB [--timeout S]`: blocks until the job stops, whichever engines run it, and exits
// as run would have for it (0, 4 or 3); 1 when the timeout passes first. Only reads.
int commandWait(const Invocation &in)
{
    if (in.positional.size() != 2)
        throw UsageError{u"wait takes one JOB id"_s};
    const qint64 jobId = parseJobId(in.positional.at(1));
    const std::optional<double> timeout = numberOption(
        in.parser, u"timeout"_s, NumberKind::Real, {0, 1e7, u"a number of seconds (0 or more)"_s});
    requireDatabase(in);
    Session session(in.database, in.json, {}, Session::Access::ReadOnly);
    if (!session.open())
        return ExitFatal;
    const QDeadlineTimer deadline = timeout ? QDeadlineTimer(qint64(*timeout * 1000.0))
                                            : QDeadlineTimer(QDeadlineTimer::Forever);
    bool known = false;
    for (;;) {
        const auto jobs = session.jobs();
        if (!jobs)
            return ExitFatal;
        const auto job =
            std::find_if(jobs->cbegin(), jobs->cend(),
                         [jobId](const bd::JobInfo &info) { return info.id == jobId; });
        if (job == jobs->cend()) {
            if (!known)
                throw UsageError{u"no job %1 in %2"_s.arg(jobId).arg(in.database)};
            printErr(u"job %1 was deleted"_s.arg(jobId));
            return ExitFatal;
        }
        known = true;
        const bool stopped = hasStopped(*job);
        if (stopped || deadline.hasExpired()) {
            if (!stopped)
                printErr(u"job %1 still %2 after %3 s"_s.arg(jobId)
                             .arg(bd::jobDisplayState(*job))
                             .arg(*timeout));
            printErr(jobLine(*job));
            if (in.json)
                printJson(jobSummary(*job, -1));
            return stopped ? exitCodeFor(*job) : ExitFatal;
        }
        QEventLoop pause;
        const qint64 left = deadline.isForever() ? kPollMs : deadline.remainingTime();
        QTimer::singleShot(int(std::clamp<qint64>(left, 1, kPollMs)), &pause, &QEventLoop::quit);
        pause.exec();
    }
}

} // namespace batchctl
