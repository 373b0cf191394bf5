#include "output.h"

#include "cli.h"

#include <QDateTime>

#include <cmath>

using namespace Qt::StringLiterals;

namespace batchctl {

QJsonObject jobSummary(const bd::JobInfo &job, double elapsedSeconds)
{
    QJsonObject object{
        {u"job"_s, job.id},
        {u"state"_s, bd::jobDisplayState(job)},
        {u"tasks"_s, job.counts.total()},
        {u"completed"_s, job.counts.completed},
        {u"dead"_s, job.counts.dead},
        {u"pending"_s, job.counts.unfinished()},
        {u"cancelled"_s, job.counts.cancelled},
        {u"cost_usd"_s, std::round(job.costUsd * 1e9) / 1e9},
        {u"input_tokens"_s, job.usage.inputTokens},
        {u"output_tokens"_s, job.usage.outputTokens},
        {u"cached_tokens"_s, job.usage.cachedTokens},
        {u"provider"_s, job.spec.provider},
        {u"model"_s, job.spec.model},
        {u"priority"_s, job.spec.priority},
        {u"source"_s, job.spec.sourcePath},
    };
    if (!job.stateReason.isEmpty())
        object.insert(u"reason"_s, job.stateReason);
    if (const QString queue = bd::queueOfJob(job.spec); !queue.isEmpty()) {
        object.insert(u"queue"_s, queue);
        if (job.queueMaxPending > 0)
            object.insert(u"max_pending"_s, job.queueMaxPending);
    }
    if (job.spec.provider == u"simulator"_s)
        object.insert(u"simulated"_s, true);
    if (const auto projection = bd::sampleProjection(job)) {
        object.insert(u"sample_of_rows"_s, projection->inputRows);
        object.insert(u"projected_cost_usd"_s, std::round(projection->costUsd * 1e6) / 1e6);
        object.insert(u"projected_tokens"_s, projection->tokens);
    }
    if (elapsedSeconds >= 0)
        object.insert(u"elapsed_s"_s, std::round(elapsedSeconds * 1000.0) / 1000.0);
    return object;
}

QString jobLine(const bd::JobInfo &job)
{
    QString line = u"job %1  %2  %3/%4 completed, %5 dead, %6 pending  $%7  %8/%9%10"_s
                       .arg(job.id)
                       .arg(bd::jobDisplayState(job))
                       .arg(job.counts.completed)
                       .arg(job.counts.total())
                       .arg(job.counts.dead)
                       .arg(job.counts.unfinished())
                       .arg(QString::number(job.costUsd, 'f', 4), job.spec.provider,
                            job.spec.model,
                            job.spec.provider == u"simulator"_s ? u" (simulated)"_s : QString());
    if (!job.stateReason.isEmpty() && job.state != bd::JobState::Finished)
        line += u"  (%1)"_s.arg(job.stateReason);
    if (const auto projection = bd::sampleProjection(job))
        line += u"\n  sample of %1 rows from %2: the whole input would cost about $%3 (%4 tokens)"_s
                    .arg(projection->sampledRows)
                    .arg(projection->inputRows)
                    .arg(QString::number(projection->costUsd, 'f', 4))
                    .arg(projection->tokens);
    return line;
}

QJsonObject alertJson(const bd::AlertRecord &alert)
{
    return QJsonObject{
        {u"kind"_s, alert.kind},
        {u"message"_s, alert.message},
        {u"job"_s, alert.jobId ? QJsonValue(alert.jobId) : QJsonValue()},
        {u"raised_at"_s, alert.raisedAt.toUTC().toString(Qt::ISODateWithMs)},
        {u"cleared_at"_s, alert.clearedAt.isValid()
                              ? QJsonValue(alert.clearedAt.toUTC().toString(Qt::ISODateWithMs))
                              : QJsonValue()},
        {u"figures"_s, alert.figures},
    };
}

QJsonObject globalBudgetJson(const GlobalBudget &budget)
{
    const qint64 start =
        bd::globalBudgetPeriodStartMs(budget.period, QDateTime::currentMSecsSinceEpoch());
    const double cap = budget.capUsd;
    return QJsonObject{
        {u"cap_usd"_s, cap},
        {u"period"_s, budget.period},
        {u"period_start"_s, QDateTime::fromMSecsSinceEpoch(start, Qt::UTC).toString(Qt::ISODate)},
        {u"spent_usd"_s, budget.spentUsd},
        {u"fraction"_s, cap > 0 ? QJsonValue(budget.spentUsd / cap) : QJsonValue()},
        {u"reached"_s, cap > 0 && budget.spentUsd >= cap},
    };
}

QString globalBudgetLine(const QJsonObject &budget)
{
    const double cap = budget.value(u"cap_usd"_s).toDouble();
    const QString period = budget.value(u"period"_s).toString();
    const QString spent = QString::number(budget.value(u"spent_usd"_s).toDouble(), 'f', 4);
    const QString over = period == u"all"_s   ? u"in all"_s
                         : period == u"day"_s ? u"today (UTC)"_s
                                              : u"this month (UTC)"_s;
    if (cap <= 0)
        return u"global budget: none; spent $%1 %2"_s.arg(spent, over);
    return u"global budget: $%1 per %2; spent $%3 %4 (%5%)%6"_s.arg(
        QString::number(cap, 'f', cap < 1 ? 4 : 2), period, spent, over,
        QString::number(budget.value(u"fraction"_s).toDouble() * 100, 'f', 1),
        budget.value(u"reached"_s).toBool() ? u" - reached: jobs pause until it is raised"_s
                                            : QString());
}

int exitCodeFor(const bd::JobInfo &job)
{
    if (job.state == bd::JobState::Paused || job.counts.unfinished() > 0)
        return ExitPaused;
    if (job.counts.dead > 0)
        return ExitDeadLetters;
    return ExitFinished;
}

} // namespace batchctl
