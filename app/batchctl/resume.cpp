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

int resumeJobs(Session &session, qint64 onlyJob, bool forceList)
{
    const auto all = session.jobs();
    if (!all) {
        printErr(u"cannot open the database"_s);
        return ExitFatal;
    }
    QList<bd::JobInfo> jobs;
    QList<qint64> ids;
    QStringList providers;
    for (const bd::JobInfo &job : *all) {
        if ((onlyJob && job.id != onlyJob) || !hasWorkLeft(job))
            continue;
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
