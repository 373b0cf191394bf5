// The HTTP providers against a hostile loopback server (tests/support/hostileserver.h):
// absurd usage figures are refused as malformed, a flood of a reply is cut at the cap and
// dead-lettered as "reply too large", and a server that drips its body or its headers is
// given up on at the total deadline, not after the (much longer) inactivity timeout.

#include "core/clock.h"
#include "hostileserver.h"
#include "providers/provider.h"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#ifndef BATCHCTL_PATH
#error "BATCHCTL_PATH must name the batchctl binary"
#endif

using namespace Qt::StringLiterals;
using bd::ErrorClass;
using bd::providers::ChatReply;
using bd::providers::ChatRequest;
using bd::providers::Provider;
using bd::ProviderConfig;
using bd::test::HostileServer;

namespace {

QByteArray openAiAnswer(const QByteArray &usage)
{
    return R"({"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,)"
           R"("message":{"role":"assistant","content":"fine"},"finish_reason":"stop"}])" +
           (usage.isEmpty() ? QByteArray() : ",\"usage\":" + usage) + "}";
}

QByteArray anthropicAnswer(const QByteArray &usage)
{
    return R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5",)"
           R"("content":[{"type":"text","text":"fine"}],"stop_reason":"end_turn")" +
           (usage.isEmpty() ? QByteArray() : ",\"usage\":" + usage) + "}";
}

QByteArray geminiAnswer(const QByteArray &usage)
{
    return R"({"candidates":[{"content":{"role":"model","parts":[{"text":"fine"}]},)"
           R"("finishReason":"STOP"}],"modelVersion":"gemini-2.5-flash")" +
           (usage.isEmpty() ? QByteArray() : ",\"usageMetadata\":" + usage) + "}";
}

ChatRequest request(qint64 taskId)
{
    ChatRequest r;
    r.taskId = taskId;
    r.model = u"m"_s;
    r.prompt = u"hello"_s;
    return r;
}

QString describe(const ChatReply &reply)
{
    return u"%1 http %2: %3"_s.arg(bd::errorClassName(reply.error))
        .arg(reply.httpStatus)
        .arg(reply.errorMessage);
}

} // namespace

class TestHostileReplies : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void implausibleUsageIsMalformed_data();
    void implausibleUsageIsMalformed();
    void floodIsCutAtTheCap_data();
    void floodIsCutAtTheCap();
    void floodIsCutWhileTheEngineThreadIsBusy();
    void replyJustUnderTheCapArrives();
    void drippingServerMeetsTheDeadline_data();
    void drippingServerMeetsTheDeadline();
    void apiCallsAreCappedToo();
    void batchctlNeverBooksAbsurdUsage();

private:
    std::unique_ptr<Provider> make(const QString &id, const QJsonObject &settings = {});
    std::unique_ptr<Provider> make(const QString &id, const QString &baseUrl,
                                   const QJsonObject &settings);
    ChatReply sendOne(Provider *provider, int timeoutMs = 20'000);

    std::unique_ptr<HostileServer> m_server;
};

void TestHostileReplies::init()
{
    m_server = std::make_unique<HostileServer>();
    QVERIFY(m_server->listen());
}

void TestHostileReplies::cleanup()
{
    m_server.reset();
}

std::unique_ptr<Provider> TestHostileReplies::make(const QString &id, const QJsonObject &settings)
{
    return make(id, m_server->baseUrl(id != u"anthropic"_s), settings);
}

std::unique_ptr<Provider> TestHostileReplies::make(const QString &id, const QString &baseUrl,
                                                   const QJsonObject &settings)
{
    ProviderConfig config;
    config.id = id;
    config.apiKey = u"sk-hostile-test"_s;
    config.settings = settings;
    config.baseUrl = baseUrl;
    QString error;
    auto provider = bd::providers::createProvider(config, bd::SystemClock::instance(), &error);
    if (!provider)
        qWarning("%s", qPrintable(error));
    return provider;
}

ChatReply TestHostileReplies::sendOne(Provider *provider, int timeoutMs)
{
    QList<ChatReply> replies;
    QObject::connect(provider, &Provider::replied, provider,
                     [&replies](const ChatReply &reply) { replies.append(reply); });
    provider->send(request(1));
    QElapsedTimer timer;
    timer.start();
    while (replies.isEmpty() && timer.elapsed() < timeoutMs)
        QTest::qWait(5);
    QTest::qWait(20); // a second answer to one request would show here
    if (replies.size() != 1) {
        qWarning("expected exactly one reply, got %d", int(replies.size()));
        return {};
    }
    return replies.first();
}

void TestHostileReplies::implausibleUsageIsMalformed_data()
{
    QTest::addColumn<QString>("providerId");
    QTest::addColumn<QByteArray>("usage");
    QTest::addColumn<bool>("accepted");
    QTest::addColumn<QString>("problem");

    const struct
    {
        const char *name;
        QByteArray openAi;
        QByteArray anthropic;
        QByteArray gemini;
        bool accepted;
        const char *problem;
    } rows[] = {
        {"sane", R"({"prompt_tokens":12,"completion_tokens":3})",
         R"({"input_tokens":12,"output_tokens":3})",
         R"({"promptTokenCount":12,"candidatesTokenCount":3})", true, ""},
        {"absent", "", "", "", true, ""},
        {"at the bound", R"({"prompt_tokens":100000000,"completion_tokens":0})",
         R"({"input_tokens":100000000,"output_tokens":0})",
         R"({"promptTokenCount":100000000,"candidatesTokenCount":0})", true, ""},
        {"int64 max", R"({"prompt_tokens":9223372036854775807,"completion_tokens":1})",
         R"({"input_tokens":9223372036854775807,"output_tokens":1})",
         R"({"promptTokenCount":9223372036854775807,"candidatesTokenCount":1})", false,
         "more than"},
        {"1e15", R"({"prompt_tokens":1,"completion_tokens":1000000000000000})",
         R"({"input_tokens":1,"output_tokens":1000000000000000})",
         R"({"promptTokenCount":1,"thoughtsTokenCount":1000000000000000})", false, "more than"},
        {"just above", R"({"prompt_tokens":100000001})", R"({"input_tokens":100000001})",
         R"({"candidatesTokenCount":100000001})", false, "more than"},
        {"negative", R"({"prompt_tokens":-5,"completion_tokens":3})",
         R"({"input_tokens":-5,"output_tokens":3})",
         R"({"promptTokenCount":-5,"candidatesTokenCount":3})", false, "negative"},
        {"fraction", R"({"prompt_tokens":1.5,"completion_tokens":3})",
         R"({"input_tokens":1.5,"output_tokens":3})",
         R"({"promptTokenCount":1.5,"candidatesTokenCount":3})", false, "whole number"},
        {"string", R"({"prompt_tokens":"12","completion_tokens":3})",
         R"({"input_tokens":"12","output_tokens":3})",
         R"({"promptTokenCount":"12","candidatesTokenCount":3})", false, "not a number"},
        {"usage not an object", R"([1,2])", R"("lots")", R"(7)", false, "is not an object"},
        {"cache figure", R"({"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":-1}})",
         R"({"input_tokens":5,"cache_read_input_tokens":-1})",
         R"({"promptTokenCount":5,"cachedContentTokenCount":-1})", false, "negative"},
    };
    for (const auto &row : rows) {
        QTest::addRow("openai-compatible %s", row.name)
            << u"openai-compatible"_s << openAiAnswer(row.openAi) << row.accepted
            << QString::fromLatin1(row.problem);
        QTest::addRow("anthropic %s", row.name) << u"anthropic"_s << anthropicAnswer(row.anthropic)
                                                << row.accepted << QString::fromLatin1(row.problem);
        // Gemini's usageMetadata was read with qMax(0, …) and no bound: 2^63-1 tokens booked.
        QTest::addRow("gemini %s", row.name) << u"gemini"_s << geminiAnswer(row.gemini)
                                             << row.accepted << QString::fromLatin1(row.problem);
    }
}

void TestHostileReplies::implausibleUsageIsMalformed()
{
    QFETCH(QString, providerId);
    QFETCH(QByteArray, usage);
    QFETCH(bool, accepted);
    QFETCH(QString, problem);

    m_server->body = usage;
    auto provider = make(providerId);
    QVERIFY(provider);
    const ChatReply reply = sendOne(provider.get());
    if (accepted) {
        QVERIFY2(reply.ok(), qPrintable(describe(reply)));
        QCOMPARE(reply.text, u"fine"_s);
        QVERIFY(reply.usage.inputTokens >= 0 && reply.usage.outputTokens >= 0);
        return;
    }
    QVERIFY2(reply.error == ErrorClass::Malformed, qPrintable(describe(reply)));
    QVERIFY2(reply.errorMessage.contains(problem), qPrintable(describe(reply)));
    QVERIFY(reply.text.isEmpty());
    QCOMPARE(reply.usage.inputTokens, 0);
    QCOMPARE(reply.usage.outputTokens, 0);
}

void TestHostileReplies::floodIsCutAtTheCap_data()
{
    QTest::addColumn<bool>("chunked");
    QTest::addColumn<bool>("declareLength");
    QTest::newRow("content-length") << false << true;
    QTest::newRow("chunked") << true << false;
    QTest::newRow("until close") << false << false;
}

void TestHostileReplies::floodIsCutAtTheCap()
{
    QFETCH(bool, chunked);
    QFETCH(bool, declareLength);
    m_server->mode = HostileServer::Mode::Flood;
    m_server->chunked = chunked;
    m_server->declareFloodLength = declareLength;
    m_server->floodBytes = 200 * 1024 * 1024;
    auto provider = make(u"openai-compatible"_s, {{u"max_reply_bytes"_s, 1024 * 1024}});
    QElapsedTimer timer;
    timer.start();
    const ChatReply reply = sendOne(provider.get());
    QVERIFY2(reply.error == ErrorClass::InvalidRequest, qPrintable(describe(reply)));
    QVERIFY2(reply.errorMessage.startsWith(u"reply too large: more than 1 MiB"_s),
             qPrintable(reply.errorMessage));
    // Stopped early: far less than the 200 MiB was ever produced.
    QVERIFY2(m_server->bodyBytesSent() < 32 * 1024 * 1024,
             qPrintable(QString::number(m_server->bodyBytesSent())));
    QVERIFY(timer.elapsed() < 10'000);
    QTRY_COMPARE(m_server->openConnections(), 0);
}

void TestHostileReplies::floodIsCutWhileTheEngineThreadIsBusy()
{
    // The flood comes from a thread of its own while this thread, the provider's, is busy for
    // half a second: what Qt's HTTP thread reads meanwhile is held for us, so only its throttle
    // stops the flood (before it, 40-170 MiB of the 200 arrived under CPU load).
    QThread serverThread;
    serverThread.start();
    QObject serverSide;
    serverSide.moveToThread(&serverThread);
    std::unique_ptr<HostileServer> server;
    QString baseUrl;
    QMetaObject::invokeMethod(
        &serverSide,
        [&] {
            server = std::make_unique<HostileServer>();
            server->mode = HostileServer::Mode::Flood;
            server->chunked = true;
            server->floodBytes = 200 * 1024 * 1024;
            if (server->listen())
                baseUrl = server->baseUrl();
        },
        Qt::BlockingQueuedConnection);
    const auto stopServer = qScopeGuard([&] {
        QMetaObject::invokeMethod(&serverSide, [&] { server.reset(); },
                                  Qt::BlockingQueuedConnection);
        serverThread.quit();
        serverThread.wait();
    });
    QVERIFY(!baseUrl.isEmpty());

    auto provider = make(u"openai-compatible"_s, baseUrl, {{u"max_reply_bytes"_s, 1024 * 1024}});
    QVERIFY(provider);
    QList<ChatReply> replies;
    QObject::connect(provider.get(), &Provider::replied, provider.get(),
                     [&replies](const ChatReply &reply) { replies.append(reply); });
    provider->send(request(1));
    QTRY_VERIFY(server->bodyBytesSent() > 0);
    QThread::msleep(500); // the engine thread busy elsewhere: not a wait for anything
    QTRY_COMPARE_WITH_TIMEOUT(replies.size(), 1, 20'000);
    const ChatReply &reply = replies.first();
    QVERIFY2(reply.error == ErrorClass::InvalidRequest, qPrintable(describe(reply)));
    QVERIFY2(reply.errorMessage.startsWith(u"reply too large: more than 1 MiB"_s),
             qPrintable(reply.errorMessage));
    const qint64 sent = server->bodyBytesSent();
    QVERIFY2(sent < 16 * 1024 * 1024, qPrintable(QString::number(sent)));
}

void TestHostileReplies::replyJustUnderTheCapArrives()
{
    const QByteArray text(900 * 1024, 'a');
    m_server->body = openAiAnswer(R"({"prompt_tokens":1,"completion_tokens":2})")
                         .replace(QByteArrayView("\"fine\""), QByteArray("\"" + text + "\""));
    auto provider = make(u"openai-compatible"_s, {{u"max_reply_bytes"_s, 1024 * 1024}});
    const ChatReply reply = sendOne(provider.get());
    QVERIFY2(reply.ok(), qPrintable(describe(reply)));
    QCOMPARE(reply.text.size(), text.size());

    // Chunked, so the size is learnt only while reading.
    m_server->chunked = true;
    auto again = make(u"openai-compatible"_s, {{u"max_reply_bytes"_s, 1024 * 1024}});
    const ChatReply chunkedReply = sendOne(again.get());
    QVERIFY2(chunkedReply.ok(), qPrintable(describe(chunkedReply)));
    QCOMPARE(chunkedReply.text.size(), text.size());
}

void TestHostileReplies::drippingServerMeetsTheDeadline_data()
{
    QTest::addColumn<int>("mode");
    QTest::newRow("body") << int(HostileServer::Mode::DripBody);
    QTest::newRow("headers") << int(HostileServer::Mode::DripHeaders);
}

void TestHostileReplies::drippingServerMeetsTheDeadline()
{
    QFETCH(int, mode);
    m_server->mode = HostileServer::Mode(mode);
    m_server->dripMs = 50;
    // Something arrives every 50 ms, so the 300 s inactivity timeout never fires.
    auto provider = make(u"openai-compatible"_s,
                         {{u"request_timeout_ms"_s, 300'000}, {u"request_deadline_ms"_s, 1'500}});
    QElapsedTimer timer;
    timer.start();
    const ChatReply reply = sendOne(provider.get(), 30'000);
    const qint64 elapsed = timer.elapsed();
    QVERIFY2(reply.error == ErrorClass::Timeout, qPrintable(describe(reply)));
    QVERIFY2(reply.errorMessage.contains(u"1.5 s deadline"_s), qPrintable(reply.errorMessage));
    QVERIFY2(elapsed >= 1'400 && elapsed < 6'000, qPrintable(QString::number(elapsed)));
    QTRY_COMPARE(m_server->openConnections(), 0);
}

void TestHostileReplies::apiCallsAreCappedToo()
{
    // listModels() goes through callApi(), as the batch calls and result downloads do.
    m_server->mode = HostileServer::Mode::Flood;
    m_server->floodBytes = 100 * 1024 * 1024;
    for (const QString &id : {u"anthropic"_s, u"openai"_s}) {
        const qint64 sentBefore = m_server->bodyBytesSent();
        auto provider = make(id, {{u"max_download_bytes"_s, 512 * 1024}});
        QSignalSpy listed(provider.get(), &Provider::modelsListed);
        provider->listModels();
        QVERIFY(listed.wait(10'000));
        QVERIFY(listed.first().at(0).toStringList().isEmpty());
        QVERIFY2(listed.first().at(1).toString().contains(u"reply too large: more than 512 KiB"_s),
                 qPrintable(id + u": "_s + listed.first().at(1).toString()));
        QVERIFY(m_server->bodyBytesSent() - sentBefore < 32 * 1024 * 1024);
    }

    m_server->mode = HostileServer::Mode::DripHeaders;
    auto slow = make(u"anthropic"_s, {{u"api_deadline_ms"_s, 1'000}});
    QSignalSpy slowListed(slow.get(), &Provider::modelsListed);
    QElapsedTimer timer;
    timer.start();
    slow->listModels();
    QVERIFY(slowListed.wait(10'000));
    QVERIFY2(slowListed.first().at(1).toString().contains(u"deadline"_s),
             qPrintable(slowListed.first().at(1).toString()));
    QVERIFY(timer.elapsed() < 6'000);
}

void TestHostileReplies::batchctlNeverBooksAbsurdUsage()
{
    // 2^63-1 prompt tokens wrapped the totals negative and status showed negative dollars.
    m_server->body = openAiAnswer(R"({"prompt_tokens":9223372036854775807,"completion_tokens":5})");
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QFile csv(dir.filePath(u"in.csv"_s));
    QVERIFY(csv.open(QIODevice::WriteOnly));
    csv.write("id,text\n1,one\n2,two\n3,three\n");
    csv.close();
    const QString db = dir.filePath(u"db.sqlite"_s);

    QProcess run;
    run.start(QStringLiteral(BATCHCTL_PATH),
              {u"run"_s, csv.fileName(), u"--template"_s, u"Say {{text}}"_s, u"--provider"_s,
               u"openai-compatible"_s, u"--base-url"_s, m_server->baseUrl(), u"--model"_s,
               u"gpt-4.1-mini"_s, u"--max-retries"_s, u"0"_s, u"--db"_s, db});
    // The server lives on this thread: wait with the event loop running.
    QTRY_VERIFY_WITH_TIMEOUT(run.state() == QProcess::NotRunning, 60'000);
    const QString output =
        QString::fromUtf8(run.readAllStandardOutput() + run.readAllStandardError());
    QVERIFY2(run.exitCode() == 4, qPrintable(output)); // finished, with dead-lettered tasks

    QProcess status;
    status.start(QStringLiteral(BATCHCTL_PATH), {u"status"_s, u"--json"_s, u"--db"_s, db});
    QVERIFY(status.waitForFinished(30'000));
    QCOMPARE(status.exitCode(), 0);
    const QJsonObject job = QJsonDocument::fromJson(status.readAllStandardOutput())
                                .object()
                                .value(u"jobs"_s)
                                .toArray()
                                .at(0)
                                .toObject();
    QCOMPARE(job.value(u"dead"_s).toInt(), 3);
    QCOMPARE(job.value(u"input_tokens"_s).toInteger(), 0);
    QCOMPARE(job.value(u"output_tokens"_s).toInteger(), 0);
    QVERIFY2(job.value(u"cost_usd"_s).toDouble() == 0.0,
             qPrintable(QString::number(job.value(u"cost_usd"_s).toDouble())));

    QProcess dlq;
    dlq.start(QStringLiteral(BATCHCTL_PATH), {u"dlq"_s, u"list"_s, u"--json"_s, u"--db"_s, db});
    QVERIFY(dlq.waitForFinished(30'000));
    const QByteArray dead = dlq.readAllStandardOutput();
    QVERIFY2(dead.contains("usage.prompt_tokens claims more than 100000000 tokens"),
             dead.constData());
}

QTEST_GUILESS_MAIN(TestHostileReplies)
#include "test_hostilereplies.moc"
