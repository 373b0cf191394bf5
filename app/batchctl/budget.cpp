#include "cli.h"
#include "commands.h"
#include "output.h"
#include "parsing.h"
#include "session.h"

using namespace Qt::StringLiterals;

namespace batchctl {

// `budget [--set USD] [--period month|day|all]`: the cap across every job of the database,
// stored in it through the engine's writer, so every worker and later run keeps to it.
int commandBudget(const Invocation &in)
{
    const auto newCap = globalBudgetOption(in.parser, u"set"_s);
    if (!newCap && in.parser.isSet(u"period"_s))
        throw UsageError{u"--period goes with --set USD"_s};
    if (!newCap)
        requireDatabase(in); // reading creates nothing
    Session session(in.database, in.json, {},
                    newCap ? Session::Access::WriteOnce : Session::Access::ReadOnly);
    if (!session.open())
        return ExitFatal;
    const auto answer = session.ask(&bd::Engine::globalBudgetChanged, [&] {
        if (newCap)
            session.engine().setGlobalBudget(newCap->first, newCap->second);
        else
            session.engine().requestGlobalBudget();
    });
    if (!answer)
        return ExitFatal;
    const auto &[capUsd, period, spentUsd] = *answer;
    const QJsonObject budget = globalBudgetJson(GlobalBudget{capUsd, period, spentUsd});
    if (in.json)
        printJson(budget);
    else
        printOut(globalBudgetLine(budget));
    if (newCap)
        printErr(u"running workers pick the new cap up within seconds; jobs it paused resume "
                 "there, or with `batchctl resume`"_s);
    return ExitFinished;
}

} // namespace batchctl
