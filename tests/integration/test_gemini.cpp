// Google Gemini against the loopback fake (tests/support/fakegemini): the sync lane
// (request shape, usage by kind, finish reasons, errors and retry delays), the Batch API
// (inline and File API input, results joined by key or by position, expiry, cancellation,
// failed batches, finding a batch again by its display name) and whole batchctl runs on
// both lanes, including a crash between a batch's create and storing its id.

#include "api/engine.h"
#include "batchctlrun.h"
#include "core/clock.h"
#include "cost/pricetable.h"
#include "fakegemini.h"
#include "providers/errorclassification.h"
#include "providers/geminiprovider.h"
#include "providers/httpchatprovider.h"
#include "providers/provider.h"
#include "providers/providercatalog.h"

#include <memory>
#include <QDateTime>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::ErrorClass;
using bd::ProviderConfig;
using namespace bd::providers;
using bd::testing::FakeGemini;

Q_DECLARE_METATYPE(bd::ErrorClass)

namespace {

const QString kKey = u"AIza-gemini-TEST-0123456789abcdef"_s;
const QString kSystem = u"Label the review in one word."_s;
const QString kModel = u"gemini-2.5-flash"_s;

ChatRequest request(qint64 taskId, const QString &prompt, const QString &system = kSystem)
{
    ChatRequest r;
    r.taskId = taskId;
    r.model = kModel;
    r.systemPrompt = system;
    r.prompt = prompt;
    r.maxOutputTokens = 77;
    return r;
}

QString describe(const ChatReply &reply)
{
    return u"task %1: %2 http %3: %4"_s.arg(reply.taskId)
        .arg(bd::errorClassName(reply.error))
        .arg(reply.httpStatus)
        .arg(reply.errorMessage);
}

} // namespace

class TestGemini : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void registeredAndConfigured();
    void syncRequestAndUsage();
    void finishReasons_data();
    void finishReasons();
    void errors_data();
    void errors();
    void keyNeverLeaks();
    void googleErrorEnvelope();
    void timeoutIsClassified();
    void connectionRefusedIsNetwork();
    void concurrency64IsReallyReached();
    void cancelAllAnswersEverythingOnce();
    void destroyingWithRequestsInFlightIsSafe();
    void modelsRefusedWithoutTheKey();
    void retryDelayParsing();
    void inlineBatchRoundTrip();
    void inlineResultsWithoutMetadataJoinByPosition();
    void inlineCountMismatchSendsLinesAgain();
    void fileBatchShuffledJoinsByKey();
    void expiredLinesGoBack();
    void failedBatch();
    void cancelledBatch();
    void findBatchByDisplayName();
    void explicitCacheForLongSharedSystemPrompt();
    void batchctlSyncRun();
    void batchctlBatchRun();
    void batchctlDeadLettersAndPausesOnAuth();
    void batchctlServerErrorsOpenTheBreaker();
    void crashBetweenCreateAndStoreIsAdopted();
    void explicitCacheChargedWhenNoLineAnswers();
    void explicitCacheChargedOnceAcrossACrash();
    void datedIdPricedUnknownModelAlertedOnce();

private:
    std::unique_ptr<Provider> makeProvider(QJsonObject settings = {});
    ChatReply sendOne(Provider *provider, const ChatRequest &r);
    BatchStatus pollUntilDone(Provider *provider, const QString &batchId);
    QList<ChatReply> runBatch(Provider *provider, const QList<ChatRequest> &requests,
                              QString *batchId = nullptr);
    QString writeCsv(int rows, const QString &extra = {});
    QProcessEnvironment environment() const;
    QStringList runArguments(const QString &csv, int priority) const;
    // A priority-3 run of `rows` rows in one provider batch with a system prompt long enough
    // for an explicit cache to pay.
    QStringList cacheRunArguments(int rows);
    // The job's charges (job_charges) and the spend ledger's total.
    QList<double> storedCharges();
    double ledgerTotal();
    double tasksCost();
    double number(const QString &sql); // the first value of a query; -1 on failure
    template <typename F> void withDatabase(F body);
    QStringList storedBatchIds();

    std::unique_ptr<FakeGemini> m_server;
    std::unique_ptr<QTemporaryDir> m_dir;
    QString m_db;
    int m_connections = 0;
};

void TestGemini::initTestCase()
{
    qRegisterMetaType<ChatReply>();
    qRegisterMetaType<BatchStatus>();
    qRegisterMetaType<bd::ErrorClass>();
}

void TestGemini::init()
{
    m_server = std::make_unique<FakeGemini>();
    QVERIFY(m_server->listen());
    m_server->options().requiredKey = kKey;
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    m_db = m_dir->filePath(u"jobs.sqlite"_s);
}

void TestGemini::cleanup()
{
    m_server.reset();
    m_dir.reset();
}

std::unique_ptr<Provider> TestGemini::makeProvider(QJsonObject settings)
{
    ProviderConfig config;
    config.id = u"gemini"_s;
    config.baseUrl = m_server->baseUrl();
    config.apiKey = kKey;
    if (!settings.contains(u"temperature"_s))
        settings.insert(u"temperature"_s, 0.2);
    config.settings = settings;
    QString error;
    auto provider = createProvider(config, bd::SystemClock::instance(), &error);
    if (!provider)
        qWarning("%s", qPrintable(error));
    return provider;
}

ChatReply TestGemini::sendOne(Provider *provider, const ChatRequest &r)
{
    QSignalSpy spy(provider, &Provider::replied);
    provider->send(r);
    if (!spy.wait(10'000))
        return {};
    return spy.first().first().value<ChatReply>();
}

BatchStatus TestGemini::pollUntilDone(Provider *provider, const QString &batchId)
{
    BatchStatus status;
    for (int i = 0; i < 10; ++i) {
        QSignalSpy polled(provider, &Provider::batchPolled);
        provider->pollBatch(batchId);
        if (!polled.wait(10'000))
            return status;
        status = polled.first().first().value<BatchStatus>();
        if (status.phase != BatchPhase::Pending)
            return status;
    }
    return status;
}

QList<ChatReply> TestGemini::runBatch(Provider *provider, const QList<ChatRequest> &requests,
                                      QString *batchId)
{
    QSignalSpy submitted(provider, &Provider::batchSubmitted);
    provider->submitBatch(u"7"_s, requests);
    if (!submitted.wait(10'000))
        return {};
    const QString id = submitted.first().at(1).toString();
    if (batchId)
        *batchId = id;
    if (id.isEmpty()) {
        qWarning("not submitted: %s", qPrintable(submitted.first().at(3).toString()));
        return {};
    }
    const BatchStatus status = pollUntilDone(provider, id);
    if (status.phase == BatchPhase::Pending)
        return {};
    QList<qint64> ids;
    for (const ChatRequest &r : requests)
        ids.prepend(r.taskId); // any order: the provider must not rely on it
    QSignalSpy fetched(provider, &Provider::batchResultsFetched);
    provider->fetchBatchResults(id, ids);
    if (!fetched.wait(10'000))
        return {};
    return fetched.first().at(1).value<QList<ChatReply>>();
}

void TestGemini::registeredAndConfigured()
{
    QVERIFY(providerIds().contains(u"gemini"_s));
    auto provider = makeProvider();
    QVERIFY(provider);
    QVERIFY(provider->hasBatchApi());
    QVERIFY(provider->requiresKey());
    QVERIFY(provider->canFindBatches());
    QCOMPARE(provider->defaultModel(), u"gemini-2.5-flash"_s);
    QVERIFY(provider->knownModels().contains(u"gemini-2.5-pro"_s));
    // Batches go inline while the request stays under 20 MB, through the File API above.
    QCOMPARE(providerCatalogEntry(u"gemini"_s).inlineMaxBytes, 20'000'000);
    // A base URL that names the version works the same.
    ProviderConfig config;
    config.id = u"gemini"_s;
    config.baseUrl = m_server->baseUrl() + u"/v1beta/"_s;
    config.apiKey = kKey;
    QString error;
    auto versioned = createProvider(config, bd::SystemClock::instance(), &error);
    QVERIFY2(versioned, qPrintable(error));
    const ChatReply reply = sendOne(versioned.get(), request(1, u"hello"_s));
    QVERIFY2(reply.ok(), qPrintable(describe(reply)));
    QSignalSpy listed(provider.get(), &Provider::modelsListed);
    provider->listModels();
    QVERIFY(listed.wait(10'000));
    QCOMPARE(listed.first().first().toStringList(),
             (QStringList{u"gemini-2.5-flash"_s, u"gemini-2.5-pro"_s}));
}

void TestGemini::syncRequestAndUsage()
{
    auto provider = makeProvider();
    const ChatReply reply = sendOne(
        provider.get(), request(11, u"the parcel was late [[g:cached=5]] [[g:thoughts=9]]"_s));
    QVERIFY2(reply.ok(), qPrintable(describe(reply)));
    QCOMPARE(reply.text, FakeGemini::answerFor(
                             kSystem, u"the parcel was late [[g:cached=5]] [[g:thoughts=9]]"_s));
    QCOMPARE(reply.finishReason, u"STOP"_s);
    QCOMPARE(reply.model, u"gemini-2.5-flash"_s);
    const qint64 prompt =
        FakeGemini::tokensFor(kSystem) +
        FakeGemini::tokensFor(u"the parcel was late [[g:cached=5]] [[g:thoughts=9]]"_s);
    QCOMPARE(reply.usage.cachedTokens, 5);
    QCOMPARE(reply.usage.inputTokens, prompt - 5); // promptTokenCount includes the cached ones
    QCOMPARE(reply.usage.outputTokens,
             FakeGemini::tokensFor(reply.text) + 9); // thoughts billed as output
    const FakeGemini::ReceivedRequest sent = m_server->received().last();
    QCOMPARE(sent.path, QByteArray("/v1beta/models/gemini-2.5-flash:generateContent"));
    QCOMPARE(sent.header("x-goog-api-key"), kKey.toUtf8());
    QVERIFY(!sent.query.contains("key"));
    const QJsonObject body = QJsonDocument::fromJson(sent.body).object();
    QCOMPARE(body.value(u"systemInstruction"_s)
                 .toObject()
                 .value(u"parts"_s)
                 .toArray()
                 .at(0)
                 .toObject()
                 .value(u"text"_s)
                 .toString(),
             kSystem);
    QCOMPARE(body.value(u"generationConfig"_s).toObject().value(u"maxOutputTokens"_s).toInt(), 77);
    QCOMPARE(body.value(u"generationConfig"_s).toObject().value(u"temperature"_s).toDouble(), 0.2);
    QCOMPARE(body.value(u"contents"_s).toArray().at(0).toObject().value(u"role"_s).toString(),
             u"user"_s);
}

void TestGemini::finishReasons_data()
{
    QTest::addColumn<QString>("marker");
    QTest::addColumn<ErrorClass>("error");
    QTest::addColumn<QString>("finish");
    QTest::addColumn<QString>("message");
    QTest::newRow("max tokens") << u"[[g:maxtokens]]"_s << ErrorClass::None << u"MAX_TOKENS"_s
                                << u"truncated"_s;
    QTest::newRow("safety") << u"[[g:safety]]"_s << ErrorClass::InvalidRequest << u"SAFETY"_s
                            << u"SAFETY"_s;
    QTest::newRow("recitation") << u"[[g:recitation]]"_s << ErrorClass::InvalidRequest
                                << u"RECITATION"_s << u"RECITATION"_s;
    QTest::newRow("thinking spent it all")
        << u"[[g:thinkall]] [[g:thoughts=77]]"_s << ErrorClass::InvalidRequest << u"MAX_TOKENS"_s
        << u"77 thinking tokens"_s;
    QTest::newRow("prompt blocked")
        << u"[[g:blocked]]"_s << ErrorClass::InvalidRequest << u"SAFETY"_s << u"prompt blocked"_s;
}

void TestGemini::finishReasons()
{
    QFETCH(QString, marker);
    QFETCH(ErrorClass, error);
    QFETCH(QString, finish);
    QFETCH(QString, message);
    auto provider = makeProvider();
    const ChatReply reply = sendOne(provider.get(), request(3, u"text "_s + marker));
    QCOMPARE(reply.error, error);
    QCOMPARE(reply.finishReason, finish);
    QVERIFY2(reply.errorMessage.contains(message), qPrintable(reply.errorMessage));
    // Not retried: a refusal is the dead-letter queue's, never a retry's.
    QVERIFY(error == ErrorClass::None || !bd::errorIsRetryable(error));
}

void TestGemini::errors_data()
{
    QTest::addColumn<QString>("marker");
    QTest::addColumn<ErrorClass>("error");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("message");
    QTest::newRow("429") << u"[[g:429]]"_s << ErrorClass::RateLimited << 429
                         << u"RESOURCE_EXHAUSTED"_s;
    QTest::newRow("400") << u"[[g:400]]"_s << ErrorClass::InvalidRequest << 400
                         << u"INVALID_ARGUMENT: Invalid value"_s;
    QTest::newRow("403") << u"[[g:403]]"_s << ErrorClass::Auth << 403 << u"PERMISSION_DENIED"_s;
    QTest::newRow("500") << u"[[g:500]]"_s << ErrorClass::ServerError << 500 << u"INTERNAL"_s;
    QTest::newRow("503") << u"[[g:503]]"_s << ErrorClass::Overloaded << 503 << u"UNAVAILABLE"_s;
    QTest::newRow("504") << u"[[g:504]]"_s << ErrorClass::ServerError << 504
                         << u"DEADLINE_EXCEEDED"_s;
}

void TestGemini::errors()
{
    QFETCH(QString, marker);
    QFETCH(ErrorClass, error);
    QFETCH(int, status);
    QFETCH(QString, message);
    m_server->options().retryDelay = u"2.5s"_s;
    auto provider = makeProvider();
    const ChatReply reply = sendOne(provider.get(), request(4, u"row "_s + marker));
    QCOMPARE(reply.error, error);
    QCOMPARE(reply.httpStatus, status);
    QVERIFY2(reply.errorMessage.contains(message), qPrintable(reply.errorMessage));
    if (status == 429) {
        QCOMPARE(reply.retryAfterMs, 2500);              // RetryInfo.retryDelay
        QVERIFY(!bd::errorCountsAsAttempt(reply.error)); // not charged
    }
}

void TestGemini::keyNeverLeaks()
{
    m_server->options().echoKeyInErrors = true;
    ProviderConfig config;
    config.id = u"gemini"_s;
    config.baseUrl = m_server->baseUrl();
    config.apiKey = kKey + u"-wrong"_s;
    QString error;
    auto provider = createProvider(config, bd::SystemClock::instance(), &error);
    const ChatReply reply = sendOne(provider.get(), request(5, u"x"_s));
    QCOMPARE(reply.error, ErrorClass::Auth);
    QVERIFY2(!reply.errorMessage.contains(kKey), qPrintable(reply.errorMessage));
    QVERIFY(reply.errorMessage.contains(u"[redacted]"_s));
}

void TestGemini::googleErrorEnvelope()
{
    const QByteArray body =
        R"({"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}})";
    const ApiError error = parseApiError(body);
    QVERIFY(error.present);
    QCOMPARE(error.code, u"INVALID_ARGUMENT"_s); // the status word, not the repeated number
    QCOMPARE(error.message, u"Invalid JSON payload"_s);
    const Classification classification = classifyHttpError(400, body);
    QCOMPARE(classification.errorClass, ErrorClass::InvalidRequest);
    QCOMPARE(classification.message, u"HTTP 400 INVALID_ARGUMENT: Invalid JSON payload"_s);
    // A per-minute limit waits; a daily quota pauses the job like OpenAI's insufficient_quota.
    const QByteArray daily = R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"m",
        "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[
        {"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}})";
    QCOMPARE(classifyHttpError(429, daily).errorClass, ErrorClass::QuotaExhausted);
    const QByteArray perMinute =
        R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"m",
        "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[
        {"quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}]}]}})";
    QCOMPARE(classifyHttpError(429, perMinute).errorClass, ErrorClass::RateLimited);
    QCOMPARE(classifyHttpError(
                 429, R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"m"}})")
                 .errorClass,
             ErrorClass::RateLimited);
    QCOMPARE(classifyHttpError(
                 403, R"({"error":{"code":403,"status":"PERMISSION_DENIED","message":"m"}})")
                 .errorClass,
             ErrorClass::Auth);
    QCOMPARE(classifyHttpError(
                 504, R"({"error":{"code":504,"status":"DEADLINE_EXCEEDED","message":"m"}})")
                 .errorClass,
             ErrorClass::ServerError);
}

void TestGemini::timeoutIsClassified()
{
    m_server->options().latencyMs = 2'000;
    auto provider = makeProvider(QJsonObject{{u"request_timeout_ms"_s, 200}});
    const ChatReply reply = sendOne(provider.get(), request(1, u"slow"_s));
    QCOMPARE(reply.error, ErrorClass::Timeout);
}

void TestGemini::connectionRefusedIsNetwork()
{
    QTcpServer probe;
    QVERIFY(probe.listen(QHostAddress::LocalHost));
    const quint16 port = probe.serverPort();
    probe.close(); // nothing listens there now
    ProviderConfig config;
    config.id = u"gemini"_s;
    config.baseUrl = u"http://127.0.0.1:%1"_s.arg(port);
    config.apiKey = kKey;
    QString error;
    auto provider = createProvider(config, bd::SystemClock::instance(), &error);
    const ChatReply reply = sendOne(provider.get(), request(1, u"x"_s));
    QCOMPARE(reply.error, ErrorClass::Network);
    QVERIFY(bd::errorIsRetryable(reply.error));
}

void TestGemini::concurrency64IsReallyReached()
{
    // Like dispatch and the other providers' test: keep 64 going, the next when one is back.
    m_server->options().latencyMs = 200;
    auto provider = makeProvider();
    constexpr int kConcurrency = 64;
    constexpr int kTotal = 320;
    int sent = 0;
    int answered = 0;
    const auto sendOne = [&] {
        ++sent;
        provider->send(request(sent, u"parallel %1"_s.arg(sent)));
    };
    QObject::connect(provider.get(), &Provider::replied, provider.get(),
                     [&](const ChatReply &reply) {
                         ++answered;
                         QVERIFY(reply.ok());
                         if (sent < kTotal)
                             sendOne();
                     });
    QElapsedTimer timer;
    timer.start();
    while (sent < kConcurrency)
        sendOne();
    QCOMPARE(provider->inFlight(), kConcurrency);
    QTRY_COMPARE_WITH_TIMEOUT(answered, kTotal, 30'000);
    QVERIFY2(m_server->maxInFlight() >= 60, qPrintable(QString::number(m_server->maxInFlight())));
    QVERIFY2(timer.elapsed() < 4'000, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(static_cast<HttpChatProvider *>(provider.get())->networkManagerCount(),
             (kConcurrency + 5) / 6);
}

void TestGemini::cancelAllAnswersEverythingOnce()
{
    m_server->options().latencyMs = 5'000;
    auto provider = makeProvider();
    QSignalSpy replies(provider.get(), &Provider::replied);
    for (int i = 0; i < 10; ++i)
        provider->send(request(i + 1, u"cancel %1"_s.arg(i)));
    QTest::qWait(100);
    provider->cancelAll();
    QCOMPARE(replies.size(), 10);
    QSet<qint64> ids;
    for (const QList<QVariant> &args : std::as_const(replies)) {
        const ChatReply reply = args.first().value<ChatReply>();
        QCOMPARE(reply.error, ErrorClass::Cancelled);
        ids.insert(reply.taskId);
    }
    QCOMPARE(ids.size(), 10);
    QCOMPARE(provider->inFlight(), 0);
    QTest::qWait(200);
    QCOMPARE(replies.size(), 10); // nothing more later
}

void TestGemini::destroyingWithRequestsInFlightIsSafe()
{
    m_server->options().latencyMs = 300;
    auto provider = makeProvider();
    for (int i = 0; i < 8; ++i)
        provider->send(request(i + 1, u"gone %1"_s.arg(i)));
    provider->submitBatch(u"1"_s, {request(99, u"batch"_s)});
    QTest::qWait(50);
    provider.reset();
    QTest::qWait(500); // the answers arrive with nobody to hear them
}

void TestGemini::modelsRefusedWithoutTheKey()
{
    ProviderConfig config;
    config.id = u"gemini"_s;
    config.baseUrl = m_server->baseUrl();
    config.apiKey = u"AIza-not-the-key-0000"_s;
    QString error;
    auto provider = createProvider(config, bd::SystemClock::instance(), &error);
    QSignalSpy listed(provider.get(), &Provider::modelsListed);
    provider->listModels();
    QVERIFY(listed.wait(10'000));
    QVERIFY(listed.first().at(0).toStringList().isEmpty());
    const QString message = listed.first().at(1).toString();
    QVERIFY2(message.contains(u"PERMISSION_DENIED"_s), qPrintable(message));
    QVERIFY(!message.contains(u"AIza-not-the-key-0000"_s));
}

void TestGemini::retryDelayParsing()
{
    QCOMPARE(GeminiProvider::parseDuration(u"30s"_s), 30'000);
    QCOMPARE(GeminiProvider::parseDuration(u"0.25s"_s), 250);
    QCOMPARE(GeminiProvider::parseDuration(u"soon"_s), -1);
    // Found by fuzz_errorbody: 10^36 s overflowed the conversion (UBSan); read as a week.
    QCOMPARE(GeminiProvider::parseDuration(u"5555555555555555555555555555555555531.5s"_s),
             qint64(7) * 24 * 3600 * 1000);
    const QByteArray body = R"({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"m",
        "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}})";
    QCOMPARE(GeminiProvider::retryDelayMs(body), 7'000);
    QCOMPARE(GeminiProvider::retryDelayMs(R"({"error":{"code":429}})"), -1);
}

void TestGemini::inlineBatchRoundTrip()
{
    auto provider = makeProvider();
    QList<ChatRequest> requests;
    for (int i = 1; i <= 30; ++i)
        requests.append(request(100 + (i * 37) % 30,
                                u"line %1"_s.arg(i) + (i == 5 ? u" [[g:400]]"_s : QString())));
    const QList<ChatReply> replies = runBatch(provider.get(), requests);
    QCOMPARE(replies.size(), 30);
    QCOMPARE(m_server->filesUploaded(), 0); // small: inline
    QHash<qint64, QString> prompts;
    for (const ChatRequest &r : requests)
        prompts.insert(r.taskId, r.prompt);
    for (const ChatReply &reply : replies) {
        const QString prompt = prompts.value(reply.taskId);
        if (prompt.contains(u"[[g:400]]"_s)) {
            QCOMPARE(reply.error, ErrorClass::InvalidRequest);
            continue;
        }
        QVERIFY2(reply.ok(), qPrintable(describe(reply)));
        QCOMPARE(reply.text, FakeGemini::answerFor(kSystem, prompt));
    }
    const QJsonObject created = QJsonDocument::fromJson(m_server->received().at(0).body).object();
    QVERIFY(created.value(u"batch"_s)
                .toObject()
                .value(u"displayName"_s)
                .toString()
                .startsWith(u"batchdesk-7-"_s));
}

void TestGemini::inlineResultsWithoutMetadataJoinByPosition()
{
    m_server->options().dropInlineMetadata = true;
    auto provider = makeProvider();
    QList<ChatRequest> requests;
    for (int i = 0; i < 12; ++i)
        requests.append(request(500 - i * 3, u"positional %1"_s.arg(i)));
    const QList<ChatReply> replies = runBatch(provider.get(), requests);
    QCOMPARE(replies.size(), 12);
    QHash<qint64, QString> prompts;
    for (const ChatRequest &r : requests)
        prompts.insert(r.taskId, r.prompt);
    for (const ChatReply &reply : replies) {
        QVERIFY2(reply.ok(), qPrintable(describe(reply)));
        QCOMPARE(reply.text, FakeGemini::answerFor(kSystem, prompts.value(reply.taskId)));
    }
}

void TestGemini::inlineCountMismatchSendsLinesAgain()
{
    m_server->options().dropInlineMetadata = true;
    m_server->options().dropInlineResult = true;
    auto provider = makeProvider();
    QList<ChatRequest> requests;
    for (int i = 0; i < 5; ++i)
        requests.append(request(20 + i, u"short %1"_s.arg(i)));
    const QList<ChatReply> replies = runBatch(provider.get(), requests);
    QCOMPARE(replies.size(), 5);
    for (const ChatReply &reply : replies) {
        // Nothing can be placed: every line back to pending, none answered wrongly.
        QCOMPARE(reply.error, ErrorClass::Timeout);
        QVERIFY(reply.errorMessage.contains(u"4 inline results for 5 lines"_s));
    }
}

void TestGemini::fileBatchShuffledJoinsByKey()
{
    auto provider = makeProvider(QJsonObject{{u"inline_max_bytes"_s, 2000}});
    QList<ChatRequest> requests;
    for (int i = 0; i < 60; ++i)
        requests.append(request(1000 + i, u"file line %1"_s.arg(i)));
    const QList<ChatReply> replies = runBatch(provider.get(), requests);
    QCOMPARE(m_server->filesUploaded(), 1);
    QCOMPARE(replies.size(), 60);
    for (const ChatReply &reply : replies) {
        QVERIFY2(reply.ok(), qPrintable(describe(reply)));
        QCOMPARE(reply.text,
                 FakeGemini::answerFor(kSystem, u"file line %1"_s.arg(reply.taskId - 1000)));
    }
    QVERIFY(m_server->requestCount("/upload/v1beta/files") == 1);
    QVERIFY(m_server->requestCount("/download/v1beta/files/") == 1);
}

void TestGemini::expiredLinesGoBack()
{
    for (const int inlineMax : {0, 2000}) {
        auto provider = makeProvider(inlineMax ? QJsonObject{{u"inline_max_bytes"_s, inlineMax}}
                                               : QJsonObject{});
        QList<ChatRequest> requests;
        for (int i = 0; i < 6; ++i)
            requests.append(request(70 + i, u"exp %1 %2"_s.arg(inlineMax).arg(i) +
                                                (i % 2 ? u" [[g:expire]]"_s : QString())));
        const QList<ChatReply> replies = runBatch(provider.get(), requests);
        QCOMPARE(replies.size(), 6);
        for (const ChatReply &reply : replies) {
            const bool expired = (reply.taskId - 70) % 2;
            if (expired || inlineMax == 0) // an expired inline batch has no placeable results
                QCOMPARE(reply.error, ErrorClass::Timeout);
            else
                QVERIFY2(reply.ok(), qPrintable(describe(reply)));
        }
    }
}

void TestGemini::failedBatch()
{
    m_server->options().failBatches = true;
    auto provider = makeProvider();
    QSignalSpy submitted(provider.get(), &Provider::batchSubmitted);
    provider->submitBatch(u"9"_s, {request(1, u"a"_s)});
    QVERIFY(submitted.wait(10'000));
    const BatchStatus status = pollUntilDone(provider.get(), submitted.first().at(1).toString());
    QCOMPARE(status.phase, BatchPhase::Failed);
    QCOMPARE(status.error, ErrorClass::InvalidRequest);
    QVERIFY(status.errorMessage.contains(u"invalid input file"_s));
}

void TestGemini::cancelledBatch()
{
    m_server->options().holdBatches = true;
    auto provider = makeProvider();
    QSignalSpy submitted(provider.get(), &Provider::batchSubmitted);
    provider->submitBatch(u"9"_s, {request(1, u"a"_s), request(2, u"b"_s)});
    QVERIFY(submitted.wait(10'000));
    const QString id = submitted.first().at(1).toString();
    QSignalSpy cancelled(provider.get(), &Provider::batchCancelRequested);
    provider->cancelBatch(id);
    QVERIFY(cancelled.wait(10'000));
    QCOMPARE(cancelled.first().at(1).value<ErrorClass>(), ErrorClass::None);
    QCOMPARE(m_server->received().last().path,
             QString(u"/v1beta/batches/"_s + id + u":cancel"_s).toUtf8());
    const BatchStatus status = pollUntilDone(provider.get(), id);
    QCOMPARE(status.phase, BatchPhase::Ended);
    QCOMPARE(status.providerStatus, u"BATCH_STATE_CANCELLED"_s);
    QSignalSpy fetched(provider.get(), &Provider::batchResultsFetched);
    provider->fetchBatchResults(id, {1, 2});
    QVERIFY(fetched.wait(10'000));
    for (const ChatReply &reply : fetched.first().at(1).value<QList<ChatReply>>())
        QCOMPARE(reply.error, ErrorClass::Cancelled);
}

void TestGemini::findBatchByDisplayName()
{
    m_server->options().holdBatches = true;
    m_server->options().listPageSize = 10;
    auto provider = makeProvider();
    const QList<ChatRequest> lines{request(1, u"a"_s), request(2, u"b"_s)};
    QSignalSpy submitted(provider.get(), &Provider::batchSubmitted);
    provider->submitBatch(u"42"_s, lines);
    QVERIFY(submitted.wait(10'000));
    const QString id = submitted.first().at(1).toString();
    // Newer batches in front of it, one with the same reference but other lines.
    auto *gemini = static_cast<GeminiProvider *>(provider.get());
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    m_server->addForeignBatch(gemini->displayNameFor(u"42"_s, {request(1, u"other"_s)}), now);
    for (int i = 0; i < 25; ++i)
        m_server->addForeignBatch(u"someone-else-%1"_s.arg(i), now);
    QSignalSpy found(provider.get(), &Provider::batchFound);
    provider->findBatch(u"42"_s, lines, now - 60'000);
    QVERIFY(found.wait(10'000));
    QCOMPARE(found.first().at(1).toString(), id);
    // Other lines under the same reference: nothing to adopt.
    found.clear();
    provider->findBatch(u"42"_s, {request(1, u"a"_s)}, now - 60'000);
    QVERIFY(found.wait(10'000));
    QCOMPARE(found.first().at(1).toString(), QString());
    QCOMPARE(found.first().at(2).value<ErrorClass>(), ErrorClass::None);
}

void TestGemini::explicitCacheForLongSharedSystemPrompt()
{
    const QString longSystem = QString(u"Rules of the house. "_s).repeated(400); // ~2000 tokens
    auto provider = makeProvider(QJsonObject{{u"explicit_cache_min_tokens"_s, 1024}});
    QList<ChatRequest> requests;
    for (int i = 0; i < 400; ++i)
        requests.append(request(i + 1, u"cached line %1"_s.arg(i), longSystem));
    QSignalSpy charged(provider.get(), &Provider::batchCharged);
    const QList<ChatReply> replies = runBatch(provider.get(), requests);
    QCOMPARE(m_server->cachesCreated(), 1);
    QCOMPARE(m_server->cacheTtls(), QStringList{u"86400s"_s}); // explicit_cache_ttl_hours 24
    QCOMPARE(replies.size(), 400);
    QTRY_COMPARE(m_server->cachesDeleted(), 1); // once the results are in
    QTRY_COMPARE(charged.size(), 2);
    for (const ChatReply &reply : replies) {
        QVERIFY2(reply.ok(), qPrintable(describe(reply)));
        QCOMPARE(reply.usage.cachedTokens, FakeGemini::tokensFor(longSystem));
    }
    // Charged the moment it was made, for its whole TTL (its tokens once at the input price,
    // a day of storage); then, deleted once the results were in, at the hours it really
    // lived. Both under the cache's name, the tokens as the API counted them.
    const bd::cost::ModelPrice price = *bd::cost::PriceTable::builtIn().price(kModel);
    const double tokens = double(FakeGemini::tokensFor(longSystem));
    const double creation = tokens * price.input / 1e6;
    const double wholeTtl = tokens * (price.input + 24.0 * price.cacheStoragePerHour) / 1e6;
    QVERIFY(charged.at(0).at(0).toString().startsWith(u"cachedContents/"_s));
    QCOMPARE(charged.at(1).at(0).toString(), charged.at(0).at(0).toString());
    QCOMPARE(charged.at(0).at(1).toString(), kModel);
    QVERIFY2(
        qAbs(charged.at(0).at(2).toDouble() - wholeTtl) < 1e-12,
        qPrintable(
            u"charged %1, a day of it %2"_s.arg(charged.at(0).at(2).toDouble()).arg(wholeTtl)));
    const double final = charged.at(1).at(2).toDouble();
    QVERIFY2(final >= creation && final < creation * 1.01,
             qPrintable(u"charged %1, creation %2"_s.arg(final).arg(creation)));
    QVERIFY2(charged.at(1).at(3).toString().contains(u"%1 tokens"_s.arg(qint64(tokens))),
             qPrintable(charged.at(1).at(3).toString()));
    // The decision uses the engine's price table: with storage priced far higher there
    // (the user's override), the same batch goes without a cache.
    bd::cost::PriceTable dearStorage = bd::cost::PriceTable::builtIn();
    QString priceError;
    QVERIFY2(
        dearStorage.mergeJson(
            R"({"models": {"gemini-2.5-flash": {"merge": true, "cache_storage_per_hour": 500}}})",
            u"override"_s, &priceError),
        qPrintable(priceError));
    auto overridden = makeProvider(QJsonObject{{u"explicit_cache_min_tokens"_s, 1024}});
    overridden->setPriceTable(dearStorage);
    runBatch(overridden.get(), requests);
    QCOMPARE(m_server->cachesCreated(), 1); // still only the first batch's
    // A few lines do not pay for a day of storage: no cache.
    m_server->resetCounters();
    auto few = makeProvider(QJsonObject{{u"explicit_cache_min_tokens"_s, 1024}});
    runBatch(few.get(), requests.mid(0, 5));
    QCOMPARE(m_server->cachesCreated(), 1);
    // A cancelled batch's cache goes at once too.
    m_server->options().holdBatches = true;
    auto cancelling = makeProvider(QJsonObject{{u"explicit_cache_min_tokens"_s, 1024}});
    QSignalSpy cancelCharged(cancelling.get(), &Provider::batchCharged);
    QSignalSpy submitted(cancelling.get(), &Provider::batchSubmitted);
    cancelling->submitBatch(u"8"_s, requests);
    QVERIFY(submitted.wait(10'000));
    QCOMPARE(m_server->cachesCreated(), 2);
    QCOMPARE(cancelCharged.size(), 1);
    QSignalSpy cancelled(cancelling.get(), &Provider::batchCancelRequested);
    cancelling->cancelBatch(submitted.first().at(1).toString());
    QVERIFY(cancelled.wait(10'000));
    QTRY_COMPARE(m_server->cachesDeleted(), 2);
    QTRY_COMPARE(cancelCharged.size(), 2);
    QVERIFY(cancelCharged.at(1).at(2).toDouble() < creation * 1.01);
    m_server->options().holdBatches = false;
    // Off by setting.
    auto off = makeProvider(
        QJsonObject{{u"explicit_cache_min_tokens"_s, 1024}, {u"explicit_cache"_s, u"off"_s}});
    runBatch(off.get(), requests);
    QCOMPARE(m_server->cachesCreated(), 2);
}

QString TestGemini::writeCsv(int rows, const QString &extra)
{
    const QString path = m_dir->filePath(u"rows.csv"_s);
    QFile csv(path);
    if (!csv.open(QIODevice::WriteOnly))
        return {};
    csv.write("id,text\r\n");
    for (int row = 1; row <= rows; ++row)
        csv.write(QByteArray::number(row) + ",\"review " + QByteArray::number(row) + " " +
                  (row == 3 ? extra.toUtf8() : QByteArray()) + "\"\r\n");
    return path;
}

QProcessEnvironment TestGemini::environment() const
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(u"XDG_CONFIG_HOME"_s, m_dir->filePath(u"config"_s));
    env.insert(u"XDG_DATA_HOME"_s, m_dir->filePath(u"data"_s));
    env.insert(u"HOME"_s, m_dir->path());
    env.remove(u"GEMINI_API_KEY"_s);
    // The fallback variable alone must do; the base URL comes from GEMINI_BASE_URL.
    env.insert(u"GOOGLE_API_KEY"_s, kKey);
    env.insert(u"GEMINI_BASE_URL"_s, m_server->baseUrl());
    return env;
}

QStringList TestGemini::runArguments(const QString &csv, int priority) const
{
    return {u"run"_s,
            csv,
            u"--template"_s,
            u"Classify: {{text}}"_s,
            u"--system"_s,
            kSystem,
            u"--provider"_s,
            u"gemini"_s,
            u"--model"_s,
            kModel,
            u"--priority"_s,
            QString::number(priority),
            u"--db"_s,
            m_db,
            u"--batch-size"_s,
            u"20"_s,
            u"--batch-poll-ms"_s,
            u"100"_s,
            u"--json"_s};
}

QStringList TestGemini::cacheRunArguments(int rows)
{
    QStringList arguments = runArguments(writeCsv(rows), 3);
    // ~5,000 tokens, over the API's minimum of 4,096 for a cache; with 200 lines a day of
    // its storage costs less than the input it saves.
    arguments[arguments.indexOf(u"--system"_s) + 1] =
        QString(u"House rules for labelling reviews. "_s).repeated(600);
    arguments[arguments.indexOf(u"--batch-size"_s) + 1] = QString::number(rows);
    return arguments;
}

QList<double> TestGemini::storedCharges()
{
    QList<double> charges;
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        if (query.exec(u"SELECT usd FROM job_charges ORDER BY id"_s)) {
            while (query.next())
                charges.append(query.value(0).toDouble());
        }
    });
    return charges;
}

double TestGemini::number(const QString &sql)
{
    double value = -1;
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        if (query.exec(sql) && query.next())
            value = query.value(0).toDouble();
    });
    return value;
}

double TestGemini::ledgerTotal()
{
    return number(u"SELECT TOTAL(usd) FROM spend_days"_s);
}

double TestGemini::tasksCost()
{
    return number(u"SELECT TOTAL(cost_usd) FROM tasks WHERE state = 2"_s);
}

template <typename F> void TestGemini::withDatabase(F body)
{
    const QString name = u"gemini-%1"_s.arg(++m_connections);
    {
        QSqlDatabase database = QSqlDatabase::addDatabase(u"QSQLITE"_s, name);
        database.setDatabaseName(m_db);
        database.setConnectOptions(u"QSQLITE_BUSY_TIMEOUT=2000"_s);
        if (database.open())
            body(database);
        database.close();
    }
    QSqlDatabase::removeDatabase(name);
}

QStringList TestGemini::storedBatchIds()
{
    QStringList ids;
    if (!QFileInfo::exists(m_db))
        return ids;
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        if (query.exec(u"SELECT provider_batch_id FROM provider_batches WHERE provider_batch_id "
                       "IS NOT NULL ORDER BY id"_s)) {
            while (query.next())
                ids.append(query.value(0).toString());
        }
    });
    return ids;
}

void TestGemini::batchctlSyncRun()
{
    // Row 3 fails twice with 429 (retry delay honoured, not charged), then answers; a 400
    // would dead-letter, which is checked in errors().
    m_server->options().retryDelay = u"0.2s"_s;
    const BatchctlRun run =
        runBatchctl(QStringLiteral(BATCHCTL_PATH), runArguments(writeCsv(40, u"[[g:429*2]]"_s), 2),
                    environment(), m_dir->path(), 60'000);
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 0, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), 40);
    QVERIFY(!run.err.contains(kKey.toUtf8()) && !run.out.contains(kKey.toUtf8()));
    QCOMPARE(m_server->requestCount("/v1beta/models/gemini-2.5-flash:batchGenerateContent"), 0);
    // RetryInfo.retryDelay (0.2 s) was waited for before each try again.
    const QList<qint64> arrivals = m_server->arrivalsFor(u"Classify: review 3 [[g:429*2]]"_s);
    QCOMPARE(arrivals.size(), 3);
    for (int i = 1; i < arrivals.size(); ++i)
        QVERIFY2(arrivals.at(i) - arrivals.at(i - 1) >= 190,
                 qPrintable(u"try %1 came %2 ms after the 429"_s.arg(i + 1).arg(
                     arrivals.at(i) - arrivals.at(i - 1))));
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT attempts, cost_usd FROM tasks WHERE row_no = 3"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), 1);    // the 429s were free
        QVERIFY(query.value(1).toDouble() > 0); // priced from the table
        // Groups of sync calls sized as the guide has it for Gemini: 50 to 100.
        QVERIFY(query.exec(u"SELECT COUNT(*), MIN(max_size), MAX(max_size) FROM provider_batches "
                           "WHERE lane <> 'batch-api'"_s) &&
                query.next());
        QVERIFY(query.value(0).toInt() >= 1);
        QVERIFY2(
            query.value(1).toInt() >= 50 && query.value(2).toInt() <= 100,
            qPrintable(
                u"group sizes %1..%2"_s.arg(query.value(1).toInt()).arg(query.value(2).toInt())));
    });
}

void TestGemini::batchctlBatchRun()
{
    // Row 3's line expires in its first batch: back to pending uncharged, answered in a
    // later batch.
    const BatchctlRun run = runBatchctl(QStringLiteral(BATCHCTL_PATH),
                                        runArguments(writeCsv(50, u"[[g:expire*1]]"_s), 3),
                                        environment(), m_dir->path(), 60'000);
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 0, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), 50);
    QVERIFY(m_server->batchesCreated() >= 3); // 20 + 20 + 10
    QCOMPARE(m_server->requestCount("/v1beta/models/gemini-2.5-flash:generateContent"), 0);
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(
                    u"SELECT COUNT(*) FROM tasks WHERE state = 2 AND output LIKE 'gemini(%'"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), 50);
        QVERIFY(query.exec(u"SELECT attempts FROM tasks WHERE row_no = 3"_s) && query.next());
        QCOMPARE(query.value(0).toInt(), 1); // the expiry was not the line's fault
    });
    QCOMPARE(m_server->attemptsFor(u"Classify: review 3 [[g:expire*1]]"_s), 2);
}

void TestGemini::batchctlDeadLettersAndPausesOnAuth()
{
    // 400 INVALID_ARGUMENT: dead-lettered at once with Google's message, the rest answered.
    BatchctlRun run =
        runBatchctl(QStringLiteral(BATCHCTL_PATH), runArguments(writeCsv(10, u"[[g:400]]"_s), 2),
                    environment(), m_dir->path(), 60'000);
    QVERIFY2(run.status == QProcess::NormalExit, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), 9);
    QCOMPARE(run.json().value(u"dead"_s).toInt(), 1);
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(
                    u"SELECT attempts, error_class, error_message FROM tasks WHERE row_no = 3"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), 1); // not retried
        QCOMPARE(query.value(1).toString(), u"invalid_request"_s);
        QVERIFY2(query.value(2).toString().contains(u"INVALID_ARGUMENT: Invalid value"_s),
                 qPrintable(query.value(2).toString()));
    });
    QCOMPARE(m_server->attemptsFor(u"Classify: review 3 [[g:400]]"_s), 1);

    // 403 PERMISSION_DENIED: the job pauses like on any refused key, nothing dead-lettered.
    m_db = m_dir->filePath(u"refused.sqlite"_s);
    QProcessEnvironment refused = environment();
    refused.insert(u"GOOGLE_API_KEY"_s, u"AIza-refused-0000000000"_s);
    run = runBatchctl(QStringLiteral(BATCHCTL_PATH), runArguments(writeCsv(10), 2), refused,
                      m_dir->path(), 60'000);
    QVERIFY2(run.status == QProcess::NormalExit, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"state"_s).toString(), u"paused"_s);
    QCOMPARE(run.json().value(u"dead"_s).toInt(), 0);
    QCOMPARE(run.json().value(u"pending"_s).toInt(), 10);
    QVERIFY2(run.json().value(u"reason"_s).toString().contains(u"PERMISSION_DENIED"_s),
             qPrintable(run.json().value(u"reason"_s).toString()));
    QVERIFY(!run.out.contains("AIza-refused") && !run.err.contains("AIza-refused"));
}

void TestGemini::batchctlServerErrorsOpenTheBreaker()
{
    // Every row's first try is a 503: five in a row open the breaker (circuit_open), the
    // half-open probe after the cool-down succeeds, and every row is answered.
    const QString path = m_dir->filePath(u"outage.csv"_s);
    QFile csv(path);
    QVERIFY(csv.open(QIODevice::WriteOnly));
    csv.write("id,text\r\n");
    for (int row = 1; row <= 12; ++row)
        csv.write(QByteArray::number(row) + ",\"review " + QByteArray::number(row) +
                  (row % 2 ? " [[g:503*1]]" : " [[g:504*1]]") + "\"\r\n");
    csv.close();
    QStringList arguments = runArguments(path, 2);
    arguments << u"--max-retries"_s << u"5"_s;
    const BatchctlRun run =
        runBatchctl(QStringLiteral(BATCHCTL_PATH), arguments, environment(), m_dir->path(), 90'000);
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 0, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"completed"_s).toInt(), 12);
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM alerts WHERE kind = 'circuit_open'"_s) &&
                query.next());
        QVERIFY(query.value(0).toInt() >= 1);
    });
}

void TestGemini::crashBetweenCreateAndStoreIsAdopted()
{
    m_server->options().holdBatches = true;
    QProcess process;
    process.setProcessEnvironment(environment());
    process.setWorkingDirectory(m_dir->path());
    process.start(QStringLiteral(BATCHCTL_PATH), runArguments(writeCsv(50), 3));
    QVERIFY(process.waitForStarted(10'000));
    QElapsedTimer waited;
    waited.start();
    while (waited.elapsed() < 30'000 && process.state() == QProcess::Running &&
           storedBatchIds().size() < 3)
        QTest::qWait(25);
    QCOMPARE(storedBatchIds().size(), 3);
    process.kill();
    QVERIFY(process.waitForFinished(10'000));
    const QStringList created = storedBatchIds();
    // The crash window: the first row never got its id stored.
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"UPDATE provider_batches SET provider_batch_id = NULL, state = "
                           "'assembling' WHERE id = (SELECT MIN(id) FROM provider_batches)"_s));
    });
    m_server->options().holdBatches = false;
    const int createdBefore = m_server->batchesCreated();
    const BatchctlRun resumed =
        runBatchctl(QStringLiteral(BATCHCTL_PATH), {u"resume"_s, u"--db"_s, m_db, u"--json"_s},
                    environment(), m_dir->path(), 60'000);
    QVERIFY2(resumed.status == QProcess::NormalExit && resumed.exitCode == 0,
             qPrintable(resumed.describe()));
    QCOMPARE(resumed.json().value(u"completed"_s).toInt(), 50);
    QCOMPARE(m_server->batchesCreated(), createdBefore); // adopted, not sent again
    QCOMPARE(storedBatchIds(), created);
    QVERIFY(m_server->requestCount("/v1beta/batches") > 0);
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT id FROM tasks"_s));
        while (query.next())
            QCOMPARE(m_server->batchLinesFor(query.value(0).toString()), 1);
    });
}

void TestGemini::explicitCacheChargedWhenNoLineAnswers()
{
    // The batch fails as a whole: no line is ever answered, yet the cache was made (and is
    // billed). Its cost stands in the job's cost and in the spend ledger all the same. The
    // delete is answered late: the job is not finished (nor its cost final) before then.
    m_server->options().failBatches = true;
    m_server->options().deleteLatencyMs = 1500;
    const BatchctlRun run = runBatchctl(QStringLiteral(BATCHCTL_PATH), cacheRunArguments(200),
                                        environment(), m_dir->path(), 60'000);
    QVERIFY2(run.status == QProcess::NormalExit, qPrintable(run.describe()));
    QCOMPARE(run.json().value(u"dead"_s).toInt(), 200);
    QCOMPARE(m_server->cachesCreated(), 1);
    QCOMPARE(m_server->cachesDeleted(), 1); // deleted when the batch failed
    const bd::cost::ModelPrice price = *bd::cost::PriceTable::builtIn().price(kModel);
    const QString system = cacheRunArguments(1).at(cacheRunArguments(1).indexOf(u"--system"_s) + 1);
    const double creation = double(FakeGemini::tokensFor(system)) * price.input / 1e6;
    const QList<double> charges = storedCharges();
    QCOMPARE(charges.size(), 1);
    // What it came to: creation, and storage for the moments it lived.
    QVERIFY2(charges.first() >= creation && charges.first() < creation * 1.01,
             qPrintable(u"charged %1, creation %2"_s.arg(charges.first()).arg(creation)));
    QCOMPARE(tasksCost(), 0.0);
    QVERIFY(qAbs(ledgerTotal() - charges.first()) < 1e-12);
    QVERIFY(qAbs(run.json().value(u"cost_usd"_s).toDouble() - charges.first()) < 1e-8);
}

void TestGemini::explicitCacheChargedOnceAcrossACrash()
{
    // The process dies while its batch (and the batch's cache) is at the provider.
    m_server->options().holdBatches = true;
    QProcess process;
    process.setProcessEnvironment(environment());
    process.setWorkingDirectory(m_dir->path());
    process.start(QStringLiteral(BATCHCTL_PATH), cacheRunArguments(200));
    QVERIFY(process.waitForStarted(10'000));
    QElapsedTimer waited;
    waited.start();
    while (waited.elapsed() < 30'000 && process.state() == QProcess::Running &&
           storedBatchIds().isEmpty())
        QTest::qWait(25);
    QCOMPARE(storedBatchIds().size(), 1);
    process.kill();
    QVERIFY(process.waitForFinished(10'000));
    QCOMPARE(m_server->cachesCreated(), 1);
    // Charged when it was made, for its whole TTL: nobody is left to delete it sooner.
    const bd::cost::ModelPrice price = *bd::cost::PriceTable::builtIn().price(kModel);
    const QString system = cacheRunArguments(1).at(cacheRunArguments(1).indexOf(u"--system"_s) + 1);
    const double wholeTtl = double(FakeGemini::tokensFor(system)) *
                            (price.input + 24.0 * price.cacheStoragePerHour) / 1e6;
    QList<double> charges = storedCharges();
    QCOMPARE(charges.size(), 1);
    QVERIFY2(qAbs(charges.first() - wholeTtl) < 1e-12,
             qPrintable(u"charged %1, a day of it %2"_s.arg(charges.first()).arg(wholeTtl)));
    QVERIFY(qAbs(ledgerTotal() - wholeTtl) < 1e-12);

    // Adopted on restart: answered, and the cache counted once.
    m_server->options().holdBatches = false;
    const int batchesBefore = m_server->batchesCreated();
    const BatchctlRun resumed =
        runBatchctl(QStringLiteral(BATCHCTL_PATH), {u"resume"_s, u"--db"_s, m_db, u"--json"_s},
                    environment(), m_dir->path(), 60'000);
    QVERIFY2(resumed.status == QProcess::NormalExit && resumed.exitCode == 0,
             qPrintable(resumed.describe()));
    QCOMPARE(resumed.json().value(u"completed"_s).toInt(), 200);
    QCOMPARE(m_server->batchesCreated(), batchesBefore);
    QCOMPARE(m_server->cachesCreated(), 1);
    // The new process does not know the cache: it stays to its TTL, as charged.
    QCOMPARE(m_server->cachesDeleted(), 0);
    charges = storedCharges();
    QCOMPARE(charges.size(), 1);
    QVERIFY(qAbs(charges.first() - wholeTtl) < 1e-12);
    const double answers = tasksCost();
    QVERIFY(answers > 0);
    QVERIFY2(
        qAbs(ledgerTotal() - (answers + wholeTtl)) < 1e-9,
        qPrintable(
            u"ledger %1, answers %2 + cache %3"_s.arg(ledgerTotal()).arg(answers).arg(wholeTtl)));
    QVERIFY(qAbs(resumed.json().value(u"cost_usd"_s).toDouble() - (answers + wholeTtl)) < 1e-8);
}

void TestGemini::datedIdPricedUnknownModelAlertedOnce()
{
    // Answers naming a versioned id of a priced family are priced at the family's price.
    m_server->options().modelVersion = u"gemini-2.5-flash-001"_s;
    BatchctlRun run = runBatchctl(QStringLiteral(BATCHCTL_PATH), runArguments(writeCsv(10), 2),
                                  environment(), m_dir->path(), 60'000);
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 0, qPrintable(run.describe()));
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM tasks WHERE model = 'gemini-2.5-flash-001' "
                           "AND cost_usd > 0"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), 10);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM alerts WHERE kind = 'model_unpriced'"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), 0);
    });
    {
        // The task's cost detail says which family entry priced it.
        bd::EngineOptions options;
        options.database = m_db;
        options.readOnly = true;
        const std::unique_ptr<bd::Engine> engine = bd::createEngine(options);
        QSignalSpy opened(engine.get(), &bd::Engine::opened);
        engine->open();
        QVERIFY(opened.wait(10'000) && opened.at(0).at(0).toBool());
        QSignalSpy detail(engine.get(), &bd::Engine::taskDetailReady);
        engine->requestTaskDetail(engine->newTicket(), 1);
        QVERIFY(detail.wait(10'000));
        QCOMPARE(detail.at(0).at(1).value<bd::TaskDetail>().pricedAs, u"gemini-2.5-flash"_s);
    }
    // A model the table truly lacks: cost unknown, and one alert for the job, not one a task.
    m_db = m_dir->filePath(u"unpriced.sqlite"_s);
    m_server->options().modelVersion = u"gemini-9-ultra"_s;
    run = runBatchctl(QStringLiteral(BATCHCTL_PATH), runArguments(writeCsv(10), 2), environment(),
                      m_dir->path(), 60'000);
    QVERIFY2(run.status == QProcess::NormalExit && run.exitCode == 0, qPrintable(run.describe()));
    withDatabase([&](QSqlDatabase &database) {
        QSqlQuery query(database);
        QVERIFY(query.exec(u"SELECT COUNT(*) FROM tasks WHERE state = 2 AND cost_usd IS NULL"_s) &&
                query.next());
        QCOMPARE(query.value(0).toInt(), 10);
        QVERIFY(query.exec(u"SELECT message FROM alerts WHERE kind = 'model_unpriced'"_s));
        QStringList messages;
        while (query.next())
            messages.append(query.value(0).toString());
        QCOMPARE(messages.size(), 1);
        QVERIFY2(messages.first().contains(u"gemini-9-ultra"_s), qPrintable(messages.first()));
    });
}

QTEST_GUILESS_MAIN(TestGemini)
#include "test_gemini.moc"
