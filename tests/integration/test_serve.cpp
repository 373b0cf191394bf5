// `batchctl serve` end to end: the real program on 127.0.0.1, spoken to over HTTP
// (QNetworkAccessManager and raw sockets) as API.md describes it.

#include "fakegemini.h"
#include "webhookreceiver.h"

#include <memory>
#include <QDir>
#include <QEventLoop>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

using namespace Qt::StringLiterals;

using bd::testing::WebhookReceiver;

namespace {

struct Reply
{
    int status = 0;
    QByteArray body;
    QByteArray retryAfter;
    QJsonObject json() const { return QJsonDocument::fromJson(body).object(); }
    QJsonValue operator[](const QString &key) const { return json().value(key); }
    QString errorType() const
    {
        return json().value(u"error"_s).toObject().value(u"type"_s).toString();
    }
    QString errorMessage() const
    {
        return json().value(u"error"_s).toObject().value(u"message"_s).toString();
    }
};

// One `batchctl serve` on a port of its own choosing.
class Server
{
public:
    Server(const QString &database, const QStringList &extra = {},
           const QProcessEnvironment &env = {})
    {
        QProcessEnvironment environment =
            env.isEmpty() ? QProcessEnvironment::systemEnvironment() : env;
        environment.insert(u"QT_QPA_PLATFORM"_s, u"offscreen"_s);
        m_process.setProcessEnvironment(environment);
        m_process.start(
            QStringLiteral(BATCHCTL_PATH),
            QStringList{u"serve"_s, u"--db"_s, database, u"--listen"_s, u"127.0.0.1:0"_s} + extra);
    }
    ~Server()
    {
        if (m_process.state() != QProcess::NotRunning) {
            m_process.terminate();
            if (!m_process.waitForFinished(30'000))
                m_process.kill();
        }
    }
    // The base URL once it listens, empty when it did not come up.
    QString waitUntilListening()
    {
        static const QRegularExpression listening(u"listening on (http://[^ ]+) "_s);
        QElapsedTimer timer;
        timer.start();
        while (timer.elapsed() < 30'000 && m_process.state() != QProcess::NotRunning) {
            m_process.waitForReadyRead(100);
            m_out += m_process.readAllStandardOutput();
            if (const auto match = listening.match(QString::fromUtf8(m_out)); match.hasMatch())
                return m_base = match.captured(1);
        }
        return {};
    }
    QString base() const { return m_base; }
    quint16 port() const { return quint16(QUrl(m_base).port()); }
    QProcess &process() { return m_process; }
    QByteArray allOutput()
    {
        m_out += m_process.readAllStandardOutput();
        m_err += m_process.readAllStandardError();
        return m_out + m_err;
    }

private:
    QProcess m_process;
    QByteArray m_out;
    QByteArray m_err;
    QString m_base;
};

QByteArray toJson(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

QJsonObject tasksBody(int count, const QString &keyPrefix = {}, int priority = 0, int from = 0)
{
    QJsonArray tasks;
    for (int i = from; i < from + count; ++i) {
        QJsonObject task{{u"vars"_s, QJsonObject{{u"question"_s, u"question %1"_s.arg(i)}}}};
        if (!keyPrefix.isEmpty())
            task.insert(u"key"_s, u"%1-%2"_s.arg(keyPrefix).arg(i));
        if (priority)
            task.insert(u"priority"_s, priority);
        tasks.append(task);
    }
    return QJsonObject{{u"tasks"_s, tasks}};
}

} // namespace

class TestServe : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void endpointsAndErrors();
    void bodyLimitAndSlowClients();
    void tokenAuthAndBind();
    void idempotencyUnderConcurrentDuplicates();
    void backpressureIsAllOrNothing();
    void priorityOneGoesAheadOfTheBacklog();
    void controlsActOnAServedQueue();
    void webhookRetriedUntilAccepted();
    void sigtermLosesNothing();
    void queueSchemaStructuredAnswers();

private:
    Reply call(const QByteArray &method, const QString &url, const QByteArray &body = {},
               const QByteArray &token = {});
    QList<Reply> callAll(const QByteArray &method, const QString &url,
                         const QList<QByteArray> &bodies);
    QString database(const QString &name) const { return m_dir.filePath(name); }
    QJsonObject queueJson(const QString &name, const QJsonObject &settings = {},
                          const QJsonObject &extra = {}) const;

    QTemporaryDir m_dir;
    QNetworkAccessManager m_network;
};

QNetworkReply *send(QNetworkAccessManager &network, const QByteArray &method, const QString &url,
                    const QByteArray &body, const QByteArray &token)
{
    QNetworkRequest request{QUrl(url)};
    request.setHeader(QNetworkRequest::ContentTypeHeader, u"application/json"_s);
    if (!token.isEmpty())
        request.setRawHeader("Authorization", "Bearer " + token);
    return network.sendCustomRequest(request, method, body);
}

Reply replyOf(QNetworkReply *reply)
{
    Reply result;
    result.status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
    result.body = reply->readAll();
    result.retryAfter = reply->rawHeader("Retry-After");
    reply->deleteLater();
    return result;
}

Reply TestServe::call(const QByteArray &method, const QString &url, const QByteArray &body,
                      const QByteArray &token)
{
    QNetworkReply *reply = send(m_network, method, url, body, token);
    QSignalSpy finished(reply, &QNetworkReply::finished);
    if (!reply->isFinished())
        finished.wait(90'000);
    return replyOf(reply);
}

QList<Reply> TestServe::callAll(const QByteArray &method, const QString &url,
                                const QList<QByteArray> &bodies)
{
    QList<QNetworkReply *> replies;
    for (const QByteArray &body : bodies)
        replies.append(send(m_network, method, url, body, {}));
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 90'000 &&
           std::any_of(replies.cbegin(), replies.cend(),
                       [](QNetworkReply *r) { return !r->isFinished(); }))
        QTest::qWait(10);
    QList<Reply> results;
    for (QNetworkReply *reply : replies)
        results.append(replyOf(reply));
    return results;
}

QJsonObject TestServe::queueJson(const QString &name, const QJsonObject &settings,
                                 const QJsonObject &extra) const
{
    QJsonObject queue{
        {u"name"_s, name}, {u"template"_s, u"Answer: {{question}}"_s}, {u"settings"_s, settings}};
    for (auto it = extra.begin(); it != extra.end(); ++it)
        queue.insert(it.key(), it.value());
    return queue;
}

void TestServe::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY(QFile::exists(QStringLiteral(BATCHCTL_PATH)));
}

void TestServe::endpointsAndErrors()
{
    Server server(database(u"endpoints.sqlite"_s));
    const QString base = server.waitUntilListening();
    QVERIFY2(!base.isEmpty(), server.allOutput().constData());

    // Queues: 201, the same again 200, another definition under the name 409.
    // (The simulator answers free text: queues with a schema are queueSchemaStructuredAnswers'.)
    const QJsonObject support = queueJson(u"support"_s, {}, {{u"priority"_s, 2}});
    Reply created = call("POST", base + u"/v1/queues"_s, toJson(support));
    QCOMPARE(created.status, 201);
    QCOMPARE(created[u"queue"_s].toString(), u"support"_s);
    const qint64 job = created[u"job"_s].toInteger();
    QVERIFY(job > 0);
    Reply again = call("POST", base + u"/v1/queues"_s, toJson(support));
    QCOMPARE(again.status, 200);
    QCOMPARE(again[u"job"_s].toInteger(), job);
    QJsonObject other = support;
    other.insert(u"template"_s, u"Other: {{question}}"_s);
    QCOMPARE(call("POST", base + u"/v1/queues"_s, toJson(other)).status, 409);
    Reply missing = call("POST", base + u"/v1/queues"_s, R"({"name": "x"})");
    QCOMPARE(missing.status, 400);
    QVERIFY(missing.errorMessage().contains(u"template"_s));
    Reply badJson = call("POST", base + u"/v1/queues"_s, "{not json");
    QCOMPARE(badJson.status, 400);
    QCOMPARE(badJson.errorType(), u"invalid_json"_s);
    QCOMPARE(
        call("POST", base + u"/v1/queues"_s, R"({"name": "x", "template": "t", "max_pendng": 3})")
            .status,
        400);
    QCOMPARE(call("POST", base + u"/v1/queues"_s,
                  R"({"name": "x", "template": "t", "provider": "nope"})")
                 .status,
             400);

    // Submissions: a missing placeholder names it, nothing is accepted.
    Reply noValue =
        call("POST", base + u"/v1/queues/support/tasks"_s,
             R"({"tasks": [{"vars": {"question": "ok"}}, {"vars": {"questio": "typo"}}]})");
    QCOMPARE(noValue.status, 400);
    QVERIFY2(noValue.errorMessage().contains(u"{{question}}"_s) &&
                 noValue.errorMessage().contains(u"tasks[1]"_s),
             noValue.body.constData());
    QCOMPARE(call("POST", base + u"/v1/queues/support/tasks"_s, R"({"task": []})").status, 400);
    QCOMPARE(call("POST", base + u"/v1/queues/support/tasks"_s,
                  R"({"tasks": [{"vars": {"question": "q"}, "priority": 4}]})")
                 .status,
             400);
    QCOMPARE(call("POST", base + u"/v1/queues/nowhere/tasks"_s, toJson(tasksBody(1))).status, 404);
    Reply tooMany = call("POST", base + u"/v1/queues/support/tasks"_s, toJson(tasksBody(10'001)));
    QCOMPARE(tooMany.status, 413);
    QCOMPARE(tooMany.errorType(), u"too_many_tasks"_s);

    Reply accepted =
        call("POST", base + u"/v1/queues/support/tasks"_s, toJson(tasksBody(3, u"t"_s, 1)));
    QCOMPARE(accepted.status, 202);
    QCOMPARE(accepted[u"accepted"_s].toInt(), 3);
    QCOMPARE(accepted[u"duplicates"_s].toInt(), 0);
    const QJsonArray ids = accepted[u"task_ids"_s].toArray();
    QCOMPARE(ids.size(), 3);

    // Long poll: the answer comes when the task is done.
    Reply result = call("GET", base + u"/v1/tasks/%1?wait=30"_s.arg(ids.at(1).toInteger()));
    QCOMPARE(result.status, 200);
    QCOMPARE(result[u"status"_s].toString(), u"completed"_s);
    QCOMPARE(result[u"task_id"_s].toInteger(), ids.at(1).toInteger());
    QCOMPARE(result[u"key"_s].toString(), u"t-1"_s);
    QCOMPARE(result[u"queue"_s].toString(), u"support"_s);
    QVERIFY(!result[u"output"_s].toString().isEmpty());
    QCOMPARE(result[u"attempts"_s].toInt(), 1);
    QVERIFY(result[u"input_tokens"_s].toInteger() > 0);
    for (const QString &key :
         {u"error"_s, u"model"_s, u"output_tokens"_s, u"cached_tokens"_s, u"cost_usd"_s})
        QVERIFY2(result.json().contains(key), qPrintable(key));
    QVERIFY(!result.json().contains(u"fields"_s)); // no schema, no fields
    // Without wait: at once, whatever the state.
    Reply now = call("GET", base + u"/v1/tasks/%1"_s.arg(ids.at(0).toInteger()));
    QCOMPARE(now.status, 200);

    Reply queue = call("GET", base + u"/v1/queues/support"_s);
    QCOMPARE(queue.status, 200);
    for (const QString &key : {u"queue"_s, u"job"_s, u"pending"_s, u"leased"_s, u"completed"_s,
                               u"dead"_s, u"cost_usd"_s, u"rate_per_min"_s})
        QVERIFY2(queue.json().contains(key), qPrintable(key));
    QCOMPARE(queue[u"job"_s].toInteger(), job);
    QCOMPARE(queue[u"state"_s].toString(), u"serving"_s);
    QCOMPARE(call("GET", base + u"/v1/queues/nothing"_s).status, 404);
    QCOMPARE(call("GET", base + u"/v1/tasks/999999"_s).status, 404);
    QCOMPARE(call("GET", base + u"/v1/tasks/abc"_s).status, 404);
    QCOMPARE(call("GET", base + u"/v1/tasks/1?wait=soon"_s).status, 400);
    QCOMPARE(call("GET", base + u"/v2/anything"_s).status, 404);
    QCOMPARE(call("DELETE", base + u"/v1/queues/support"_s).status, 405);

    // status --json lists the queue as a job that is serving.
    QProcess status;
    status.start(QStringLiteral(BATCHCTL_PATH),
                 {u"status"_s, u"--db"_s, database(u"endpoints.sqlite"_s), u"--json"_s});
    QVERIFY(status.waitForFinished(30'000));
    const QJsonArray jobs =
        QJsonDocument::fromJson(status.readAllStandardOutput()).object().value(u"jobs"_s).toArray();
    QCOMPARE(jobs.size(), 1);
    QCOMPARE(jobs.at(0)[u"queue"_s].toString(), u"support"_s);
    QCOMPARE(jobs.at(0)[u"state"_s].toString(), u"serving"_s);
}

void TestServe::bodyLimitAndSlowClients()
{
    Server server(database(u"limits.sqlite"_s));
    QVERIFY(!server.waitUntilListening().isEmpty());
    // A body announced past 32 MiB is refused from its header, before any of it is read.
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, server.port());
    QVERIFY(socket.waitForConnected(5'000));
    socket.write("POST /v1/queues HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 40000000\r\n\r\n{\"name\":");
    QByteArray answer;
    QElapsedTimer timer;
    timer.start();
    while (!answer.contains("\r\n\r\n") && timer.elapsed() < 10'000) {
        socket.waitForReadyRead(200);
        answer += socket.readAll();
    }
    QVERIFY2(answer.startsWith("HTTP/1.1 413"), answer.constData());
    QVERIFY(answer.contains("too_large"));

    // Chunked bodies are refused (the limit needs a length).
    QTcpSocket chunked;
    chunked.connectToHost(QHostAddress::LocalHost, server.port());
    QVERIFY(chunked.waitForConnected(5'000));
    chunked.write(
        "POST /v1/queues HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    QVERIFY(chunked.waitForReadyRead(10'000));
    QVERIFY(chunked.readAll().startsWith("HTTP/1.1 411"));

    // A body that never arrives does not keep the connection: 408 after the request timeout is
    // covered by the server's limits; here the server stays responsive to others meanwhile.
    QTcpSocket slow;
    slow.connectToHost(QHostAddress::LocalHost, server.port());
    QVERIFY(slow.waitForConnected(5'000));
    slow.write("POST /v1/queues HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{");
    QVERIFY(slow.waitForBytesWritten(5'000));
    QCOMPARE(call("GET", server.base() + u"/v1/queues/none"_s).status, 404);
}

void TestServe::tokenAuthAndBind()
{
    const QByteArray token = "s3cret-token-value-7f2a";
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"BATCHDESK_API_TOKEN"_s, QString::fromLatin1(token));
    const QString db = database(u"auth.sqlite"_s);
    {
        Server server(db, {}, env);
        const QString base = server.waitUntilListening();
        QVERIFY(!base.isEmpty());
        Reply anonymous = call("GET", base + u"/v1/queues/support"_s);
        QCOMPARE(anonymous.status, 401);
        QCOMPARE(anonymous.errorType(), u"unauthorized"_s);
        QCOMPARE(call("GET", base + u"/v1/queues/support"_s, {}, "wrong").status, 401);
        QCOMPARE(
            call("POST", base + u"/v1/queues"_s, toJson(queueJson(u"support"_s)), token).status,
            201);
        QCOMPARE(call("GET", base + u"/v1/queues/support"_s, {}, token).status, 200);
        QVERIFY(!server.allOutput().contains(token));
    }
    // Nothing of the token in the database (the WAL included).
    for (const QString &file : QDir(m_dir.path()).entryList({u"auth.sqlite*"_s})) {
        QFile bytes(m_dir.filePath(file));
        QVERIFY(bytes.open(QIODevice::ReadOnly));
        QVERIFY2(!bytes.readAll().contains(token), qPrintable(file));
    }

    // Without a token, only loopback: anything else is a usage error.
    QProcess open;
    QProcessEnvironment noToken = QProcessEnvironment::systemEnvironment();
    noToken.remove(u"BATCHDESK_API_TOKEN"_s);
    open.setProcessEnvironment(noToken);
    open.start(QStringLiteral(BATCHCTL_PATH),
               {u"serve"_s, u"--db"_s, db, u"--listen"_s, u"0.0.0.0:0"_s});
    QVERIFY(open.waitForFinished(30'000));
    QCOMPARE(open.exitCode(), 2);
    QVERIFY(open.readAllStandardError().contains("loopback"));
    // A token file works like the variable.
    QFile tokenFile(m_dir.filePath(u"token"_s));
    QVERIFY(tokenFile.open(QIODevice::WriteOnly));
    tokenFile.write(token + "\n");
    tokenFile.close();
    Server fromFile(db, {u"--token-file"_s, tokenFile.fileName()}, noToken);
    const QString base = fromFile.waitUntilListening();
    QVERIFY(!base.isEmpty());
    QCOMPARE(call("GET", base + u"/v1/queues/support"_s).status, 401);
    QCOMPARE(call("GET", base + u"/v1/queues/support"_s, {}, token).status, 200);
}

void TestServe::idempotencyUnderConcurrentDuplicates()
{
    Server server(database(u"idem.sqlite"_s), {u"--no-work"_s});
    const QString base = server.waitUntilListening();
    QVERIFY(!base.isEmpty());
    QCOMPARE(call("POST", base + u"/v1/queues"_s, toJson(queueJson(u"idem"_s))).status, 201);
    // Eight clients send the same 50 keys at once (in different orders): each key is one task,
    // and every client is told that task's id.
    QList<QByteArray> bodies;
    for (int client = 0; client < 8; ++client) {
        QJsonArray tasks = tasksBody(50, u"k"_s).value(u"tasks"_s).toArray();
        QJsonArray rotated;
        for (int i = 0; i < tasks.size(); ++i)
            rotated.append(tasks.at((i + client * 7) % tasks.size()));
        bodies.append(toJson(QJsonObject{{u"tasks"_s, rotated}}));
    }
    const QList<Reply> replies = callAll("POST", base + u"/v1/queues/idem/tasks"_s, bodies);
    QHash<QString, qint64> idOfKey;
    int accepted = 0;
    for (int client = 0; client < replies.size(); ++client) {
        const Reply &reply = replies.at(client);
        QCOMPARE(reply.status, 202);
        accepted += reply[u"accepted"_s].toInt();
        QCOMPARE(reply[u"accepted"_s].toInt() + reply[u"duplicates"_s].toInt(), 50);
        const QJsonArray ids = reply[u"task_ids"_s].toArray();
        const QJsonArray sent =
            QJsonDocument::fromJson(bodies.at(client)).object().value(u"tasks"_s).toArray();
        for (int i = 0; i < ids.size(); ++i) {
            const QString key = sent.at(i)[u"key"_s].toString();
            const qint64 id = ids.at(i).toInteger();
            QVERIFY(id > 0);
            QCOMPARE(idOfKey.value(key, id), id);
            idOfKey.insert(key, id);
        }
    }
    QCOMPARE(accepted, 50);
    QCOMPARE(idOfKey.size(), 50);
    QCOMPARE(call("GET", base + u"/v1/queues/idem"_s)[u"pending"_s].toInt(), 50);
}

// Priority inside a queue is real: a priority-1 task submitted behind a priority-2 backlog
// on a rate-limited queue is sent next, not after the backlog.
void TestServe::priorityOneGoesAheadOfTheBacklog()
{
    Server server(database(u"priority.sqlite"_s));
    const QString base = server.waitUntilListening();
    QVERIFY(!base.isEmpty());
    // 120 requests a minute: the 200-task backlog takes 100 s to drain.
    QCOMPARE(call("POST", base + u"/v1/queues"_s,
                  toJson(queueJson(u"paced"_s, {{u"rpm"_s, 120}}, {{u"priority"_s, 2}})))
                 .status,
             201);
    QCOMPARE(call("POST", base + u"/v1/queues/paced/tasks"_s, toJson(tasksBody(200, u"bulk"_s)))
                 .status,
             202);
    Reply urgent =
        call("POST", base + u"/v1/queues/paced/tasks"_s, toJson(tasksBody(1, u"now"_s, 1, 200)));
    QCOMPARE(urgent.status, 202);
    const qint64 id = urgent[u"task_ids"_s].toArray().at(0).toInteger();
    Reply answer = call("GET", base + u"/v1/tasks/%1?wait=30"_s.arg(id));
    QCOMPARE(answer[u"status"_s].toString(), u"completed"_s);
    // Answered while nearly all the backlog still waits.
    const Reply queue = call("GET", base + u"/v1/queues/paced"_s);
    QVERIFY2(queue[u"completed"_s].toInt() <= 20, queue.body.constData());
    QVERIFY2(queue[u"pending"_s].toInt() + queue[u"leased"_s].toInt() >= 180,
             queue.body.constData());
}

namespace {

struct Batchctl
{
    int exitCode = -1;
    QByteArray out;
};

Batchctl batchctl(const QStringList &arguments)
{
    QProcess process;
    process.start(QStringLiteral(BATCHCTL_PATH), arguments);
    process.waitForFinished(60'000);
    return {process.exitCode(), process.readAllStandardOutput() + process.readAllStandardError()};
}

} // namespace

// Pause, reprioritise, resume, replay and export act on a queue from another process, as on
// any job, while serve keeps accepting its tasks.
void TestServe::controlsActOnAServedQueue()
{
    const QString db = database(u"controls.sqlite"_s);
    Server server(db);
    const QString base = server.waitUntilListening();
    QVERIFY(!base.isEmpty());
    Reply created =
        call("POST", base + u"/v1/queues"_s, toJson(queueJson(u"ops"_s, {}, {{u"priority"_s, 2}})));
    QCOMPARE(created.status, 201);
    const QString job = QString::number(created[u"job"_s].toInteger());
    const auto queueState = [&] { return call("GET", base + u"/v1/queues/ops"_s)[u"state"_s]; };

    QCOMPARE(batchctl({u"job"_s, job, u"--pause"_s, u"--db"_s, db}).exitCode, 0);
    QTRY_COMPARE_WITH_TIMEOUT(queueState().toString(), u"paused"_s, 5'000);
    // The serving process applies it (within 2 s), and says so.
    QTRY_VERIFY_WITH_TIMEOUT(server.allOutput().contains("stopped: paused by the user"), 5'000);
    // Paused, the queue still takes tasks, and answers none of them.
    Reply accepted = call("POST", base + u"/v1/queues/ops/tasks"_s, toJson(tasksBody(3, u"p"_s)));
    QCOMPARE(accepted.status, 202);
    const qint64 first = accepted[u"task_ids"_s].toArray().at(0).toInteger();
    QCOMPARE(call("GET", base + u"/v1/tasks/%1?wait=2"_s.arg(first))[u"status"_s].toString(),
             u"pending"_s);

    QCOMPARE(batchctl({u"job"_s, job, u"--priority"_s, u"1"_s, u"--db"_s, db}).exitCode, 0);
    QCOMPARE(batchctl({u"job"_s, job, u"--resume"_s, u"--db"_s, db}).exitCode, 0);
    QCOMPARE(call("GET", base + u"/v1/tasks/%1?wait=30"_s.arg(first))[u"status"_s].toString(),
             u"completed"_s);
    QTRY_COMPARE_WITH_TIMEOUT(queueState().toString(), u"serving"_s, 5'000);
    const Batchctl status = batchctl({u"status"_s, u"--json"_s, u"--db"_s, db});
    const QJsonObject listed =
        QJsonDocument::fromJson(status.out).object().value(u"jobs"_s).toArray().at(0).toObject();
    QCOMPARE(listed[u"priority"_s].toInt(), 1);

    // A task the provider refuses dies; replayed from another process with a template that
    // does not repeat the mistake, the serving process answers it.
    Reply refused = call("POST", base + u"/v1/queues/ops/tasks"_s,
                         R"({"tasks": [{"vars": {"question": "[[sim:invalid]]"}}]})");
    QCOMPARE(refused.status, 202);
    const qint64 doomed = refused[u"task_ids"_s].toArray().at(0).toInteger();
    QCOMPARE(call("GET", base + u"/v1/tasks/%1?wait=30"_s.arg(doomed))[u"status"_s].toString(),
             u"dead"_s);
    // (It returns: a queue never finishes, so replay leaves it to the process serving it.)
    const Batchctl replay = batchctl({u"dlq"_s, u"replay"_s, u"--job"_s, job, u"--template"_s,
                                      u"Answer the question."_s, u"--db"_s, db});
    QVERIFY2(replay.exitCode == 0, replay.out.constData());
    QVERIFY2(replay.out.contains("sent by the process serving it"), replay.out.constData());
    QCOMPARE(call("GET", base + u"/v1/tasks/%1?wait=30"_s.arg(doomed))[u"status"_s].toString(),
             u"completed"_s);
    // resume leaves the queue to serve too, instead of running it for ever.
    const Batchctl resume = batchctl({u"resume"_s, u"--db"_s, db});
    QVERIFY2(resume.out.contains("not run here"), resume.out.constData());
    QCOMPARE(queueState().toString(), u"serving"_s);

    const QString out = m_dir.filePath(u"ops.csv"_s);
    QTRY_COMPARE_WITH_TIMEOUT(call("GET", base + u"/v1/queues/ops"_s)[u"completed"_s].toInt(), 4,
                              15'000);
    const Batchctl exported = batchctl({u"export"_s, job, u"--out"_s, out, u"--db"_s, db});
    QVERIFY2(exported.exitCode == 0, exported.out.constData());
    QFile file(out);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(file.readAll().count('\n'), 1 + 4); // the header and four answers
}

void TestServe::backpressureIsAllOrNothing()
{
    const QString db = database(u"full.sqlite"_s);
    {
        Server server(db, {u"--no-work"_s});
        const QString base = server.waitUntilListening();
        QVERIFY(!base.isEmpty());
        QCOMPARE(call("POST", base + u"/v1/queues"_s,
                      toJson(queueJson(u"small"_s, {}, {{u"max_pending"_s, 10}})))
                     .status,
                 201);
        QCOMPARE(
            call("POST", base + u"/v1/queues/small/tasks"_s, toJson(tasksBody(8, u"a"_s))).status,
            202);
        Reply refused =
            call("POST", base + u"/v1/queues/small/tasks"_s, toJson(tasksBody(5, u"b"_s)));
        QCOMPARE(refused.status, 429);
        QCOMPARE(refused.errorType(), u"queue_full"_s);
        bool numeric = false;
        QVERIFY(refused.retryAfter.toInt(&numeric) >= 1);
        QVERIFY(numeric);
        QCOMPARE(call("GET", base + u"/v1/queues/small"_s)[u"pending"_s].toInt(), 8);
        // Nothing of the refused request went in: its keys are new to a request that fits.
        Reply fits = call("POST", base + u"/v1/queues/small/tasks"_s, toJson(tasksBody(2, u"b"_s)));
        QCOMPARE(fits.status, 202);
        QCOMPARE(fits[u"accepted"_s].toInt(), 2);
        QCOMPARE(call("GET", base + u"/v1/queues/small"_s)[u"pending"_s].toInt(), 10);
    }
    // The refusal raised an alert on the queue's job.
    QProcess status;
    status.start(QStringLiteral(BATCHCTL_PATH), {u"status"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY(status.waitForFinished(30'000));
    const QJsonArray alerts = QJsonDocument::fromJson(status.readAllStandardOutput())
                                  .object()
                                  .value(u"alerts"_s)
                                  .toArray();
    QVERIFY(std::any_of(alerts.begin(), alerts.end(), [](const QJsonValue &alert) {
        return alert[u"kind"_s].toString() == u"queue_full"_s;
    }));
}

void TestServe::webhookRetriedUntilAccepted()
{
    WebhookReceiver receiver(2);
    Server server(database(u"hooks.sqlite"_s));
    const QString base = server.waitUntilListening();
    QVERIFY(!base.isEmpty());
    QCOMPARE(call("POST", base + u"/v1/queues"_s,
                  toJson(queueJson(u"hooked"_s, {}, {{u"webhook"_s, receiver.url()}})))
                 .status,
             201);
    Reply accepted =
        call("POST", base + u"/v1/queues/hooked/tasks"_s, toJson(tasksBody(5, u"h"_s)));
    QCOMPARE(accepted.status, 202);
    const QJsonArray ids = accepted[u"task_ids"_s].toArray();
    QTRY_COMPARE_WITH_TIMEOUT(receiver.accepted.size(), 5, 60'000);
    for (const QJsonValue &id : ids) {
        QVERIFY(receiver.accepted.contains(id.toInteger()));
        QVERIFY(receiver.attempts.value(id.toInteger()) >= 3);
        const QJsonObject task = receiver.accepted.value(id.toInteger());
        QCOMPARE(task[u"status"_s].toString(), u"completed"_s);
        QCOMPARE(task[u"queue"_s].toString(), u"hooked"_s);
    }
}

void TestServe::sigtermLosesNothing()
{
    const QString db = database(u"sigterm.sqlite"_s);
    constexpr int kTasks = 300;
    QList<qint64> ids;
    {
        Server server(db);
        const QString base = server.waitUntilListening();
        QVERIFY(!base.isEmpty());
        const QJsonObject slow{{u"latency_ms"_s, 200}, {u"concurrency"_s, 8}};
        QCOMPARE(call("POST", base + u"/v1/queues"_s, toJson(queueJson(u"slow"_s, slow))).status,
                 201);
        Reply accepted =
            call("POST", base + u"/v1/queues/slow/tasks"_s, toJson(tasksBody(kTasks, u"s"_s)));
        QCOMPARE(accepted.status, 202);
        for (const QJsonValue &id : accepted[u"task_ids"_s].toArray())
            ids.append(id.toInteger());
        QTRY_VERIFY_WITH_TIMEOUT(
            call("GET", base + u"/v1/queues/slow"_s)[u"completed"_s].toInt() > 0, 30'000);
        // Work in flight now: SIGTERM.
        QVERIFY(call("GET", base + u"/v1/queues/slow"_s)[u"leased"_s].toInt() > 0);
        server.process().terminate();
        QVERIFY(server.process().waitForFinished(60'000));
        QCOMPARE(server.process().exitStatus(), QProcess::NormalExit);
        QCOMPARE(server.process().exitCode(), 0);
    }
    // Stopped with work left: every accepted task is completed or pending again, none held.
    QProcess status;
    status.start(QStringLiteral(BATCHCTL_PATH), {u"status"_s, u"--db"_s, db, u"--json"_s});
    QVERIFY(status.waitForFinished(30'000));
    const QJsonObject stopped =
        QJsonDocument::fromJson(status.readAllStandardOutput()).object().value(u"jobs"_s).toArray().at(0).toObject();
    QCOMPARE(stopped[u"state"_s].toString(), u"paused"_s);
    QVERIFY(stopped[u"pending"_s].toInt() > 0);
    QCOMPARE(stopped[u"completed"_s].toInt() + stopped[u"pending"_s].toInt(), kTasks);
    QCOMPARE(stopped[u"dead"_s].toInt(), 0);
    // A new serve finishes every accepted task, each once.
    Server again(db);
    const QString base = again.waitUntilListening();
    QVERIFY(!base.isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(call("GET", base + u"/v1/queues/slow"_s)[u"completed"_s].toInt(),
                              kTasks, 120'000);
    const QJsonObject queue = call("GET", base + u"/v1/queues/slow"_s).json();
    QCOMPARE(queue[u"dead"_s].toInt(), 0);
    QCOMPARE(queue[u"pending"_s].toInt() + queue[u"leased"_s].toInt(), 0);
    Reply last = call("GET", base + u"/v1/tasks/%1"_s.arg(ids.constLast()));
    QCOMPARE(last[u"status"_s].toString(), u"completed"_s);
    QCOMPARE(last[u"attempts"_s].toInt(), 1);
}

namespace {

// One statement on the served database, from the side (the server is stopped or idle).
QVariant sqliteValue(const QString &path, const QString &sql)
{
    QVariant value;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(u"QSQLITE"_s, u"side"_s);
        db.setDatabaseName(path);
        db.setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=5000"_s);
        if (db.open()) {
            QSqlQuery query(db);
            if (query.exec(sql) && query.next())
                value = query.value(0);
        }
        db.close();
    }
    QSqlDatabase::removeDatabase(u"side"_s);
    return value;
}

} // namespace

void TestServe::queueSchemaStructuredAnswers()
{
    // A queue's schema works as a job's --schema: the provider is asked for JSON of that
    // schema, answers are validated, and one that does not match ends invalid_output.
    bd::testing::FakeGemini gemini;
    QVERIFY(gemini.listen());
    const QString key = u"AIza-serve-TEST-0123456789"_s;
    gemini.options().requiredKey = key;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, m_dir.filePath(u"config"_s));
    env.insert(u"XDG_DATA_HOME"_s, m_dir.filePath(u"data"_s));
    env.remove(u"GEMINI_API_KEY"_s);
    env.insert(u"GOOGLE_API_KEY"_s, key);
    env.insert(u"GEMINI_BASE_URL"_s, gemini.baseUrl());
    const QString path = database(u"schema.sqlite"_s);
    const QJsonObject schema{
        {u"type"_s, u"object"_s},
        {u"properties"_s,
         QJsonObject{{u"label"_s, QJsonObject{{u"type"_s, u"string"_s},
                                              {u"enum"_s, QJsonArray{u"billing"_s, u"shipping"_s,
                                                                     u"other"_s}}}},
                     {u"urgent"_s, QJsonObject{{u"type"_s, u"boolean"_s}}}}},
        {u"required"_s, QJsonArray{u"label"_s, u"urgent"_s}},
        {u"additionalProperties"_s, false},
    };
    const QJsonObject onGemini{{u"provider"_s, u"gemini"_s},
                               {u"model"_s, u"gemini-2.5-flash"_s},
                               {u"max_retries"_s, 1},
                               {u"schema"_s, schema}};
    QList<qint64> ids;
    {
        Server server(path, {}, env);
        const QString base = server.waitUntilListening();
        QVERIFY2(!base.isEmpty(), server.allOutput().constData());
        // Refused as a job's --schema is: on the simulator, and a schema that is no schema.
        Reply simulated = call("POST", base + u"/v1/queues"_s,
                               toJson(queueJson(u"sim"_s, {}, {{u"schema"_s, schema}})));
        QCOMPARE(simulated.status, 400);
        QVERIFY2(simulated.errorMessage().contains(u"real provider"_s), simulated.body.constData());
        QJsonObject empty = onGemini;
        empty.insert(u"schema"_s, QJsonObject{{u"type"_s, u"object"_s}});
        Reply invalid =
            call("POST", base + u"/v1/queues"_s, toJson(queueJson(u"bad"_s, {}, empty)));
        QCOMPARE(invalid.status, 400);
        QVERIFY2(invalid.errorMessage().contains(u"schema"_s), invalid.body.constData());

        QCOMPARE(call("POST", base + u"/v1/queues"_s, toJson(queueJson(u"triage"_s, {}, onGemini)))
                     .status,
                 201);
        const QJsonObject body{
            {u"tasks"_s,
             QJsonArray{QJsonObject{{u"vars"_s, QJsonObject{{u"question"_s,
                                                             u"my parcel: shipping is late"_s}}}},
                        QJsonObject{{u"vars"_s, QJsonObject{{u"question"_s,
                                                             u"a refund [[json:mismatch]]"_s}}}}}}};
        Reply accepted = call("POST", base + u"/v1/queues/triage/tasks"_s, toJson(body));
        QCOMPARE(accepted.status, 202);
        for (const QJsonValue &id : accepted[u"task_ids"_s].toArray())
            ids.append(id.toInteger());
        QCOMPARE(ids.size(), 2);
        Reply answered = call("GET", base + u"/v1/tasks/%1?wait=30"_s.arg(ids.at(0)));
        QCOMPARE(answered[u"status"_s].toString(), u"completed"_s);
        const QJsonObject fields = answered[u"fields"_s].toObject();
        QCOMPARE(fields.value(u"label"_s).toString(), u"shipping"_s);
        QVERIFY(fields.value(u"urgent"_s).isBool());
        Reply broken = call("GET", base + u"/v1/tasks/%1?wait=30"_s.arg(ids.at(1)));
        QCOMPARE(broken[u"status"_s].toString(), u"dead"_s);
        QCOMPARE(broken[u"error_class"_s].toString(), u"invalid_output"_s);
        QCOMPARE(broken[u"attempts"_s].toInt(), 2); // retried once, as a job's would be
        // Asked for as structured answers: Gemini's responseMimeType and responseSchema.
        bool asked = false;
        for (const auto &request : gemini.received()) {
            if (!request.path.endsWith(":generateContent"))
                continue;
            const QJsonObject generation = QJsonDocument::fromJson(request.body)
                                               .object()
                                               .value(u"generationConfig"_s)
                                               .toObject();
            QCOMPARE(generation.value(u"responseMimeType"_s).toString(), u"application/json"_s);
            QVERIFY(generation.value(u"responseSchema"_s).toObject().contains(u"properties"_s));
            asked = true;
        }
        QVERIFY(asked);
    }
    // One settings key: the schema is the job's output_schema.
    const QString settings =
        sqliteValue(path, u"SELECT settings FROM jobs WHERE source_path = 'queue:triage'"_s)
            .toString();
    const QJsonObject stored = QJsonDocument::fromJson(settings.toUtf8()).object();
    QVERIFY2(stored.value(u"output_schema"_s).isString(), qPrintable(settings));
    QVERIFY2(!stored.contains(u"schema"_s), qPrintable(settings));

    // A queue an earlier version defined kept its schema under "schema": read as the same,
    // and moved to output_schema when its job runs again.
    QJsonObject legacy = stored;
    legacy.remove(u"output_schema"_s);
    legacy.insert(u"schema"_s, schema);
    const QString legacyText =
        QString::fromUtf8(QJsonDocument(legacy).toJson(QJsonDocument::Compact));
    sqliteValue(path, u"UPDATE jobs SET settings = '%1' WHERE source_path = 'queue:triage'"_s.arg(
                          legacyText));
    QCOMPARE(
        QJsonDocument::fromJson(
            sqliteValue(path, u"SELECT settings FROM jobs WHERE source_path = 'queue:triage'"_s)
                .toString()
                .toUtf8())
            .object()
            .value(u"schema"_s)
            .toObject(),
        schema);
    {
        Server server(path, {}, env);
        const QString base = server.waitUntilListening();
        QVERIFY2(!base.isEmpty(), server.allOutput().constData());
        const QJsonObject body{
            {u"tasks"_s, QJsonArray{QJsonObject{
                             {u"vars"_s, QJsonObject{{u"question"_s,
                                                      u"double billing [[json:mismatch]]"_s}}}}}}};
        Reply accepted = call("POST", base + u"/v1/queues/triage/tasks"_s, toJson(body));
        QCOMPARE(accepted.status, 202);
        Reply broken = call("GET", base + u"/v1/tasks/%1?wait=30"_s.arg(
                                              accepted[u"task_ids"_s].toArray().at(0).toInteger()));
        QCOMPARE(broken[u"error_class"_s].toString(), u"invalid_output"_s);
    }
    const QJsonObject migrated =
        QJsonDocument::fromJson(
            sqliteValue(path, u"SELECT settings FROM jobs WHERE source_path = 'queue:triage'"_s)
                .toString()
                .toUtf8())
            .object();
    QVERIFY(migrated.value(u"output_schema"_s).isString());
    QVERIFY(!migrated.contains(u"schema"_s));
}

QTEST_MAIN(TestServe)
#include "test_serve.moc"
