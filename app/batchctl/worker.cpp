#include "cli.h"
#include "commands.h"
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

// Work a worker may take up: imported and not started, handed back by an engine that
// stopped, or running (elsewhere, or left by one that died) with tasks unfinished. Jobs
// paused by the user, a budget, a quota or a key stay as they are until resumed.
bool isRunnable(const bd::JobInfo &job)
{
    if (job.counts.unfinished() == 0)
        return false;
    if (job.state == bd::JobState::Running)
        return true;
    if (job.state != bd::JobState::Paused)
        return false;
    const bd::StopCause cause = bd::stopCauseOf(job.stateReason);
    return cause == bd::StopCause::Imported || cause == bd::StopCause::EngineShutdown;
}

// Starts the runnable jobs of the database on this worker's lanes as they appear; every
// engine on the database shares their tasks through leases.
class JobPicker final : public QObject
{
public:
    JobPicker(Session &session, const QList<int> &lanes, std::optional<int> concurrency)
        : m_session(session)
        , m_lanes(lanes)
        , m_concurrency(concurrency)
    {
        bd::Engine &engine = session.engine();
        connect(&engine, &bd::Engine::jobsListed, this, &JobPicker::pick);
        connect(&engine, &bd::Engine::jobStopped, this,
                [this](qint64 jobId, bd::JobState state, const QString &reason) {
                    if (!m_running.remove(jobId) || m_stopping)
                        return;
                    if (state == bd::JobState::Finished)
                        printErr(u"job %1: nothing left to do here"_s.arg(jobId));
                    else
                        printErr(u"job %1 stopped: %2"_s.arg(jobId).arg(reason));
                });
        connect(&engine, &bd::Engine::jobFailed, this, [this](qint64 jobId, const QString &error) {
            m_running.remove(jobId);
            m_failed.insert(jobId); // not retried in a loop; a restarted worker tries again
            printErr(u"job %1 failed here: %2"_s.arg(jobId).arg(error));
        });
        m_refresh.setInterval(kRefreshMs);
        connect(&m_refresh, &QTimer::timeout, this, &JobPicker::refresh);
        m_refresh.start();
    }

    void refresh() { m_session.engine().requestJobs(); }
    void stopping()
    {
        m_stopping = true;
        m_refresh.stop();
    }
    const QSet<qint64> &worked() const { return m_worked; }

private:
    void pick(const QList<bd::JobInfo> &jobs)
    {
        for (const bd::JobInfo &job : jobs) {
            if (m_stopping || m_running.contains(job.id) || m_failed.contains(job.id) ||
                !m_lanes.contains(job.spec.priority) || !isRunnable(job))
                continue;
            try {
                m_session.resolveKeys({job.spec.provider});
            } catch (const UsageError &error) {
                m_failed.insert(job.id);
                printErr(u"job %1 not run here: %2"_s.arg(job.id).arg(error.message));
                continue;
            }
            QJsonObject settings = job.spec.settings;
            if (m_concurrency)
                settings.insert(bd::settingkeys::concurrency, *m_concurrency);
            m_running.insert(job.id);
            m_worked.insert(job.id);
            m_session.engine().startJob(
                job.id, m_session.providerConfig(job.spec.provider, job.spec.baseUrl, settings));
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
    bool m_stopping = false;
    QSet<qint64> m_running;
    QSet<qint64> m_worked;
    QSet<qint64> m_failed;
    QTimer m_refresh;
};

} // namespace

// `worker`: runs every runnable job of the database on its lanes, picking up jobs submitted
// while it runs, until SIGTERM or SIGINT; then it sends nothing new, lets what is in flight
// come back (or hands it back), releases its leases and exits 0.
int commandWorker(const Invocation &in)
{
    if (in.positional.size() != 1)
        throw UsageError{u"worker takes no arguments (the database is --db)"_s};
    const QList<int> lanes = parseLanes(in.parser);
    const std::optional<int> concurrency =
        intOption(in.parser, u"concurrency"_s, {1, 10'000, u"a positive whole number"_s});
    Session session(in.database, in.json, monitoringSettings(in.parser), Session::Access::ReadWrite,
                    runnerDefaults(in.parser));
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
    printErr(u"worker %1 on %2, lanes %3"_s.arg(engine.workerId(), engine.database(),
                                                laneNames.join(u',')));

    JobPicker picker(session, lanes, concurrency);
    picker.refresh();
    QEventLoop loop;
    SignalWatcher signalWatcher;
    bool stopping = false;
    signalWatcher.onSignal(&loop, [&] {
        if (std::exchange(stopping, true))
            return;
        printErr(
            u"stopping: nothing new is sent; requests in flight are cancelled and their tasks, "
            "leases and provider batches handed back"_s);
        picker.stopping();
        QObject::connect(&engine, &bd::Engine::stoppedAll, &loop, &QEventLoop::quit);
        QTimer::singleShot(kStopTimeoutMs, &loop, &QEventLoop::quit);
        engine.stopAll(bd::StopCause::EngineShutdown);
    });
    loop.exec();

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
        for (const qint64 id : picker.worked())
            jobs.append(id);
        printJson(QJsonObject{
            {u"worker"_s, engine.workerId()}, {u"completed"_s, completed}, {u"jobs"_s, jobs}});
    }
    return ExitFinished;
}

} // namespace batchctl
