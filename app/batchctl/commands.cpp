#include "commands.h"

#include "api/alertfigures.h"
#include "core/clock.h"
#include "cost/estimator.h"
#include "cost/pricetable.h"
#include "dispatch/offpeakwindow.h"
#include "dispatch/globalbudget.h"
#include "cost/tiering.h"
#include "api/engine.h"
#include "ingest/exportwriter.h"
#include "jobio.h"
#include "keystore.h"
#include "providers/provider.h"
#include "store/sqlite/sqlitestore.h"
#include "terminalprogress.h"

#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSocketNotifier>
#include <QStandardPaths>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

struct UsageError
{
    QString message;
};

void printErr(const QString &text)
{
    std::fputs(qPrintable(text + u'\n'), stderr);
}

void printOut(const QString &text)
{
    std::fputs(text.toUtf8().constData(), stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
}

QString defaultDatabasePath()
{
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)
           + u"/batchdesk.sqlite"_s;
}

// SIGINT/SIGTERM become an event-loop callback through a self-pipe: the handler itself
// only writes one byte.
class SignalWatcher
{
public:
    SignalWatcher()
    {
        if (::pipe(s_fds) != 0)
            return;
        ::fcntl(s_fds[1], F_SETFL, O_NONBLOCK);
        m_notifier = std::make_unique<QSocketNotifier>(s_fds[0], QSocketNotifier::Read);
        struct sigaction action = {};
        action.sa_handler = [](int) {
            const char byte = 1;
            [[maybe_unused]] const auto written = ::write(s_fds[1], &byte, 1);
        };
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGINT, &action, nullptr);
        ::sigaction(SIGTERM, &action, nullptr);
    }
    ~SignalWatcher()
    {
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        m_notifier.reset();
        ::close(s_fds[0]);
        ::close(s_fds[1]);
    }
    template<typename F>
    void onSignal(QObject *context, F callback)
    {
        if (!m_notifier)
            return;
        QObject::connect(m_notifier.get(), &QSocketNotifier::activated, context, [callback] {
            char buffer[16];
            [[maybe_unused]] const auto n = ::read(s_fds[0], buffer, sizeof buffer);
            callback();
        });
    }

private:
    static inline int s_fds[2] = {-1, -1};
    std::unique_ptr<QSocketNotifier> m_notifier;
};

struct JobOutcome
{
    qint64 jobId = 0;
    bool failed = false;
    QString error;
};

QJsonObject jobSummary(const bd::JobInfo &job, double elapsedSeconds)
{
    QJsonObject object{
        {u"job"_s, job.id},
        {u"state"_s, bd::jobStateName(job.state)},
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
    if (job.spec.provider == u"simulator"_s)
        object.insert(u"simulated"_s, true);
    if (elapsedSeconds >= 0)
        object.insert(u"elapsed_s"_s, std::round(elapsedSeconds * 1000.0) / 1000.0);
    return object;
}

QString jobLine(const bd::JobInfo &job)
{
    QString line = u"job %1  %2  %3/%4 completed, %5 dead, %6 pending  $%7  %8/%9%10"_s
                       .arg(job.id)
                       .arg(bd::jobStateName(job.state))
                       .arg(job.counts.completed)
                       .arg(job.counts.total())
                       .arg(job.counts.dead)
                       .arg(job.counts.unfinished())
                       .arg(QString::number(job.costUsd, 'f', 4), job.spec.provider,
                            job.spec.model,
                            job.spec.provider == u"simulator"_s ? u" (simulated)"_s : QString());
    if (!job.stateReason.isEmpty() && job.state != bd::JobState::Finished)
        line += u"  (%1)"_s.arg(job.stateReason);
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

// The cap across every job of the database as stored (batchctl budget, status).
QJsonObject globalBudgetJson(bd::store::Store &store)
{
    using bd::dispatch::GlobalBudget;
    const double cap = store.setting(u"global_budget_usd"_s).value_or(QString()).toDouble();
    const GlobalBudget::Period period =
        GlobalBudget::periodFromName(store.setting(u"global_budget_period"_s).value_or(QString()))
            .value_or(GlobalBudget::Period::Month);
    const qint64 start = GlobalBudget::periodStartMs(period, bd::SystemClock::instance()->nowMs());
    const double spent = store.spendSince(start);
    return QJsonObject{
        {u"cap_usd"_s, cap},
        {u"period"_s, GlobalBudget::periodName(period)},
        {u"period_start"_s, QDateTime::fromMSecsSinceEpoch(start, Qt::UTC).toString(Qt::ISODate)},
        {u"spent_usd"_s, spent},
        {u"fraction"_s, cap > 0 ? QJsonValue(spent / cap) : QJsonValue()},
        {u"reached"_s, cap > 0 && spent >= cap},
    };
}

QString globalBudgetLine(const QJsonObject &budget)
{
    const double cap = budget.value(u"cap_usd"_s).toDouble();
    const QString period = budget.value(u"period"_s).toString();
    const QString spent = QString::number(budget.value(u"spent_usd"_s).toDouble(), 'f', 4);
    const QString over = period == u"all"_s ? u"in all"_s
                         : period == u"day"_s ? u"today (UTC)"_s
                                              : u"this month (UTC)"_s;
    if (cap <= 0)
        return u"global budget: none; spent $%1 %2"_s.arg(spent, over);
    return u"global budget: $%1 per %2; spent $%3 %4 (%5%)%6"_s.arg(
        QString::number(cap, 'f', cap < 1 ? 4 : 2), period, spent, over,
        QString::number(budget.value(u"fraction"_s).toDouble() * 100, 'f', 1),
        budget.value(u"reached"_s).toBool() ? u" - reached: jobs pause until it is raised"_s : QString());
}

// --global-budget USD [--period P] on run and resume: nullopt when not given.
std::optional<std::pair<double, QString>> globalBudgetOption(const QCommandLineParser &parser,
                                                             const QString &flag)
{
    if (parser.isSet(u"period"_s)
        && !bd::dispatch::GlobalBudget::periodFromName(parser.value(u"period"_s)))
        throw UsageError{u"--period must be month, day or all"_s};
    if (!parser.isSet(flag))
        return std::nullopt;
    bool ok = false;
    const double usd = parser.value(flag).toDouble(&ok);
    if (!ok || usd < 0 || !std::isfinite(usd))
        throw UsageError{u"--%1 needs an amount in USD >= 0 (0: no cap)"_s.arg(flag)};
    return std::pair{usd, parser.value(u"period"_s)};
}

int exitCodeFor(const bd::JobInfo &job)
{
    if (job.state == bd::JobState::Paused || job.counts.unfinished() > 0)
        return ExitPaused;
    if (job.counts.dead > 0)
        return ExitDeadLetters;
    return ExitFinished;
}

// Where a job's provider lives and how to reach it, without its key (apiKeyFor() adds it).
bd::ProviderConfig providerConfigFor(const QString &provider, const QString &baseUrl,
                                                const QJsonObject &settings)
{
    bd::ProviderConfig config;
    config.id = provider;
    config.settings = settings;
    config.baseUrl = baseUrl;
    const QString urlVariable = bd::secrets::baseUrlVariable(provider);
    if (config.baseUrl.isEmpty() && !urlVariable.isEmpty())
        config.baseUrl = qEnvironmentVariable(urlVariable.toLatin1().constData());
    return config;
}

// The key a run sends: the environment variable when set, else (for providers that cannot
// work without one) the OS keychain entry, waited for here. A provider whose key is
// optional (a local OpenAI-compatible server) gets only the variable: a key kept for
// OpenAI is not handed to any server a base URL names. A required key that is in neither
// place is a usage error naming both.
QString apiKeyFor(const QString &provider, bool required)
{
    const QString variable = bd::secrets::apiKeyVariable(provider);
    if (variable.isEmpty())
        return {};
    const QString fromEnvironment = qEnvironmentVariable(variable.toLatin1().constData());
    if (!fromEnvironment.isEmpty() || !required)
        return fromEnvironment;
    bd::secrets::KeyStore keyStore;
    bd::secrets::KeyStore::ResolvedKey resolved;
    QEventLoop loop;
    keyStore.resolveKey(provider, [&](const bd::secrets::KeyStore::ResolvedKey &answer) {
        resolved = answer;
        loop.quit();
    });
    loop.exec();
    if (resolved.key.isEmpty())
        throw UsageError{bd::secrets::missingKeyMessage(provider, resolved.keychainError)};
    return resolved.key;
}

// The price table the engine uses: built in, with the user's override merged over it.
bd::cost::PriceTable loadPrices()
{
    bd::cost::PriceTable prices = bd::cost::PriceTable::builtIn();
    const QString override =
        QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation) + u"/prices.json"_s;
    if (QFileInfo::exists(override)) {
        QString error;
        if (!prices.mergeFile(override, &error))
            printErr(u"warning: price override ignored: "_s + error);
    }
    return prices;
}

double roundUsd(double usd)
{
    return std::round(usd * 1e9) / 1e9;
}

// Where a job's money went: by lane, model, token kind and day, cache hits, and what a
// naive run would have cost (every row realtime on the job's model at list price, no
// prompt caching, no response cache). Breakdowns use the current price table; cost_usd
// is what was recorded per task when it completed.
QJsonObject costReport(bd::store::Store &store, const bd::JobInfo &job,
                       const bd::cost::PriceTable &prices)
{
    const QList<bd::store::CostLine> lines = store.costLines(job.id);
    // Model tiering: savings are measured against the top tier's model; a naive run would
    // have sent every row there too.
    std::optional<bd::cost::TieringConfig> tiering;
    if (job.spec.model == bd::cost::kAutoModel) {
        QString ignored;
        tiering = bd::cost::TieringConfig::fromJson(job.spec.settings.value(u"tiering"_s).toObject(),
                                                    u"job settings"_s, &ignored);
    }
    QString topModel;
    if (tiering) {
        topModel = tiering->modelFor(tiering->topTier([&](const QString &model) {
            const auto price = prices.price(model);
            return price ? std::optional<double>(price->output) : std::nullopt;
        }));
    }
    QJsonObject byTier;
    std::optional<double> onTopTier = 0.0; // the same tokens and lanes on the top tier's model
    bd::Usage classifyUsage;               // a tiering classifier's calls (completed tasks)
    double classifyCost = 0.0;
    QJsonObject byLane;
    QJsonObject byModel;
    QJsonObject byDay;
    bd::cost::CostBreakdown kinds;
    qint64 unpriced = 0;
    qint64 cacheHits = 0;
    qint64 sentTasks = 0;
    bd::Usage total;
    std::optional<double> naive = 0.0;
    QHash<QString, std::pair<qint64, double>> naivePerModel; // sent tasks, naive cost
    const auto add = [](QJsonObject &map, const QString &key, qint64 tasks, double cost) {
        QJsonObject entry = map.value(key).toObject();
        entry.insert(u"tasks"_s, entry.value(u"tasks"_s).toInteger() + tasks);
        entry.insert(u"cost_usd"_s, roundUsd(entry.value(u"cost_usd"_s).toDouble() + cost));
        map.insert(key, entry);
    };
    for (const bd::store::CostLine &line : lines) {
        const QString lane = line.lane == u"sync"_s ? job.spec.mode : line.lane;
        add(byLane, lane, line.tasks, line.costUsd);
        add(byModel, line.model, line.tasks, line.costUsd);
        add(byDay, line.day, line.tasks, line.costUsd);
        if (tiering)
            add(byTier, line.tier.isEmpty() ? u"none"_s : line.tier, line.tasks, line.costUsd);
        classifyUsage += line.classifyUsage;
        classifyCost += line.classifyCostUsd;
        unpriced += line.unpricedTasks;
        total += line.usage;
        if (line.lane == u"response-cache"_s) {
            cacheHits += line.tasks;
            continue;
        }
        sentTasks += line.tasks;
        const bool batchLane = line.lane == u"batch-api"_s;
        if (const auto parts = prices.breakdown(line.model, line.usage, batchLane,
                                                bd::cost::cacheTtlForLane(batchLane)))
            kinds += *parts;
        if (tiering && onTopTier) {
            const auto top = prices.cost(topModel, line.usage, batchLane,
                                         bd::cost::cacheTtlForLane(batchLane));
            onTopTier = top ? std::optional<double>(*onTopTier + *top) : std::nullopt;
        }
        const QString naiveModel = tiering ? topModel : line.model;
        const auto lineNaive = prices.naiveCost(naiveModel, line.usage);
        if (lineNaive && naive) {
            *naive += *lineNaive;
            auto &perModel = naivePerModel[naiveModel];
            perModel.first += line.tasks;
            perModel.second += *lineNaive;
        } else {
            naive.reset();
        }
    }
    // Cache hits cost nothing now; a naive run would have paid for them like for the
    // job's other answers (their mean), or like earlier jobs of the same template.
    if (naive && cacheHits > 0) {
        for (const bd::store::CostLine &line : lines) {
            if (line.lane != u"response-cache"_s)
                continue;
            const QString naiveModel = tiering ? topModel : line.model;
            const auto perModel = naivePerModel.value(naiveModel);
            if (perModel.first > 0) {
                *naive += perModel.second / double(perModel.first) * double(line.tasks);
                continue;
            }
            const bd::store::UsageCalibration calibration =
                store.usageCalibration(job.spec.templateText, job.spec.systemPrompt,
                                       tiering ? job.spec.model : line.model);
            bd::Usage typical;
            typical.inputTokens = qint64(std::llround(calibration.meanPromptTokens * double(line.tasks)));
            typical.outputTokens = qint64(std::llround(calibration.meanOutputTokens * double(line.tasks)));
            const auto hitNaive = prices.naiveCost(naiveModel, typical);
            if (calibration.tasks > 0 && hitNaive)
                *naive += *hitNaive;
            else
                naive.reset();
            if (!naive)
                break;
        }
    }
    const qint64 promptTokens = total.inputTokens + total.cachedTokens + total.cacheWriteTokens;
    QJsonObject report{
        {u"cost_usd"_s, roundUsd(job.costUsd)},
        {u"cost_known"_s, unpriced == 0},
        {u"unpriced_tasks"_s, unpriced},
        {u"by_lane"_s, byLane},
        {u"by_model"_s, byModel},
        {u"by_day"_s, byDay},
        {u"by_token_kind"_s,
         QJsonObject{{u"input"_s, roundUsd(kinds.input)},
                     {u"cached_input"_s, roundUsd(kinds.cachedInput)},
                     {u"cache_write"_s, roundUsd(kinds.cacheWrite)},
                     {u"output"_s, roundUsd(kinds.output)}}},
        {u"tokens"_s,
         QJsonObject{{u"input"_s, total.inputTokens},
                     {u"cached_input"_s, total.cachedTokens},
                     {u"cache_write"_s, total.cacheWriteTokens},
                     {u"output"_s, total.outputTokens}}},
        {u"prompt_cache_hit_rate"_s,
         promptTokens > 0 ? std::round(double(total.cachedTokens) / double(promptTokens) * 1e4) / 1e4 : 0.0},
        {u"response_cache_hits"_s, cacheHits},
        {u"sent_tasks"_s, sentTasks},
        {u"price_date"_s, prices.effectiveDate()},
    };
    if (naive && unpriced == 0) {
        report.insert(u"naive_cost_usd"_s, roundUsd(*naive));
        report.insert(u"savings_usd"_s, roundUsd(*naive - job.costUsd));
        report.insert(u"cost_vs_naive"_s,
                      *naive > 0 ? std::round(job.costUsd / *naive * 1e4) / 1e4 : QJsonValue());
    } else {
        report.insert(u"naive_cost_usd"_s, QJsonValue());
        report.insert(u"savings_usd"_s, QJsonValue());
    }
    if (tiering) {
        for (auto it = byTier.begin(); it != byTier.end(); ++it) {
            if (const auto tier = bd::cost::tierFromName(it.key())) {
                QJsonObject entry = it.value().toObject();
                entry.insert(u"model"_s, tiering->modelFor(*tier));
                it.value() = entry;
            }
        }
        report.insert(u"by_tier"_s, byTier);
        if (tiering->usesClassifier()) {
            // Part of the tiers' spend above (a task's cost includes its classification).
            report.insert(u"classification"_s,
                          QJsonObject{{u"model"_s, tiering->classifierModel()},
                                      {u"input_tokens"_s, classifyUsage.inputTokens},
                                      {u"output_tokens"_s, classifyUsage.outputTokens},
                                      {u"cost_usd"_s, roundUsd(classifyCost)}});
        }
        const bool known = onTopTier && unpriced == 0;
        report.insert(u"tiering"_s,
                      QJsonObject{{u"top_model"_s, topModel},
                                  {u"top_model_cost_usd"_s, known ? QJsonValue(roundUsd(*onTopTier)) : QJsonValue()},
                                  {u"savings_usd"_s, known ? QJsonValue(roundUsd(*onTopTier - job.costUsd)) : QJsonValue()}});
    }
    return report;
}

// The key of each provider these jobs use, settled before any job starts (a required key
// that is missing is a usage error); providers in known are skipped.
QHash<QString, QString> apiKeysFor(const QList<bd::JobInfo> &jobs, const QStringList &known = {})
{
    QHash<QString, QString> keys;
    for (const bd::JobInfo &job : jobs) {
        if (keys.contains(job.spec.provider) || known.contains(job.spec.provider))
            continue;
        QString error;
        const auto provider = bd::providers::createProvider(
            providerConfigFor(job.spec.provider, job.spec.baseUrl, job.spec.settings),
            bd::SystemClock::instance(), &error);
        if (!provider)
            continue; // the engine reports it when the job starts, as for any other job
        keys.insert(job.spec.provider, apiKeyFor(job.spec.provider, provider->requiresKey()));
    }
    return keys;
}

class Session
{
public:
    Session(const QString &databasePath, bool json, const QJsonObject &monitoring = {})
        : m_databasePath(databasePath)
        , m_json(json)
        , m_monitoring(monitoring)
    {
        m_timer.start();
    }

    bool openEngine(QString *error)
    {
        bd::EngineOptions options;
        options.database = m_databasePath;
        options.priceOverridePath =
            QStandardPaths::writableLocation(QStandardPaths::AppConfigLocation) + u"/prices.json"_s;
        options.monitoring = m_monitoring;
        m_engine = bd::createEngine(options);
        QObject::connect(m_engine.get(), &bd::Engine::metricsEndpointChanged, m_engine.get(),
                         [](quint16 port, const QString &message) {
                             if (port)
                                 printErr(u"metrics: http://127.0.0.1:%1/metrics"_s.arg(port));
                             else
                                 printErr(u"metrics endpoint not started: "_s + message);
                         });
        bool ok = false;
        QEventLoop loop;
        QObject::connect(m_engine.get(), &bd::Engine::opened, &loop,
                         [&](bool success, const QString &message) {
                             ok = success;
                             *error = message;
                             loop.quit();
                         });
        m_engine->open();
        loop.exec();
        return ok;
    }

    bd::store::SqliteStore *reader()
    {
        if (!m_reader)
            m_reader = std::make_unique<bd::store::SqliteStore>(m_databasePath);
        return m_reader->isOpen() ? m_reader.get() : nullptr;
    }

    bd::ImportResult import(const bd::JobSpec &spec)
    {
        bd::ImportResult result;
        QEventLoop loop;
        QObject::connect(m_engine.get(), &bd::Engine::importProgressed, &loop,
                         [this](qint64, qint64 bytesRead, qint64 totalBytes) {
                             m_progress.update(u"import"_s, bytesRead / 1024, totalBytes / 1024,
                                               u"KiB"_s);
                         });
        QObject::connect(m_engine.get(), &bd::Engine::importFinished, &loop,
                         [&](const bd::ImportResult &r) {
                             result = r;
                             loop.quit();
                         });
        m_engine->importJob(spec);
        loop.exec();
        m_progress.finish();
        return result;
    }

    // Runs the jobs to rest (finished, paused or failed), all at once.
    QList<JobOutcome> runJobs(const QList<bd::JobInfo> &jobs, const QJsonObject &runtimeSettings)
    {
        QList<JobOutcome> outcomes;
        if (jobs.isEmpty())
            return outcomes;
        QEventLoop loop;
        QHash<qint64, qint64> remaining; // job -> total for the bar
        qint64 grandTotal = 0;
        QHash<qint64, qint64> doneByJob;
        for (const bd::JobInfo &job : jobs) {
            remaining.insert(job.id, job.counts.total());
            grandTotal += job.counts.total();
        }
        SignalWatcher signalWatcher;
        bool interrupted = false;
        signalWatcher.onSignal(&loop, [&] {
            if (interrupted)
                return;
            interrupted = true;
            m_progress.finish();
            printErr(u"interrupted: pausing (in-flight answers are kept); `batchctl resume` continues"_s);
            m_engine->stopAll(bd::StopCause::User);
        });
        const auto settle = [&](qint64 jobId, bool failed, const QString &error) {
            if (!remaining.remove(jobId))
                return;
            outcomes.append(JobOutcome{jobId, failed, error});
            if (remaining.isEmpty())
                loop.quit();
        };
        QObject::connect(m_engine.get(), &bd::Engine::jobProgressed, &loop,
                         [&](qint64 jobId, const bd::TaskCounts &counts, const bd::Usage &, double) {
                             doneByJob[jobId] = counts.completed + counts.dead + counts.cancelled;
                             qint64 done = 0;
                             for (qint64 n : std::as_const(doneByJob))
                                 done += n;
                             m_progress.update(u"run"_s, done, grandTotal, u"tasks"_s);
                         });
        QObject::connect(m_engine.get(), &bd::Engine::jobStopped, &loop,
                         [&](qint64 jobId, bd::JobState, const QString &) { settle(jobId, false, {}); });
        QObject::connect(m_engine.get(), &bd::Engine::jobFailed, &loop,
                         [&](qint64 jobId, const QString &error) { settle(jobId, true, error); });
        QObject::connect(m_engine.get(), &bd::Engine::jobWaiting, &loop,
                         [this](qint64 jobId, const QString &reason) {
                             m_progress.finish();
                             printErr(reason.isEmpty()
                                          ? u"job %1: off-peak window open, sending"_s.arg(jobId)
                                          : u"job %1: %2 (`--run-now` sends at once)"_s.arg(jobId).arg(reason));
                         });
        QObject::connect(m_engine.get(), &bd::Engine::alertRaised, &loop,
                         [this](qint64 jobId, const QString &kind, const QString &message) {
                             m_progress.finish();
                             printErr(u"alert (job %1, %2): %3"_s.arg(jobId).arg(kind, message));
                         });
        for (const bd::JobInfo &job : jobs) {
            QJsonObject settings = job.spec.settings;
            for (auto it = runtimeSettings.begin(); it != runtimeSettings.end(); ++it)
                settings.insert(it.key(), it.value());
            bd::ProviderConfig config =
                providerConfigFor(job.spec.provider, job.spec.baseUrl, settings);
            config.apiKey = m_apiKeys.value(job.spec.provider);
            m_engine->startJob(job.id, config);
            // A job continued from an earlier run keeps its stored settings: "run now" is
            // stored with it here so that this and later runs skip the window.
            if (runtimeSettings.value(u"offpeak_run_now"_s).toBool()
                && !job.spec.settings.value(u"offpeak_run_now"_s).toBool())
                m_engine->runNow(job.id);
        }
        loop.exec();
        m_progress.finish();
        return outcomes;
    }

    // The key runJobs() hands to each job of this provider (kept in memory only).
    void setApiKey(const QString &provider, const QString &key) { m_apiKeys.insert(provider, key); }
    void addApiKeys(const QHash<QString, QString> &keys) { m_apiKeys.insert(keys); }
    QStringList apiKeyProviders() const { return m_apiKeys.keys(); }

    double elapsedSeconds() const { return double(m_timer.elapsed()) / 1000.0; }
    bool json() const { return m_json; }

    // Prints one job (run) or several (resume), returns the combined exit code.
    int report(const QList<JobOutcome> &outcomes, const QList<qint64> &jobIds, bool forceList)
    {
        bd::store::SqliteStore *store = reader();
        if (!store) {
            printErr(u"cannot read %1"_s.arg(m_databasePath));
            return ExitFatal;
        }
        int code = ExitFinished;
        QJsonArray summaries;
        for (const JobOutcome &outcome : outcomes) {
            if (outcome.failed) {
                printErr(u"job %1 failed: %2"_s.arg(outcome.jobId).arg(outcome.error));
                code = ExitFatal;
            }
        }
        for (qint64 id : jobIds) {
            const auto job = store->job(id);
            if (!job)
                continue;
            summaries.append(jobSummary(*job, elapsedSeconds()));
            printErr(jobLine(*job));
            code = combine(code, exitCodeFor(*job));
        }
        if (m_json) {
            if (summaries.size() == 1 && !forceList) {
                printOut(QString::fromUtf8(QJsonDocument(summaries.at(0).toObject()).toJson(QJsonDocument::Compact)));
            } else {
                QJsonArray alerts;
                for (const bd::AlertRecord &alert : store->alerts(true))
                    alerts.append(alertJson(alert));
                printOut(QString::fromUtf8(QJsonDocument(QJsonObject{{u"jobs"_s, summaries}, {u"alerts"_s, alerts}})
                                               .toJson(QJsonDocument::Compact)));
            }
        }
        return code;
    }

    static int combine(int a, int b)
    {
        // Fatal beats paused beats dead letters beats finished.
        const auto rank = [](int c) {
            switch (c) {
            case ExitFatal: return 4;
            case ExitPaused: return 3;
            case ExitDeadLetters: return 2;
            default: return 1;
            }
        };
        return rank(a) >= rank(b) ? a : b;
    }

    TerminalProgress &progress() { return m_progress; }
    bd::Engine *engine() { return m_engine.get(); }

private:
    QString m_databasePath;
    bool m_json;
    QElapsedTimer m_timer;
    QJsonObject m_monitoring;
    std::unique_ptr<bd::Engine> m_engine;
    std::unique_ptr<bd::store::SqliteStore> m_reader;
    QHash<QString, QString> m_apiKeys; // provider -> key
    TerminalProgress m_progress;
};

QString readTextFile(const QString &path, const QString &what)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        throw UsageError{u"%1 %2: %3"_s.arg(what, path, file.errorString())};
    return QString::fromUtf8(file.readAll());
}

bool exportWithProgress(bd::store::Store &store, qint64 jobId, const QString &path, QString *error)
{
    TerminalProgress progress;
    const auto job = store.job(jobId);
    const qint64 total = job ? job->counts.total() : 0;
    const bool ok = bd::exportJob(store, jobId, path, error, [&](qint64 rows) {
        progress.update(u"export"_s, rows, total, u"rows"_s);
    });
    progress.finish();
    return ok;
}

// Jobs with work left: not finished, not cancelled, or with tasks back in pending.
QList<bd::JobInfo> unfinishedJobs(bd::store::Store &store, qint64 onlyJob = 0)
{
    QList<bd::JobInfo> result;
    for (const bd::JobInfo &job : store.jobs()) {
        if (onlyJob && job.id != onlyJob)
            continue;
        if (job.state == bd::JobState::Cancelled || job.state == bd::JobState::Importing)
            continue;
        if (job.counts.unfinished() > 0 || job.state == bd::JobState::Running
            || job.state == bd::JobState::Paused)
            result.append(job);
    }
    return result;
}

QJsonObject runtimeSettings(const QCommandLineParser &parser)
{
    QJsonObject settings;
    const auto putInt = [&](const QString &option, const QString &key) {
        if (!parser.isSet(option))
            return;
        bool ok = false;
        const int value = parser.value(option).toInt(&ok);
        if (!ok || value <= 0)
            throw UsageError{u"--%1 needs a positive whole number"_s.arg(option)};
        settings.insert(key, value);
    };
    putInt(u"concurrency"_s, u"concurrency"_s);
    putInt(u"rpm"_s, u"rpm"_s);
    putInt(u"tpm"_s, u"tpm"_s);
    // Batch-API lane tuning (hidden from --help): lines per provider batch, first poll.
    putInt(u"batch-size"_s, u"batch_size"_s);
    putInt(u"batch-poll-ms"_s, u"batch_poll_ms"_s);
    if (parser.isSet(u"batch-max-wait-ms"_s)) {
        bool ok = false;
        const qint64 wait = parser.value(u"batch-max-wait-ms"_s).toLongLong(&ok);
        if (!ok || wait < 0)
            throw UsageError{u"--batch-max-wait-ms needs a whole number of milliseconds (0 or more)"_s};
        settings.insert(u"batch_max_wait_ms"_s, wait);
    }
    if (parser.isSet(u"offpeak"_s)) {
        QString error;
        const auto window = bd::dispatch::OffPeakWindow::parse(parser.value(u"offpeak"_s), &error);
        if (!window)
            throw UsageError{u"--offpeak: "_s + error};
        settings.insert(u"offpeak"_s, window->toJson());
    }
    if (parser.isSet(u"run-now"_s))
        settings.insert(u"offpeak_run_now"_s, true);
    if (parser.isSet(u"budget"_s)) {
        bool ok = false;
        const double budget = parser.value(u"budget"_s).toDouble(&ok);
        if (!ok || budget <= 0)
            throw UsageError{u"--budget needs a positive amount in USD"_s};
        settings.insert(u"budget_usd"_s, budget);
    }
    // Simulator knobs, for demos and tests.
    if (parser.isSet(u"sim-latency-ms"_s))
        settings.insert(u"latency_ms"_s, parser.value(u"sim-latency-ms"_s).toInt());
    if (parser.isSet(u"sim-failure-rate"_s))
        settings.insert(u"failure_rate"_s, parser.value(u"sim-failure-rate"_s).toDouble());
    if (parser.isSet(u"sim-rpm"_s))
        settings.insert(u"sim_rpm"_s, parser.value(u"sim-rpm"_s).toInt());
    return settings;
}

// --monitoring FILE, then --metrics-port, --alert-webhook and --alert-command over it.
QJsonObject monitoringSettings(const QCommandLineParser &parser)
{
    QJsonObject root;
    if (parser.isSet(u"monitoring"_s)) {
        QFile file(parser.value(u"monitoring"_s));
        if (!file.open(QIODevice::ReadOnly))
            throw UsageError{u"--monitoring %1: %2"_s.arg(file.fileName(), file.errorString())};
        QJsonParseError error;
        root = QJsonDocument::fromJson(file.readAll(), &error).object();
        if (error.error != QJsonParseError::NoError)
            throw UsageError{u"--monitoring %1: %2 at byte %3"_s.arg(file.fileName(), error.errorString())
                                 .arg(error.offset)};
    }
    if (parser.isSet(u"metrics-port"_s)) {
        bool ok = false;
        const int port = parser.value(u"metrics-port"_s).toInt(&ok);
        if (!ok || port < 0 || port > 65535)
            throw UsageError{u"--metrics-port needs a port number (0: any free one)"_s};
        root.insert(u"openmetrics"_s, QJsonObject{{u"enabled"_s, true}, {u"port"_s, port}});
    }
    QJsonObject notify = root.value(u"notify"_s).toObject();
    if (parser.isSet(u"alert-webhook"_s))
        notify.insert(u"webhook_url"_s, parser.value(u"alert-webhook"_s));
    if (parser.isSet(u"alert-command"_s))
        notify.insert(u"command"_s, QJsonArray::fromStringList(QProcess::splitCommand(parser.value(u"alert-command"_s))));
    if (!notify.isEmpty())
        root.insert(u"notify"_s, notify);
    return root;
}

// --model auto: the tiering config of --tiering FILE, checked against the provider's
// models and the input's columns (errors name the file and the field). Empty without auto.
std::optional<bd::cost::TieringConfig> tieringFor(const QCommandLineParser &parser,
                                                  const QString &model,
                                                  const QStringList &knownModels,
                                                  const QStringList &columns)
{
    const bool tiered = model == bd::cost::kAutoModel;
    if (!tiered && parser.isSet(u"tiering"_s))
        throw UsageError{u"--tiering needs --model auto"_s};
    if (!tiered)
        return std::nullopt;
    if (!parser.isSet(u"tiering"_s))
        throw UsageError{u"--model auto needs --tiering FILE.json (tiers, models and rules)"_s};
    QString error;
    auto config = bd::cost::TieringConfig::fromFile(parser.value(u"tiering"_s), &error);
    if (!config || !config->bind(columns, knownModels, &error))
        throw UsageError{error};
    return config;
}

// `estimate INPUT.csv ...` (also `run --dry-run`): what the job would cost, before anything
// is imported or sent. Takes run's options; reads the database (when it exists) only to
// find requests the response cache already answered and to calibrate output lengths.
int commandEstimate(const QCommandLineParser &parser, const QStringList &positional,
                    const QString &db, bool explicitDb)
{
    if (positional.size() != 2)
        throw UsageError{u"%1 needs exactly one INPUT.csv"_s.arg(positional.at(0))};
    bd::JobSpec spec;
    spec.sourcePath = QFileInfo(positional.at(1)).absoluteFilePath();
    if (parser.isSet(u"template"_s) == parser.isSet(u"template-file"_s))
        throw UsageError{u"%1 needs one of --template TEXT or --template-file FILE"_s.arg(positional.at(0))};
    spec.templateText = parser.isSet(u"template"_s)
                            ? parser.value(u"template"_s)
                            : readTextFile(parser.value(u"template-file"_s), u"template file"_s);
    if (parser.isSet(u"system"_s) && parser.isSet(u"system-file"_s))
        throw UsageError{u"give --system or --system-file, not both"_s};
    if (parser.isSet(u"system"_s))
        spec.systemPrompt = parser.value(u"system"_s);
    else if (parser.isSet(u"system-file"_s))
        spec.systemPrompt = readTextFile(parser.value(u"system-file"_s), u"system prompt file"_s);
    spec.provider = parser.isSet(u"provider"_s) ? parser.value(u"provider"_s) : u"simulator"_s;
    spec.baseUrl = parser.value(u"base-url"_s);
    if (parser.isSet(u"max-output-tokens"_s)) {
        bool ok = false;
        spec.maxOutputTokens = parser.value(u"max-output-tokens"_s).toInt(&ok);
        if (!ok || spec.maxOutputTokens <= 0)
            throw UsageError{u"--max-output-tokens needs a positive whole number"_s};
    }
    spec.settings = runtimeSettings(parser);
    if (parser.isSet(u"no-response-cache"_s))
        spec.settings.insert(u"response_cache"_s, false);
    // The provider decides the default model and which models exist; no key is needed to
    // estimate, and nothing is sent.
    QString error;
    auto provider = bd::providers::createProvider(
        providerConfigFor(spec.provider, spec.baseUrl, spec.settings), bd::SystemClock::instance(), &error);
    if (!provider)
        throw UsageError{error};
    spec.model = parser.isSet(u"model"_s) ? parser.value(u"model"_s) : provider->defaultModel();
    const QStringList knownModels = provider->knownModels();
    if (spec.model != bd::cost::kAutoModel && !knownModels.isEmpty() && !knownModels.contains(spec.model))
        throw UsageError{u"unknown model '%1' for %2 (known: %3)"_s.arg(
            spec.model, spec.provider, knownModels.join(u", "_s))};
    const bool hasBatchApi = provider->hasBatchApi();
    provider.reset();
    QStringList columns;
    if (!bd::validateJobSpec(spec, &columns, &error))
        throw UsageError{error};
    const bd::cost::PriceTable prices = loadPrices();
    QString tieringNote;
    if (const auto tiering = tieringFor(parser, spec.model, knownModels, columns)) {
        // Every row on the top tier's model: what tiering can only lower.
        spec.model = tiering->modelFor(tiering->topTier([&](const QString &model) {
            const auto price = prices.price(model);
            return price ? std::optional<double>(price->output) : std::nullopt;
        }));
        tieringNote = u"model tiering: estimated with every row on the top tier's model %1 "
                      "(an upper bound)"_s.arg(spec.model);
    }

    std::unique_ptr<bd::store::SqliteStore> store;
    if (QFileInfo::exists(db)) {
        store = std::make_unique<bd::store::SqliteStore>(db);
        if (!store->isOpen()) {
            printErr(store->errorString());
            return ExitFatal;
        }
    } else if (explicitDb) {
        printErr(u"note: %1 does not exist yet: no cached answers or calibration"_s.arg(db));
    }
    bd::JobEstimate estimate;
    if (!bd::cost::estimateJob(spec, prices, store.get(), &estimate, &error))
        throw UsageError{error};

    QJsonObject json = estimate.toJson();
    json.insert(u"provider"_s, spec.provider);
    json.insert(u"model"_s, spec.model);
    json.insert(u"batch_api_available"_s, hasBatchApi);
    if (!tieringNote.isEmpty())
        json.insert(u"tiering_note"_s, tieringNote);
    if (spec.provider == u"simulator"_s)
        json.insert(u"simulated"_s, true);
    if (parser.isSet(u"json"_s)) {
        printOut(QString::fromUtf8(QJsonDocument(json).toJson(QJsonDocument::Compact)));
        return ExitFinished;
    }
    const auto usd = [](const std::optional<double> &v) {
        return v ? u"$"_s + QString::number(*v, 'f', 4) : u"cost unknown"_s;
    };
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
        printOut(u"cost unknown: model %1 has no price in the price table"_s.arg(spec.model));
        return ExitFinished;
    }
    if (!tieringNote.isEmpty())
        printOut(tieringNote);
    printOut(u"%1 on %2 (prices of %3):"_s.arg(spec.provider, spec.model, estimate.priceDate));
    const auto lane = [&](const QString &name, const bd::LaneCost &cost) {
        QString line = u"  %1 at most %2"_s.arg(name, -9).arg(usd(cost.maxUsd));
        if (cost.typicalUsd)
            line += u", typically "_s + usd(cost.typicalUsd);
        if (cost.withPromptCacheMaxUsd)
            line += u", at most "_s + usd(cost.withPromptCacheMaxUsd) + u" with prompt caching"_s;
        printOut(line);
    };
    lane(u"realtime"_s, estimate.realtime);
    lane(u"batch-api"_s, estimate.batchApi);
    if (!hasBatchApi)
        printOut(u"  (%1 has no batch API)"_s.arg(spec.provider));
    lane(u"naive"_s, estimate.naive);
    return ExitFinished;
}

int commandRun(const QCommandLineParser &parser, const QStringList &positional, const QString &db)
{
    if (parser.isSet(u"dry-run"_s))
        return commandEstimate(parser, positional, db, parser.isSet(u"db"_s));
    if (positional.size() != 2)
        throw UsageError{u"run needs exactly one INPUT.csv"_s};
    bd::JobSpec spec;
    spec.sourcePath = QFileInfo(positional.at(1)).absoluteFilePath();
    if (parser.isSet(u"template"_s) == parser.isSet(u"template-file"_s))
        throw UsageError{u"run needs one of --template TEXT or --template-file FILE"_s};
    spec.templateText = parser.isSet(u"template"_s)
                            ? parser.value(u"template"_s)
                            : readTextFile(parser.value(u"template-file"_s), u"template file"_s);
    if (parser.isSet(u"system"_s) && parser.isSet(u"system-file"_s))
        throw UsageError{u"give --system or --system-file, not both"_s};
    if (parser.isSet(u"system"_s))
        spec.systemPrompt = parser.value(u"system"_s);
    else if (parser.isSet(u"system-file"_s))
        spec.systemPrompt = readTextFile(parser.value(u"system-file"_s), u"system prompt file"_s);
    spec.provider = parser.isSet(u"provider"_s) ? parser.value(u"provider"_s) : u"simulator"_s;
    spec.baseUrl = parser.value(u"base-url"_s);
    bool ok = true;
    spec.priority = parser.isSet(u"priority"_s) ? parser.value(u"priority"_s).toInt(&ok) : 2;
    if (!ok || spec.priority < 1 || spec.priority > 3)
        throw UsageError{u"--priority must be 1, 2 or 3"_s};
    spec.mode = parser.isSet(u"mode"_s) ? parser.value(u"mode"_s) : u"auto"_s;
    if (spec.mode != u"auto"_s && spec.mode != u"realtime"_s && spec.mode != u"batch-api"_s)
        throw UsageError{u"--mode must be auto, realtime or batch-api"_s};
    spec.maxRetries = parser.isSet(u"max-retries"_s) ? parser.value(u"max-retries"_s).toInt(&ok) : 3;
    if (!ok || spec.maxRetries < 0)
        throw UsageError{u"--max-retries needs a whole number >= 0"_s};
    if (parser.isSet(u"max-output-tokens"_s)) {
        spec.maxOutputTokens = parser.value(u"max-output-tokens"_s).toInt(&ok);
        if (!ok || spec.maxOutputTokens <= 0)
            throw UsageError{u"--max-output-tokens needs a positive whole number"_s};
    }
    QJsonObject settings = runtimeSettings(parser);
    if (parser.isSet(u"no-response-cache"_s))
        settings.insert(u"response_cache"_s, false);
    if (settings.contains(u"offpeak"_s) && spec.priority != 3)
        throw UsageError{u"--offpeak holds priority-3 work only; add --priority 3"_s};
    spec.settings = settings;

    // Provider checks come before anything is imported or sent.
    QString error;
    auto provider =
        bd::providers::createProvider(providerConfigFor(spec.provider, spec.baseUrl, settings),
                                      bd::SystemClock::instance(), &error);
    if (!provider)
        throw UsageError{error};
    const QString apiKey = apiKeyFor(spec.provider, provider->requiresKey());
    if (spec.mode == u"batch-api"_s && !provider->hasBatchApi())
        throw UsageError{u"provider %1 has no batch API; use --mode auto or realtime"_s.arg(spec.provider)};
    // A local server serves whatever it has loaded: there is no sensible default name.
    if (spec.provider == u"openai-compatible"_s && !parser.isSet(u"model"_s))
        throw UsageError{u"--provider openai-compatible needs --model: the name the server "
                         "serves (e.g. llama3 for Ollama; see its /v1/models)"_s};
    if (spec.model.isEmpty())
        spec.model = parser.isSet(u"model"_s) ? parser.value(u"model"_s) : provider->defaultModel();
    const QStringList knownModels = provider->knownModels();
    if (spec.model != bd::cost::kAutoModel && !knownModels.isEmpty() && !knownModels.contains(spec.model))
        throw UsageError{u"unknown model '%1' for %2 (known: %3)"_s.arg(
            spec.model, spec.provider, knownModels.join(u", "_s))};
    if (spec.mode == u"auto"_s)
        spec.mode = spec.priority == 3 && provider->hasBatchApi() ? u"batch-api"_s
                    : spec.priority == 1                          ? u"realtime"_s
                                                                  : u"grouped"_s;
    provider.reset();

    QStringList columns;
    if (!bd::validateJobSpec(spec, &columns, &error))
        throw UsageError{error};
    if (const auto tiering = tieringFor(parser, spec.model, knownModels, columns)) {
        if (tiering->usesClassifier() && spec.mode == u"batch-api"_s)
            throw UsageError{u"%1: classifier: a classifier needs a sync lane; use rules with the "
                             "batch API (priority 3 or --mode batch-api)"_s
                                 .arg(QFileInfo(parser.value(u"tiering"_s)).fileName())};
        settings.insert(u"tiering"_s, tiering->toJson());
        spec.settings = settings;
    }
    const QString exportPath = parser.value(u"export"_s);
    if (!exportPath.isEmpty() && !bd::ingest::ExportWriter::formatForPath(exportPath))
        throw UsageError{u"--export: %1 must end in .csv, .jsonl or .xlsx"_s.arg(exportPath)};

    const auto globalBudget = globalBudgetOption(parser, u"global-budget"_s);
    Session session(db, parser.isSet(u"json"_s), monitoringSettings(parser));
    session.setApiKey(spec.provider, apiKey);
    if (!session.openEngine(&error)) {
        printErr(error);
        return ExitFatal;
    }
    if (globalBudget)
        session.engine()->setGlobalBudget(globalBudget->first, globalBudget->second);
    const bd::ImportResult imported = session.import(spec);
    if (!imported.ok) {
        printErr(imported.error);
        return ExitUsage;
    }
    for (const QString &warning : imported.warnings)
        printErr(u"warning: "_s + warning);
    printErr(imported.continued
                 ? u"continuing job %1 (same input and settings already in %2)"_s.arg(imported.jobId).arg(db)
                 : u"imported %1 rows as job %2"_s.arg(imported.rows).arg(imported.jobId));

    QList<JobOutcome> outcomes;
    if (const auto job = session.reader() ? session.reader()->job(imported.jobId) : std::nullopt) {
        // A continued job keeps the window it was imported with (--run-now still applies).
        if (imported.continued && settings.contains(u"offpeak"_s)
            && settings.value(u"offpeak"_s) != job->spec.settings.value(u"offpeak"_s))
            printErr(u"note: job %1 keeps the off-peak window it was started with; --offpeak "
                     "applies to new jobs"_s.arg(imported.jobId));
        if (job->counts.unfinished() > 0 || job->state != bd::JobState::Finished)
            outcomes = session.runJobs({*job}, settings);
    }
    int code = session.report(outcomes, {imported.jobId}, false);
    if (!exportPath.isEmpty() && session.reader()) {
        QString exportError;
        if (!exportWithProgress(*session.reader(), imported.jobId, exportPath, &exportError)) {
            printErr(u"export failed: "_s + exportError);
            return ExitFatal;
        }
        printErr(u"exported to %1"_s.arg(exportPath));
    }
    return code;
}

int resumeJobs(Session &session, qint64 onlyJob, bool forceList)
{
    bd::store::SqliteStore *store = session.reader();
    if (!store) {
        printErr(u"cannot open the database"_s);
        return ExitFatal;
    }
    const QList<bd::JobInfo> jobs = unfinishedJobs(*store, onlyJob);
    if (jobs.isEmpty()) {
        printErr(u"nothing to resume: every job is finished"_s);
        if (session.json())
            printOut(u"{\"jobs\":[],\"alerts\":[]}"_s);
        return ExitFinished;
    }
    QList<qint64> ids;
    for (const bd::JobInfo &job : jobs)
        ids.append(job.id);
    session.addApiKeys(apiKeysFor(jobs, session.apiKeyProviders()));
    const QList<JobOutcome> outcomes = session.runJobs(jobs, {});
    return session.report(outcomes, ids, forceList || ids.size() > 1);
}

int commandResume(const QCommandLineParser &parser, const QString &db)
{
    const auto globalBudget = globalBudgetOption(parser, u"global-budget"_s);
    Session session(db, parser.isSet(u"json"_s), monitoringSettings(parser));
    QString error;
    if (!session.openEngine(&error)) {
        printErr(error);
        return ExitFatal;
    }
    if (globalBudget)
        session.engine()->setGlobalBudget(globalBudget->first, globalBudget->second);
    return resumeJobs(session, 0, false);
}

std::unique_ptr<bd::store::SqliteStore> openExisting(const QString &db)
{
    if (!QFileInfo::exists(db))
        throw UsageError{u"%1: no such database"_s.arg(db)};
    auto store = std::make_unique<bd::store::SqliteStore>(db);
    if (!store->isOpen()) {
        printErr(store->errorString());
        return nullptr;
    }
    return store;
}

int commandStatus(const QCommandLineParser &parser, const QString &db)
{
    auto store = openExisting(db);
    if (!store)
        return ExitFatal;
    const QList<bd::JobInfo> jobs = store->jobs();
    const QList<bd::AlertRecord> alerts = store->alerts(true);
    if (parser.isSet(u"json"_s)) {
        const bd::cost::PriceTable prices = loadPrices();
        QJsonArray jobArray;
        for (const bd::JobInfo &job : jobs) {
            QJsonObject summary = jobSummary(job, -1);
            const QJsonObject cost = costReport(*store, job, prices);
            summary.insert(u"cost"_s, cost);
            if (!cost.value(u"cost_known"_s).toBool()) {
                // Never a silent zero: the total covers only the tasks with a price.
                summary.insert(u"cost_known"_s, false);
                summary.insert(u"cost_note"_s, u"cost unknown for %1 task(s): model has no price"_s
                                                   .arg(cost.value(u"unpriced_tasks"_s).toInteger()));
            }
            jobArray.append(summary);
        }
        QJsonArray alertArray;
        for (const bd::AlertRecord &alert : alerts)
            alertArray.append(alertJson(alert));
        QJsonObject status{{u"jobs"_s, jobArray}, {u"alerts"_s, alertArray}};
        const QJsonObject globalBudget = globalBudgetJson(*store);
        if (globalBudget.value(u"cap_usd"_s).toDouble() > 0)
            status.insert(u"global_budget"_s, globalBudget);
        printOut(QString::fromUtf8(QJsonDocument(status).toJson(QJsonDocument::Compact)));
        return ExitFinished;
    }
    if (jobs.isEmpty())
        printOut(u"no jobs in %1"_s.arg(db));
    const bd::cost::PriceTable prices = loadPrices();
    for (const bd::JobInfo &job : jobs) {
        printOut(jobLine(job));
        const QJsonObject cost = costReport(*store, job, prices);
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
        if (cost.value(u"naive_cost_usd"_s).isDouble())
            printOut(u"    response cache hits %1; naive run $%2, saved $%3 (%4% of naive)"_s
                         .arg(cost[u"response_cache_hits"_s].toInteger())
                         .arg(QString::number(cost[u"naive_cost_usd"_s].toDouble(), 'f', 4),
                              QString::number(cost[u"savings_usd"_s].toDouble(), 'f', 4),
                              QString::number(cost[u"cost_vs_naive"_s].toDouble() * 100, 'f', 1)));
    }
    const QJsonObject globalBudget = globalBudgetJson(*store);
    if (globalBudget.value(u"cap_usd"_s).toDouble() > 0)
        printOut(globalBudgetLine(globalBudget));
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
    return ExitFinished;
}

// batchctl budget [--set USD] [--period month|day|all]: the cap across every job of the
// database, stored in it, so every worker and later run keeps to it.
int commandBudget(const QCommandLineParser &parser, const QString &db)
{
    const auto newCap = globalBudgetOption(parser, u"set"_s);
    if (!newCap && parser.isSet(u"period"_s))
        throw UsageError{u"--period goes with --set USD"_s};
    std::unique_ptr<bd::store::SqliteStore> store;
    if (newCap) {
        store = std::make_unique<bd::store::SqliteStore>(db);
        if (!store->isOpen()) {
            printErr(store->errorString());
            return ExitFatal;
        }
        const bool stored =
            store->setSetting(u"global_budget_usd"_s, QString::number(newCap->first, 'g', 15))
            && (newCap->second.isEmpty() || store->setSetting(u"global_budget_period"_s, newCap->second));
        if (!stored) {
            printErr(store->errorString());
            return ExitFatal;
        }
    } else {
        store = openExisting(db);
        if (!store)
            return ExitFatal;
    }
    const QJsonObject budget = globalBudgetJson(*store);
    if (parser.isSet(u"json"_s))
        printOut(QString::fromUtf8(QJsonDocument(budget).toJson(QJsonDocument::Compact)));
    else
        printOut(globalBudgetLine(budget));
    if (newCap)
        printErr(u"running workers pick the new cap up within seconds; jobs it paused resume "
                 "there, or with `batchctl resume`"_s);
    return ExitFinished;
}

qint64 parseJobId(const QString &text)
{
    bool ok = false;
    const qint64 id = text.toLongLong(&ok);
    if (!ok || id <= 0)
        throw UsageError{u"'%1' is not a job id"_s.arg(text)};
    return id;
}

int commandExport(const QCommandLineParser &parser, const QStringList &positional, const QString &db)
{
    if (positional.size() != 2)
        throw UsageError{u"export needs a JOB id"_s};
    const qint64 jobId = parseJobId(positional.at(1));
    const QString out = parser.value(u"out"_s);
    if (out.isEmpty())
        throw UsageError{u"export needs --out FILE"_s};
    if (!bd::ingest::ExportWriter::formatForPath(out))
        throw UsageError{u"--out: %1 must end in .csv, .jsonl or .xlsx"_s.arg(out)};
    auto store = openExisting(db);
    if (!store)
        return ExitFatal;
    if (!store->job(jobId))
        throw UsageError{u"no job %1 in %2"_s.arg(jobId).arg(db)};
    QString error;
    if (!exportWithProgress(*store, jobId, out, &error)) {
        printErr(u"export failed: "_s + error);
        return ExitFatal;
    }
    printErr(u"exported job %1 to %2"_s.arg(jobId).arg(out));
    return ExitFinished;
}

int commandDlq(const QCommandLineParser &parser, const QStringList &positional, const QString &db)
{
    if (positional.size() != 2 || (positional.at(1) != u"list"_s && positional.at(1) != u"replay"_s))
        throw UsageError{u"dlq needs list or replay"_s};
    const qint64 jobId = parser.isSet(u"job"_s) ? parseJobId(parser.value(u"job"_s)) : 0;
    auto store = openExisting(db);
    if (!store)
        return ExitFatal;
    if (positional.at(1) == u"list"_s) {
        QJsonArray array;
        qint64 after = 0;
        for (;;) {
            const QList<bd::DeadTask> page = store->deadTasks(jobId, 1000, after);
            for (const bd::DeadTask &task : page) {
                after = task.id;
                if (parser.isSet(u"json"_s)) {
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
            if (page.size() < 1000)
                break;
        }
        if (parser.isSet(u"json"_s))
            printOut(QString::fromUtf8(QJsonDocument(QJsonObject{{u"dead"_s, array}}).toJson(QJsonDocument::Compact)));
        return ExitFinished;
    }

    QList<qint64> taskIds;
    for (const QString &text : parser.values(u"task"_s)) {
        for (const QString &part : text.split(u',', Qt::SkipEmptyParts)) {
            bool ok = false;
            taskIds.append(part.trimmed().toLongLong(&ok));
            if (!ok)
                throw UsageError{u"--task: '%1' is not a task id"_s.arg(part)};
        }
    }
    bd::ReplayRequest request;
    request.jobId = jobId;
    request.taskIds = taskIds;
    request.errorClass = parser.value(u"class"_s);
    if (parser.isSet(u"template"_s) && parser.isSet(u"template-file"_s))
        throw UsageError{u"give --template or --template-file, not both"_s};
    if (parser.isSet(u"template"_s))
        request.templateText = parser.value(u"template"_s);
    else if (parser.isSet(u"template-file"_s))
        request.templateText = readTextFile(parser.value(u"template-file"_s), u"template file"_s);
    if (parser.isSet(u"system"_s) && parser.isSet(u"system-file"_s))
        throw UsageError{u"give --system or --system-file, not both"_s};
    if (parser.isSet(u"system"_s))
        request.systemPrompt = parser.value(u"system"_s);
    else if (parser.isSet(u"system-file"_s))
        request.systemPrompt = readTextFile(parser.value(u"system-file"_s), u"system prompt file"_s);
    if ((request.templateText || request.systemPrompt) && jobId == 0)
        throw UsageError{u"dlq replay with --template or --system needs --job JOB"_s};
    // Keys first: a replay that cannot be sent leaves the dead letters where they are.
    QList<bd::JobInfo> jobsToReplay;
    for (const bd::JobInfo &job : store->jobs()) {
        if ((!jobId || job.id == jobId) && job.counts.dead > 0)
            jobsToReplay.append(job);
    }
    const QHash<QString, QString> apiKeys = apiKeysFor(jobsToReplay);
    const bd::ReplayResult replayed =
        bd::replayDeadTasks(*store, request, QDateTime::currentMSecsSinceEpoch());
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
    store.reset();
    Session session(db, parser.isSet(u"json"_s));
    session.addApiKeys(apiKeys);
    QString error;
    if (!session.openEngine(&error)) {
        printErr(error);
        return ExitFatal;
    }
    return resumeJobs(session, jobId, false);
}

// `key set|delete|status`: provider keys in the OS keychain. A key is read from stdin
// (without echo on a terminal), never from the command line, and never printed.
QString keyProviderArgument(const QString &name)
{
    if (bd::secrets::apiKeyVariable(name).isEmpty())
        throw UsageError{u"'%1' takes no API key (key providers: openai, anthropic)"_s.arg(name)};
    return bd::secrets::keyAccount(name);
}

// The terminal as it was before echo went off; Ctrl-C during the prompt restores it.
termios s_echoingTerminal = {};

QString readKeyFromStdin(const QString &account)
{
    const bool terminal = ::isatty(STDIN_FILENO);
    struct sigaction previous = {};
    if (terminal) {
        std::fputs(qPrintable(u"API key for %1 (not shown): "_s.arg(account)), stderr);
        std::fflush(stderr);
        ::tcgetattr(STDIN_FILENO, &s_echoingTerminal);
        struct sigaction restore = {};
        restore.sa_handler = [](int signal) {
            ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &s_echoingTerminal);
            ::signal(signal, SIG_DFL);
            ::raise(signal);
        };
        sigemptyset(&restore.sa_mask);
        ::sigaction(SIGINT, &restore, &previous);
        termios silent = s_echoingTerminal;
        silent.c_lflag &= ~tcflag_t(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent);
    }
    QByteArray line;
    for (int c = std::getchar(); c != EOF && c != '\n'; c = std::getchar())
        line.append(char(c));
    if (terminal) {
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &s_echoingTerminal);
        ::sigaction(SIGINT, &previous, nullptr);
        std::fputs("\n", stderr);
    }
    return QString::fromUtf8(line).trimmed();
}

int commandKey(const QCommandLineParser &parser, const QStringList &positional)
{
    const QString action = positional.value(1);
    if (action != u"set"_s && action != u"delete"_s && action != u"status"_s)
        throw UsageError{u"key needs set, delete or status"_s};
    if (action == u"set"_s && positional.size() > 3)
        throw UsageError{u"key set reads the key from stdin, never from the command line"_s};
    if (action != u"status"_s && positional.size() != 3)
        throw UsageError{u"key %1 needs one PROVIDER (openai or anthropic)"_s.arg(action)};
    if (positional.size() > 3)
        throw UsageError{u"key status takes at most one PROVIDER"_s};

    bd::secrets::KeyStore keyStore;
    // Asked for on purpose: a locked keyring may first show its unlock prompt.
    if (action != u"status"_s)
        keyStore.setTimeoutMs(60'000);
    QEventLoop loop;
    QString error;
    const auto finish = [&](const QString &message) {
        error = message;
        loop.quit();
    };
    if (action == u"set"_s) {
        const QString account = keyProviderArgument(positional.at(2));
        const QString key = readKeyFromStdin(account);
        if (key.isEmpty())
            throw UsageError{u"key set: no key on stdin"_s};
        keyStore.writeKey(account, key, finish);
        loop.exec();
        if (!error.isEmpty()) {
            printErr(u"key set %1: %2"_s.arg(account, error));
            return ExitFatal;
        }
        printErr(u"stored the %1 key in the OS keychain"_s.arg(account));
        const QString variable = bd::secrets::apiKeyVariable(account);
        if (!qEnvironmentVariableIsEmpty(variable.toLatin1().constData()))
            printErr(
                u"note: %1 is set in this environment and wins over the keychain"_s.arg(variable));
        return ExitFinished;
    }
    if (action == u"delete"_s) {
        const QString account = keyProviderArgument(positional.at(2));
        keyStore.deleteKey(account, finish);
        loop.exec();
        if (!error.isEmpty()) {
            printErr(u"key delete %1: %2"_s.arg(account, error));
            return ExitFatal;
        }
        printErr(u"the OS keychain holds no %1 key now"_s.arg(account));
        return ExitFinished;
    }

    const QStringList accounts = positional.size() == 3
                                     ? QStringList{keyProviderArgument(positional.at(2))}
                                     : QStringList{u"openai"_s, u"anthropic"_s};
    QJsonArray entries;
    for (const QString &account : accounts) {
        bool inKeychain = false;
        keyStore.readKey(account, [&](const QString &key, const QString &readError) {
            inKeychain = !key.isEmpty();
            finish(readError);
        });
        loop.exec();
        const QString variable = bd::secrets::apiKeyVariable(account);
        const bool inEnvironment = !qEnvironmentVariableIsEmpty(variable.toLatin1().constData());
        const QString uses = inEnvironment ? u"environment"_s
                             : inKeychain  ? u"keychain"_s
                                           : u"none"_s;
        if (parser.isSet(u"json"_s)) {
            QJsonObject entry{
                {u"provider"_s, account},
                {u"variable"_s, variable},
                {u"environment"_s, inEnvironment},
                {u"keychain"_s, error.isEmpty() ? QJsonValue(inKeychain) : QJsonValue()},
                {u"uses"_s, uses}};
            if (!error.isEmpty())
                entry.insert(u"keychain_error"_s, error);
            entries.append(entry);
            continue;
        }
        const QString keychain = !error.isEmpty() ? error
                                 : inKeychain     ? u"OS keychain has a key"_s
                                                  : u"OS keychain has no key"_s;
        const QString environment =
            u"%1 %2"_s.arg(variable, inEnvironment ? u"set"_s : u"not set"_s);
        const QString used =
            inEnvironment ? u"runs use %1"_s.arg(variable)
            : inKeychain  ? u"runs use the keychain entry"_s
                          : u"no key: `batchctl key set %1` or set %2"_s.arg(account, variable);
        printOut(u"%1: %2; %3; %4"_s.arg(account, keychain, environment, used));
    }
    if (parser.isSet(u"json"_s))
        printOut(QString::fromUtf8(
            QJsonDocument(QJsonObject{{u"keys"_s, entries}}).toJson(QJsonDocument::Compact)));
    return ExitFinished;
}

void addOptions(QCommandLineParser &parser)
{
    parser.addOptions({
        {u"template"_s, u"Prompt template with {{column}} placeholders."_s, u"TEXT"_s},
        {u"template-file"_s, u"Read the prompt template from FILE."_s, u"FILE"_s},
        {u"system"_s, u"System prompt."_s, u"TEXT"_s},
        {u"system-file"_s, u"Read the system prompt from FILE."_s, u"FILE"_s},
        {u"provider"_s, u"simulator (default), openai, anthropic or openai-compatible."_s, u"NAME"_s},
        {u"model"_s, u"Model name as the provider spells it; auto: model tiering (needs --tiering)."_s, u"NAME"_s},
        {u"tiering"_s, u"With --model auto: tiers, models and routing rules from a JSON FILE."_s, u"FILE"_s},
        {u"base-url"_s, u"Provider endpoint; overrides OPENAI_BASE_URL / ANTHROPIC_BASE_URL."_s, u"URL"_s},
        {u"priority"_s, u"1 now, 2 within the hour (default), 3 within a day."_s, u"1|2|3"_s},
        {u"mode"_s, u"auto (default), realtime or batch-api."_s, u"MODE"_s},
        {u"db"_s, u"Database file (default: %1)."_s.arg(defaultDatabasePath()), u"PATH"_s},
        {u"export"_s, u"Write the results to OUT.csv, OUT.jsonl or OUT.xlsx when the job stops."_s, u"FILE"_s},
        {u"out"_s, u"Export destination."_s, u"FILE"_s},
        {u"max-retries"_s, u"Retries per task before it is dead-lettered (default 3)."_s, u"N"_s},
        {u"max-output-tokens"_s, u"Most tokens an answer may have (default 256)."_s, u"N"_s},
        {u"concurrency"_s, u"Requests in flight at once."_s, u"N"_s},
        {u"rpm"_s, u"Most requests per minute."_s, u"N"_s},
        {u"tpm"_s, u"Most tokens per minute."_s, u"N"_s},
        {u"budget"_s, u"Spending cap for the job in USD."_s, u"USD"_s},
        {u"offpeak"_s, u"Priority 3: send only between HH:MM-HH:MM, in time zone TZ (e.g. 22:00-06:00@Europe/Berlin; default local time)."_s, u"WINDOW"_s},
        {u"run-now"_s, u"Send priority-3 work now, outside its off-peak window (kept for the job)."_s},
        {u"global-budget"_s, u"run, resume: cap in USD across every job of the database over --period "
                             "(stored in it; 0 removes the cap)."_s, u"USD"_s},
        {u"set"_s, u"budget: set the global cap in USD (0 removes it)."_s, u"USD"_s},
        {u"period"_s, u"Global budget period: month (UTC calendar month, default), day (UTC) or all."_s,
         u"P"_s},
        {u"job"_s, u"Limit to one job."_s, u"JOB"_s},
        {u"task"_s, u"Task id(s) to replay."_s, u"ID"_s},
        {u"class"_s, u"dlq replay: only dead tasks of this error class (e.g. server_error)."_s, u"ERROR_CLASS"_s},
        {u"json"_s, u"Print one JSON object on stdout."_s},
        {u"dry-run"_s, u"run: estimate tokens and cost in each lane instead of running (same as estimate)."_s},
        {u"no-response-cache"_s, u"Send every row even when an identical request was answered before."_s},
        {u"sim-latency-ms"_s, u"Simulator: delay of each answer."_s, u"MS"_s},
        {u"sim-failure-rate"_s, u"Simulator: share of tries that fail (0..1)."_s, u"RATE"_s},
        {u"metrics-port"_s, u"Serve /metrics (Prometheus text) on 127.0.0.1:PORT while running; 0: any free port."_s, u"PORT"_s},
        {u"alert-webhook"_s, u"POST each raised alert as JSON to URL."_s, u"URL"_s},
        {u"alert-command"_s, u"Run CMD for each raised alert (the alert as JSON on stdin)."_s, u"CMD"_s},
        {u"monitoring"_s, u"Monitoring settings (metrics, alert thresholds, notifications) from a JSON FILE."_s, u"FILE"_s},
        {u"sim-rpm"_s, u"Simulator: requests per minute it accepts before answering 429."_s, u"N"_s},
        {u"batch-max-wait-ms"_s, u"Longest a batch waits to fill before it goes anyway (default: 500 for groups of sync calls, 60000 for provider batches)."_s, u"MS"_s},
    });
    // Batch-API lane tuning for tests and demos; kept out of --help.
    for (const auto &[name, description] :
         {std::pair{u"batch-size"_s, u"Batch API: most lines per provider batch."_s},
          std::pair{u"batch-poll-ms"_s, u"Batch API: first poll after submitting (default 5000)."_s}}) {
        QCommandLineOption option(name, description, u"N"_s);
        option.setFlags(QCommandLineOption::HiddenFromHelp);
        parser.addOption(option);
    }
}

const char kUsage[] =
    "commands:\n"
    "  run INPUT.csv (--template TEXT | --template-file FILE) [options]\n"
    "  estimate INPUT.csv (--template TEXT | --template-file FILE) [options]   (= run --dry-run)\n"
    "  resume  [--db PATH] [--json] [--global-budget USD [--period P]]\n"
    "  status  [--db PATH] [--json]\n"
    "  budget  [--set USD] [--period month|day|all] [--db PATH] [--json]\n"
    "  export  JOB --out FILE [--db PATH]\n"
    "  dlq list   [--job JOB] [--db PATH] [--json]\n"
    "  dlq replay [--job JOB] [--task ID ...] [--class ERROR_CLASS] [--db PATH]\n"
    "             [--template TEXT | --template-file FILE] [--system TEXT | --system-file FILE]\n"
    "             (an edited template or system prompt needs --job; it applies to the replayed tasks only)\n"
    "  key set PROVIDER      store PROVIDER's API key (read from stdin) in the OS keychain\n"
    "  key delete PROVIDER   remove it\n"
    "  key status [PROVIDER] [--json]   where each key would come from (never prints one)\n"
    "PROVIDER is openai or anthropic. run, resume and dlq replay take the key from\n"
    "OPENAI_API_KEY / ANTHROPIC_API_KEY when set, else from the OS keychain.\n";

} // namespace

int main(const QStringList &arguments)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        u"batchctl: run LLM batch jobs from the command line with the BatchDesk engine.\n\n"_s
        + QString::fromLatin1(kUsage));
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
    const QStringList positional = parser.positionalArguments();
    if (positional.isEmpty()) {
        printErr(u"batchctl: no command given\n"_s + QString::fromLatin1(kUsage));
        return ExitUsage;
    }
    const QString db = parser.isSet(u"db"_s) ? parser.value(u"db"_s) : defaultDatabasePath();
    const QString command = positional.constFirst();
    try {
        if (command == u"run"_s)
            return commandRun(parser, positional, db);
        if (command == u"estimate"_s)
            return commandEstimate(parser, positional, db, parser.isSet(u"db"_s));
        if (command == u"resume"_s)
            return commandResume(parser, db);
        if (command == u"status"_s)
            return commandStatus(parser, db);
        if (command == u"budget"_s)
            return commandBudget(parser, db);
        if (command == u"export"_s)
            return commandExport(parser, positional, db);
        if (command == u"dlq"_s)
            return commandDlq(parser, positional, db);
        if (command == u"key"_s)
            return commandKey(parser, positional);
        throw UsageError{u"unknown command '%1'"_s.arg(command)};
    } catch (const UsageError &error) {
        printErr(u"batchctl: "_s + error.message);
        return ExitUsage;
    }
}

} // namespace batchctl
