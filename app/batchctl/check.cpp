#include "cli.h"
#include "commands.h"
#include "output.h"
#include "session.h"

#include <QJsonArray>

using namespace Qt::StringLiterals;

namespace batchctl {

// `check`: SQLite's full integrity check of the database, page by page (it reads the whole
// file; every open makes only a bounded one). Exit 0 when sound, 1 when damaged or when the
// check could not run.
int commandCheck(const Invocation &in)
{
    requireDatabase(in);
    Session session(in.database, in.json, {}, Session::Access::ReadOnly);
    if (!session.open())
        return ExitFatal;
    const auto answer =
        session.ask(&bd::Engine::databaseChecked, [&] { session.engine().checkDatabase(); });
    if (!answer)
        return ExitFatal;
    const auto &[problems, message] = *answer;
    const bool ran = !problems.isEmpty() || message.isEmpty();
    if (in.json && ran) {
        printJson(QJsonObject{{u"database"_s, in.database},
                              {u"ok"_s, problems.isEmpty()},
                              {u"problems"_s, QJsonArray::fromStringList(problems)}});
    } else if (ran) {
        for (const QString &problem : problems)
            printOut(problem);
        if (problems.isEmpty())
            printOut(u"%1: ok (full integrity check)"_s.arg(in.database));
    }
    if (!message.isEmpty())
        printErr(message);
    return problems.isEmpty() && ran ? ExitFinished : ExitFatal;
}

} // namespace batchctl
