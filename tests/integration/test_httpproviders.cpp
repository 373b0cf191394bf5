// The HTTP providers against a real loopback server (tests/support/fakeprovider): every
// outcome class, usage and rate-limit headers as each API reports them, concurrency that is
// really reached, cancelAll, the key kept out of every message, and batchctl end to end.

#include "core/clock.h"
#include "fakeprovider.h"
#include "ingest/csvreader.h"
#include "providers/anthropicprovider.h"
#include "providers/openaichatprovider.h"
#include "providers/provider.h"

#include <memory>
#include <QFile>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QSet>
#include <QSignalSpy>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslSocket>
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
using bd::testing::FakeProvider;

Q_DECLARE_METATYPE(bd::ErrorClass)

namespace {

const QString kKey = u"sk-test-SECRET-0123456789abcdef"_s;

// A self-signed certificate for 127.0.0.1 (EC P-256, valid until 2126) and its key.
const QByteArray kCertificatePem = R"(-----BEGIN CERTIFICATE-----
MIIBkDCCATagAwIBAgIUGWcM5wg2jjZvE3FC+W33wqKSTU4wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyNjE4NTAyOFoYDzIxMjYxMTAy
MTg1MDI4WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASUU88HEir/mcsowFfbeEBF6FZ7NZn5/DYmG83cytgN/HKQEPh0yyDW
qcHq5ES0TnxdkxqUjXGLMgQ2Kd6bA9lqo2QwYjAdBgNVHQ4EFgQUcsEnBxzhRS3C
FC/M1qOkOjPXn50wHwYDVR0jBBgwFoAUcsEnBxzhRS3CFC/M1qOkOjPXn50wDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0gAMEUC
IQDAoFzwQNbUG7tA1ZDt25jMXJggCkAorLcuO9TaQSQrPQIgGeR8msw1qEVC2TOX
c9jaUew5MkGYZ1iDeFx6SWRC4jE=
-----END CERTIFICATE-----
)";
const QByteArray kPrivateKeyPem = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSxtaT41jA6cFyuRC
HV9qLzIs8j7vk/skWb6kX7LxTJqhRANCAASUU88HEir/mcsowFfbeEBF6FZ7NZn5
/DYmG83cytgN/HKQEPh0yyDWqcHq5ES0TnxdkxqUjXGLMgQ2Kd6bA9lq
-----END PRIVATE KEY-----
)";

// Collects every reply of a provider and checks "exactly one per request".
class Collector
{
public:
    explicit Collector(Provider *provider)
    {
        QObject::connect(provider, &Provider::replied, provider, [this](const ChatReply &reply) {
            replies.append(reply);
            byTask[reply.taskId] += 1;
        });
    }
    bool waitFor(int count, int timeoutMs = 20'000)
    {
        QElapsedTimer timer;
        timer.start();
        while (replies.size() < count && timer.elapsed() < timeoutMs)
            QTest::qWait(5);
        return replies.size() >= count;
    }
    ChatReply forTask(qint64 taskId) const
    {
        for (const ChatReply &reply : replies) {
            if (reply.taskId == taskId)
                return reply;
        }
        return {};
    }
    bool eachOnce() const
    {
        for (int count : byTask) {
            if (count != 1)
                return false;
        }
        return true;
    }

    QList<ChatReply> replies;
    QHash<qint64, int> byTask;
};

ChatRequest request(qint64 taskId, const QString &prompt, const QString &model = u"gpt-4.1-mini"_s)
{
    ChatRequest r;
    r.taskId = taskId;
    r.model = model;
    r.systemPrompt = u"You are terse."_s;
    r.prompt = prompt;
    r.maxOutputTokens = 128;
    r.cacheKey = u"batchdesk-job-7"_s;
    return r;
}

QString describe(const ChatReply &reply)
{
    return u"task %1: %2 http %3: %4 | %5"_s.arg(reply.taskId)
        .arg(bd::errorClassName(reply.error))
        .arg(reply.httpStatus)
        .arg(reply.errorMessage, reply.text);
}

} // namespace

class TestHttpProviders : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();

    void factoryValidatesConfiguration();
    void openAiSuccessRequestAndUsage();
    void openAiCompatibleWithoutKey();
    void anthropicSuccessRequestAndUsage();
    void anthropicBaseUrlWithV1();
    void outcomes_data();
    void outcomes();
    void rateLimitWaitFromHeaders_data();
    void rateLimitWaitFromHeaders();
    void retryAfterOnOverload();
    void missingRateLimitHeadersAreUnknown();
    void timeoutIsClassified();
    void outageRefusesThenRecovers();
    void wrongBasePathIsAConfigurationError();
    void tlsCertificatesAreVerified();
    void concurrency64IsReallyReached_data();
    void concurrency64IsReallyReached();
    void cancelAllAnswersEverythingOnce();
    void destroyingWithRequestsInFlightIsSafe();
    void keyNeverReachesMessages_data();
    void keyNeverReachesMessages();
    void modelsAreListed();
    void modelsListedPerApiAndRefusedWithoutTheKey_data();
    void modelsListedPerApiAndRefusedWithoutTheKey();
    void batchctlRunsAgainstTheServer();
    void batchctlAuthFailureKeepsTheKeyOut();

private:
    std::unique_ptr<Provider> make(const QString &id, const QString &key = kKey,
                                   const QJsonObject &settings = {});

    std::unique_ptr<FakeProvider> m_server;
    // Anthropic's resets are wall-clock timestamps: the provider reads them against real time.
    bd::Clock *m_clock = bd::SystemClock::instance();
};

void TestHttpProviders::init()
{
    m_server = std::make_unique<FakeProvider>();
    QVERIFY(m_server->listen());
}

void TestHttpProviders::cleanup()
{
    m_server.reset();
}

std::unique_ptr<Provider> TestHttpProviders::make(const QString &id, const QString &key,
                                                  const QJsonObject &settings)
{
    ProviderConfig config;
    config.id = id;
    config.apiKey = key;
    config.settings = settings;
    config.baseUrl =
        id == u"anthropic"_s ? m_server->anthropicBaseUrl() : m_server->openAiBaseUrl();
    QString error;
    auto provider = bd::providers::createProvider(config, m_clock, &error);
    if (!provider)
        qWarning("%s", qPrintable(error));
    return provider;
}

void TestHttpProviders::factoryValidatesConfiguration()
{
    QVERIFY(bd::providers::providerIds().contains(u"openai"_s));
    QVERIFY(bd::providers::providerIds().contains(u"openai-compatible"_s));
    QVERIFY(bd::providers::providerIds().contains(u"anthropic"_s));

    QString error;
    ProviderConfig config;
    config.id = u"openai-compatible"_s;
    QVERIFY(!bd::providers::createProvider(config, m_clock, &error));
    QVERIFY2(error.contains(u"base URL"_s), qPrintable(error));

    config.baseUrl = u"ftp://example.invalid/v1"_s;
    error.clear();
    QVERIFY(!bd::providers::createProvider(config, m_clock, &error));
    QVERIFY2(error.contains(u"http"_s), qPrintable(error));

    config.baseUrl = u"ftp://user:sk-in-url@127.0.0.1:1/v1"_s;
    QVERIFY(!bd::providers::createProvider(config, m_clock, &error));
    QVERIFY2(!error.contains(u"sk-in-url"_s), qPrintable(error));

    config.baseUrl = u"http://user:pw@127.0.0.1:1/v1"_s;
    QVERIFY(!bd::providers::createProvider(config, m_clock, &error));
    QVERIFY2(!error.contains(u"pw"_s), qPrintable(error));

    config.id = u"openai"_s;
    config.baseUrl.clear();
    auto openai = bd::providers::createProvider(config, m_clock, &error);
    QVERIFY(openai);
    QCOMPARE(static_cast<bd::providers::HttpChatProvider *>(openai.get())->baseUrl().toString(),
             u"https://api.openai.com/v1"_s);
    QVERIFY(openai->requiresKey());
    QVERIFY(openai->knownModels().contains(u"gpt-4o-mini"_s));
    QVERIFY(openai->knownModels().contains(openai->defaultModel()));
    QVERIFY(!openai->isSimulated());

    config.id = u"anthropic"_s;
    auto anthropic = bd::providers::createProvider(config, m_clock, &error);
    QVERIFY(anthropic);
    QCOMPARE(static_cast<bd::providers::HttpChatProvider *>(anthropic.get())->baseUrl().toString(),
             u"https://api.anthropic.com"_s);
    QVERIFY(anthropic->requiresKey());
    QVERIFY(anthropic->knownModels().contains(u"claude-sonnet-4-5"_s));
    QVERIFY(anthropic->knownModels().contains(anthropic->defaultModel()));

    config.id = u"openai-compatible"_s;
    config.baseUrl = u"http://127.0.0.1:11434/v1/"_s;
    auto local = bd::providers::createProvider(config, m_clock, &error);
    QVERIFY(local);
    QVERIFY(!local->requiresKey());
    QVERIFY(local->knownModels().isEmpty());
    QCOMPARE(static_cast<bd::providers::HttpChatProvider *>(local.get())->baseUrl().toString(),
             u"http://127.0.0.1:11434/v1"_s);
}

void TestHttpProviders::openAiSuccessRequestAndUsage()
{
    auto provider = make(u"openai"_s);
    QVERIFY(provider);
    Collector collector(provider.get());
    const QString prompt = u"Rate this: great phone [[fake:cached=3]]"_s;
    provider->send(request(11, prompt));
    QCOMPARE(provider->inFlight(), 1);
    QCOMPARE(collector.replies.size(), 0); // never answered from inside send()
    QVERIFY(collector.waitFor(1));
    const ChatReply reply = collector.replies.first();
    QVERIFY2(reply.ok(), qPrintable(describe(reply)));
    QCOMPARE(reply.taskId, 11);
    QCOMPARE(reply.text, FakeProvider::answerFor(u"You are terse."_s, prompt));
    QCOMPARE(reply.model, u"gpt-4.1-mini"_s);
    QCOMPARE(reply.finishReason, u"stop"_s);
    QCOMPARE(reply.httpStatus, 200);
    const qint64 promptTokens =
        FakeProvider::tokensFor(u"You are terse."_s) + FakeProvider::tokensFor(prompt);
    QCOMPARE(reply.usage.cachedTokens, 3);
    QCOMPARE(reply.usage.inputTokens, promptTokens - 3); // prompt_tokens includes the cached ones
    QCOMPARE(reply.usage.outputTokens, FakeProvider::tokensFor(reply.text));
    QCOMPARE(reply.usage.cacheWriteTokens, 0);
    QCOMPARE(reply.rateLimits.limitRequests, 10'000);
    QCOMPARE(reply.rateLimits.remainingRequests, 9'999);
    QCOMPARE(reply.rateLimits.limitTokens, 2'000'000);
    QCOMPARE(reply.rateLimits.remainingTokens, 2'000'000 - promptTokens);
    QVERIFY(reply.rateLimits.resetRequestsMs > 0 && reply.rateLimits.resetRequestsMs <= 60'000);
    QCOMPARE(reply.retryAfterMs, -1);
    QCOMPARE(provider->inFlight(), 0);

    // What went over the wire.
    const FakeProvider::ReceivedRequest &sent = m_server->received().last();
    QCOMPARE(sent.path, "/v1/chat/completions"_ba);
    QCOMPARE(sent.header("authorization"), "Bearer " + kKey.toUtf8());
    QVERIFY(sent.header("content-type").startsWith("application/json"));
    const QJsonObject body = QJsonDocument::fromJson(sent.body).object();
    QCOMPARE(body.value(u"model"_s).toString(), u"gpt-4.1-mini"_s);
    const QJsonArray messages = body.value(u"messages"_s).toArray();
    QCOMPARE(messages.size(), 2);
    QCOMPARE(messages.at(0).toObject().value(u"role"_s).toString(), u"system"_s);
    QCOMPARE(messages.at(0).toObject().value(u"content"_s).toString(), u"You are terse."_s);
    QCOMPARE(messages.at(1).toObject().value(u"role"_s).toString(), u"user"_s);
    QCOMPARE(messages.at(1).toObject().value(u"content"_s).toString(), prompt);
    QCOMPARE(body.value(u"max_completion_tokens"_s).toInt(), 128);
    QVERIFY(!body.contains(u"max_tokens"_s));
    QCOMPARE(body.value(u"prompt_cache_key"_s).toString(), u"batchdesk-job-7"_s);
}

void TestHttpProviders::openAiCompatibleWithoutKey()
{
    auto provider = make(u"openai-compatible"_s, QString());
    QVERIFY(provider);
    Collector collector(provider.get());
    ChatRequest r = request(5, u"local hello"_s, u"llama3"_s);
    r.systemPrompt.clear();
    provider->send(r);
    QVERIFY(collector.waitFor(1));
    QVERIFY2(collector.replies.first().ok(), qPrintable(describe(collector.replies.first())));
    QCOMPARE(collector.replies.first().text, FakeProvider::answerFor(QString(), u"local hello"_s));
    const FakeProvider::ReceivedRequest &sent = m_server->received().last();
    QVERIFY(sent.header("authorization").isNull());
    const QJsonObject body = QJsonDocument::fromJson(sent.body).object();
    QCOMPARE(body.value(u"messages"_s).toArray().size(), 1); // no empty system message
    QCOMPARE(body.value(u"max_tokens"_s).toInt(), 128);      // the name local servers know
    QVERIFY(!body.contains(u"max_completion_tokens"_s));
    QVERIFY(!body.contains(u"prompt_cache_key"_s));
}

void TestHttpProviders::anthropicSuccessRequestAndUsage()
{
    auto provider = make(u"anthropic"_s);
    QVERIFY(provider);
    Collector collector(provider.get());
    const QString prompt = u"Summarise: fine [[fake:cached=40]] [[fake:cachewrite=12]]"_s;
    provider->send(request(21, prompt, u"claude-haiku-4-5"_s));
    QVERIFY(collector.waitFor(1));
    const ChatReply reply = collector.replies.first();
    QVERIFY2(reply.ok(), qPrintable(describe(reply)));
    QCOMPARE(reply.text, FakeProvider::answerFor(u"You are terse."_s, prompt)); // two blocks joined
    QCOMPARE(reply.model, u"claude-haiku-4-5"_s);
    QCOMPARE(reply.finishReason, u"end_turn"_s);
    const qint64 promptTokens =
        FakeProvider::tokensFor(u"You are terse."_s) + FakeProvider::tokensFor(prompt);
    QCOMPARE(reply.usage.inputTokens, promptTokens); // separate from the cache figures
    QCOMPARE(reply.usage.cachedTokens, 40);
    QCOMPARE(reply.usage.cacheWriteTokens, 12);
    QCOMPARE(reply.usage.outputTokens, FakeProvider::tokensFor(reply.text));
    QCOMPARE(reply.rateLimits.limitRequests, 10'000);
    QCOMPARE(reply.rateLimits.remainingRequests, 9'999);
    QCOMPARE(reply.rateLimits.limitTokens, 2'000'000);
    QVERIFY(reply.rateLimits.resetRequestsMs >= 0);

    const FakeProvider::ReceivedRequest &sent = m_server->received().last();
    QCOMPARE(sent.path, "/v1/messages"_ba);
    QCOMPARE(sent.header("x-api-key"), kKey.toUtf8());
    QCOMPARE(sent.header("anthropic-version"), "2023-06-01"_ba);
    QVERIFY(sent.header("authorization").isNull());
    const QJsonObject body = QJsonDocument::fromJson(sent.body).object();
    QCOMPARE(body.value(u"max_tokens"_s).toInt(), 128);
    const QJsonArray system = body.value(u"system"_s).toArray();
    QCOMPARE(system.size(), 1);
    QCOMPARE(system.at(0).toObject().value(u"text"_s).toString(), u"You are terse."_s);
    // Realtime calls keep the default 5-minute cache: no ttl, no beta header.
    QCOMPARE(system.at(0).toObject().value(u"cache_control"_s).toObject(),
             (QJsonObject{{u"type"_s, u"ephemeral"_s}}));
    QVERIFY(sent.header("anthropic-beta").isNull());
    const QJsonArray messages = body.value(u"messages"_s).toArray();
    QCOMPARE(messages.size(), 1);
    QCOMPARE(messages.at(0).toObject().value(u"role"_s).toString(), u"user"_s);
}

void TestHttpProviders::anthropicBaseUrlWithV1()
{
    ProviderConfig config;
    config.id = u"anthropic"_s;
    config.apiKey = kKey;
    config.baseUrl = m_server->anthropicBaseUrl() + u"/v1/"_s;
    QString error;
    auto provider = bd::providers::createProvider(config, m_clock, &error);
    QVERIFY2(provider, qPrintable(error));
    Collector collector(provider.get());
    provider->send(request(1, u"x"_s, u"claude-haiku-4-5"_s));
    QVERIFY(collector.waitFor(1));
    QVERIFY2(collector.replies.first().ok(), qPrintable(describe(collector.replies.first())));
    QCOMPARE(m_server->received().last().path, "/v1/messages"_ba);
}

void TestHttpProviders::outcomes_data()
{
    QTest::addColumn<QString>("providerId");
    QTest::addColumn<QString>("marker");
    QTest::addColumn<ErrorClass>("expected");
    QTest::addColumn<int>("status");

    struct Row
    {
        const char *marker;
        ErrorClass openAi;
        int openAiStatus;
        ErrorClass anthropic;
        int anthropicStatus;
    };
    const Row rows[] = {
        {"429", ErrorClass::RateLimited, 429, ErrorClass::RateLimited, 429},
        {"quota", ErrorClass::QuotaExhausted, 429, ErrorClass::QuotaExhausted, 400},
        {"400", ErrorClass::InvalidRequest, 400, ErrorClass::InvalidRequest, 400},
        {"401", ErrorClass::Auth, 401, ErrorClass::Auth, 401},
        {"500", ErrorClass::ServerError, 500, ErrorClass::ServerError, 500},
        {"503", ErrorClass::Overloaded, 503, ErrorClass::Overloaded, 503},
        {"529", ErrorClass::Overloaded, 529, ErrorClass::Overloaded, 529},
        {"malformed", ErrorClass::Malformed, 200, ErrorClass::Malformed, 200},
        {"close", ErrorClass::Network, 0, ErrorClass::Network, 0},
    };
    for (const Row &row : rows) {
        for (const QString &id : {u"openai"_s, u"openai-compatible"_s, u"anthropic"_s}) {
            const bool anthropic = id == u"anthropic"_s;
            QTest::addRow("%s %s", qPrintable(id), row.marker)
                << id << QString::fromLatin1(row.marker) << (anthropic ? row.anthropic : row.openAi)
                << (anthropic ? row.anthropicStatus : row.openAiStatus);
        }
    }
}

void TestHttpProviders::outcomes()
{
    QFETCH(QString, providerId);
    QFETCH(QString, marker);
    QFETCH(ErrorClass, expected);
    QFETCH(int, status);

    auto provider = make(providerId);
    QVERIFY(provider);
    Collector collector(provider.get());
    const QString model = providerId == u"anthropic"_s ? u"claude-haiku-4-5"_s : u"gpt-4.1-mini"_s;
    // The failing request and a healthy one beside it: one bad answer never spoils another.
    provider->send(request(1, u"row one [[fake:"_s + marker + u"]]"_s, model));
    provider->send(request(2, u"row two"_s, model));
    QVERIFY(collector.waitFor(2));
    QVERIFY(collector.eachOnce());
    const ChatReply failed = collector.forTask(1);
    QVERIFY2(failed.error == expected,
             qPrintable(describe(failed) + u" expected "_s + bd::errorClassName(expected)));
    QCOMPARE(failed.httpStatus, status);
    QVERIFY(failed.text.isEmpty());
    QVERIFY(!failed.errorMessage.isEmpty());
    const ChatReply healthy = collector.forTask(2);
    QVERIFY2(healthy.ok(), qPrintable(describe(healthy)));
    QCOMPARE(healthy.text, FakeProvider::answerFor(u"You are terse."_s, u"row two"_s));
    QCOMPARE(provider->inFlight(), 0);
}

void TestHttpProviders::rateLimitWaitFromHeaders_data()
{
    QTest::addColumn<QString>("providerId");
    QTest::addColumn<int>("retryAfterMs");
    QTest::addColumn<qint64>("expectedWait");
    // OpenAI sends retry-after-ms (exact); Anthropic whole seconds in retry-after.
    QTest::newRow("openai") << u"openai"_s << 250 << qint64(250);
    QTest::newRow("openai 1500") << u"openai"_s << 1500 << qint64(1500);
    QTest::newRow("anthropic") << u"anthropic"_s << 250 << qint64(1000);
    QTest::newRow("anthropic 2500") << u"anthropic"_s << 2500 << qint64(3000);
}

void TestHttpProviders::rateLimitWaitFromHeaders()
{
    QFETCH(QString, providerId);
    QFETCH(int, retryAfterMs);
    QFETCH(qint64, expectedWait);
    m_server->options().retryAfterMs = retryAfterMs;
    auto provider = make(providerId);
    Collector collector(provider.get());
    provider->send(request(1, u"busy [[fake:429]]"_s, u"claude-haiku-4-5"_s));
    QVERIFY(collector.waitFor(1));
    const ChatReply reply = collector.replies.first();
    QCOMPARE(reply.error, ErrorClass::RateLimited);
    QCOMPARE(reply.retryAfterMs, expectedWait);
    QCOMPARE(reply.rateLimits.remainingRequests, 0);
    QVERIFY(reply.rateLimits.resetRequestsMs >= 0);
    QVERIFY2(reply.errorMessage.contains(u"429"_s), qPrintable(reply.errorMessage));

    // Without retry headers the wait comes from the reset of the exhausted window.
    m_server->options().sendRetryAfter = false;
    m_server->options().retryAfterMs = 1500;
    provider->send(request(2, u"busy again [[fake:429]]"_s, u"claude-haiku-4-5"_s));
    QVERIFY(collector.waitFor(2));
    const ChatReply fromHeaders = collector.forTask(2);
    QCOMPARE(fromHeaders.error, ErrorClass::RateLimited);
    QVERIFY2(fromHeaders.retryAfterMs > 1'000 && fromHeaders.retryAfterMs <= 1'500,
             qPrintable(QString::number(fromHeaders.retryAfterMs)));
}

void TestHttpProviders::retryAfterOnOverload()
{
    auto provider = make(u"anthropic"_s);
    Collector collector(provider.get());
    provider->send(request(1, u"[[fake:529]]"_s, u"claude-haiku-4-5"_s));
    QVERIFY(collector.waitFor(1));
    QCOMPARE(collector.replies.first().error, ErrorClass::Overloaded);
    QVERIFY2(collector.replies.first().errorMessage.contains(u"overloaded_error"_s),
             qPrintable(collector.replies.first().errorMessage));
}

void TestHttpProviders::missingRateLimitHeadersAreUnknown()
{
    m_server->options().sendRateLimitHeaders = false;
    auto provider = make(u"openai-compatible"_s, QString());
    Collector collector(provider.get());
    provider->send(request(1, u"a"_s));
    provider->send(request(2, u"b [[fake:429]]"_s));
    QVERIFY(collector.waitFor(2));
    const ChatReply ok = collector.forTask(1);
    QVERIFY(ok.ok());
    QVERIFY(!ok.rateLimits.isKnown());
    QCOMPARE(ok.rateLimits.remainingRequests, -1);
    QCOMPARE(ok.rateLimits.resetRequestsMs, -1);
    const ChatReply limited = collector.forTask(2);
    QCOMPARE(limited.error, ErrorClass::RateLimited);
    QCOMPARE(limited.retryAfterMs, 250); // retry-after-ms is still there
}

void TestHttpProviders::timeoutIsClassified()
{
    auto provider = make(u"openai"_s, kKey, QJsonObject{{u"request_timeout_ms"_s, 300}});
    Collector collector(provider.get());
    QElapsedTimer timer;
    timer.start();
    provider->send(request(1, u"[[fake:hang]]"_s));
    provider->send(request(2, u"slow but fine [[fake:latency=100]]"_s));
    QVERIFY(collector.waitFor(2, 10'000));
    QCOMPARE(collector.forTask(1).error, ErrorClass::Timeout);
    QCOMPARE(collector.forTask(1).httpStatus, 0);
    QVERIFY2(timer.elapsed() < 5'000, "the transfer timeout did not fire in time");
    QVERIFY(collector.forTask(2).ok());
    QTRY_COMPARE(m_server->inFlight(), 0); // the client really went away
}

void TestHttpProviders::outageRefusesThenRecovers()
{
    for (const QString &id : {u"openai-compatible"_s, u"anthropic"_s}) {
        auto provider = make(id);
        Collector collector(provider.get());
        m_server->startOutage();
        provider->send(request(1, u"during"_s, u"claude-haiku-4-5"_s));
        QVERIFY(collector.waitFor(1));
        QVERIFY2(collector.replies.first().error == ErrorClass::Network,
                 qPrintable(describe(collector.replies.first())));
        QCOMPARE(collector.replies.first().httpStatus, 0);
        m_server->endOutage();
        provider->send(request(2, u"after"_s, u"claude-haiku-4-5"_s));
        QVERIFY(collector.waitFor(2));
        QVERIFY2(collector.forTask(2).ok(), qPrintable(describe(collector.forTask(2))));
    }

    // An outage that starts while requests are in flight cuts them: Network, once each.
    auto provider = make(u"openai-compatible"_s);
    Collector collector(provider.get());
    for (int i = 0; i < 8; ++i)
        provider->send(request(i + 1, u"slow %1 [[fake:latency=2000]]"_s.arg(i)));
    QTRY_COMPARE(m_server->inFlight(), 8);
    m_server->startOutage(300);
    QVERIFY(collector.waitFor(8));
    QVERIFY(collector.eachOnce());
    for (const ChatReply &reply : std::as_const(collector.replies))
        QVERIFY2(reply.error == ErrorClass::Network, qPrintable(describe(reply)));
    QTRY_VERIFY(!m_server->inOutage());
    provider->send(request(100, u"back"_s));
    QVERIFY(collector.waitFor(9));
    QVERIFY(collector.forTask(100).ok());
}

void TestHttpProviders::wrongBasePathIsAConfigurationError()
{
    ProviderConfig config;
    config.id = u"openai-compatible"_s;
    config.baseUrl = u"http://127.0.0.1:%1/api"_s.arg(m_server->port()); // forgot /v1
    QString error;
    auto provider = bd::providers::createProvider(config, m_clock, &error);
    QVERIFY(provider);
    Collector collector(provider.get());
    provider->send(request(1, u"x"_s));
    QVERIFY(collector.waitFor(1));
    QCOMPARE(collector.replies.first().error, ErrorClass::Auth);
    QCOMPARE(collector.replies.first().httpStatus, 404);
    QVERIFY2(collector.replies.first().errorMessage.contains(u"base URL"_s),
             qPrintable(collector.replies.first().errorMessage));
}

void TestHttpProviders::tlsCertificatesAreVerified()
{
    if (!QSslSocket::supportsSsl())
        QSKIP("no TLS backend in this Qt");
    const QSslCertificate certificate(kCertificatePem, QSsl::Pem);
    const QSslKey key(kPrivateKeyPem, QSsl::Ec, QSsl::Pem);
    QVERIFY(!certificate.isNull());
    QVERIFY(!key.isNull());
    QSslConfiguration serverTls = QSslConfiguration::defaultConfiguration();
    serverTls.setLocalCertificate(certificate);
    serverTls.setPrivateKey(key);
    serverTls.setPeerVerifyMode(QSslSocket::VerifyNone);
    FakeProvider server;
    QVERIFY(server.listenTls(serverTls));
    QVERIFY(server.openAiBaseUrl().startsWith(u"https://"_s));

    ProviderConfig config;
    config.id = u"openai"_s;
    config.apiKey = kKey;
    config.baseUrl = server.openAiBaseUrl();
    QString error;
    {
        // A certificate nobody vouches for: refused before anything (the key) is sent, and
        // classed as configuration, not as a transient network failure.
        auto provider = bd::providers::createProvider(config, m_clock, &error);
        Collector collector(provider.get());
        provider->send(request(1, u"over tls"_s));
        QVERIFY(collector.waitFor(1));
        const ChatReply reply = collector.replies.first();
        QVERIFY2(reply.error == ErrorClass::Auth, qPrintable(describe(reply)));
        QCOMPARE(reply.httpStatus, 0);
        QVERIFY2(reply.errorMessage.contains(u"SSL"_s, Qt::CaseInsensitive) ||
                     reply.errorMessage.contains(u"certificate"_s, Qt::CaseInsensitive),
                 qPrintable(reply.errorMessage));
        QCOMPARE(server.requestCount(), 0);
    }
    // Trusted (as a company CA would be): the same request goes through, over TLS.
    const QSslConfiguration saved = QSslConfiguration::defaultConfiguration();
    QSslConfiguration trusting = saved;
    trusting.addCaCertificate(certificate);
    QSslConfiguration::setDefaultConfiguration(trusting);
    auto provider = bd::providers::createProvider(config, m_clock, &error);
    Collector collector(provider.get());
    provider->send(request(2, u"over tls"_s));
    const bool arrived = collector.waitFor(1);
    QSslConfiguration::setDefaultConfiguration(saved);
    QVERIFY(arrived);
    QVERIFY2(collector.replies.first().ok(), qPrintable(describe(collector.replies.first())));
    QCOMPARE(collector.replies.first().text,
             FakeProvider::answerFor(u"You are terse."_s, u"over tls"_s));
    QCOMPARE(server.requestCount(), 1);
}

void TestHttpProviders::concurrency64IsReallyReached_data()
{
    QTest::addColumn<QString>("providerId");
    QTest::newRow("openai-compatible") << u"openai-compatible"_s;
    QTest::newRow("anthropic") << u"anthropic"_s;
}

void TestHttpProviders::concurrency64IsReallyReached()
{
    QFETCH(QString, providerId);
    m_server->options().latencyMs = 200;
    auto provider = make(providerId);
    Collector collector(provider.get());
    constexpr int kConcurrency = 64;
    constexpr int kTotal = 320;
    int sent = 0;
    const auto sendOne = [&] {
        ++sent;
        provider->send(request(sent, u"row %1 of the big job"_s.arg(sent), u"claude-haiku-4-5"_s));
    };
    // Like dispatch: keep `concurrency` requests going, send the next when one comes back.
    QObject::connect(provider.get(), &Provider::replied, provider.get(), [&](const ChatReply &) {
        if (sent < kTotal)
            sendOne();
    });
    QElapsedTimer timer;
    timer.start();
    while (sent < kConcurrency)
        sendOne();
    QCOMPARE(provider->inFlight(), kConcurrency);
    QVERIFY(collector.waitFor(kTotal, 30'000));
    const qint64 elapsed = timer.elapsed();
    QVERIFY(collector.eachOnce());
    for (const ChatReply &reply : std::as_const(collector.replies)) {
        QVERIFY2(reply.ok(), qPrintable(describe(reply)));
        QCOMPARE(reply.text, FakeProvider::answerFor(u"You are terse."_s,
                                                     u"row %1 of the big job"_s.arg(reply.taskId)));
    }
    qInfo("%s: server saw at most %d in flight, mean %.1f, %d connections; %d managers; %d "
          "requests in %lld ms",
          qPrintable(providerId), m_server->maxInFlight(), m_server->meanInFlight(),
          m_server->connectionsAccepted(),
          static_cast<bd::providers::HttpChatProvider *>(provider.get())->networkManagerCount(),
          kTotal, elapsed);
    QVERIFY2(m_server->maxInFlight() >= 60,
             qPrintable(u"max in flight %1"_s.arg(m_server->maxInFlight())));
    // 5 waves of 200 ms (1 s); one manager's 6 connections would need 54 waves (10.7 s).
    QVERIFY2(elapsed < 4'000, qPrintable(u"%1 ms"_s.arg(elapsed)));
    QCOMPARE(static_cast<bd::providers::HttpChatProvider *>(provider.get())->networkManagerCount(),
             (kConcurrency + 5) / 6);
    QVERIFY(m_server->connectionsAccepted() <= kConcurrency + 6); // connections are reused
}

void TestHttpProviders::cancelAllAnswersEverythingOnce()
{
    for (const QString &id : {u"openai"_s, u"anthropic"_s}) {
        auto provider = make(id);
        Collector collector(provider.get());
        for (int i = 1; i <= 20; ++i)
            provider->send(request(i, u"wait %1 [[fake:hang]]"_s.arg(i), u"claude-haiku-4-5"_s));
        QCOMPARE(provider->inFlight(), 20);
        QTRY_COMPARE(m_server->inFlight(), 20);
        provider->cancelAll();
        QCOMPARE(collector.replies.size(), 20); // answered at once
        QCOMPARE(provider->inFlight(), 0);
        for (const ChatReply &reply : std::as_const(collector.replies))
            QCOMPARE(reply.error, ErrorClass::Cancelled);
        QTest::qWait(200);
        QCOMPARE(collector.replies.size(), 20); // and nothing after
        QVERIFY(collector.eachOnce());
        QTRY_COMPARE(m_server->inFlight(), 0);

        // The provider is still usable.
        provider->send(request(99, u"again"_s, u"claude-haiku-4-5"_s));
        QVERIFY(collector.waitFor(21));
        QVERIFY(collector.forTask(99).ok());
        m_server->resetCounters();
    }
}

void TestHttpProviders::destroyingWithRequestsInFlightIsSafe()
{
    auto provider = make(u"openai-compatible"_s);
    int replies = 0;
    QObject::connect(provider.get(), &Provider::replied, provider.get(),
                     [&](const ChatReply &) { ++replies; });
    for (int i = 1; i <= 10; ++i)
        provider->send(request(i, u"[[fake:latency=100]] %1"_s.arg(i)));
    provider.reset();
    QTest::qWait(300);
    QCOMPARE(replies, 0);
    QTRY_COMPARE(m_server->inFlight(), 0);
}

void TestHttpProviders::keyNeverReachesMessages_data()
{
    QTest::addColumn<QString>("providerId");
    QTest::newRow("openai") << u"openai"_s;
    QTest::newRow("openai-compatible") << u"openai-compatible"_s;
    QTest::newRow("anthropic") << u"anthropic"_s;
}

void TestHttpProviders::keyNeverReachesMessages()
{
    QFETCH(QString, providerId);
    // The server wants another key and quotes back whatever credentials it got.
    m_server->options().requiredKey = u"sk-the-right-one-000000"_s;
    m_server->options().echoCredentialsInErrors = true;
    auto provider = make(providerId);
    Collector collector(provider.get());
    provider->send(request(1, u"who am I"_s, u"claude-haiku-4-5"_s));
    provider->send(request(2, u"me too: "_s + kKey, u"claude-haiku-4-5"_s)); // the key in a prompt
    QVERIFY(collector.waitFor(2));
    const ChatReply reply = collector.forTask(1);
    QCOMPARE(reply.error, ErrorClass::Auth);
    QCOMPARE(reply.httpStatus, 401);
    // The server did echo it: the test is real.
    const QByteArray echoedBody = m_server->received().first().header(
        providerId == u"anthropic"_s ? "x-api-key" : "authorization");
    QVERIFY(echoedBody.contains(kKey.toUtf8()));
    for (const ChatReply &any : std::as_const(collector.replies)) {
        for (const QString &field : {any.errorMessage, any.text, any.model, any.finishReason}) {
            QVERIFY2(!field.contains(kKey), qPrintable(field));
            QVERIFY2(!field.contains(kKey.mid(8, 12)), qPrintable(field));
        }
    }
    QVERIFY2(reply.errorMessage.contains(u"[redacted]"_s), qPrintable(reply.errorMessage));

    // And with the right key the same provider gets through.
    m_server->options().requiredKey = kKey;
    provider->send(request(3, u"now"_s, u"claude-haiku-4-5"_s));
    QVERIFY(collector.waitFor(3));
    QVERIFY2(collector.forTask(3).ok(), qPrintable(describe(collector.forTask(3))));
}

void TestHttpProviders::modelsAreListed()
{
    ProviderConfig config;
    config.id = u"openai-compatible"_s;
    config.baseUrl = m_server->openAiBaseUrl();
    QString error;
    auto provider = bd::providers::OpenAiChatProvider::create(
        bd::providers::OpenAiChatProvider::Flavour::Compatible, config, m_clock, &error);
    QVERIFY(provider);
    QSignalSpy spy(provider.get(), &bd::providers::OpenAiChatProvider::modelsListed);
    provider->listModels();
    QVERIFY(spy.wait(5'000));
    QCOMPARE(spy.first().at(0).toStringList(), (QStringList{u"fake-model-1"_s, u"fake-model-2"_s}));
    QVERIFY(spy.first().at(1).toString().isEmpty());
}

void TestHttpProviders::modelsListedPerApiAndRefusedWithoutTheKey_data()
{
    QTest::addColumn<QString>("id");
    QTest::addColumn<QStringList>("models");
    QTest::newRow("openai") << u"openai"_s << QStringList{u"fake-model-1"_s, u"fake-model-2"_s};
    QTest::newRow("anthropic") << u"anthropic"_s << QStringList{u"claude-fake-1"_s, u"claude-fake-2"_s};
}

void TestHttpProviders::modelsListedPerApiAndRefusedWithoutTheKey()
{
    QFETCH(QString, id);
    QFETCH(QStringList, models);
    m_server->options().requiredKey = kKey;
    auto good = make(id, kKey);
    QVERIFY(good);
    QSignalSpy listed(good.get(), &Provider::modelsListed);
    good->listModels();
    QVERIFY(listed.wait(5'000));
    QCOMPARE(listed.first().at(0).toStringList(), models);
    QVERIFY(listed.first().at(1).toString().isEmpty());

    // A wrong key: a 401 in the API's own words, and the key the server echoes is cut out.
    m_server->options().echoCredentialsInErrors = true;
    const QString wrongKey = u"sk-wrong-KEY-9876543210"_s;
    auto bad = make(id, wrongKey);
    QVERIFY(bad);
    QSignalSpy refused(bad.get(), &Provider::modelsListed);
    bad->listModels();
    QVERIFY(refused.wait(5'000));
    QVERIFY(refused.first().at(0).toStringList().isEmpty());
    const QString error = refused.first().at(1).toString();
    QVERIFY2(error.contains(u"Invalid API key"_s), qPrintable(error));
    QVERIFY2(!error.contains(wrongKey), qPrintable(error));
}

void TestHttpProviders::batchctlRunsAgainstTheServer()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    m_server->options().latencyMs = 20;
    // 60 rows; one fails twice with a 500 before it answers (a retry), one is refused (400).
    const QString csvPath = dir.filePath(u"rows.csv"_s);
    QStringList texts;
    {
        QFile csv(csvPath);
        QVERIFY(csv.open(QIODevice::WriteOnly));
        csv.write("id,text\r\n");
        for (int i = 1; i <= 60; ++i) {
            QString text = u"review number %1"_s.arg(i);
            if (i == 7)
                text += u" [[fake:500*2]]"_s;
            texts.append(text);
            csv.write(QByteArray::number(i) + ',' + text.toUtf8() + "\r\n");
        }
    }
    const QString exportPath = dir.filePath(u"out.csv"_s);
    const QString system = u"Answer briefly."_s;

    QProcess process;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, dir.filePath(u"config"_s));
    env.insert(u"XDG_DATA_HOME"_s, dir.filePath(u"data"_s));
    env.insert(u"HOME"_s, dir.path());
    env.insert(u"OPENAI_API_KEY"_s, kKey);
    env.remove(u"OPENAI_BASE_URL"_s);
    process.setProcessEnvironment(env);
    QSignalSpy finished(&process, &QProcess::finished);
    process.start(QStringLiteral(BATCHCTL_PATH),
                  {u"run"_s, csvPath, u"--template"_s, u"Classify: {{text}}"_s, u"--system"_s,
                   system, u"--provider"_s, u"openai-compatible"_s, u"--base-url"_s,
                   m_server->openAiBaseUrl(), u"--model"_s, u"fake-model-1"_s, u"--db"_s,
                   dir.filePath(u"jobs.sqlite"_s), u"--export"_s, exportPath, u"--json"_s});
    QVERIFY(process.waitForStarted());
    // The server lives in this process: wait with the event loop running.
    QVERIFY2(finished.wait(120'000), "batchctl did not finish");
    const QByteArray out = process.readAllStandardOutput();
    const QByteArray err = process.readAllStandardError();
    const QString diagnostics =
        u"exit %1\nstdout: %2\nstderr: %3"_s.arg(process.exitCode())
            .arg(QString::fromUtf8(out.left(3000)), QString::fromUtf8(err.left(3000)));
    QVERIFY2(process.exitStatus() == QProcess::NormalExit && process.exitCode() == 0,
             qPrintable(diagnostics));
    QVERIFY2(!out.contains(kKey.toUtf8()) && !err.contains(kKey.toUtf8()), qPrintable(diagnostics));
    const QJsonObject summary = QJsonDocument::fromJson(out).object();
    QCOMPARE(summary.value(u"completed"_s).toInt(), 60);
    QCOMPARE(summary.value(u"dead"_s).toInt(), 0);
    QVERIFY(summary.value(u"input_tokens"_s).toInteger() > 0);

    // Each row's output is the server's answer to that row's prompt.
    bd::ingest::CsvReader reader;
    QVERIFY2(reader.open(exportPath), qPrintable(reader.errorString()));
    const QStringList header = reader.header();
    const qsizetype textColumn = header.indexOf(u"text"_s);
    const qsizetype outputColumn = header.indexOf(u"output"_s);
    const qsizetype statusColumn = header.indexOf(u"status"_s);
    const qsizetype attemptsColumn = header.indexOf(u"attempts"_s);
    QVERIFY(textColumn >= 0 && outputColumn >= 0 && statusColumn >= 0);
    QStringList fields;
    int rows = 0;
    while (reader.readRow(fields)) {
        const QString text = fields.at(textColumn);
        QCOMPARE(text, texts.at(rows));
        QCOMPARE(fields.at(statusColumn), u"completed"_s);
        QCOMPARE(fields.at(outputColumn), FakeProvider::answerFor(system, u"Classify: "_s + text));
        if (attemptsColumn >= 0 && rows == 6)
            QCOMPARE(fields.at(attemptsColumn), u"3"_s);
        ++rows;
    }
    QCOMPARE(rows, 60);
    QCOMPARE(m_server->requestCount("/v1/chat/completions"), 62);
    for (const FakeProvider::ReceivedRequest &sent : m_server->received())
        QCOMPARE(sent.header("authorization"), "Bearer " + kKey.toUtf8());
}

void TestHttpProviders::batchctlAuthFailureKeepsTheKeyOut()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    // The server wants another key and quotes back the one it got in its 401 body.
    m_server->options().requiredKey = u"sk-the-right-one-000000"_s;
    m_server->options().echoCredentialsInErrors = true;
    const QString csvPath = dir.filePath(u"rows.csv"_s);
    {
        QFile csv(csvPath);
        QVERIFY(csv.open(QIODevice::WriteOnly));
        csv.write("id,text\r\n1,alpha\r\n2,beta\r\n3,gamma\r\n");
    }
    const QString database = dir.filePath(u"jobs.sqlite"_s);
    const QString exportPath = dir.filePath(u"out.csv"_s);
    QProcess process;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, dir.filePath(u"config"_s));
    env.insert(u"XDG_DATA_HOME"_s, dir.filePath(u"data"_s));
    env.insert(u"HOME"_s, dir.path());
    env.insert(u"ANTHROPIC_API_KEY"_s, kKey);
    env.insert(u"ANTHROPIC_BASE_URL"_s, m_server->anthropicBaseUrl());
    process.setProcessEnvironment(env);
    QSignalSpy finished(&process, &QProcess::finished);
    process.start(QStringLiteral(BATCHCTL_PATH),
                  {u"run"_s, csvPath, u"--template"_s, u"Say {{text}}"_s, u"--provider"_s,
                   u"anthropic"_s, u"--model"_s, u"claude-haiku-4-5"_s, u"--db"_s, database,
                   u"--export"_s, exportPath, u"--json"_s});
    QVERIFY(process.waitForStarted());
    QVERIFY2(finished.wait(120'000), "batchctl did not finish");
    const QByteArray out = process.readAllStandardOutput();
    const QByteArray err = process.readAllStandardError();
    const QString diagnostics =
        u"exit %1\nstdout: %2\nstderr: %3"_s.arg(process.exitCode())
            .arg(QString::fromUtf8(out.left(3000)), QString::fromUtf8(err.left(3000)));
    QVERIFY2(process.exitCode() == 3, qPrintable(diagnostics)); // paused: auth failure
    QVERIFY(m_server->requestCount("/v1/messages") >= 1);
    QCOMPARE(m_server->received().first().header("x-api-key"), kKey.toUtf8()); // it was sent
    // ... and came back in the 401 body, yet lands nowhere.
    const QByteArray key = kKey.toUtf8();
    QVERIFY2(!out.contains(key) && !err.contains(key), qPrintable(diagnostics));
    for (const QString &path : QStringList{database, database + u"-wal"_s, exportPath}) {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly))
            continue;
        const QByteArray bytes = file.readAll();
        QVERIFY2(!bytes.contains(key), qPrintable(path));
        QVERIFY2(!bytes.contains(kKey.mid(8, 12).toUtf8()), qPrintable(path));
    }
    QVERIFY(QFile::exists(exportPath));
}

QTEST_GUILESS_MAIN(TestHttpProviders)
#include "test_httpproviders.moc"
