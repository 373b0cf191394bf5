#include "jobstarter.h"

#include "cli.h"

using namespace Qt::StringLiterals;

namespace batchctl {

bool isStartable(bd::JobState state, const QString &stateReason)
{
    return state == bd::JobState::Running || bd::waitsForAWorker(state, stateReason);
}

JobStarter::JobStarter(Session &session, int refreshMs, std::function<void()> request)
    : m_session(session)
    , m_request(std::move(request))
{
    bd::Engine &engine = session.engine();
    connect(&engine, &bd::Engine::jobStopped, this,
            [this](qint64 jobId, bd::JobState state, const QString &reason) {
                const QString label = m_running.take(jobId);
                if (label.isEmpty() || m_stopping)
                    return;
                if (state == bd::JobState::Finished)
                    printErr(u"%1: nothing left to do here"_s.arg(label));
                else
                    printErr(u"%1 stopped: %2"_s.arg(label, reason));
            });
    connect(&engine, &bd::Engine::jobFailed, this, [this](qint64 jobId, const QString &error) {
        const QString label = m_running.take(jobId);
        m_failed.insert(jobId);
        printErr(
            u"%1 failed here: %2"_s.arg(label.isEmpty() ? u"job %1"_s.arg(jobId) : label, error));
    });
    m_refresh.setInterval(refreshMs);
    connect(&m_refresh, &QTimer::timeout, this, &JobStarter::refresh);
    m_refresh.start();
}

void JobStarter::stopping()
{
    m_stopping = true;
    m_refresh.stop();
}

bool JobStarter::isCandidate(qint64 jobId) const
{
    return !m_stopping && !m_running.contains(jobId) && !m_failed.contains(jobId);
}

bool JobStarter::start(const Job &job)
{
    try {
        m_session.resolveKeys({job.provider});
    } catch (const UsageError &error) {
        m_failed.insert(job.id);
        printErr(u"%1 not run here: %2"_s.arg(job.label, error.message));
        return false;
    }
    m_running.insert(job.id, job.label);
    m_worked.insert(job.id);
    m_session.engine().startJob(job.id,
                                m_session.providerConfig(job.provider, job.baseUrl, job.settings));
    return true;
}

} // namespace batchctl
