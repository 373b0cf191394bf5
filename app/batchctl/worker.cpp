#include "cli.h"
#include "commands.h"
#include "jobstarter.h"
#include "output.h"
#include "parsing.h"
#include "session.h"
#include "signalwatcher.h"

#include <QDateTime>
#include <QEventLoop>
#include <QJsonArray>
#include <QSet>
#include <QTimer>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

constexpr int kRefreshMs = 2'000;      // how often the database is looked at for new work
                                       // (--poll-ms, hidden: tests of the wake-ups)
constexpr int kStopTimeoutMs = 60'000; // in-flight answers awaited at most this long

// --lanes 1,2,3: the priorities served, in order; every lane when not given.
QList<int> parseLanes(const QCommandLineParser &parser)
{
    if (!parser.isSet(u"lanes"_s))
        return {1, 2, 3};
    QList<int> lanes;
    for (const QString &part : parser.value(u"lanes"_s).split(u',')) {
        const int lane = int(parseNumber(u"lanes"_s, part.trimmed(), NumberKind::Whole,
                                         {1, 3, u"lanes 1, 2 or 3, separated by commas"_s}));
        if (!lanes.contains(lane))
            lanes.append(lane);
    }
    std::sort(lanes.begin(), lanes.end());
    return lanes;
}

// Starts the runnable jobs of the database on this worker's lanes as they appear; every
// engine on the database shares their tasks through leases.
class JobPicker final : public QObject
{
public:
    JobPicker(Session &session, const QList<int> &lanes, std::optional<int> concurrency, int pollMs)
        : m_session(session)
        , m_lanes(lanes)
        , m_concurrency(concurrency)
        , m_starter(session, pollMs, [&session] { session.engine().requestJobs(); })
    {
        connect(&session.engine(), &bd::Engine::jobsListed, this, &JobPicker::pick);
    }

    JobStarter &starter() { return m_starter; }

private:
    void pick(const QList<bd::JobInfo> &jobs)
    {
        for (const bd::JobInfo &job : jobs) {
            if (!m_starter.isCandidate(job.id) || !m_lanes.contains(job.spec.priority) ||
                job.counts.unfinished() == 0 || !isStartable(job.state, job.stateReason))
                continue;
            QJsonObject settings = job.spec.settings;
            if (m_concurrency)
                settings.insert(bd::settingkeys::concurrency, *m_concurrency);
            if (!m_starter.start({job.id, u"job %1"_s.arg(job.id), job.spec.provider,
                                  job.spec.baseUrl, settings}))
                continue;
            // This worker's ceiling, not the job's stored one (other workers keep theirs).
            if (m_concurrency)
                m_session.engine().setJobConcurrency(job.id, *m_concurrency);
            printErr(u"working on job %1 (priority %2, %3 tasks unfinished)"_s.arg(job.id)
                         .arg(job.spec.priority)
                         .arg(job.counts.unfinished()));
        }
    }

    Session &m_session;
    QList<int> m_lanes;
    std::optional<int> m_concurrency;
    JobStarter m_starter;
};

// What `worker` takes (../shared/design/CLI.md, and the monitoring and lease options every
// engine command takes): anything else would be accepted and ignored, so it is refused. A
// job's own limits are the job's, set when it is submitted, and hold for every worker.
void refuseOtherOptions(const QCommandLineParser &parser)
{
    static const QSet<QString> taken = {
        u"db"_s,         u"lanes"_s,        u"concurrency"_s,   u"json"_s,
        u"monitoring"_s, u"metrics-port"_s, u"alert-webhook"_s, u"alert-command"_s,
        u"lease-ms"_s,   u"heartbeat-ms"_s, u"poll-ms"_s,       u"db-wait"_s};
    static const QSet<QString> jobLimits = {u"rpm"_s, u"tpm"_s, u"budget"_s};
    for (const QString &name : parser.optionNames()) {
        if (taken.contains(name))
            continue;
        if (jobLimits.contains(name))
            throw UsageError{u"worker does not take --%1: a job's --rpm, --tpm and --budget are "
                             "set with submit and hold for all its workers together"_s.arg(name)};
        throw UsageError{u"worker does not take --%1 (it takes --db, --lanes, --concurrency, "
                         "--db-wait, --json and the monitoring options)"_s.arg(name)};
    }
}

} // namespace

// `worker`: runs every runnable job of the database on its lanes, picking up jobs submitted
// while it runs, until SIGTERM or SIGINT; then it sends nothing new, lets what is in flight
// come back (or hands it back), releases its leases and exits 0.
int commandWorker(const Invocation &in)
{
    if (in.positional.size() != 1)
        throw UsageError{u"worker takes no arguments (the database is --db)"_s};
    refuseOtherOptions(in.parser);
    const QList<int> lanes = parseLanes(in.parser);
    const std::optional<int> concurrency =
        intOption(in.parser, u"concurrency"_s, {1, 10'000, u"a positive whole number"_s});
    const bd::RunnerDefaults runner = runnerDefaults(in.parser);
    Session session(in.database, in.json, monitoringSettings(in.parser), Session::Access::ReadWrite,
                    runner);
    if (!session.open())
        return ExitFatal;
    bd::Engine &engine = session.engine();
    // Lanes not served are paused here, so the worker list says which ones it serves.
    for (const bd::Lane lane : {bd::Lane::Realtime, bd::Lane::Grouped, bd::Lane::Batch}) {
        if (!lanes.contains(int(lane)))
            engine.pauseLane(lane);
    }
    QStringList laneNames;
    for (const int lane : lanes)
        laneNames.append(QString::number(lane));
    printErr(u"worker %1 on %2, lanes %3"_s.arg(
        engine.workerId(), bd::databaseWithoutPassword(engine.database()), laneNames.join(u',')));

    const int pollMs =
        intOption(in.parser, u"poll-ms"_s,
                  {100, 3'600'000, u"a whole number of milliseconds (100 or more)"_s})
            .value_or(kRefreshMs);
    JobPicker picker(session, lanes, concurrency, pollMs);
    JobStarter &starter = picker.starter();
    starter.refresh();
    QEventLoop loop;
    SignalWatcher signalWatcher;
    bool stopping = false;
    const auto stop = [&] {
        starter.stopping();
        QObject::connect(&engine, &bd::Engine::stoppedAll, &loop, &QEventLoop::quit);
        QTimer::singleShot(kStopTimeoutMs, &loop, &QEventLoop::quit);
        engine.stopAll(bd::StopCause::EngineShutdown);
    };
    signalWatcher.onSignal(&loop, [&] {
        if (std::exchange(stopping, true))
            return;
        printErr(
            u"stopping: nothing new is sent; requests in flight are cancelled and their tasks, "
            "leases and provider batches handed back"_s);
        stop();
    });
    // A server restart or a network blip: one line when the database goes, one when it is
    // back, none per attempt in between.
    const QString shownDatabase = bd::databaseWithoutPassword(engine.database());
    QObject::connect(&engine, &bd::Engine::databaseAway, &loop, [&](const QString &error) {
        printErr(u"database %1 unreachable (%2); reconnecting, for up to %3 s; nothing new is "
                 "claimed meanwhile and answers are kept"_s.arg(shownDatabase, error.simplified())
                     .arg(runner.databaseWaitMs / 1000));
    });
    QObject::connect(&engine, &bd::Engine::databaseBack, &loop, [&](qint64 awayMs) {
        printErr(u"database %1 reachable again after %2 s; kept answers stored, work goes on"_s
                     .arg(shownDatabase)
                     .arg(double(awayMs) / 1000.0, 0, 'f', 1));
    });
    // Silent and permanent is the worst a fleet can get: a database away longer than
    // --db-wait (or refusing the heartbeat for longer than a lease), and the worker exits 1
    // so that systemd or Kubernetes restart it.
    bool lost = false;
    QObject::connect(&engine, &bd::Engine::databaseLost, &loop, [&](const QString &error) {
        lost = true;
        if (std::exchange(stopping, true))
            return;
        printErr(u"database %1 lost (%2): not back within --db-wait, or no heartbeat taken for "
                 "longer than a lease; its tasks are the other workers' now; nothing new is "
                 "sent; exiting 1"_s.arg(shownDatabase, error.simplified()));
        stop();
    });
    loop.exec();
    if (lost)
        return ExitFatal;

    if (in.json) {
        const qint64 since = QDateTime::currentMSecsSinceEpoch() - 24LL * 3600 * 1000;
        const auto listed =
            session.ask(&bd::Engine::workersListed, [&] { engine.requestWorkers(since); });
        qint64 completed = 0;
        for (const bd::WorkerInfo &worker :
             listed ? std::get<0>(*listed) : QList<bd::WorkerInfo>()) {
            if (worker.id == engine.workerId())
                completed = worker.completed;
        }
        QJsonArray jobs;
        for (const qint64 id : starter.worked())
            jobs.append(id);
        printJson(QJsonObject{
            {u"worker"_s, engine.workerId()}, {u"completed"_s, completed}, {u"jobs"_s, jobs}});
    }
    return ExitFinished;
}

} // namespace batchctl
