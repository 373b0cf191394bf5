#include "cli.h"
#include "commands.h"
#include "parsing.h"
#include "session.h"

using namespace Qt::StringLiterals;

namespace batchctl {

// `export JOB --out FILE`: the job's rows written by the engine's reader thread.
int commandExport(const Invocation &in)
{
    if (in.positional.size() != 2)
        throw UsageError{u"export needs a JOB id"_s};
    const qint64 jobId = parseJobId(in.positional.at(1));
    const QString out = in.parser.value(u"out"_s);
    if (out.isEmpty())
        throw UsageError{u"export needs --out FILE"_s};
    checkExportPath(out, u"out"_s);
    requireDatabase(in);
    Session session(in.database, in.json, {}, Session::Access::ReadOnly);
    if (!session.open())
        return ExitFatal;
    // The export reads the job itself (a listing first would sum every job's tasks once
    // more on PostgreSQL), and says so when there is none.
    QString error;
    if (!session.exportJob(jobId, out, &error)) {
        if (error == bd::noSuchJobText(jobId))
            throw UsageError{u"no job %1 in %2"_s.arg(jobId).arg(in.database)};
        printErr(u"export failed: "_s + error);
        return ExitFatal;
    }
    printErr(u"exported job %1 to %2"_s.arg(jobId).arg(out));
    return ExitFinished;
}

} // namespace batchctl
