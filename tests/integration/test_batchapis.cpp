// The provider batch APIs (OpenAI Files + Batches, Anthropic Message Batches) against the
// loopback server: planning by model and limits, submit -> poll -> fetch, results joined on
// custom_id in any order, expired / cancelled / errored lines, failed batches, a 404 right
// after create, a restarted client polling a stored batch id, and the key kept out.

#include "core/clock.h"
#include "fakeprovider.h"
#include "providers/anthropicprovider.h"
#include "providers/batchplanner.h"
#include "providers/openaichatprovider.h"
#include "providers/provider.h"

#include <memory>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QtTest>

using namespace Qt::StringLiterals;
using bd::ErrorClass;
using namespace bd::providers;
using bd::ProviderConfig;
using bd::testing::FakeProvider;

Q_DECLARE_METATYPE(bd::ErrorClass)

namespace {

const QString kKey = u"sk-batch-SECRET-abcdef0123456789"_s;
const QString kSystem = u"Label the review."_s;

ChatRequest request(qint64 taskId, const QString &prompt, const QString &model)
{
    ChatRequest r;
    r.taskId = taskId;
    r.model = model;
    r.systemPrompt = kSystem;
    r.prompt = prompt;
    r.maxOutputTokens = 100;
    r.cacheKey = u"batchdesk-job-3"_s;
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

class TestBatchApis : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void planningSplitsByModelAndLimits();
    void providerPlansWithItsLimits();
    void compatibleServersHaveNoBatchApi();
    void roundTrip_data();
    void roundTrip();
    void expiredBatchReturnsUnfinishedLines_data();
    void expiredBatchReturnsUnfinishedLines();
    void everyLineFailedMeansNoOutputFile();
    void failedBatches_data();
    void failedBatches();
    void notFoundRightAfterCreateIsRetried_data();
    void notFoundRightAfterCreateIsRetried();
    void cancelledBatch_data();
    void cancelledBatch();
    void restartedClientPollsStoredId();
    void submitRefusesMixedModels();
    void keyStaysOutOfBatchErrors_data();
    void keyStaysOutOfBatchErrors();
    void pollDelaysBackOff();

private:
    std::unique_ptr<Provider> make(const QString &id, const QJsonObject &settings = {});
    QString submit(Provider *provider, const QList<ChatRequest> &requests,
                   ErrorClass *error = nullptr, QString *message = nullptr);
    QList<BatchStatus> pollUntilDone(Provider *provider, const QString &batchId, int maxPolls = 10);
    QList<ChatReply> fetch(Provider *provider, const QString &batchId, const QList<qint64> &taskIds,
                           ErrorClass *error = nullptr);

    std::unique_ptr<FakeProvider> m_server;
};

void TestBatchApis::initTestCase()
{
    qRegisterMetaType<bd::ErrorClass>();
    qRegisterMetaType<BatchStatus>();
    qRegisterMetaType<QList<ChatReply>>();
}

void TestBatchApis::init()
{
    m_server = std::make_unique<FakeProvider>();
    QVERIFY(m_server->listen());
    m_server->options().requiredKey = kKey;
}

void TestBatchApis::cleanup()
{
    m_server.reset();
}

std::unique_ptr<Provider> TestBatchApis::make(const QString &id, const QJsonObject &settings)
{
    ProviderConfig config;
    config.id = id;
    config.apiKey = kKey;
    config.settings = settings;
    config.baseUrl =
        id == u"anthropic"_s ? m_server->anthropicBaseUrl() : m_server->openAiBaseUrl();
    QString error;
    auto provider = createProvider(config, bd::SystemClock::instance(), &error);
    if (!provider)
        qWarning("%s", qPrintable(error));
    return provider;
}

QString TestBatchApis::submit(Provider *provider, const QList<ChatRequest> &requests,
                              ErrorClass *error, QString *message)
{
    QSignalSpy spy(provider, &Provider::batchSubmitted);
    provider->submitBatch(u"job-3/batch-1"_s, requests);
    if (!spy.wait(10'000) || spy.size() != 1) {
        qWarning("no batchSubmitted");
        return {};
    }
    const QList<QVariant> args = spy.takeFirst();
    if (args.at(0).toString() != u"job-3/batch-1"_s)
        qWarning("wrong reference");
    if (error)
        *error = args.at(2).value<ErrorClass>();
    if (message)
        *message = args.at(3).toString();
    return args.at(1).toString();
}

QList<BatchStatus> TestBatchApis::pollUntilDone(Provider *provider, const QString &batchId,
                                                int maxPolls)
{
    QList<BatchStatus> seen;
    QSignalSpy spy(provider, &Provider::batchPolled);
    for (int i = 0; i < maxPolls; ++i) {
        provider->pollBatch(batchId);
        if (!spy.wait(10'000))
            break;
        const BatchStatus status = spy.takeFirst().at(0).value<BatchStatus>();
        seen.append(status);
        if (status.phase != BatchPhase::Pending)
            break;
    }
    return seen;
}

QList<ChatReply> TestBatchApis::fetch(Provider *provider, const QString &batchId,
                                      const QList<qint64> &taskIds, ErrorClass *error)
{
    QSignalSpy spy(provider, &Provider::batchResultsFetched);
    provider->fetchBatchResults(batchId, taskIds);
    if (!spy.wait(10'000))
        return {};
    const QList<QVariant> args = spy.takeFirst();
    if (args.at(0).toString() != batchId)
        qWarning("wrong batch id");
    if (error)
        *error = args.at(2).value<ErrorClass>();
    return args.at(1).value<QList<ChatReply>>();
}

void TestBatchApis::planningSplitsByModelAndLimits()
{
    QList<ChatRequest> requests;
    for (int i = 1; i <= 7; ++i)
        requests.append(
            request(i, u"p%1"_s.arg(i), i % 2 ? u"a"_s : u"b"_s)); // a: 1,3,5,7  b: 2,4,6
    const auto bytes = [](const ChatRequest &) { return qint64(10); };

    QList<QList<ChatRequest>> batches = splitIntoBatches(requests, {}, bytes);
    QCOMPARE(batches.size(), 2); // one model per batch, no other limit
    QCOMPARE(batches.at(0).size(), 4);
    QCOMPARE(batches.at(0).at(0).model, u"a"_s);
    QCOMPARE(batches.at(1).size(), 3);

    batches = splitIntoBatches(requests, {.maxRequests = 3, .maxBytes = 0}, bytes);
    QCOMPARE(batches.size(), 3); // a: 3+1, b: 3
    QCOMPARE(batches.at(0).size(), 3);
    QCOMPARE(batches.at(1).size(), 1);
    QCOMPARE(batches.at(1).at(0).taskId, 7);
    QCOMPARE(batches.at(2).size(), 3);

    batches = splitIntoBatches(requests, {.maxRequests = 0, .maxBytes = 25}, bytes);
    QCOMPARE(batches.size(), 4); // 2 lines of 10 bytes per batch: a 2+2, b 2+1
    int total = 0;
    for (const auto &batch : batches) {
        QVERIFY(batch.size() <= 2);
        total += int(batch.size());
    }
    QCOMPARE(total, 7);

    // A line larger than the byte limit goes alone.
    batches = splitIntoBatches(requests.mid(0, 1), {.maxRequests = 0, .maxBytes = 5}, bytes);
    QCOMPARE(batches.size(), 1);
    QVERIFY(splitIntoBatches({}, {}, bytes).isEmpty());
}

void TestBatchApis::providerPlansWithItsLimits()
{
    auto openai = make(u"openai"_s);
    QVERIFY(openai->hasBatchApi());
    QCOMPARE(openai->batchLimits().maxRequests, 50'000);
    QCOMPARE(openai->batchLimits().maxBytes, 200 * 1024 * 1024);
    auto anthropic = make(u"anthropic"_s);
    QVERIFY(anthropic->hasBatchApi());
    QCOMPARE(anthropic->batchLimits().maxRequests, 100'000);
    QCOMPARE(anthropic->batchLimits().maxBytes, 256 * 1024 * 1024);

    auto small = make(u"openai"_s, QJsonObject{{u"batch_max_requests"_s, 2}});
    QList<ChatRequest> requests;
    for (int i = 1; i <= 5; ++i)
        requests.append(request(i, u"x"_s, u"gpt-4o-mini"_s));
    QCOMPARE(small->planBatches(requests).size(), 3);
    // The byte limit measures real lines.
    const qint64 lineBytes =
        static_cast<OpenAiChatProvider *>(small.get())->batchLine(requests.first()).size() + 1;
    auto bytesCapped =
        make(u"anthropic"_s, QJsonObject{{u"batch_max_bytes"_s, lineBytes * 2 + 40}});
    QVERIFY(bytesCapped->planBatches(requests).size() >= 2);
}

void TestBatchApis::compatibleServersHaveNoBatchApi()
{
    auto local = make(u"openai-compatible"_s);
    QVERIFY(!local->hasBatchApi());
    QVERIFY(local->planBatches({request(1, u"x"_s, u"m"_s)}).isEmpty());
    ErrorClass error = ErrorClass::None;
    QString message;
    QCOMPARE(submit(local.get(), {request(1, u"x"_s, u"m"_s)}, &error, &message), QString());
    QCOMPARE(error, ErrorClass::InvalidRequest);
    QVERIFY2(message.contains(u"no batch API"_s), qPrintable(message));
    QCOMPARE(m_server->requestCount(), 0);
}

void TestBatchApis::roundTrip_data()
{
    QTest::addColumn<QString>("providerId");
    QTest::addColumn<QString>("model");
    QTest::newRow("openai") << u"openai"_s << u"gpt-4o-mini"_s;
    QTest::newRow("anthropic") << u"anthropic"_s << u"claude-haiku-4-5"_s;
}

void TestBatchApis::roundTrip()
{
    QFETCH(QString, providerId);
    QFETCH(QString, model);
    const bool anthropic = providerId == u"anthropic"_s;
    auto provider = make(providerId);
    QList<ChatRequest> requests;
    QList<qint64> taskIds;
    for (int i = 1; i <= 20; ++i) {
        QString prompt = u"review %1 is fine"_s.arg(i);
        if (i == 3)
            prompt += u" [[fake:400]]"_s;
        if (i == 4)
            prompt += u" [[fake:500]]"_s;
        if (i == 5)
            prompt += u" [[fake:cached=7]]"_s;
        if (i == 6)
            prompt += u" [[fake:quota]]"_s;
        if (i == 8)
            prompt += u" [[fake:529]]"_s;
        requests.append(request(1000 + i, prompt, model));
        taskIds.append(1000 + i);
    }
    ErrorClass error = ErrorClass::None;
    QString message;
    const QString batchId = submit(provider.get(), requests, &error, &message);
    QVERIFY2(!batchId.isEmpty(), qPrintable(message));
    QCOMPARE(error, ErrorClass::None);
    QCOMPARE(m_server->batchesCreated(), 1);

    // What went up: one line per task, custom_id = the task id, the realtime request body.
    if (anthropic) {
        const FakeProvider::ReceivedRequest &create = m_server->received().last();
        QCOMPARE(create.path, "/v1/messages/batches"_ba);
        QCOMPARE(create.header("x-api-key"), kKey.toUtf8());
        QCOMPARE(create.header("anthropic-version"), "2023-06-01"_ba);
        const QJsonArray list =
            QJsonDocument::fromJson(create.body).object().value(u"requests"_s).toArray();
        QCOMPARE(list.size(), 20);
        const QJsonObject first = list.at(0).toObject();
        QCOMPARE(first.value(u"custom_id"_s).toString(), u"1001"_s);
        const QJsonObject params = first.value(u"params"_s).toObject();
        QCOMPARE(params.value(u"max_tokens"_s).toInt(), 100);
        QCOMPARE(params.value(u"system"_s)
                     .toArray()
                     .at(0)
                     .toObject()
                     .value(u"cache_control"_s)
                     .toObject()
                     .value(u"type"_s)
                     .toString(),
                 u"ephemeral"_s);
    } else {
        QCOMPARE(m_server->received().size(), 2); // the file, then the batch
        const FakeProvider::ReceivedRequest &upload = m_server->received().first();
        QCOMPARE(upload.path, "/v1/files"_ba);
        QVERIFY(upload.header("content-type").startsWith("multipart/form-data; boundary="));
        QCOMPARE(upload.header("authorization"), "Bearer " + kKey.toUtf8());
        QVERIFY(upload.body.contains("name=\"purpose\"\r\n\r\nbatch\r\n"));
        const qsizetype lineStart = upload.body.indexOf("{\"custom_id\":\"1001\"");
        QVERIFY(lineStart > 0);
        const QJsonObject line =
            QJsonDocument::fromJson(
                upload.body.mid(lineStart, upload.body.indexOf('\n', lineStart) - lineStart))
                .object();
        QCOMPARE(line.value(u"method"_s).toString(), u"POST"_s);
        QCOMPARE(line.value(u"url"_s).toString(), u"/v1/chat/completions"_s);
        QCOMPARE(line.value(u"body"_s).toObject().value(u"max_completion_tokens"_s).toInt(), 100);
        QCOMPARE(line.value(u"body"_s).toObject().value(u"prompt_cache_key"_s).toString(),
                 u"batchdesk-job-3"_s);
        const QJsonObject create =
            QJsonDocument::fromJson(m_server->received().last().body).object();
        QCOMPARE(create.value(u"endpoint"_s).toString(), u"/v1/chat/completions"_s);
        QCOMPARE(create.value(u"completion_window"_s).toString(), u"24h"_s);
        QCOMPARE(create.value(u"metadata"_s).toObject().value(u"batchdesk_reference"_s).toString(),
                 u"job-3/batch-1"_s);
    }

    const QList<BatchStatus> polls = pollUntilDone(provider.get(), batchId);
    QVERIFY(!polls.isEmpty());
    QCOMPARE(polls.last().phase, BatchPhase::Ended);
    QCOMPARE(polls.last().error, ErrorClass::None);
    QCOMPARE(polls.last().total, 20);
    QCOMPARE(polls.last().succeeded, 16);
    QCOMPARE(polls.last().failed, 4);
    QStringList words;
    for (const BatchStatus &status : polls)
        words.append(status.providerStatus);
    const QStringList expectedWords =
        anthropic ? QStringList{u"ended"_s}
                  : QStringList{u"in_progress"_s, u"finalizing"_s, u"completed"_s};
    QCOMPARE(words, expectedWords);

    QList<qint64> asked = taskIds;
    asked.append(4242); // never submitted: comes back as missing
    ErrorClass fetchError = ErrorClass::Cancelled;
    const QList<ChatReply> replies = fetch(provider.get(), batchId, asked, &fetchError);
    QCOMPARE(fetchError, ErrorClass::None);
    QCOMPARE(replies.size(), 21);
    QHash<qint64, ChatReply> byTask;
    for (const ChatReply &reply : replies)
        byTask.insert(reply.taskId, reply);
    QCOMPARE(byTask.size(), 21);
    for (int i = 1; i <= 20; ++i) {
        const ChatReply reply = byTask.value(1000 + i);
        const QString prompt = requests.at(i - 1).prompt;
        switch (i) {
        case 3:
            QVERIFY2(reply.error == ErrorClass::InvalidRequest, qPrintable(describe(reply)));
            break;
        case 4:
            QVERIFY2(reply.error == ErrorClass::ServerError, qPrintable(describe(reply)));
            break;
        case 6:
            QVERIFY2(reply.error == ErrorClass::QuotaExhausted, qPrintable(describe(reply)));
            break;
        case 8:
            QVERIFY2(reply.error == ErrorClass::Overloaded, qPrintable(describe(reply)));
            break;
        default:
            QVERIFY2(reply.ok(), qPrintable(describe(reply)));
            QCOMPARE(reply.text, FakeProvider::answerFor(kSystem, prompt));
            QCOMPARE(reply.model, model);
            QVERIFY(reply.usage.outputTokens > 0);
            if (i == 5) {
                QCOMPARE(reply.usage.cachedTokens, 7);
                const qint64 promptTokens =
                    FakeProvider::tokensFor(kSystem) + FakeProvider::tokensFor(prompt);
                QCOMPARE(reply.usage.inputTokens, anthropic ? promptTokens : promptTokens - 7);
            }
        }
    }
    QCOMPARE(byTask.value(4242).error, ErrorClass::Timeout);
}

void TestBatchApis::expiredBatchReturnsUnfinishedLines_data()
{
    roundTrip_data();
}

void TestBatchApis::expiredBatchReturnsUnfinishedLines()
{
    QFETCH(QString, providerId);
    QFETCH(QString, model);
    m_server->options().batchOutcome = FakeProvider::BatchOutcome::Expire;
    auto provider = make(providerId);
    QList<ChatRequest> requests;
    QList<qint64> taskIds;
    for (int i = 1; i <= 10; ++i) {
        requests.append(request(i, u"line %1"_s.arg(i), model));
        taskIds.append(i);
    }
    const QString batchId = submit(provider.get(), requests);
    QVERIFY(!batchId.isEmpty());
    const QList<BatchStatus> polls = pollUntilDone(provider.get(), batchId);
    QCOMPARE(polls.last().phase, BatchPhase::Ended);
    QCOMPARE(polls.last().providerStatus, providerId == u"anthropic"_s ? u"ended"_s : u"expired"_s);
    const QList<ChatReply> replies = fetch(provider.get(), batchId, taskIds);
    QCOMPARE(replies.size(), 10);
    int done = 0;
    int expired = 0;
    for (const ChatReply &reply : replies) {
        if (reply.ok()) {
            ++done;
            QCOMPARE(reply.text, FakeProvider::answerFor(kSystem, u"line %1"_s.arg(reply.taskId)));
        } else {
            QVERIFY2(reply.error == ErrorClass::Timeout,
                     qPrintable(describe(reply))); // retryable, resubmit
            ++expired;
        }
    }
    QCOMPARE(done, 5); // completed lines of an expired batch are still delivered
    QCOMPARE(expired, 5);
}

void TestBatchApis::everyLineFailedMeansNoOutputFile()
{
    auto provider = make(u"openai"_s);
    const QString batchId = submit(provider.get(), {request(1, u"[[fake:400]] a"_s, u"gpt-4o"_s),
                                                    request(2, u"[[fake:400]] b"_s, u"gpt-4o"_s)});
    QVERIFY(!batchId.isEmpty());
    QCOMPARE(pollUntilDone(provider.get(), batchId).last().phase, BatchPhase::Ended);
    m_server->resetCounters();
    const QList<ChatReply> replies = fetch(provider.get(), batchId, {1, 2});
    QCOMPARE(replies.size(), 2);
    for (const ChatReply &reply : replies)
        QVERIFY2(reply.error == ErrorClass::InvalidRequest, qPrintable(describe(reply)));
    // The batch (output_file_id null), then only the error file.
    QCOMPARE(m_server->requestCount(), 2);
}

void TestBatchApis::failedBatches_data()
{
    QTest::addColumn<int>("outcome");
    QTest::addColumn<ErrorClass>("expected");
    QTest::newRow("validation") << int(FakeProvider::BatchOutcome::FailValidation)
                                << ErrorClass::InvalidRequest;
    QTest::newRow("enqueued token limit")
        << int(FakeProvider::BatchOutcome::TokenLimit) << ErrorClass::RateLimited;
}

void TestBatchApis::failedBatches()
{
    QFETCH(int, outcome);
    QFETCH(ErrorClass, expected);
    m_server->options().batchOutcome = FakeProvider::BatchOutcome(outcome);
    auto provider = make(u"openai"_s);
    // The create "succeeds"; the failure shows only when polling.
    const QString batchId =
        submit(provider.get(), {request(1, u"a"_s, u"gpt-4o"_s), request(2, u"b"_s, u"gpt-4o"_s)});
    QVERIFY(!batchId.isEmpty());
    const QList<BatchStatus> polls = pollUntilDone(provider.get(), batchId);
    QCOMPARE(polls.last().phase, BatchPhase::Failed);
    QCOMPARE(polls.last().providerStatus, u"failed"_s);
    QCOMPARE(polls.last().error, expected);
    QVERIFY(!polls.last().errorMessage.isEmpty());
    const QList<ChatReply> replies = fetch(provider.get(), batchId, {1, 2});
    QCOMPARE(replies.size(), 2);
    for (const ChatReply &reply : replies)
        QCOMPARE(reply.error, expected);

    // Anthropic validates at create time: the submit itself fails.
    if (expected == ErrorClass::InvalidRequest) {
        auto anthropic = make(u"anthropic"_s);
        ErrorClass error = ErrorClass::None;
        QCOMPARE(submit(anthropic.get(), {request(1, u"a"_s, u"claude-haiku-4-5"_s)}, &error),
                 QString());
        QCOMPARE(error, ErrorClass::InvalidRequest);
    }
}

void TestBatchApis::notFoundRightAfterCreateIsRetried_data()
{
    roundTrip_data();
}

void TestBatchApis::notFoundRightAfterCreateIsRetried()
{
    QFETCH(QString, providerId);
    QFETCH(QString, model);
    m_server->options().batchNotFoundPolls = 2;
    auto provider = make(providerId);
    const QString batchId = submit(provider.get(), {request(1, u"a"_s, model)});
    QVERIFY(!batchId.isEmpty());
    const QList<BatchStatus> polls = pollUntilDone(provider.get(), batchId);
    QVERIFY(polls.size() >= 3);
    for (int i = 0; i < 2; ++i) {
        QCOMPARE(polls.at(i).phase, BatchPhase::Pending); // poll again, do not resubmit
        QVERIFY(polls.at(i).error != ErrorClass::None);
        QVERIFY(bd::errorIsRetryable(polls.at(i).error));
    }
    QCOMPARE(polls.last().phase, BatchPhase::Ended);
    QCOMPARE(m_server->batchesCreated(), 1);
    const QList<ChatReply> replies = fetch(provider.get(), batchId, {1});
    QVERIFY(replies.value(0).ok());
}

void TestBatchApis::cancelledBatch_data()
{
    roundTrip_data();
}

void TestBatchApis::cancelledBatch()
{
    QFETCH(QString, providerId);
    QFETCH(QString, model);
    auto provider = make(providerId);
    QList<ChatRequest> requests;
    QList<qint64> taskIds;
    for (int i = 1; i <= 6; ++i) {
        requests.append(request(i, u"c %1"_s.arg(i), model));
        taskIds.append(i);
    }
    const QString batchId = submit(provider.get(), requests);
    QVERIFY(!batchId.isEmpty());
    if (providerId == u"openai"_s) { // get it in progress first
        QSignalSpy polled(provider.get(), &Provider::batchPolled);
        provider->pollBatch(batchId);
        QVERIFY(polled.wait());
    }
    QSignalSpy cancelled(provider.get(), &Provider::batchCancelRequested);
    provider->cancelBatch(batchId);
    QVERIFY(cancelled.wait());
    QCOMPARE(cancelled.first().at(0).toString(), batchId);
    QCOMPARE(cancelled.first().at(1).value<ErrorClass>(), ErrorClass::None);
    const QList<BatchStatus> polls = pollUntilDone(provider.get(), batchId);
    QCOMPARE(polls.last().phase, BatchPhase::Ended);
    const QList<ChatReply> replies = fetch(provider.get(), batchId, taskIds);
    QCOMPARE(replies.size(), 6);
    int ok = 0;
    int back = 0;
    for (const ChatReply &reply : replies) {
        if (reply.ok())
            ++ok;
        else if (reply.error == ErrorClass::Cancelled)
            ++back;
    }
    QCOMPARE(ok, 3);
    QCOMPARE(back, 3);
}

void TestBatchApis::restartedClientPollsStoredId()
{
    QString batchId;
    {
        auto first = make(u"anthropic"_s);
        batchId = submit(first.get(), {request(7, u"persist me"_s, u"claude-haiku-4-5"_s)});
        QVERIFY(!batchId.isEmpty());
    } // the engine "crashes" here; the batch id was stored
    auto second = make(u"anthropic"_s);
    QCOMPARE(pollUntilDone(second.get(), batchId).last().phase, BatchPhase::Ended);
    const QList<ChatReply> replies = fetch(second.get(), batchId, {7});
    QVERIFY(replies.value(0).ok());
    QCOMPARE(replies.value(0).text, FakeProvider::answerFor(kSystem, u"persist me"_s));
    QCOMPARE(m_server->batchesCreated(), 1);
    QCOMPARE(m_server->batchLinesFor(u"7"_s), 1);
}

void TestBatchApis::submitRefusesMixedModels()
{
    for (const QString &id : {u"openai"_s, u"anthropic"_s}) {
        auto provider = make(id);
        ErrorClass error = ErrorClass::None;
        QString message;
        QCOMPARE(submit(provider.get(),
                        {request(1, u"a"_s, u"gpt-4o"_s), request(2, u"b"_s, u"gpt-4.1"_s)}, &error,
                        &message),
                 QString());
        QCOMPARE(error, ErrorClass::InvalidRequest);
        QVERIFY2(message.contains(u"one model"_s), qPrintable(message));
        QCOMPARE(submit(provider.get(), {}, &error, &message), QString());
        QCOMPARE(error, ErrorClass::InvalidRequest);
    }
    QCOMPARE(m_server->requestCount(), 0);
}

void TestBatchApis::keyStaysOutOfBatchErrors_data()
{
    roundTrip_data();
}

void TestBatchApis::keyStaysOutOfBatchErrors()
{
    QFETCH(QString, providerId);
    QFETCH(QString, model);
    m_server->options().requiredKey = u"sk-another-key-entirely"_s;
    auto provider = make(providerId);
    ErrorClass error = ErrorClass::None;
    QString message;
    QCOMPARE(submit(provider.get(), {request(1, u"a"_s, model)}, &error, &message), QString());
    QCOMPARE(error, ErrorClass::Auth);
    QVERIFY(!message.contains(kKey));
    QSignalSpy polled(provider.get(), &Provider::batchPolled);
    provider->pollBatch(u"batch_whatever"_s);
    QVERIFY(polled.wait());
    const BatchStatus status = polled.first().at(0).value<BatchStatus>();
    QCOMPARE(status.error, ErrorClass::Auth);
    QVERIFY(!status.errorMessage.contains(kKey));
}

void TestBatchApis::pollDelaysBackOff()
{
    QCOMPARE(batchPollDelayMs(0), 5'000);
    QCOMPARE(batchPollDelayMs(1), 7'500);
    QCOMPARE(batchPollDelayMs(2), 11'250);
    QCOMPARE(batchPollDelayMs(100), 300'000);
    QCOMPARE(batchPollDelayMs(3, 100, 200), 200);
}

QTEST_GUILESS_MAIN(TestBatchApis)
#include "test_batchapis.moc"
