#include "serveapi.h"

#include <cmath>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

constexpr qint64 kDrainWindowMs = 60'000;
constexpr qint64 kEngineAnswerMs = 30'000; // a request the engine has not answered by then: 503
constexpr int kMaxWaitSeconds = 60;

QByteArray toJson(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QJsonValue textOrNull(const QString &text)
{
    return text.isEmpty() ? QJsonValue() : QJsonValue(text);
}

// Constant time over the token's length: a wrong token says nothing of how much was right.
bool sameSecret(const QByteArray &given, const QByteArray &expected)
{
    unsigned char difference = given.size() == expected.size() ? 0 : 1;
    for (qsizetype i = 0; i < expected.size(); ++i)
        difference |=
            static_cast<unsigned char>(expected.at(i) ^ (i < given.size() ? given.at(i) : 0));
    return difference == 0;
}

void sendError(HttpResponder &responder, int status, const QString &type, const QString &message,
               const QList<QPair<QByteArray, QByteArray>> &headers = {})
{
    responder.send(status, errorBody(type, message), headers);
}

// A body that must be a JSON object; nullopt after answering 400.
std::optional<QJsonObject> jsonBody(const HttpRequest &request, HttpResponder &responder)
{
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(request.body, &error);
    if (error.error != QJsonParseError::NoError) {
        sendError(
            responder, 400, u"invalid_json"_s,
            u"the body is not JSON: %1 at byte %2"_s.arg(error.errorString()).arg(error.offset));
        return std::nullopt;
    }
    if (!document.isObject()) {
        sendError(responder, 400, u"invalid_json"_s, u"the body must be a JSON object"_s);
        return std::nullopt;
    }
    return document.object();
}

} // namespace

void DrainMeter::observe(qint64 jobId, qint64 finished, qint64 nowMs)
{
    std::deque<Sample> &samples = m_samples[jobId];
    if (!samples.empty() && nowMs - samples.back().atMs < 500)
        samples.back() = {nowMs, finished}; // at most two samples a second
    else
        samples.push_back({nowMs, finished});
    while (samples.size() > 2 && nowMs - samples.front().atMs > kDrainWindowMs)
        samples.pop_front();
}

double DrainMeter::perSecond(qint64 jobId) const
{
    const auto it = m_samples.constFind(jobId);
    if (it == m_samples.cend() || it->size() < 2)
        return 0.0;
    const Sample &first = it->front();
    const Sample &last = it->back();
    if (last.atMs <= first.atMs || last.finished <= first.finished)
        return 0.0;
    return double(last.finished - first.finished) * 1000.0 / double(last.atMs - first.atMs);
}

int DrainMeter::retryAfterSeconds(qint64 jobId, qint64 excess) const
{
    const double rate = perSecond(jobId);
    if (rate <= 0.0)
        return 60;
    return int(qBound(1.0, std::ceil(double(qMax<qint64>(1, excess)) / rate), 3600.0));
}

QJsonObject taskResultJson(const bd::QueueTaskResult &task)
{
    // Unfinished work is "pending" whether or not a worker holds it, as in exports.
    const QString status =
        task.state == bd::TaskState::Leased ? u"pending"_s : bd::taskStateName(task.state);
    QJsonObject object{
        {u"task_id"_s, task.taskId},
        {u"key"_s, textOrNull(task.key)},
        {u"queue"_s, task.queue},
        {u"status"_s, status},
        {u"output"_s,
         task.state == bd::TaskState::Completed ? QJsonValue(task.output) : QJsonValue()},
        {u"error"_s, textOrNull(task.errorMessage)},
        {u"error_class"_s, textOrNull(task.errorClass)},
        {u"model"_s, textOrNull(task.model)},
        {u"priority"_s, task.priority},
        {u"input_tokens"_s, task.usage.inputTokens},
        {u"output_tokens"_s, task.usage.outputTokens},
        {u"cached_tokens"_s, task.usage.cachedTokens},
        {u"cost_usd"_s,
         task.costUsd ? QJsonValue(std::round(*task.costUsd * 1e9) / 1e9) : QJsonValue()},
        {u"attempts"_s, task.attempts},
    };
    if (task.hasSchema)
        object.insert(u"fields"_s, task.fields);
    return object;
}

IntakeApi::IntakeApi(bd::Engine &engine, QString token, QObject *parent)
    : QObject(parent)
    , m_engine(engine)
    , m_token(std::move(token))
{
    m_clock.start();
    connect(&engine, &bd::Engine::queueDefined, this,
            [this](quint64 ticket, const bd::QueueDefinition &result) {
                answerTicket(ticket, QVariant::fromValue(result));
            });
    connect(&engine, &bd::Engine::queueRead, this,
            [this](quint64 ticket, const bd::QueueInfo &queue) {
                answerTicket(ticket, QVariant::fromValue(queue));
            });
    connect(&engine, &bd::Engine::tasksSubmitted, this,
            [this](quint64 ticket, const bd::SubmitResult &result) {
                answerTicket(ticket, QVariant::fromValue(result));
            });
    connect(&engine, &bd::Engine::queueTasksRead, this,
            [this](quint64 ticket, const QList<bd::QueueTaskResult> &tasks) {
                answerTicket(ticket, QVariant::fromValue(tasks));
            });
    connect(&engine, &bd::Engine::jobProgressed, this,
            [this](qint64 jobId, const bd::TaskCounts &counts, const bd::Usage &, double) {
                m_drain.observe(jobId, counts.completed + counts.dead + counts.cancelled,
                                m_clock.elapsed());
            });
    connect(&engine, &bd::Engine::queueTasksSettled, this,
            [this](qint64, const QList<qint64> &taskIds) {
                if (!m_longPolls.isEmpty())
                    recheckLongPolls(taskIds, false);
            });
    m_sweep.setInterval(250);
    connect(&m_sweep, &QTimer::timeout, this, &IntakeApi::sweep);
    m_sweep.start();
}

IntakeApi::~IntakeApi() = default;

quint64 IntakeApi::expect(HttpResponder responder, std::function<void(const QVariant &)> done)
{
    const quint64 ticket = m_nextTicket++;
    m_tickets.insert(
        ticket, Ticket{std::move(responder), m_clock.elapsed() + kEngineAnswerMs, std::move(done)});
    return ticket;
}

void IntakeApi::answerTicket(quint64 ticket, const QVariant &answer)
{
    auto it = m_tickets.find(ticket);
    if (it == m_tickets.end())
        return; // another front end's, or answered by the timeout
    const Ticket waiting = it.value();
    m_tickets.erase(it);
    waiting.done(answer);
}

void IntakeApi::handle(const HttpRequest &request, HttpResponder responder)
{
    if (!m_token.isEmpty()) {
        const QByteArray expected = "Bearer " + m_token.toUtf8();
        if (!sameSecret(request.headers.value("authorization"), expected))
            return sendError(responder, 401, u"unauthorized"_s,
                             u"Authorization: Bearer TOKEN required"_s,
                             {{"WWW-Authenticate", "Bearer"}});
    }
    static const QRegularExpression queuePath(u"^/v1/queues/([^/]+)$"_s);
    static const QRegularExpression tasksPath(u"^/v1/queues/([^/]+)/tasks$"_s);
    static const QRegularExpression taskPath(u"^/v1/tasks/([^/]+)$"_s);
    const auto methodNotAllowed = [&](const QByteArray &allowed) {
        sendError(responder, 405, u"method_not_allowed"_s,
                  u"use %1"_s.arg(QString::fromLatin1(allowed)), {{"Allow", allowed}});
    };
    if (request.path == u"/v1/queues"_s)
        return request.method == "POST" ? defineQueue(request, responder)
                                        : methodNotAllowed("POST");
    if (const auto match = tasksPath.match(request.path); match.hasMatch())
        return request.method == "POST" ? submit(match.captured(1), request, responder)
                                        : methodNotAllowed("POST");
    if (const auto match = queuePath.match(request.path); match.hasMatch())
        return request.method == "GET" ? getQueue(match.captured(1), responder)
                                       : methodNotAllowed("GET");
    if (const auto match = taskPath.match(request.path); match.hasMatch()) {
        if (request.method != "GET")
            return methodNotAllowed("GET");
        bool ok = false;
        const qint64 taskId = match.captured(1).toLongLong(&ok);
        if (!ok || taskId <= 0)
            return sendError(responder, 404, u"not_found"_s,
                             u"no task %1"_s.arg(match.captured(1)));
        return getTask(taskId, request, responder);
    }
    sendError(responder, 404, u"not_found"_s,
              u"no endpoint %1 %2"_s.arg(QString::fromLatin1(request.method), request.path));
}

void IntakeApi::defineQueue(const HttpRequest &request, HttpResponder responder)
{
    const auto body = jsonBody(request, responder);
    if (!body)
        return;
    QString error;
    const auto spec = bd::QueueSpec::fromJson(*body, &error);
    if (!spec)
        return sendError(responder, 400, u"invalid_request"_s, error);
    const quint64 ticket = expect(responder, [this, responder](const QVariant &answer) mutable {
        const auto result = answer.value<bd::QueueDefinition>();
        const QJsonObject created{{u"queue"_s, result.name}, {u"job"_s, result.jobId}};
        switch (result.outcome) {
        case bd::QueueDefinition::Outcome::Created:
            Q_EMIT queueReady(result.jobId);
            return responder.send(201, toJson(created));
        case bd::QueueDefinition::Outcome::Existing:
            Q_EMIT queueReady(result.jobId);
            return responder.send(200, toJson(created));
        case bd::QueueDefinition::Outcome::Conflict:
            return sendError(responder, 409, u"conflict"_s, result.error);
        case bd::QueueDefinition::Outcome::Invalid:
            return sendError(responder, 400, u"invalid_request"_s, result.error);
        case bd::QueueDefinition::Outcome::Failed:
            return sendError(responder, 503, u"unavailable"_s, result.error);
        }
    });
    m_engine.defineQueue(ticket, *spec);
}

void IntakeApi::getQueue(const QString &name, HttpResponder responder)
{
    const quint64 ticket = expect(responder, [this, responder,
                                              name](const QVariant &answer) mutable {
        const auto queue = answer.value<bd::QueueInfo>();
        if (queue.jobId == 0)
            return sendError(responder, 404, u"not_found"_s, u"no queue %1"_s.arg(name));
        const qint64 finished = queue.counts.completed + queue.counts.dead + queue.counts.cancelled;
        m_drain.observe(queue.jobId, finished, m_clock.elapsed());
        responder.send(200, toJson(QJsonObject{
                                {u"queue"_s, queue.name},
                                {u"job"_s, queue.jobId},
                                {u"state"_s, queue.state == bd::JobState::Running
                                                 ? u"serving"_s
                                                 : bd::jobStateName(queue.state)},
                                {u"pending"_s, queue.counts.pending},
                                {u"leased"_s, queue.counts.leased},
                                {u"completed"_s, queue.counts.completed},
                                {u"dead"_s, queue.counts.dead},
                                {u"cancelled"_s, queue.counts.cancelled},
                                {u"max_pending"_s, queue.spec.maxPending},
                                {u"cost_usd"_s, std::round(queue.costUsd * 1e9) / 1e9},
                                {u"rate_per_min"_s,
                                 std::round(m_drain.perSecond(queue.jobId) * 60.0 * 10.0) / 10.0},
                            }));
    });
    m_engine.requestQueue(ticket, name);
}

void IntakeApi::submit(const QString &name, const HttpRequest &request, HttpResponder responder)
{
    const auto body = jsonBody(request, responder);
    if (!body)
        return;
    const QJsonValue tasksValue = body->value(u"tasks"_s);
    if (!tasksValue.isArray())
        return sendError(responder, 400, u"invalid_request"_s,
                         u"missing field \"tasks\" (an array)"_s);
    const QJsonArray array = tasksValue.toArray();
    if (array.size() > bd::kMaxTasksPerSubmission)
        return sendError(responder, 413, u"too_many_tasks"_s,
                         u"%1 tasks in one request; at most %2"_s.arg(array.size())
                             .arg(bd::kMaxTasksPerSubmission));
    QList<bd::QueueTask> tasks;
    tasks.reserve(array.size());
    for (qsizetype i = 0; i < array.size(); ++i) {
        const QJsonObject object = array.at(i).toObject();
        if (!array.at(i).isObject())
            return sendError(responder, 400, u"invalid_request"_s,
                             u"tasks[%1]: an object"_s.arg(i));
        bd::QueueTask task;
        const QJsonValue key = object.value(u"key"_s);
        if (!key.isUndefined() && !key.isNull() && !key.isString())
            return sendError(responder, 400, u"invalid_request"_s,
                             u"tasks[%1].key: a string"_s.arg(i));
        task.key = key.toString();
        const QJsonValue vars = object.value(u"vars"_s);
        if (!vars.isUndefined() && !vars.isObject())
            return sendError(responder, 400, u"invalid_request"_s,
                             u"tasks[%1].vars: an object"_s.arg(i));
        task.vars = vars.toObject();
        const QJsonValue priority = object.value(u"priority"_s);
        if (!priority.isUndefined() && !priority.isNull()) {
            if (!priority.isDouble() || priority.toDouble() != double(priority.toInt()) ||
                priority.toInt() < 1 || priority.toInt() > 3)
                return sendError(responder, 400, u"invalid_request"_s,
                                 u"tasks[%1].priority: 1, 2 or 3"_s.arg(i));
            task.priority = priority.toInt();
        }
        tasks.append(std::move(task));
    }
    const qint64 submitted = tasks.size();
    const quint64 ticket =
        expect(responder, [this, responder, submitted](const QVariant &answer) mutable {
            const auto result = answer.value<bd::SubmitResult>();
            switch (result.outcome) {
            case bd::SubmitResult::Outcome::Accepted: {
                QJsonArray ids;
                for (const qint64 id : result.taskIds)
                    ids.append(id);
                return responder.send(202, toJson(QJsonObject{{u"accepted"_s, result.accepted},
                                                              {u"duplicates"_s, result.duplicates},
                                                              {u"task_ids"_s, ids}}));
            }
            case bd::SubmitResult::Outcome::Full: {
                const int seconds = m_drain.retryAfterSeconds(
                    result.jobId, result.pending + submitted - result.maxPending);
                const QJsonObject error{{u"type"_s, u"queue_full"_s},
                                        {u"message"_s, result.error},
                                        {u"pending"_s, result.pending},
                                        {u"max_pending"_s, result.maxPending},
                                        {u"retry_after_s"_s, seconds}};
                return responder.send(429, toJson(QJsonObject{{u"error"_s, error}}),
                                      {{"Retry-After", QByteArray::number(seconds)}});
            }
            case bd::SubmitResult::Outcome::UnknownQueue:
                return sendError(responder, 404, u"not_found"_s, result.error);
            case bd::SubmitResult::Outcome::Invalid:
                return sendError(responder, 400, u"invalid_request"_s, result.error);
            case bd::SubmitResult::Outcome::TooMany:
                return sendError(responder, 413, u"too_many_tasks"_s, result.error);
            case bd::SubmitResult::Outcome::Failed:
                return sendError(responder, 503, u"unavailable"_s, result.error);
            }
        });
    m_engine.submitToQueue(ticket, name, tasks);
}

void IntakeApi::getTask(qint64 taskId, const HttpRequest &request, HttpResponder responder)
{
    int waitSeconds = 0;
    if (request.query.hasQueryItem(u"wait"_s)) {
        bool ok = false;
        const double wait = request.query.queryItemValue(u"wait"_s).toDouble(&ok);
        if (!ok || wait < 0)
            return sendError(responder, 400, u"invalid_request"_s,
                             u"wait: a number of seconds from 0 to 60"_s);
        waitSeconds = int(std::ceil(qMin<double>(wait, kMaxWaitSeconds)));
    }
    const qint64 deadline = m_clock.elapsed() + qint64(waitSeconds) * 1000;
    const quint64 ticket =
        expect(responder, [this, responder, taskId, deadline](const QVariant &answer) mutable {
            const auto tasks = answer.value<QList<bd::QueueTaskResult>>();
            if (tasks.isEmpty())
                return sendError(responder, 404, u"not_found"_s,
                                 u"no task %1 in any queue"_s.arg(taskId));
            if (tasks.constFirst().isFinal() || m_clock.elapsed() >= deadline)
                return responder.send(200, toJson(taskResultJson(tasks.constFirst())));
            m_longPolls.append(LongPoll{responder, taskId, deadline});
            // It may have settled between that read and now, its signal already gone: one more
            // look, now that the poll listens.
            recheckLongPolls({taskId}, false);
        });
    m_engine.requestQueueTasks(ticket, {taskId});
}

void IntakeApi::recheckLongPolls(const QList<qint64> &taskIds, bool timedOutOnly)
{
    QList<qint64> wanted;
    const qint64 now = m_clock.elapsed();
    for (const LongPoll &poll : std::as_const(m_longPolls)) {
        if ((timedOutOnly ? now >= poll.deadlineMs : taskIds.contains(poll.taskId)) &&
            !wanted.contains(poll.taskId))
            wanted.append(poll.taskId);
    }
    if (wanted.isEmpty())
        return;
    const quint64 ticket = expect({}, [this](const QVariant &answer) {
        const auto tasks = answer.value<QList<bd::QueueTaskResult>>();
        const qint64 answeredAt = m_clock.elapsed();
        for (const bd::QueueTaskResult &task : tasks) {
            for (auto it = m_longPolls.begin(); it != m_longPolls.end();) {
                if (it->taskId == task.taskId && (task.isFinal() || answeredAt >= it->deadlineMs)) {
                    it->responder.send(200, toJson(taskResultJson(task)));
                    it = m_longPolls.erase(it);
                } else {
                    ++it;
                }
            }
        }
    });
    m_engine.requestQueueTasks(ticket, wanted);
}

void IntakeApi::sweep()
{
    const qint64 now = m_clock.elapsed();
    for (auto it = m_tickets.begin(); it != m_tickets.end();) {
        if (now < it->deadlineMs) {
            ++it;
            continue;
        }
        sendError(it->responder, 503, u"unavailable"_s, u"the engine did not answer in time"_s);
        it = m_tickets.erase(it);
    }
    // Gone clients stop waiting; polls whose time is up get the state now. Tasks another
    // process finishes are noticed by a look every second.
    m_longPolls.removeIf([](const LongPoll &poll) { return !poll.responder.isOpen(); });
    recheckLongPolls({}, true);
    if (++m_sweeps % 4 == 0 && !m_longPolls.isEmpty()) {
        QList<qint64> all;
        for (const LongPoll &poll : std::as_const(m_longPolls))
            all.append(poll.taskId);
        recheckLongPolls(all, false);
    }
}

void IntakeApi::closeAll()
{
    for (LongPoll &poll : m_longPolls)
        sendError(poll.responder, 503, u"unavailable"_s, u"the server is shutting down"_s);
    m_longPolls.clear();
}

} // namespace batchctl
