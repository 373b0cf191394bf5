#include "api/intake.h"
#include "cli.h"
#include "commands.h"
#include "parsing.h"
#include "session.h"

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

// Jobs with work left: not cancelled nor importing, and unfinished, running or paused.
bool hasWorkLeft(const bd::JobInfo &job)
{
    if (job.state == bd::JobState::Cancelled || job.state == bd::JobState::Importing)
        return false;
    return job.counts.unfinished() > 0 || job.state == bd::JobState::Running
           || job.state == bd::JobState::Paused;
}

} // namespace

// Jobs a crash or kill left importing are imported again from their unchanged input (or
// removed, with why); false when the user interrupted that.
bool finishInterruptedImports(Session &session, const QList<bd::JobInfo> &jobs, qint64 onlyJob)
{
    for (const bd::JobInfo &job : jobs) {
        if (job.state != bd::JobState::Importing || (onlyJob && job.id != onlyJob))
            continue;
        printErr(u"job %1: its import of %2 was interrupted; importing it again"_s.arg(job.id).arg(
            job.spec.sourcePath));
        const bd::ImportResult imported = session.finishInterruptedImport(job.id);
        if (session.importInterrupted())
            return false;
        printErr(imported.ok ? u"imported %1 rows as job %2"_s.arg(imported.rows).arg(job.id)
                             : imported.error);
    }
    return true;
}

int resumeJobs(Session &session, qint64 onlyJob, bool forceList)
{
    auto all = session.jobs();
    if (!all) {
        printErr(u"cannot open the database"_s);
        return ExitFatal;
    }
    if (std::any_of(all->cbegin(), all->cend(),
                    [](const bd::JobInfo &job) { return job.state == bd::JobState::Importing; })) {
        if (!finishInterruptedImports(session, *all, onlyJob))
            return ExitFatal;
        all = session.jobs();
        if (!all)
            return ExitFatal;
    }
    QList<bd::JobInfo> jobs;
    QList<qint64> ids;
    QStringList providers;
    for (const bd::JobInfo &job : *all) {
        if ((onlyJob && job.id != onlyJob) || !hasWorkLeft(job))
            continue;
        // A queue never finishes: run here, resume would never return. `serve` and `worker`
        // work on queues; `job --resume` lifts a pause.
        if (const QString queue = bd::queueOfJob(job.spec); !queue.isEmpty()) {
            printErr(
                u"queue %1 (job %2): not run here, `batchctl serve` or `worker` works on it%3"_s
                    .arg(queue)
                    .arg(job.id)
                    .arg(bd::waitsForAWorker(job.state, job.stateReason) ||
                                 job.state == bd::JobState::Running
                             ? QString()
                             : u"; it is %1: `batchctl job %2 --resume` lifts that"_s
                                   .arg(job.stateReason.isEmpty() ? u"paused"_s : job.stateReason)
                                   .arg(job.id)));
            continue;
        }
        jobs.append(job);
        ids.append(job.id);
        if (!providers.contains(job.spec.provider))
            providers.append(job.spec.provider);
    }
    if (jobs.isEmpty()) {
        printErr(u"nothing to resume: every job is finished"_s);
        if (session.json())
            printOut(u"{\"jobs\":[],\"alerts\":[]}"_s);
        return ExitFinished;
    }
    session.resolveKeys(providers);
    const QList<JobOutcome> outcomes = session.runJobs(jobs, {});
    return session.report(outcomes, ids, forceList || ids.size() > 1);
}

int commandResume(const Invocation &in)
{
    const auto globalBudget = globalBudgetOption(in.parser, u"global-budget"_s);
    Session session(in.database, in.json, monitoringSettings(in.parser));
    if (!session.open())
        return ExitFatal;
    if (globalBudget) {
        session.ask(&bd::Engine::globalBudgetChanged, [&] {
            session.engine().setGlobalBudget(globalBudget->first, globalBudget->second);
        });
    }
    return resumeJobs(session, 0, false);
}

} // namespace batchctl
