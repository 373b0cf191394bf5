#include "api/intake.h"
#include "cli.h"
#include "commands.h"
#include "parsing.h"
#include "session.h"

#include <QJsonArray>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

constexpr int kPage = 1000;

int listDead(Session &session, qint64 jobId, bool json)
{
    QJsonArray array;
    qint64 after = 0;
    for (;;) {
        const quint64 ticket = session.engine().newTicket();
        const auto answer = session.ask(
            &bd::Engine::deadTasksListed,
            [&] { session.engine().requestDeadTasks(ticket, jobId, after, kPage); },
            [ticket](quint64 asked, qint64, const QList<bd::DeadTask> &, const QString &) {
                return asked == ticket;
            });
        if (!answer)
            return ExitFatal;
        const auto &[asked, job, page, error] = *answer;
        if (!error.isEmpty()) {
            printErr(error);
            return ExitFatal;
        }
        for (const bd::DeadTask &task : page) {
            after = task.id;
            if (json) {
                array.append(QJsonObject{{u"task_id"_s, task.id}, {u"job"_s, task.jobId},
                                         {u"row"_s, task.rowNumber}, {u"attempts"_s, task.attempts},
                                         {u"error_class"_s, task.errorClass},
                                         {u"error"_s, task.errorMessage}});
            } else {
                printOut(u"task %1  job %2  row %3  attempts %4  %5: %6"_s.arg(task.id)
                             .arg(task.jobId).arg(task.rowNumber).arg(task.attempts)
                             .arg(task.errorClass, task.errorMessage));
            }
        }
        if (page.size() < kPage)
            break;
    }
    if (json)
        printJson(QJsonObject{{u"dead"_s, array}});
    return ExitFinished;
}

bd::ReplayRequest replayRequest(const Invocation &in, qint64 jobId)
{
    bd::ReplayRequest request;
    request.jobId = jobId;
    const NumberRange taskIds{1, 9e15, u"a task id"_s};
    for (const QString &text : in.parser.values(u"task"_s)) {
        for (const QString &part : text.split(u',', Qt::SkipEmptyParts))
            request.taskIds.append(qint64(parseNumber(u"task"_s, part, NumberKind::Whole, taskIds)));
    }
    request.errorClass = in.parser.value(u"class"_s);
    if (in.parser.isSet(u"template"_s) && in.parser.isSet(u"template-file"_s))
        throw UsageError{u"give --template or --template-file, not both"_s};
    if (in.parser.isSet(u"template"_s))
        request.templateText = in.parser.value(u"template"_s);
    else if (in.parser.isSet(u"template-file"_s))
        request.templateText = readTextFile(in.parser.value(u"template-file"_s), u"template file"_s);
    if (in.parser.isSet(u"system"_s) && in.parser.isSet(u"system-file"_s))
        throw UsageError{u"give --system or --system-file, not both"_s};
    if (in.parser.isSet(u"system"_s))
        request.systemPrompt = in.parser.value(u"system"_s);
    else if (in.parser.isSet(u"system-file"_s))
        request.systemPrompt = readTextFile(in.parser.value(u"system-file"_s), u"system prompt file"_s);
    if ((request.templateText || request.systemPrompt) && jobId == 0)
        throw UsageError{u"dlq replay with --template or --system needs --job JOB"_s};
    return request;
}

// Re-queues the chosen dead tasks through the engine's writer, then runs them to the end
// like resume (same exit codes).
int replayDead(Session &session, const bd::ReplayRequest &request)
{
    const auto jobs = session.jobs();
    if (!jobs)
        return ExitFatal;
    QStringList providers;
    const bd::JobInfo *named = nullptr;
    for (const bd::JobInfo &job : *jobs) {
        if (request.jobId && job.id == request.jobId)
            named = &job;
        if ((!request.jobId || job.id == request.jobId) && job.counts.dead > 0
            && !providers.contains(job.spec.provider))
            providers.append(job.spec.provider);
    }
    if (request.jobId && !named)
        throw UsageError{u"no job %1 in %2"_s.arg(request.jobId).arg(session.engine().database())};
    // Keys first: a replay that cannot be sent leaves the dead letters where they are.
    session.resolveKeys(providers);
    const auto answer = session.ask(&bd::Engine::deadReplayed,
                                    [&] { session.engine().replayDead(request); });
    if (!answer)
        return ExitFatal;
    const bd::ReplayResult replayed = std::get<0>(*answer);
    if (!replayed.error.isEmpty()) {
        // A bad template or error class is the caller's mistake; nothing was changed.
        printErr(replayed.error);
        return replayed.invalid ? ExitUsage : ExitFatal;
    }
    printErr(u"replaying %1 dead-lettered task(s)%2%3"_s.arg(replayed.changed)
                 .arg(replayed.skipped > 0 ? u", %1 skipped (not dead-lettered)"_s.arg(replayed.skipped) : QString())
                 .arg(replayed.templateRevision > 0
                          ? u" with template revision %1"_s.arg(replayed.templateRevision)
                          : QString()));
    // A queue's replayed tasks are sent by whatever serves it: running it here would never
    // end (a queue never finishes). Other jobs run to the end here, with what an interrupted
    // replay had already put back; resume leaves any queue among them alone and says so.
    if (named && !bd::queueOfJob(named->spec).isEmpty()) {
        printErr(
            u"queue %1 (job %2): its replayed tasks are sent by the process serving it "
            "(`batchctl serve` or a `worker` on this database)"_s.arg(bd::queueOfJob(named->spec))
                .arg(named->id));
        return ExitFinished;
    }
    return resumeJobs(session, request.jobId, false);
}

} // namespace

// `dlq list|replay`: dead-lettered tasks, read and replayed through the engine.
int commandDlq(const Invocation &in)
{
    const QString action = in.positional.value(1);
    if (in.positional.size() != 2 || (action != u"list"_s && action != u"replay"_s))
        throw UsageError{u"dlq needs list or replay"_s};
    const qint64 jobId = in.parser.isSet(u"job"_s) ? parseJobId(in.parser.value(u"job"_s), u"job"_s) : 0;
    const bd::ReplayRequest request = action == u"replay"_s ? replayRequest(in, jobId) : bd::ReplayRequest{};
    requireDatabase(in);
    Session session(in.database, in.json, {},
                    action == u"list"_s ? Session::Access::ReadOnly : Session::Access::ReadWrite);
    if (!session.open())
        return ExitFatal;
    return action == u"list"_s ? listDead(session, jobId, in.json) : replayDead(session, request);
}

} // namespace batchctl
