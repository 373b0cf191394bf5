#include "cli.h"
#include "commands.h"
#include "output.h"
#include "parsing.h"
#include "session.h"

#include <QJsonArray>

#include <cmath>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

double share(qint64 part, qint64 whole)
{
    return whole > 0 ? double(part) / double(whole) : 0.0;
}

QJsonObject candidateJson(const bd::SampleComparison::Candidate &candidate)
{
    QJsonObject object{{u"job"_s, candidate.jobId},
                       {u"model"_s, candidate.model},
                       {u"template"_s, candidate.templateText},
                       {u"completed"_s, candidate.completed},
                       {u"dead"_s, candidate.dead}};
    if (candidate.projection) {
        object.insert(u"projected_cost_usd"_s, std::round(candidate.projection->costUsd * 1e6) / 1e6);
        object.insert(u"projected_tokens"_s, candidate.projection->tokens);
    }
    return object;
}

} // namespace

// `compare JOB JOB [JOB]`: sample jobs of one input (run --sample N, one per model or
// template) side by side: per field how often they agree, and what each would cost for the
// whole input. Reads only.
int commandCompare(const Invocation &in)
{
    if (in.positional.size() < 3 || in.positional.size() > 4)
        throw UsageError{u"compare takes two or three JOB ids (sample jobs of one input)"_s};
    QList<qint64> jobIds;
    for (qsizetype i = 1; i < in.positional.size(); ++i)
        jobIds.append(parseJobId(in.positional.at(i)));
    requireDatabase(in);
    Session session(in.database, in.json, {}, Session::Access::ReadOnly);
    if (!session.open())
        return ExitFatal;
    const quint64 ticket = session.engine().newTicket();
    const auto answer = session.ask(
        &bd::Engine::samplesCompared, [&] { session.engine().compareSamples(ticket, jobIds); },
        [ticket](quint64 answered, const bd::SampleComparison &) { return answered == ticket; });
    if (!answer)
        return ExitFatal;
    const bd::SampleComparison &comparison = std::get<1>(*answer);
    if (!comparison.error.isEmpty())
        throw UsageError{comparison.error};

    if (in.json) {
        QJsonArray candidates;
        for (const auto &candidate : comparison.candidates)
            candidates.append(candidateJson(candidate));
        QJsonArray fields;
        for (const auto &field : comparison.fields)
            fields.append(QJsonObject{{u"field"_s, field.field},
                                      {u"agreeing"_s, field.agreeing},
                                      {u"compared"_s, field.compared},
                                      {u"agreement"_s, std::round(share(field.agreeing, field.compared) * 1e4) / 1e4}});
        printJson(QJsonObject{{u"rows"_s, comparison.rows},
                              {u"compared_rows"_s, comparison.comparedRows},
                              {u"jobs"_s, candidates},
                              {u"fields"_s, fields}});
        return ExitFinished;
    }
    for (const auto &candidate : comparison.candidates) {
        printOut(u"job %1  %2  %3/%4 answered%5"_s.arg(candidate.jobId)
                     .arg(candidate.model)
                     .arg(candidate.completed)
                     .arg(comparison.rows)
                     .arg(candidate.projection
                              ? u"  whole input about $%1"_s.arg(QString::number(candidate.projection->costUsd, 'f', 4))
                              : QString()));
        printOut(u"      template: %1"_s.arg(candidate.templateText.simplified().left(100)));
    }
    printOut(u"%1 of %2 rows answered by every job"_s.arg(comparison.comparedRows).arg(comparison.rows));
    for (const auto &field : comparison.fields)
        printOut(u"  %1 agree on %2 of %3 rows (%4 %)"_s.arg(field.field, -16)
                     .arg(field.agreeing)
                     .arg(field.compared)
                     .arg(QString::number(share(field.agreeing, field.compared) * 100.0, 'f', 1)));
    return ExitFinished;
}

} // namespace batchctl
