#include "commands.h"

#include "api/engine.h"
#include "cli.h"
#include "options.h"

#include <QCoreApplication>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

// A password written into a --db URL is dropped here, before anything can print or keep it;
// the connection takes it from PGPASSWORD or ~/.pgpass.
QString databaseOption(const QString &value)
{
    const QString safe = bd::databaseWithoutPassword(value);
    if (safe != value)
        printErr(u"note: the password in --db is ignored; give it in PGPASSWORD or ~/.pgpass"_s);
    return safe;
}

} // namespace

void requireDatabase(const Invocation &in)
{
    if (!bd::databaseExists(in.database))
        throw UsageError{u"%1: no such database"_s.arg(in.database)};
}

int main(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        u"batchctl: run LLM batch jobs from the command line with the BatchDesk engine.\n\n"_s
        + usageText());
    parser.setOptionsAfterPositionalArgumentsMode(QCommandLineParser::ParseAsOptions);
    const QCommandLineOption help = parser.addHelpOption();
    const QCommandLineOption version = parser.addVersionOption();
    addOptions(parser);
    if (!parser.parse(arguments)) {
        printErr(u"batchctl: "_s + parser.errorText());
        return ExitUsage;
    }
    if (parser.isSet(help)) {
        printOut(parser.helpText());
        return ExitFinished;
    }
    if (parser.isSet(version)) {
        printOut(u"batchctl "_s + QCoreApplication::applicationVersion());
        return ExitFinished;
    }
    const Invocation in{parser, parser.positionalArguments(),
                        parser.isSet(u"db"_s) ? databaseOption(parser.value(u"db"_s))
                                              : bd::defaultDatabasePath(),
                        parser.isSet(u"db"_s), parser.isSet(u"json"_s)};
    if (in.positional.isEmpty()) {
        printErr(u"batchctl: no command given\n"_s + usageText());
        return ExitUsage;
    }
    const QString command = in.positional.constFirst();
    try {
        if (command == u"run"_s)
            return commandRun(in);
        if (command == u"estimate"_s)
            return commandEstimate(in);
        if (command == u"resume"_s)
            return commandResume(in);
        if (command == u"status"_s)
            return commandStatus(in);
        if (command == u"budget"_s)
            return commandBudget(in);
        if (command == u"export"_s)
            return commandExport(in);
        if (command == u"dlq"_s)
            return commandDlq(in);
        if (command == u"key"_s)
            return commandKey(in);
        if (command == u"check"_s)
            return commandCheck(in);
        if (command == u"serve"_s)
            return commandServe(in);
        if (command == u"job"_s)
            return commandJob(in);
        if (command == u"compare"_s)
            return commandCompare(in);
        if (command == u"submit"_s)
            return commandSubmit(in);
        if (command == u"worker"_s)
            return commandWorker(in);
        if (command == u"wait"_s)
            return commandWait(in);
        throw UsageError{u"unknown command '%1'"_s.arg(command)};
    } catch (const UsageError &error) {
        printErr(u"batchctl: "_s + error.message);
        return ExitUsage;
    }
}

} // namespace batchctl
