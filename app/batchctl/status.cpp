#include "api/alertfigures.h"
#include "cli.h"
#include "commands.h"
#include "output.h"
#include "session.h"

#include <QDateTime>
#include <QJsonArray>

#include <cmath>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

// The human lines under a job: where its money went (lanes, token kinds, tiers, savings).
void printCost(const bd::JobInfo &job, const QJsonObject &cost)
{
    const qint64 unpriced = cost.value(u"unpriced_tasks"_s).toInteger();
    if (unpriced > 0)
        printOut(u"    cost unknown for %1 task(s): model %2 has no price (the total above "
                 "leaves them out)"_s.arg(unpriced).arg(job.spec.model));
    QStringList lanes;
    const QJsonObject byLane = cost.value(u"by_lane"_s).toObject();
    for (auto it = byLane.begin(); it != byLane.end(); ++it)
        lanes.append(u"%1 %2 tasks $%3"_s.arg(it.key()).arg(it.value()[u"tasks"_s].toInteger())
                         .arg(QString::number(it.value()[u"cost_usd"_s].toDouble(), 'f', 4)));
    if (!lanes.isEmpty())
        printOut(u"    lanes: "_s + lanes.join(u", "_s));
    const QJsonObject kinds = cost.value(u"by_token_kind"_s).toObject();
    if (!lanes.isEmpty())
        printOut(u"    tokens: input $%1, cached $%2, cache writes $%3, output $%4; prompt cache hit rate %5%"_s
                     .arg(QString::number(kinds[u"input"_s].toDouble(), 'f', 4),
                          QString::number(kinds[u"cached_input"_s].toDouble(), 'f', 4),
                          QString::number(kinds[u"cache_write"_s].toDouble(), 'f', 4),
                          QString::number(kinds[u"output"_s].toDouble(), 'f', 4),
                          QString::number(cost[u"prompt_cache_hit_rate"_s].toDouble() * 100, 'f', 1)));
    if (cost.contains(u"by_tier"_s)) {
        QStringList tiers;
        const QJsonObject byTier = cost.value(u"by_tier"_s).toObject();
        for (const QString &name : {u"simple"_s, u"standard"_s, u"complex"_s}) {
            const QJsonObject entry = byTier.value(name).toObject();
            if (!entry.isEmpty())
                tiers.append(u"%1 (%2) %3 tasks $%4"_s.arg(name, entry[u"model"_s].toString())
                                 .arg(entry[u"tasks"_s].toInteger())
                                 .arg(QString::number(entry[u"cost_usd"_s].toDouble(), 'f', 4)));
        }
        const QJsonObject saved = cost.value(u"tiering"_s).toObject();
        printOut(u"    tiers: "_s + tiers.join(u", "_s));
        const QJsonObject classification = cost.value(u"classification"_s).toObject();
        if (!classification.isEmpty())
            printOut(u"    classification on %1: %2 input, %3 output tokens, $%4 (in the tiers' spend)"_s
                         .arg(classification[u"model"_s].toString())
                         .arg(classification[u"input_tokens"_s].toInteger())
                         .arg(classification[u"output_tokens"_s].toInteger())
                         .arg(QString::number(classification[u"cost_usd"_s].toDouble(), 'f', 4)));
        if (saved.value(u"savings_usd"_s).isDouble())
            printOut(u"    tiering saved $%1 against $%2 on the top tier's model %3 (same lanes and tokens)"_s
                         .arg(QString::number(saved[u"savings_usd"_s].toDouble(), 'f', 4),
                              QString::number(saved[u"top_model_cost_usd"_s].toDouble(), 'f', 4),
                              saved[u"top_model"_s].toString()));
    }
    if (cost.value(u"naive_cost_usd"_s).isDouble()) {
        // The share saved, not the share spent (cost_vs_naive in the JSON).
        const double naive = cost[u"naive_cost_usd"_s].toDouble();
        const double saved = cost[u"savings_usd"_s].toDouble();
        const QString share =
            naive > 0 ? u" (%1% of naive)"_s.arg(QString::number(saved / naive * 100, 'f', 1))
                      : QString();
        printOut(u"    response cache hits %1; naive run $%2, saved $%3%4"_s
                     .arg(cost[u"response_cache_hits"_s].toInteger())
                     .arg(QString::number(naive, 'f', 4), QString::number(saved, 'f', 4), share));
    }
}

void printAlerts(const QList<bd::AlertRecord> &alerts)
{
    for (const bd::AlertRecord &alert : alerts) {
        if (alert.clearedAt.isValid())
            continue;
        printOut(u"ALERT %1 (%2): %3"_s.arg(alert.kind,
                                            alert.jobId ? u"job %1"_s.arg(alert.jobId) : u"all jobs"_s,
                                            alert.message));
        const QString figures = bd::describeAlertFigures(alert.kind, alert.figures);
        if (!figures.isEmpty())
            printOut(u"    "_s + figures);
    }
}

// Requests the job may have in flight now, as the engine running it (this process or
// another) last recorded: its adapted concurrency. Empty when no recent reading exists.
std::optional<int> concurrencyLimit(Session &session, qint64 jobId)
{
    constexpr quint64 kTicket = 1;
    constexpr qint64 kRecentMs = 60'000; // a few metric intervals: the job runs now
    const QString labels = bd::metrics::labelString({{u"job"_s, QString::number(jobId)}});
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    const auto series = session.ask(
        &bd::Engine::seriesReady,
        [&] {
            session.engine().requestSeries(kTicket, QString::fromLatin1(bd::metrics::names::jobConcurrencyLimit),
                                           labels, now - kRecentMs, now, 1000);
        },
        [&](quint64 ticket, const bd::metrics::SeriesData &) { return ticket == kTicket; });
    if (!series || std::get<1>(*series).points.isEmpty())
        return std::nullopt;
    return int(std::get<1>(*series).points.constLast().value + 0.5);
}

// The engines seen on the database in the last 10 minutes, as `status --json` lists them.
QJsonArray workersJson(const QList<bd::WorkerInfo> &workers)
{
    QJsonArray array;
    for (const bd::WorkerInfo &worker : workers) {
        QJsonArray lanes;
        for (const int lane : worker.lanes)
            lanes.append(lane);
        array.append(QJsonObject{
            {u"id"_s, worker.id},
            {u"host"_s, worker.host},
            {u"pid"_s, worker.pid},
            {u"lanes"_s, lanes},
            {u"started_at"_s, worker.startedAt.toString(Qt::ISODateWithMs)},
            {u"last_seen"_s, worker.lastSeen.toString(Qt::ISODateWithMs)},
            {u"completed"_s, worker.completed},
            {u"in_flight"_s, worker.inFlight},
            {u"tasks_per_s"_s, std::round(worker.tasksPerSecond * 100.0) / 100.0},
            {u"rescued"_s, worker.rescued},
            {u"stopped_at"_s, worker.stoppedAt.isValid()
                                  ? QJsonValue(worker.stoppedAt.toString(Qt::ISODateWithMs))
                                  : QJsonValue()},
        });
    }
    return array;
}

void printWorkers(const QList<bd::WorkerInfo> &workers)
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    for (const bd::WorkerInfo &worker : workers) {
        QStringList lanes;
        for (const int lane : worker.lanes)
            lanes.append(QString::number(lane));
        if (worker.stoppedAt.isValid()) {
            printOut(u"worker %1  lanes %2  %3 completed  stopped %4 s ago"_s
                         .arg(worker.id, lanes.join(u','))
                         .arg(worker.completed)
                         .arg(qMax<qint64>(0, worker.stoppedAt.secsTo(now))));
            continue;
        }
        printOut(u"worker %1  lanes %2  %3 completed, %4 in flight, %5 tasks/s  seen %6 s ago"_s
                     .arg(worker.id, lanes.join(u','))
                     .arg(worker.completed)
                     .arg(worker.inFlight)
                     .arg(QString::number(worker.tasksPerSecond, 'f', 1))
                     .arg(qMax<qint64>(0, worker.lastSeen.secsTo(now))));
    }
}

} // namespace

// `status`: every job with its counts, spend and cost report, the global budget and the
// alerts, read through the engine (a database that does not exist is not created).
int commandStatus(const Invocation &in)
{
    requireDatabase(in);
    Session session(in.database, in.json, {}, Session::Access::ReadOnly);
    if (!session.open())
        return ExitFatal;
    const auto jobs = session.jobs();
    const auto alerts = session.ask(&bd::Engine::alertsListed,
                                    [&] { session.engine().requestAlerts(true); });
    const auto budget = session.ask(&bd::Engine::globalBudgetChanged,
                                    [&] { session.engine().requestGlobalBudget(); });
    constexpr qint64 kWorkersSeenMs = 10 * 60'000;
    const auto workers = session.ask(&bd::Engine::workersListed, [&] {
        session.engine().requestWorkers(QDateTime::currentMSecsSinceEpoch() - kWorkersSeenMs);
    });
    if (!jobs || !alerts || !budget || !workers)
        return ExitFatal;
    const auto &[capUsd, period, spentUsd] = *budget;
    const QJsonObject globalBudget = globalBudgetJson(GlobalBudget{capUsd, period, spentUsd});
    QJsonArray jobArray;
    for (const bd::JobInfo &job : *jobs) {
        const auto report = session.ask(
            &bd::Engine::costReportReady, [&] { session.engine().requestCostReport(job.id); },
            [&](qint64 jobId, const QJsonObject &) { return jobId == job.id; });
        const QJsonObject cost = report ? std::get<1>(*report) : QJsonObject();
        if (!in.json) {
            printOut(jobLine(job));
            printCost(job, cost);
            continue;
        }
        QJsonObject summary = jobSummary(job, -1);
        summary.insert(u"cost"_s, cost);
        if (job.state == bd::JobState::Running) {
            if (const auto limit = concurrencyLimit(session, job.id))
                summary.insert(u"concurrency_limit"_s, *limit);
        }
        if (!cost.value(u"cost_known"_s).toBool()) {
            // Never a silent zero: the total covers only the tasks with a price.
            summary.insert(u"cost_known"_s, false);
            summary.insert(u"cost_note"_s, u"cost unknown for %1 task(s): model has no price"_s
                                               .arg(cost.value(u"unpriced_tasks"_s).toInteger()));
        }
        jobArray.append(summary);
    }
    if (in.json) {
        QJsonArray alertArray;
        for (const bd::AlertRecord &alert : std::get<0>(*alerts))
            alertArray.append(alertJson(alert));
        QJsonObject status{{u"jobs"_s, jobArray},
                           {u"alerts"_s, alertArray},
                           {u"workers"_s, workersJson(std::get<0>(*workers))}};
        if (capUsd > 0)
            status.insert(u"global_budget"_s, globalBudget);
        printJson(status);
        return ExitFinished;
    }
    if (jobs->isEmpty())
        printOut(u"no jobs in %1"_s.arg(in.database));
    if (capUsd > 0)
        printOut(globalBudgetLine(globalBudget));
    printAlerts(std::get<0>(*alerts));
    printWorkers(std::get<0>(*workers));
    return ExitFinished;
}

} // namespace batchctl
