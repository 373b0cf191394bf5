#pragma once

#include "session.h"

#include <QJsonObject>
#include <QObject>
#include <QSet>
#include <QTimer>

namespace batchctl {

// Work an engine may take up from the database: running (here before, elsewhere, or left
// by an engine that died), or paused because it was only imported or handed back by an
// engine that stopped. Jobs paused by the user, a budget, a quota or a key stay as they
// are until resumed.
bool isStartable(bd::JobState state, const QString &stateReason);

// Starts jobs of the database on this engine as they turn up, for `worker` (every runnable
// job on its lanes) and `serve` (the queues' jobs): the caller lists them (refresh() asks
// again every refreshMs) and offers each to start(). A job is started once while it runs
// here; one that failed here, or whose provider has no key, is not tried again in a loop
// (a restarted process tries again).
class JobStarter final : public QObject
{
public:
    struct Job
    {
        qint64 id = 0;
        QString label; // "job 7", "queue intake": how messages name it
        QString provider;
        QString baseUrl;
        QJsonObject settings;
    };

    // request asks the engine for the list the caller answers with start() calls.
    JobStarter(Session &session, int refreshMs, std::function<void()> request);

    void refresh() { m_request(); }
    // Nothing more is started; the jobs' stops are no longer reported.
    void stopping();
    bool isStopping() const { return m_stopping; }
    // Whether the job may be offered: not running here, not failed here, not stopping.
    bool isCandidate(qint64 jobId) const;
    // Starts the job with its provider's key; false (said) when the key is missing.
    bool start(const Job &job);
    // Every job started here since the process began.
    const QSet<qint64> &worked() const { return m_worked; }

private:
    Session &m_session;
    std::function<void()> m_request;
    bool m_stopping = false;
    QHash<qint64, QString> m_running; // job -> its label
    QSet<qint64> m_worked;
    QSet<qint64> m_failed;
    QTimer m_refresh;
};

} // namespace batchctl
