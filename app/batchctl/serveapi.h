#pragma once

#include "api/engine.h"
#include "servehttp.h"

#include <deque>
#include <functional>
#include <QElapsedTimer>
#include <QHash>
#include <QObject>
#include <QTimer>

namespace batchctl {

// What a queue drains per second, measured from its finished-task counts as they are seen
// (the engine's progress, GET /v1/queues), over the last minute.
class DrainMeter
{
public:
    void observe(qint64 jobId, qint64 finished, qint64 nowMs);
    double perSecond(qint64 jobId) const;
    // Seconds until `excess` tasks have drained at the measured rate (1 to 3600; 60 when
    // nothing drains).
    int retryAfterSeconds(qint64 jobId, qint64 excess) const;

private:
    struct Sample
    {
        qint64 atMs = 0;
        qint64 finished = 0;
    };
    QHash<qint64, std::deque<Sample>> m_samples;
};

// A task's result as GET /v1/tasks/ID and the webhook give it (API.md).
QJsonObject taskResultJson(const bd::QueueTaskResult &task);

// The intake API over the engine facade: every endpoint of API.md, token auth, JSON errors,
// long polls and backpressure answers. Answers come back from the engine by signal; each
// request waits for its ticket (or its long poll) without blocking anything.
class IntakeApi final : public QObject
{
    Q_OBJECT

public:
    // token: empty when none is configured (loopback only, no auth).
    IntakeApi(bd::Engine &engine, QString token, QObject *parent = nullptr);
    ~IntakeApi() override;

    void handle(const HttpRequest &request, HttpResponder responder);
    // Shutdown: every open long poll is answered 503 (the task is safe; ask again later).
    void closeAll();
    // Requests waiting for the engine's answer (submissions among them).
    int waiting() const { return int(m_tickets.size()); }
    DrainMeter &drain() { return m_drain; }

Q_SIGNALS:
    // A queue was defined (or found): its job should run.
    void queueReady(qint64 jobId);

private:
    struct Ticket
    {
        HttpResponder responder;
        qint64 deadlineMs = 0;
        std::function<void(const QVariant &)> done;
    };
    struct LongPoll
    {
        HttpResponder responder;
        qint64 taskId = 0;
        qint64 deadlineMs = 0;
    };
    quint64 expect(HttpResponder responder, std::function<void(const QVariant &)> done);
    void answerTicket(quint64 ticket, const QVariant &answer);

    void defineQueue(const HttpRequest &request, HttpResponder responder);
    void getQueue(const QString &name, HttpResponder responder);
    void submit(const QString &name, const HttpRequest &request, HttpResponder responder);
    void getTask(qint64 taskId, const HttpRequest &request, HttpResponder responder);
    void recheckLongPolls(const QList<qint64> &taskIds, bool timedOutOnly);
    void sweep();

    bd::Engine &m_engine;
    QString m_token;
    quint64 m_nextTicket = 1;
    QHash<quint64, Ticket> m_tickets;
    QList<LongPoll> m_longPolls;
    DrainMeter m_drain;
    QElapsedTimer m_clock;
    QTimer m_sweep;
    int m_sweeps = 0;
};

} // namespace batchctl
