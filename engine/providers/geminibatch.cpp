// GeminiProvider, second half: the Gemini Batch API, the File API for large batches and
// explicit context caches for a batch's shared system prompt, docs PROVIDERS.md.

#include "batchplanner.h"
#include "core/clock.h"
#include "cost/pricetable.h"
#include "errorclassification.h"
#include "geminiprovider.h"
#include "providercatalog.h"

#include <algorithm>
#include <QCryptographicHash>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QUrlQuery>

namespace bd::providers {

using namespace Qt::StringLiterals;

namespace {

QJsonObject jsonObject(const QByteArray &body)
{
    return QJsonDocument::fromJson(body).object();
}

QByteArray compact(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

// The batch resource inside whatever came back: an Operation (the batch in "metadata",
// its output in "response" once done) or the batch itself.
QJsonObject batchOf(const QJsonObject &answer)
{
    const QJsonObject metadata = answer.value(u"metadata"_s).toObject();
    if (metadata.contains(u"state"_s) || metadata.contains(u"displayName"_s))
        return metadata;
    return answer;
}

QJsonObject outputOf(const QJsonObject &answer)
{
    if (answer.value(u"response"_s).isObject())
        return answer.value(u"response"_s).toObject();
    return batchOf(answer).value(u"output"_s).toObject();
}

QString idOfName(const QString &name)
{
    return name.startsWith(u"batches/"_s) ? name.mid(8) : name;
}

QList<qint64> sortedIds(QList<qint64> ids)
{
    std::sort(ids.begin(), ids.end());
    return ids;
}

// About four characters a token: enough to decide whether a cache pays.
qint64 roughTokens(const QString &text)
{
    return (text.size() + 3) / 4;
}

} // namespace

BatchLimits GeminiProvider::batchLimits() const
{
    const ProviderCatalogEntry catalog = providerCatalogEntry(u"gemini"_s);
    BatchLimits limits;
    limits.maxRequests =
        settings().value(u"batch_max_requests"_s).toInteger(catalog.batchMaxRequests);
    limits.maxBytes = settings().value(u"batch_max_bytes"_s).toInteger(catalog.batchMaxBytes);
    return limits;
}

QByteArray GeminiProvider::fileLine(const ChatRequest &request, const QString &cachedContent) const
{
    return "{\"key\":\"" + QByteArray::number(request.taskId) +
           "\",\"request\":" + compact(requestJson(request, cachedContent)) + '}';
}

QList<QList<ChatRequest>> GeminiProvider::planBatches(const QList<ChatRequest> &requests) const
{
    return splitIntoBatches(requests, batchLimits(), [this](const ChatRequest &request) {
        return fileLine(request).size() + 1;
    });
}

QString GeminiProvider::displayNameFor(const QString &reference,
                                       const QList<ChatRequest> &requests) const
{
    // The lines' digest keeps a row id reused by another database from matching.
    QList<std::pair<qint64, QByteArray>> lines;
    lines.reserve(requests.size());
    for (const ChatRequest &request : requests)
        lines.append({request.taskId, fileLine(request)});
    std::sort(lines.begin(), lines.end());
    QCryptographicHash hash(QCryptographicHash::Sha256);
    for (const auto &line : std::as_const(lines)) {
        hash.addData(line.second);
        hash.addData("\n");
    }
    return u"batchdesk-%1-%2"_s.arg(reference, QString::fromLatin1(hash.result().toHex().left(24)));
}

QString GeminiProvider::batchPath(const QString &batchId, const QString &suffix) const
{
    return u"/v1beta/batches/"_s + QString::fromLatin1(QUrl::toPercentEncoding(batchId)) + suffix;
}

bool GeminiProvider::explicitCachePays(const QList<ChatRequest> &requests, qint64 *tokens) const
{
    if (settings().value(u"explicit_cache"_s).toString(u"auto"_s) == u"off"_s || requests.isEmpty())
        return false;
    const QString &system = requests.first().systemPrompt;
    *tokens = roughTokens(system);
    // Below the API's minimum a cache cannot be created at all.
    if (system.isEmpty() ||
        *tokens < settings().value(u"explicit_cache_min_tokens"_s).toInteger(4096))
        return false;
    for (const ChatRequest &request : requests) {
        if (request.systemPrompt != system)
            return false;
    }
    const std::optional<cost::ModelPrice> price = m_prices.price(requests.first().model);
    if (!price || price->cacheStoragePerHour <= 0 || price->cachedInput >= price->input)
        return false;
    const double hours = settings().value(u"explicit_cache_ttl_hours"_s).toDouble(24.0);
    // Created once at the input price, kept for the TTL; every line then reads it cheaper.
    const double cacheCost = double(*tokens) * (price->input + price->cacheStoragePerHour * hours);
    const double saved = double(*tokens) * double(requests.size()) *
                         (price->input - price->cachedInput) * price->batchDiscount;
    return saved > cacheCost;
}

void GeminiProvider::submitBatch(const QString &reference, const QList<ChatRequest> &requests)
{
    const auto refuse = [this, reference](const QString &why) {
        QMetaObject::invokeMethod(
            this,
            [this, reference, why] {
                Q_EMIT batchSubmitted(reference, QString(), ErrorClass::InvalidRequest, why);
            },
            Qt::QueuedConnection);
    };
    if (requests.isEmpty())
        return refuse(u"an empty batch"_s);
    for (const ChatRequest &request : requests) {
        if (request.model != requests.first().model)
            return refuse(u"one model per batch: split with planBatches() first"_s);
    }
    const BatchLimits limits = batchLimits();
    if (limits.maxRequests > 0 && requests.size() > limits.maxRequests)
        return refuse(u"the batch is over the API's limits: split with planBatches() first"_s);
    qint64 tokens = 0;
    if (!explicitCachePays(requests, &tokens)) {
        createBatch(reference, requests, QString());
        return;
    }
    const int ttlSeconds =
        int(settings().value(u"explicit_cache_ttl_hours"_s).toDouble(24.0) * 3600.0);
    const QJsonObject cache{
        {u"model"_s, QString(u"models/"_s + requests.first().model)},
        {u"displayName"_s, QString(u"batchdesk-"_s + reference)},
        {u"systemInstruction"_s,
         QJsonObject{
             {u"parts"_s, QJsonArray{QJsonObject{{u"text"_s, requests.first().systemPrompt}}}}}},
        {u"ttl"_s, u"%1s"_s.arg(ttlSeconds)},
    };
    callApi("POST", apiRequest(u"/v1beta/cachedContents"_s), compact(cache),
            [this, reference, requests, tokens, ttlSeconds](const ApiResult &created) {
                // Without the cache the batch still works, at the plain input price.
                const QJsonObject answer = created.ok() ? jsonObject(created.body) : QJsonObject();
                const QString name = answer.value(u"name"_s).toString();
                if (name.isEmpty()) {
                    qWarning("gemini: context cache not created (%s); batch sent without it",
                             qPrintable(created.errorMessage));
                } else {
                    // The API counts the cache's tokens; the estimate stands in without it.
                    const qint64 counted = answer.value(u"usageMetadata"_s)
                                               .toObject()
                                               .value(u"totalTokenCount"_s)
                                               .toInteger();
                    m_caches.insert(name,
                                    ExplicitCache{name, requests.first().model,
                                                  counted > 0 ? counted : tokens, clock()->nowMs(),
                                                  ttlSeconds / 3600.0, false});
                    // Charged now, for its whole TTL: from here on it costs money whatever
                    // becomes of the batch or of this process.
                    reportCache(name, ttlSeconds / 3600.0);
                }
                createBatch(reference, requests, name);
            });
}

void GeminiProvider::createBatch(const QString &reference, const QList<ChatRequest> &requests,
                                 const QString &cachedContent)
{
    const QString model = requests.first().model;
    const QString displayName = displayNameFor(reference, requests);
    // Inline lines go in task-id order: results that come back without their metadata are
    // joined by position against the sorted ids.
    QList<ChatRequest> ordered = requests;
    std::sort(ordered.begin(), ordered.end(),
              [](const ChatRequest &a, const ChatRequest &b) { return a.taskId < b.taskId; });
    QJsonArray inlined;
    for (const ChatRequest &request : std::as_const(ordered))
        inlined.append(QJsonObject{
            {u"request"_s, requestJson(request, cachedContent)},
            {u"metadata"_s, QJsonObject{{u"key"_s, QString::number(request.taskId)}}},
        });
    const QJsonObject inlineConfig{{u"requests"_s, QJsonObject{{u"requests"_s, inlined}}}};
    const qint64 inlineMax = settings()
                                 .value(u"inline_max_bytes"_s)
                                 .toInteger(providerCatalogEntry(u"gemini"_s).inlineMaxBytes);
    // The envelope around the lines is small; leave it a kilobyte.
    const qint64 inlineBytes = compact(inlineConfig).size() + 1024;
    if (inlineMax <= 0 || inlineBytes < inlineMax) {
        createBatchOver(reference, model, inlineConfig, displayName, cachedContent);
        return;
    }
    // Too large to send inline: a JSONL file through the File API, one multipart request.
    QByteArray jsonl;
    for (const ChatRequest &request : std::as_const(ordered))
        jsonl += fileLine(request, cachedContent) + '\n';
    const QByteArray boundary =
        "batchdesk-" + QByteArray::number(QRandomGenerator::global()->generate64(), 16);
    QByteArray multipart =
        "--" + boundary + "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n";
    multipart +=
        compact(QJsonObject{{u"file"_s, QJsonObject{{u"displayName"_s, displayName},
                                                    {u"mimeType"_s, u"application/jsonl"_s}}}});
    multipart += "\r\n--" + boundary + "\r\nContent-Type: application/jsonl\r\n\r\n";
    multipart += jsonl;
    multipart += "\r\n--" + boundary + "--\r\n";
    QNetworkRequest upload = apiRequest(u"/upload/v1beta/files"_s, u"uploadType=multipart"_s);
    upload.setHeader(QNetworkRequest::ContentTypeHeader,
                     QString::fromLatin1("multipart/related; boundary=" + boundary));
    upload.setRawHeader("X-Goog-Upload-Protocol", "multipart");
    callApi(
        "POST", upload, multipart,
        [this, reference, model, displayName, cachedContent](const ApiResult &uploaded) {
            const QJsonObject answer = jsonObject(uploaded.body);
            const QString fileName = answer.value(u"file"_s).toObject().value(u"name"_s).toString(
                answer.value(u"name"_s).toString());
            if (!uploaded.ok() || fileName.isEmpty()) {
                Q_EMIT batchSubmitted(
                    reference, QString(), uploaded.ok() ? ErrorClass::Malformed : uploaded.error,
                    u"uploading the batch file: "_s +
                        (uploaded.ok() ? u"no file name in the answer"_s : uploaded.errorMessage));
                return;
            }
            createBatchOver(reference, model, QJsonObject{{u"fileName"_s, fileName}}, displayName,
                            cachedContent);
        });
}

void GeminiProvider::createBatchOver(const QString &reference, const QString &model,
                                     const QJsonObject &inputConfig, const QString &displayName,
                                     const QString &cachedContent)
{
    const QJsonObject body{{u"batch"_s, QJsonObject{
                                            {u"displayName"_s, displayName},
                                            {u"inputConfig"_s, inputConfig},
                                        }}};
    callApi("POST", apiRequest(modelPath(model, u"batchGenerateContent"_s)), compact(body),
            [this, reference, cachedContent](const ApiResult &created) {
                const QJsonObject answer = jsonObject(created.body);
                QString name = answer.value(u"name"_s).toString();
                if (name.isEmpty())
                    name = batchOf(answer).value(u"name"_s).toString();
                if (created.ok() && !name.isEmpty()) {
                    if (!cachedContent.isEmpty())
                        m_batchCaches.insert(idOfName(name), cachedContent);
                    Q_EMIT batchSubmitted(reference, idOfName(name), ErrorClass::None, QString());
                    return;
                }
                if (!cachedContent.isEmpty())
                    releaseCache(cachedContent); // nothing will read it
                Q_EMIT batchSubmitted(
                    reference, QString(), created.ok() ? ErrorClass::Malformed : created.error,
                    u"creating the batch: "_s +
                        (created.ok() ? u"no batch name in the answer"_s : created.errorMessage));
            });
}

BatchStatus GeminiProvider::batchStatusFrom(const QString &batchId, const ApiResult &result) const
{
    if (!result.ok())
        return failedPoll(batchId, result);
    BatchStatus status;
    status.batchId = batchId;
    const QJsonObject answer = jsonObject(result.body);
    const QJsonObject batch = batchOf(answer);
    status.providerStatus = batch.value(u"state"_s).toString();
    // The SDKs spell the same states JOB_STATE_*; an operation that is done without a state
    // has ended one way or the other.
    if (status.providerStatus.startsWith(u"JOB_STATE_"_s))
        status.providerStatus.replace(0, int(qstrlen("JOB_STATE_")), u"BATCH_STATE_"_s);
    if (status.providerStatus.isEmpty() && answer.value(u"done"_s).toBool())
        status.providerStatus = answer.value(u"error"_s).isObject() ? u"BATCH_STATE_FAILED"_s
                                                                    : u"BATCH_STATE_SUCCEEDED"_s;
    const QJsonObject stats = batch.value(u"batchStats"_s).toObject();
    if (!stats.isEmpty()) {
        // int64 figures come as strings in Google's JSON.
        const auto figure = [&stats](const QString &key) {
            const QJsonValue value = stats.value(key);
            return value.isString() ? value.toString().toLongLong() : value.toInteger();
        };
        status.total = figure(u"requestCount"_s);
        status.succeeded = figure(u"successfulRequestCount"_s);
        status.failed = figure(u"failedRequestCount"_s);
    }
    const QString &state = status.providerStatus;
    if (state == u"BATCH_STATE_SUCCEEDED"_s || state == u"BATCH_STATE_CANCELLED"_s ||
        state == u"BATCH_STATE_EXPIRED"_s) {
        status.phase = BatchPhase::Ended;
    } else if (state == u"BATCH_STATE_FAILED"_s) {
        status.phase = BatchPhase::Failed;
        const QJsonObject error = answer.value(u"error"_s).toObject();
        const QString message = error.value(u"message"_s).toString();
        // Quota-like refusals pass later; anything else is the request's fault.
        status.error = error.value(u"code"_s).toInt() == 8 ||
                               message.contains(u"quota"_s, Qt::CaseInsensitive) ||
                               message.contains(u"RESOURCE_EXHAUSTED"_s)
                           ? ErrorClass::RateLimited
                           : ErrorClass::InvalidRequest;
        status.errorMessage =
            safeMessage(u"batch failed: "_s + (message.isEmpty() ? u"no reason given"_s : message));
    } else if (state.isEmpty()) {
        status.error = ErrorClass::Malformed;
        status.errorMessage = u"batch answer without a state"_s;
    }
    return status;
}

void GeminiProvider::pollBatch(const QString &batchId)
{
    callApi("GET", apiRequest(batchPath(batchId)), {}, [this, batchId](const ApiResult &result) {
        const BatchStatus status = batchStatusFrom(batchId, result);
        if (status.phase == BatchPhase::Failed)
            releaseBatchCache(batchId); // no results will be fetched
        Q_EMIT batchPolled(status);
    });
}

void GeminiProvider::fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds)
{
    callApi("GET", apiRequest(batchPath(batchId)), {},
            [this, batchId, taskIds](const ApiResult &result) {
                const BatchStatus status = batchStatusFrom(batchId, result);
                if (status.error != ErrorClass::None && status.phase != BatchPhase::Failed) {
                    Q_EMIT batchResultsFetched(batchId, {}, status.error, status.errorMessage);
                    return;
                }
                if (status.phase == BatchPhase::Pending) {
                    Q_EMIT batchResultsFetched(batchId, {}, ErrorClass::ServerError,
                                               u"the batch is still "_s + status.providerStatus);
                    return;
                }
                const QJsonObject output = outputOf(jsonObject(result.body));
                const QString file = output.value(u"responsesFile"_s).toString();
                if (!file.isEmpty()) {
                    // The documented path on our own base URL, so the key never goes to another
                    // host.
                    callApi(
                        "GET",
                        apiRequest(u"/download/v1beta/"_s + file + u":download"_s, u"alt=media"_s),
                        {}, [this, batchId, taskIds, status](const ApiResult &downloaded) {
                            if (!downloaded.ok()) {
                                Q_EMIT batchResultsFetched(batchId, {}, downloaded.error,
                                                           u"downloading the results: "_s +
                                                               downloaded.errorMessage);
                                return;
                            }
                            joinFile(batchId, downloaded.body, taskIds, status);
                        });
                    return;
                }
                QJsonValue inlined = output.value(u"inlinedResponses"_s);
                if (inlined.isObject())
                    inlined = inlined.toObject().value(u"inlinedResponses"_s);
                joinInline(batchId, inlined.toArray(), taskIds, status);
            });
}

ChatReply GeminiProvider::lineReply(qint64 taskId, const QJsonObject &line) const
{
    ChatReply reply;
    reply.taskId = taskId;
    const QJsonValue response = line.value(u"response"_s);
    QJsonObject error = line.value(u"error"_s).toObject();
    if (error.isEmpty())
        error = line.value(u"status"_s).toObject();
    if (response.isObject()) {
        reply.httpStatus = 200;
        QString problem;
        if (!parseResponse(response.toObject(), &reply, &problem)) {
            reply.error = ErrorClass::Malformed;
            reply.errorMessage = safeMessage(u"unreadable batch answer: "_s + problem);
            reply.text.clear();
        } else {
            reply.text = redactSecret(reply.text, apiKey());
        }
        return reply;
    }
    // A google.rpc.Status: gRPC codes, mapped to the HTTP statuses they stand for so that
    // a line classifies like a realtime reply.
    static const QHash<int, int> httpOfCode{{3, 400},  {5, 404},  {7, 403}, {8, 429}, {9, 400},
                                            {13, 500}, {14, 503}, {4, 504}, {1, 499}, {16, 401}};
    const int code = error.value(u"code"_s).toInt(13);
    ApiError apiError;
    apiError.present = true;
    apiError.message = error.value(u"message"_s).toString();
    reply.httpStatus = httpOfCode.value(code, 500);
    reply.error =
        code == 1 ? ErrorClass::Cancelled : classifyHttpStatus(reply.httpStatus, apiError);
    reply.errorMessage =
        safeMessage(u"batch line failed (code %1): %2"_s.arg(code).arg(apiError.message));
    return reply;
}

namespace {

// A line the ended batch has no result for: expired lines go back to pending (Timeout),
// lines of a batch the provider cancelled come back Cancelled.
ChatReply missingLine(qint64 taskId, const BatchStatus &status, const QString &why)
{
    ChatReply reply;
    reply.taskId = taskId;
    if (status.phase == BatchPhase::Failed) {
        reply.error = status.error;
        reply.errorMessage = status.errorMessage;
        return reply;
    }
    reply.error = status.providerStatus == u"BATCH_STATE_CANCELLED"_s ? ErrorClass::Cancelled
                                                                      : ErrorClass::Timeout;
    reply.errorMessage = why;
    return reply;
}

} // namespace

void GeminiProvider::joinInline(const QString &batchId, const QJsonArray &responses,
                                const QList<qint64> &taskIds, const BatchStatus &status)
{
    const QList<qint64> ordered = sortedIds(taskIds);
    QHash<qint64, ChatReply> byTask;
    bool keyed = false;
    for (const QJsonValue &value : responses) {
        bool ok = false;
        const qint64 taskId = value.toObject()
                                  .value(u"metadata"_s)
                                  .toObject()
                                  .value(u"key"_s)
                                  .toString()
                                  .toLongLong(&ok);
        if (ok && taskIds.contains(taskId)) {
            keyed = true;
            byTask.insert(taskId, lineReply(taskId, value.toObject()));
        }
    }
    QString why = u"no result for this line in the %1 batch"_s.arg(status.providerStatus);
    if (!keyed && !responses.isEmpty()) {
        // Without metadata only the position says which line an answer belongs to, and
        // only when every line has one.
        if (responses.size() == ordered.size()) {
            for (qsizetype i = 0; i < ordered.size(); ++i)
                byTask.insert(ordered.at(i), lineReply(ordered.at(i), responses.at(i).toObject()));
        } else {
            why = u"the batch returned %1 inline results for %2 lines and no keys: "
                  "cannot tell which is which, sent again"_s.arg(responses.size())
                      .arg(ordered.size());
        }
    }
    QList<ChatReply> replies;
    replies.reserve(taskIds.size());
    for (qint64 taskId : taskIds)
        replies.append(byTask.contains(taskId) ? byTask.value(taskId)
                                               : missingLine(taskId, status, why));
    releaseBatchCache(batchId);
    Q_EMIT batchResultsFetched(batchId, replies, ErrorClass::None, QString());
}

void GeminiProvider::joinFile(const QString &batchId, const QByteArray &file,
                              const QList<qint64> &taskIds, const BatchStatus &status)
{
    QHash<qint64, ChatReply> byTask;
    for (const QByteArray &rawLine : file.split('\n')) {
        const QByteArray line = rawLine.trimmed();
        if (line.isEmpty())
            continue;
        const QJsonObject object = jsonObject(line);
        const QJsonValue key = object.value(u"key"_s);
        bool ok = false;
        const qint64 taskId = key.isString() ? key.toString().toLongLong(&ok)
                                             : (ok = key.isDouble(), key.toInteger());
        if (!ok)
            continue; // not one of ours
        byTask.insert(taskId, lineReply(taskId, object));
    }
    const QString why = u"no result for this line in the %1 batch"_s.arg(status.providerStatus);
    QList<ChatReply> replies;
    replies.reserve(taskIds.size());
    for (qint64 taskId : taskIds)
        replies.append(byTask.contains(taskId) ? byTask.value(taskId)
                                               : missingLine(taskId, status, why));
    releaseBatchCache(batchId);
    Q_EMIT batchResultsFetched(batchId, replies, ErrorClass::None, QString());
}

void GeminiProvider::releaseBatchCache(const QString &batchId)
{
    const QString name = m_batchCaches.take(batchId);
    if (!name.isEmpty())
        releaseCache(name);
}

void GeminiProvider::releaseCache(const QString &cacheName)
{
    const auto cache = m_caches.find(cacheName);
    if (cache == m_caches.end() || cache->deleting)
        return; // released already
    cache->deleting = true;
    const double lived = double(qMax<qint64>(0, clock()->nowMs() - cache->createdAtMs)) / 3.6e6;
    // Billing ends when the API takes the delete: only then is the charge lowered from the
    // whole TTL to the hours it lived (a delete that never arrives leaves it to its TTL).
    callApi("DELETE", apiRequest(u"/v1beta/"_s + cacheName), {},
            [this, cacheName, lived](const ApiResult &deleted) {
                // Gone already (404) is as good as deleted.
                if (deleted.ok() || deleted.httpStatus == 404)
                    reportCache(cacheName, qMin(lived, m_caches.value(cacheName).ttlHours));
                else
                    qWarning("gemini: context cache %s not deleted (%s); it stays until its TTL",
                             qPrintable(cacheName), qPrintable(deleted.errorMessage));
                m_caches.remove(cacheName);
            });
}

bool GeminiProvider::chargesSettling() const
{
    return std::any_of(m_caches.cbegin(), m_caches.cend(),
                       [](const ExplicitCache &cache) { return cache.deleting; });
}

void GeminiProvider::reportCache(const QString &cacheName, double hours)
{
    const auto cache = m_caches.constFind(cacheName);
    const std::optional<cost::ModelPrice> price =
        cache == m_caches.cend() ? std::nullopt : m_prices.price(cache->model);
    if (!price)
        return;
    // Its tokens once at the input price when it was made, then storage by the hour.
    const double usd =
        double(cache->tokens) * (price->input + price->cacheStoragePerHour * hours) / 1e6;
    const QString detail =
        u"explicit context cache %1 (%2): %3 tokens at $%4 per 1M, stored %5 h at $%6 per 1M "
        "an hour"_s.arg(cacheName, cache->model)
            .arg(cache->tokens)
            .arg(price->input)
            .arg(hours, 0, 'f', 4)
            .arg(price->cacheStoragePerHour);
    Q_EMIT batchCharged(cacheName, cache->model, usd, detail);
}

void GeminiProvider::cancelBatch(const QString &batchId)
{
    releaseBatchCache(batchId);
    callApi("POST", apiRequest(batchPath(batchId, u":cancel"_s)), {},
            [this, batchId](const ApiResult &result) {
                Q_EMIT batchCancelRequested(batchId, result.error, result.errorMessage);
            });
}

void GeminiProvider::findBatch(const QString &reference, const QList<ChatRequest> &requests,
                               qint64 createdSinceMs)
{
    // The row is written before the create is sent, but the two clocks differ: look ten
    // minutes further back than the row's own time.
    findBatchPage(reference, displayNameFor(reference, requests), createdSinceMs - 10 * 60'000,
                  QString(), 0);
}

void GeminiProvider::findBatchPage(const QString &reference, const QString &displayName,
                                   qint64 oldestMs, const QString &pageToken, int page)
{
    constexpr int kMaxPages = 50;
    QUrlQuery query;
    query.addQueryItem(u"pageSize"_s, u"100"_s);
    if (!pageToken.isEmpty())
        query.addQueryItem(u"pageToken"_s, pageToken);
    callApi("GET", apiRequest(u"/v1beta/batches"_s, query.toString(QUrl::FullyEncoded)), {},
            [=, this](const ApiResult &listed) {
                const QJsonObject root = jsonObject(listed.body);
                if (!listed.ok()) {
                    Q_EMIT batchFound(reference, QString(), listed.error,
                                      u"listing batches: "_s + listed.errorMessage);
                    return;
                }
                QJsonArray entries = root.value(u"operations"_s).toArray();
                if (entries.isEmpty())
                    entries = root.value(u"batches"_s).toArray();
                for (const QJsonValue &value : std::as_const(entries)) {
                    const QJsonObject batch = batchOf(value.toObject());
                    const QDateTime created = QDateTime::fromString(
                        batch.value(u"createTime"_s).toString(), Qt::ISODateWithMs);
                    if (created.isValid() && created.toMSecsSinceEpoch() < oldestMs)
                        continue; // the list has no promised order: skip, do not stop
                    QString name = value.toObject().value(u"name"_s).toString();
                    if (name.isEmpty())
                        name = batch.value(u"name"_s).toString();
                    if (batch.value(u"displayName"_s).toString() == displayName &&
                        !name.isEmpty()) {
                        Q_EMIT batchFound(reference, idOfName(name), ErrorClass::None, QString());
                        return;
                    }
                }
                const QString next = root.value(u"nextPageToken"_s).toString();
                if (next.isEmpty() || page + 1 >= kMaxPages) {
                    Q_EMIT batchFound(reference, QString(), ErrorClass::None, QString());
                    return;
                }
                findBatchPage(reference, displayName, oldestMs, next, page + 1);
            });
}

} // namespace bd::providers
