#include "session.h"

#include "output.h"
#include "signalwatcher.h"

#include <QJsonArray>

using namespace Qt::StringLiterals;

namespace batchctl {

Session::Session(const QString &database, bool json, const QJsonObject &monitoring, Access access,
                 const bd::RunnerDefaults &runner)
    : m_json(json)
    , m_credentials(m_keyStore.keychainLookup())
{
    m_timer.start();
    bd::EngineOptions options;
    options.database = database;
    options.priceOverridePath = bd::defaultPriceOverridePath();
    options.monitoring = monitoring;
    options.readOnly = access == Access::ReadOnly;
    options.listedAsWorker = access == Access::ReadWrite;
    options.runner = runner;
    m_engine = bd::createEngine(options);
    QObject::connect(m_engine.get(), &bd::Engine::metricsEndpointChanged, m_engine.get(),
                     [](quint16 port, const QString &message) {
                         if (port)
                             printErr(u"metrics: http://127.0.0.1:%1/metrics"_s.arg(port));
                         else
                             printErr(u"metrics endpoint not started: "_s + message);
                     });
}

Session::~Session() = default;

bool Session::open()
{
    const auto answer = ask(&bd::Engine::opened, [this] { m_engine->open(); });
    if (!answer)
        return false;
    const auto &[ok, error] = *answer;
    if (!ok)
        printErr(error);
    return ok;
}

bd::JobCheck Session::check(const bd::JobDraft &draft)
{
    const quint64 ticket = m_engine->newTicket();
    const auto answer = ask(
        &bd::Engine::jobChecked, [&] { m_engine->checkJob(ticket, draft); },
        [ticket](quint64 answered, const bd::JobCheck &) { return answered == ticket; });
    if (!answer)
        throw UsageError{u"the job could not be checked"_s};
    const bd::JobCheck check = std::get<1>(*answer);
    if (!check.ok)
        throw UsageError{check.error};
    return check;
}

bd::JobEstimate Session::estimate(const bd::JobSpec &spec)
{
    const quint64 ticket = m_engine->newTicket();
    const auto answer = ask(
        &bd::Engine::jobEstimated, [&] { m_engine->estimateJob(ticket, spec); },
        [ticket](quint64 answered, const bd::JobEstimate &, const QString &) {
            return answered == ticket;
        });
    if (!answer)
        throw UsageError{u"the job could not be estimated"_s};
    const auto &[ticketAnswered, estimate, error] = *answer;
    if (!error.isEmpty())
        throw UsageError{error};
    return estimate;
}

std::optional<QList<bd::JobInfo>> Session::jobs()
{
    const auto answer = ask(&bd::Engine::jobsListed, [this] { m_engine->requestJobs(); });
    if (!answer)
        return std::nullopt;
    return std::get<0>(*answer);
}

std::optional<bd::JobInfo> Session::job(qint64 jobId)
{
    for (const bd::JobInfo &job : jobs().value_or(QList<bd::JobInfo>())) {
        if (job.id == jobId)
            return job;
    }
    return std::nullopt;
}

bd::ImportResult Session::import(const bd::JobSpec &spec)
{
    return runImport([&] { m_engine->importJob(spec); });
}

bd::ImportResult Session::finishInterruptedImport(qint64 jobId)
{
    return runImport([&] { m_engine->finishInterruptedImport(jobId); });
}

bd::ImportResult Session::runImport(const std::function<void()> &start)
{
    QObject progressScope; // the progress and signal connections live as long as this call
    SignalWatcher signalWatcher;
    signalWatcher.onSignal(&progressScope, [this] {
        if (std::exchange(m_importInterrupted, true))
            return;
        m_progress.finish();
        printErr(u"interrupted: stopping the import; nothing of it is kept"_s);
        m_engine->cancelImport();
    });
    QObject::connect(m_engine.get(), &bd::Engine::importProgressed, &progressScope,
                     [this](qint64, qint64 bytesRead, qint64 totalBytes) {
                         m_progress.update(u"import"_s, bytesRead / 1024, totalBytes / 1024,
                                           u"KiB"_s);
                     });
    const auto answer = ask(&bd::Engine::importFinished, start);
    m_progress.finish();
    if (!answer) {
        bd::ImportResult failed;
        failed.error = u"the import did not finish"_s;
        return failed;
    }
    return std::get<0>(*answer);
}

void Session::checkEndpoint(const bd::JobSpec &spec)
{
    if (!bd::providerInfo(spec.provider))
        return;
    bd::ProviderConfig config;
    config.id = spec.provider;
    config.baseUrl = m_credentials.baseUrl(spec.provider, spec.baseUrl);
    config.settings = spec.settings;
    if (const QString problem = bd::providerConfigProblem(config); !problem.isEmpty())
        throw UsageError{problem};
}

void Session::resolveKeys(const QStringList &providers)
{
    for (const QString &provider : providers) {
        if (m_apiKeys.contains(provider))
            continue;
        const auto info = bd::providerInfo(provider);
        if (!info)
            continue; // the engine reports it when the job starts, as for any other job
        std::optional<bd::ResolvedKey> resolved;
        QEventLoop loop;
        m_credentials.resolveKey(provider, info->requiresKey, [&](const bd::ResolvedKey &answer) {
            resolved = answer;
            loop.quit();
        });
        if (!resolved)
            loop.exec();
        if (info->requiresKey && resolved->key.isEmpty() && !bd::apiKeyVariable(provider).isEmpty())
            throw UsageError{bd::missingKeyMessage(provider, resolved->keychainError)};
        m_apiKeys.insert(provider, resolved->key);
    }
}

QList<JobOutcome> Session::runJobs(const QList<bd::JobInfo> &jobs, const QJsonObject &runtimeSettings)
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
        if (std::exchange(interrupted, true))
            return;
        m_progress.finish();
        printErr(u"interrupted: pausing; `batchctl resume`, a worker or a console on the database "
                 "continues"_s);
        // A signal is not the user pausing the job: it is left as a stopping worker leaves
        // it, for the next engine to take up.
        m_engine->stopAll(bd::StopCause::EngineShutdown);
    });
    const auto settle = [&](qint64 jobId, bool failed, const QString &error) {
        if (!remaining.remove(jobId))
            return;
        outcomes.append(JobOutcome{jobId, failed, error});
        if (remaining.isEmpty())
            loop.quit();
    };
    bd::Engine *engine = m_engine.get();
    QObject::connect(engine, &bd::Engine::jobProgressed, &loop,
                     [&](qint64 jobId, const bd::TaskCounts &counts, const bd::Usage &, double) {
                         doneByJob[jobId] = counts.completed + counts.dead + counts.cancelled;
                         qint64 done = 0;
                         for (qint64 n : std::as_const(doneByJob))
                             done += n;
                         m_progress.update(u"run"_s, done, grandTotal, u"tasks"_s);
                     });
    QObject::connect(engine, &bd::Engine::jobStopped, &loop,
                     [&](qint64 jobId, bd::JobState, const QString &) { settle(jobId, false, {}); });
    QObject::connect(engine, &bd::Engine::jobFailed, &loop,
                     [&](qint64 jobId, const QString &error) { settle(jobId, true, error); });
    QObject::connect(engine, &bd::Engine::jobWaiting, &loop, [this](qint64 jobId, const QString &reason) {
        m_progress.finish();
        printErr(reason.isEmpty()
                     ? u"job %1: off-peak window open, sending"_s.arg(jobId)
                     : u"job %1: %2 (`--run-now` sends at once)"_s.arg(jobId).arg(reason));
    });
    QObject::connect(engine, &bd::Engine::alertRaised, &loop,
                     [this](qint64 jobId, const QString &kind, const QString &message) {
                         m_progress.finish();
                         printErr(u"alert (job %1, %2): %3"_s.arg(jobId).arg(kind, message));
                     });
    const bool runNow = runtimeSettings.value(bd::settingkeys::offpeakRunNow).toBool();
    for (const bd::JobInfo &job : jobs) {
        QJsonObject settings = job.spec.settings;
        for (auto it = runtimeSettings.begin(); it != runtimeSettings.end(); ++it)
            settings.insert(it.key(), it.value());
        bd::ProviderConfig config;
        config.id = job.spec.provider;
        config.baseUrl = m_credentials.baseUrl(job.spec.provider, job.spec.baseUrl);
        config.settings = settings;
        config.apiKey = m_apiKeys.value(job.spec.provider);
        engine->startJob(job.id, config);
        // A job continued from an earlier run keeps its stored settings: "run now" is
        // stored with it here so that this and later runs skip the window.
        if (runNow && !job.spec.settings.value(bd::settingkeys::offpeakRunNow).toBool())
            engine->runNow(job.id);
    }
    loop.exec();
    m_progress.finish();
    return outcomes;
}

bd::ProviderConfig Session::providerConfig(const QString &provider, const QString &baseUrl,
                                           const QJsonObject &settings) const
{
    bd::ProviderConfig config;
    config.id = provider;
    config.baseUrl = m_credentials.baseUrl(provider, baseUrl);
    config.settings = settings;
    config.apiKey = m_apiKeys.value(provider);
    return config;
}

int Session::report(const QList<JobOutcome> &outcomes, const QList<qint64> &jobIds, bool forceList)
{
    const auto all = jobs();
    if (!all) {
        printErr(u"cannot read %1"_s.arg(m_engine->database()));
        return ExitFatal;
    }
    int code = ExitFinished;
    for (const JobOutcome &outcome : outcomes) {
        if (outcome.failed) {
            printErr(u"job %1 failed: %2"_s.arg(outcome.jobId).arg(outcome.error));
            code = ExitFatal;
        }
    }
    QJsonArray summaries;
    for (qint64 id : jobIds) {
        const auto job = std::find_if(all->cbegin(), all->cend(),
                                      [id](const bd::JobInfo &info) { return info.id == id; });
        if (job == all->cend())
            continue;
        summaries.append(jobSummary(*job, elapsedSeconds()));
        printErr(jobLine(*job));
        code = combineExitCodes(code, exitCodeFor(*job));
    }
    if (!m_json)
        return code;
    if (summaries.size() == 1 && !forceList) {
        printJson(summaries.at(0).toObject());
        return code;
    }
    QJsonArray alerts;
    if (const auto listed = ask(&bd::Engine::alertsListed, [this] { m_engine->requestAlerts(true); })) {
        for (const bd::AlertRecord &alert : std::get<0>(*listed))
            alerts.append(alertJson(alert));
    }
    printJson(QJsonObject{{u"jobs"_s, summaries}, {u"alerts"_s, alerts}});
    return code;
}

bool Session::exportJob(qint64 jobId, const QString &path, QString *error)
{
    QObject progressScope; // the progress connection lives as long as this call
    QObject::connect(m_engine.get(), &bd::Engine::exportProgressed, &progressScope,
                     [this, jobId](qint64 job, qint64 rows, qint64 totalRows) {
                         if (job == jobId)
                             m_progress.update(u"export"_s, rows, totalRows, u"rows"_s);
                     });
    QStringList warnings;
    QObject::connect(m_engine.get(), &bd::Engine::exportWarned, &progressScope,
                     [&warnings, jobId](qint64 job, const QStringList &said) {
                         if (job == jobId)
                             warnings += said;
                     });
    const auto answer = ask(
        &bd::Engine::exportFinished, [&] { m_engine->exportJob(jobId, path); },
        [jobId](qint64 job, const QString &, bool, const QString &) { return job == jobId; });
    m_progress.finish();
    for (const QString &warning : std::as_const(warnings))
        printErr(u"warning: "_s + warning);
    if (!answer) {
        *error = u"cannot read the database"_s;
        return false;
    }
    const auto &[job, written, ok, message] = *answer;
    *error = message;
    return ok;
}

} // namespace batchctl
