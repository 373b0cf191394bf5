#include "cli.h"
#include "commands.h"
#include "parsing.h"
#include "session.h"


using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

QString usd(const std::optional<double> &value)
{
    return value ? u"$"_s + QString::number(*value, 'f', 4) : u"cost unknown"_s;
}

void printLane(const QString &name, const bd::LaneCost &cost)
{
    QString line = u"  %1 at most %2"_s.arg(name, -9).arg(usd(cost.maxUsd));
    if (cost.typicalUsd)
        line += u", typically "_s + usd(cost.typicalUsd);
    if (cost.withPromptCacheMaxUsd)
        line += u", at most "_s + usd(cost.withPromptCacheMaxUsd) + u" with prompt caching"_s;
    printOut(line);
}

} // namespace

// `estimate INPUT.csv ...` (also `run --dry-run`): what the job would cost, before anything
// is imported or sent. Takes run's options; no key is needed. The engine reads the database
// (when it exists; it never creates one) only to find requests the response cache already
// answered and to calibrate output lengths.
int commandEstimate(const Invocation &in)
{
    const bd::JobDraft draft = jobDraft(in.parser, in.positional);
    Session session(in.database, in.json);
    session.checkEndpoint(draft.spec);
    const bd::JobCheck check = session.check(draft);
    if (in.databaseGiven && !bd::databaseExists(in.database))
        printErr(u"note: %1 does not exist yet: no cached answers or calibration"_s.arg(in.database));
    const bd::JobEstimate estimate = session.estimate(check.spec);
    const QString model = estimate.model.isEmpty() ? check.spec.model : estimate.model;
    const QString provider = check.spec.provider;

    if (in.json) {
        QJsonObject json = estimate.toJson();
        json.insert(u"provider"_s, provider);
        json.insert(u"model"_s, model);
        json.insert(u"batch_api_available"_s, check.provider.hasBatchApi);
        if (!estimate.note.isEmpty())
            json.insert(u"tiering_note"_s, estimate.note);
        if (check.provider.simulated)
            json.insert(u"simulated"_s, true);
        printJson(json);
        return ExitFinished;
    }
    printOut(u"%1 rows, %2 distinct prompts, %3 duplicate rows, %4 already in the response cache: %5 to send%6"_s
                 .arg(estimate.rows).arg(estimate.distinctPrompts).arg(estimate.duplicateRows)
                 .arg(estimate.cachedRows).arg(estimate.rowsToSend)
                 .arg(estimate.responseCache ? QString() : u" (response cache off: every row is sent)"_s));
    printOut(u"input tokens ~%1 (chars/4, +/-%2%: %3..%4); output at most %5 per row%6"_s
                 .arg(estimate.inputTokens)
                 .arg(qRound(estimate.inputTokenError * 100))
                 .arg(qint64(double(estimate.inputTokens) * (1 - estimate.inputTokenError)))
                 .arg(qint64(double(estimate.inputTokens) * (1 + estimate.inputTokenError)))
                 .arg(estimate.maxOutputTokensPerRow)
                 .arg(estimate.typicalOutputTokensPerRow
                          ? u", typically %1 (from %2 completed tasks)"_s
                                .arg(QString::number(*estimate.typicalOutputTokensPerRow, 'f', 1))
                                .arg(estimate.calibrationTasks)
                          : QString()));
    if (!estimate.priced) {
        printOut(u"cost unknown: model %1 has no price in the price table"_s.arg(model));
        return ExitFinished;
    }
    if (!estimate.note.isEmpty())
        printOut(estimate.note);
    printOut(u"%1 on %2 (prices of %3):"_s.arg(provider, model, estimate.priceDate));
    printLane(u"realtime"_s, estimate.realtime);
    printLane(u"batch-api"_s, estimate.batchApi);
    if (!check.provider.hasBatchApi)
        printOut(u"  (%1 has no batch API)"_s.arg(provider));
    printLane(u"naive"_s, estimate.naive);
    if (estimate.deadline)
        printOut(u"deadline: %1 (%2 rows on the batch API, %3 as sync calls)%4"_s
                     .arg(estimate.deadline->why)
                     .arg(estimate.deadline->batchApiRows)
                     .arg(estimate.deadline->syncRows)
                     .arg(estimate.deadline->meetsDeadline ? QString() : u" — it would miss the deadline"_s));
    return ExitFinished;
}

} // namespace batchctl
