#include "cli.h"
#include "commands.h"
#include "output.h"
#include "parsing.h"
#include "session.h"

using namespace Qt::StringLiterals;

namespace batchctl {

// `job JOB [--priority 1|2|3] [--pause | --resume | --cancel | --run-now]`: changes a job
// wherever it runs. This process's engine makes the change in the database and records it;
// every engine on the database that runs the job applies it within 2 s. Returns once the
// change is recorded.
int commandJob(const Invocation &in)
{
    if (in.positional.size() != 2)
        throw UsageError{u"job takes one JOB id"_s};
    const qint64 jobId = parseJobId(in.positional.at(1));
    const std::optional<int> priority = intOption(in.parser, u"priority"_s, {1, 3, u"1, 2 or 3"_s});
    const QStringList verbs = {u"pause"_s, u"resume"_s, u"cancel"_s, u"run-now"_s};
    QString verb;
    for (const QString &name : verbs) {
        if (!in.parser.isSet(name))
            continue;
        if (!verb.isEmpty())
            throw UsageError{u"--%1 and --%2 exclude each other"_s.arg(verb, name)};
        verb = name;
    }
    if (!priority && verb.isEmpty())
        throw UsageError{u"job needs --priority N, --pause, --resume, --cancel or --run-now"_s};
    requireDatabase(in);

    Session session(in.database, in.json, {}, Session::Access::WriteOnce);
    if (!session.open())
        return ExitFatal;
    const auto jobs = session.jobs();
    if (!jobs)
        return ExitFatal;
    const auto known = std::find_if(jobs->cbegin(), jobs->cend(),
                                    [jobId](const bd::JobInfo &job) { return job.id == jobId; });
    if (known == jobs->cend())
        throw UsageError{u"no job %1 in %2"_s.arg(jobId).arg(in.database)};

    bd::Engine &engine = session.engine();
    // Each change is applied here, then recorded for the other engines: controlRecorded().
    const auto control = [&](const QString &name, const std::function<void()> &call) {
        const auto answer = session.ask(&bd::Engine::controlRecorded, call,
                                        [&](qint64 id, const QString &recorded, const QString &) {
                                            return id == jobId && recorded == name;
                                        });
        if (!answer)
            return false;
        const QString &error = std::get<2>(*answer);
        if (!error.isEmpty())
            printErr(error);
        return error.isEmpty();
    };
    if (priority && !control(u"priority"_s, [&] { engine.reprioritiseJob(jobId, *priority); }))
        return ExitFatal;
    bool ok = true;
    if (verb == u"pause"_s)
        ok = control(verb, [&] { engine.pauseJob(jobId, bd::StopCause::User); });
    else if (verb == u"resume"_s)
        ok = control(verb, [&] { engine.resumeJob(jobId); });
    else if (verb == u"cancel"_s)
        ok = control(verb, [&] { engine.cancelJob(jobId, u"cancelled by the user"_s); });
    else if (verb == u"run-now"_s)
        ok = control(verb, [&] { engine.runNow(jobId); });
    if (!ok)
        return ExitFatal;

    const auto changed = session.job(jobId);
    if (!changed)
        return ExitFatal;
    if (in.json)
        printJson(jobSummary(*changed, -1));
    else
        printOut(jobLine(*changed));
    if (verb == u"resume"_s)
        printErr(u"engines that ran job %1 start it again; if none runs it within seconds, use "
                 "`batchctl resume`"_s.arg(jobId));
    else
        printErr(u"every engine running job %1 applies the change within 2 s"_s.arg(jobId));
    return ExitFinished;
}

} // namespace batchctl
