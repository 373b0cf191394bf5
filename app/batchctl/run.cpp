#include "cli.h"
#include "commands.h"
#include "parsing.h"
#include "session.h"

using namespace Qt::StringLiterals;

namespace batchctl {

std::optional<CheckedImport> checkAndImport(Session &session, const Invocation &in,
                                            const bd::JobDraft &draft, int *exitCode)
{
    const auto globalBudget = globalBudgetOption(in.parser, u"global-budget"_s);
    // The key first (as a missing key is the likelier mistake), then the engine's rules.
    session.checkEndpoint(draft.spec);
    if (bd::providerInfo(draft.spec.provider))
        session.resolveKeys({draft.spec.provider});
    CheckedImport result{session.check(draft), {}};
    for (const QString &note : result.check.notes)
        printErr(u"note: "_s + note);
    if (!session.open()) {
        *exitCode = ExitFatal;
        return std::nullopt;
    }
    if (globalBudget) {
        session.ask(&bd::Engine::globalBudgetChanged, [&] {
            session.engine().setGlobalBudget(globalBudget->first, globalBudget->second);
        });
    }
    result.imported = session.import(result.check.spec);
    const bd::ImportResult &imported = result.imported;
    if (!imported.ok) {
        printErr(imported.error);
        *exitCode = imported.databaseFailed || session.importInterrupted() ? ExitFatal : ExitUsage;
        return std::nullopt;
    }
    for (const QString &warning : imported.warnings)
        printErr(u"warning: "_s + warning);
    printErr(imported.continued
                 ? u"continuing job %1 (same input and settings already in %2)"_s.arg(imported.jobId).arg(in.database)
                 : u"imported %1 rows as job %2"_s.arg(imported.rows).arg(imported.jobId));
    return result;
}

// `run INPUT.csv ...`: check, import (or continue the same job), run to rest, report, and
// export when asked. Every usage error comes before the database is opened.
int commandRun(const Invocation &in)
{
    if (in.parser.isSet(u"dry-run"_s))
        return commandEstimate(in);
    const bd::JobDraft draft = jobDraft(in.parser, in.positional);
    const QString exportPath = in.parser.value(u"export"_s);
    if (in.parser.isSet(u"export"_s))
        checkExportPath(exportPath, u"export"_s);

    Session session(in.database, in.json, monitoringSettings(in.parser));
    int failure = ExitFatal;
    const auto result = checkAndImport(session, in, draft, &failure);
    if (!result)
        return failure;
    const bd::ImportResult &imported = result->imported;
    const bd::JobCheck &check = result->check;

    QList<JobOutcome> outcomes;
    if (const auto job = session.job(imported.jobId)) {
        // A continued job keeps the window it was imported with (--run-now still applies).
        const QJsonValue offpeak = check.spec.settings.value(bd::settingkeys::offpeak);
        if (imported.continued && !offpeak.isUndefined()
            && offpeak != job->spec.settings.value(bd::settingkeys::offpeak))
            printErr(u"note: job %1 keeps the off-peak window it was started with; --offpeak "
                     "applies to new jobs"_s.arg(imported.jobId));
        if (job->counts.unfinished() > 0 || job->state != bd::JobState::Finished)
            outcomes = session.runJobs({*job}, check.spec.settings);
    }
    const int code = session.report(outcomes, {imported.jobId}, false);
    if (!exportPath.isEmpty()) {
        QString error;
        if (!session.exportJob(imported.jobId, exportPath, &error)) {
            printErr(u"export failed: "_s + error);
            return ExitFatal;
        }
        // The file holds every row; say when some of them carry no answer.
        const auto job = session.job(imported.jobId);
        const qint64 dead = job ? job->counts.dead : 0;
        const qint64 open = job ? job->counts.unfinished() : 0;
        if (dead > 0 || open > 0)
            printErr(u"exported to %1 (partial: %2 dead, %3 not answered yet; replay or resume "
                     "job %4, then export again)"_s.arg(exportPath)
                         .arg(dead)
                         .arg(open)
                         .arg(imported.jobId));
        else
            printErr(u"exported to %1"_s.arg(exportPath));
    }
    return code;
}

} // namespace batchctl
