#include "cli.h"
#include "commands.h"
#include "output.h"
#include "parsing.h"
#include "session.h"

using namespace Qt::StringLiterals;

namespace batchctl {

// `submit INPUT.csv ...`: checks and imports like run (the same input twice is one job) and
// returns; any worker, run, resume or console on the database runs the job.
int commandSubmit(const Invocation &in)
{
    if (in.parser.isSet(u"export"_s))
        throw UsageError{u"submit does not export: use `batchctl export JOB --out FILE` once "
                         "`batchctl wait JOB` returns"_s};
    if (in.parser.isSet(u"dry-run"_s))
        throw UsageError{u"submit has no --dry-run: use `batchctl estimate`"_s};
    const bd::JobDraft draft = jobDraft(in.parser, in.positional);
    Session session(in.database, in.json, {}, Session::Access::WriteOnce,
                    runnerDefaults(in.parser));
    int failure = ExitFatal;
    const auto result = checkAndImport(session, in, draft, &failure);
    if (!result)
        return failure;
    const auto job = session.job(result->imported.jobId);
    if (!job)
        return ExitFatal;
    if (in.json)
        printJson(jobSummary(*job, -1));
    else
        printOut(jobLine(*job));
    return ExitFinished;
}

} // namespace batchctl
