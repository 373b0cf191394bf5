// AnthropicProvider, second half: Message Batches, docs PROVIDERS.md.

#include "anthropicprovider.h"
#include "batchplanner.h"
#include "errorclassification.h"
#include "providercatalog.h"
#include "replyparsing.h"

#include <QJsonDocument>
#include <QJsonObject>

namespace bd::providers {

using namespace Qt::StringLiterals;

namespace {

QJsonObject jsonObject(const QByteArray &body)
{
    return QJsonDocument::fromJson(body).object();
}

} // namespace

BatchLimits AnthropicProvider::batchLimits() const
{
    const ProviderCatalogEntry catalog = providerCatalogEntry(u"anthropic"_s);
    BatchLimits limits;
    limits.maxRequests =
        settings().value(u"batch_max_requests"_s).toInteger(catalog.batchMaxRequests);
    limits.maxBytes = settings().value(u"batch_max_bytes"_s).toInteger(catalog.batchMaxBytes);
    return limits;
}

QByteArray AnthropicProvider::batchEntry(const ChatRequest &request) const
{
    return "{\"custom_id\":\"" + QByteArray::number(request.taskId) +
           "\",\"params\":" + requestBody(request, CacheLife::OneHour) + '}';
}

QList<QList<ChatRequest>> AnthropicProvider::planBatches(const QList<ChatRequest> &requests) const
{
    return splitIntoBatches(requests, batchLimits(), [this](const ChatRequest &request) {
        return batchEntry(request).size() + 1;
    });
}

QString AnthropicProvider::batchPath(const QString &batchId, const QString &suffix) const
{
    QString path = m_messagesPath + u"/batches"_s;
    if (!batchId.isEmpty())
        path += u"/"_s + QString::fromLatin1(QUrl::toPercentEncoding(batchId));
    return path + suffix;
}

void AnthropicProvider::submitBatch(const QString &reference, const QList<ChatRequest> &requests)
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
    QByteArray body = "{\"requests\":[";
    for (qsizetype i = 0; i < requests.size(); ++i) {
        if (requests.at(i).model != requests.first().model)
            return refuse(u"one model per batch: split with planBatches() first"_s);
        if (i > 0)
            body += ',';
        body += batchEntry(requests.at(i));
    }
    body += "]}";
    const BatchLimits limits = batchLimits();
    if ((limits.maxRequests > 0 && requests.size() > limits.maxRequests) ||
        (limits.maxBytes > 0 && body.size() > limits.maxBytes))
        return refuse(u"the batch is over the API's limits: split with planBatches() first"_s);
    QNetworkRequest create = apiRequest(batchPath({}));
    // The 1 h cache TTL of the lines; the API has taken it without this since it became
    // generally available, and a known beta name does no harm to an API that needs none.
    create.setRawHeader("anthropic-beta", kExtendedCacheTtlBeta);
    callApi("POST", create, body, [this, reference](const ApiResult &created) {
        const QString batchId = jsonObject(created.body).value(u"id"_s).toString();
        if (created.ok() && !batchId.isEmpty()) {
            Q_EMIT batchSubmitted(reference, batchId, ErrorClass::None, QString());
            return;
        }
        Q_EMIT batchSubmitted(
            reference, QString(), created.ok() ? ErrorClass::Malformed : created.error,
            u"creating the batch: "_s +
                (created.ok() ? u"no batch id in the answer"_s : created.errorMessage));
    });
}

BatchStatus AnthropicProvider::batchStatusFrom(const QString &batchId,
                                               const ApiResult &result) const
{
    if (!result.ok())
        return failedPoll(batchId, result);
    BatchStatus status;
    status.batchId = batchId;
    const QJsonObject batch = jsonObject(result.body);
    status.providerStatus = batch.value(u"processing_status"_s).toString();
    const QJsonObject counts = batch.value(u"request_counts"_s).toObject();
    if (!counts.isEmpty()) {
        const qint64 processing = counts.value(u"processing"_s).toInteger();
        status.succeeded = counts.value(u"succeeded"_s).toInteger();
        status.failed = counts.value(u"errored"_s).toInteger() +
                        counts.value(u"canceled"_s).toInteger() +
                        counts.value(u"expired"_s).toInteger();
        status.total = processing + status.succeeded + status.failed;
    }
    if (status.providerStatus == u"ended"_s) {
        status.phase = BatchPhase::Ended;
    } else if (status.providerStatus.isEmpty()) {
        status.error = ErrorClass::Malformed;
        status.errorMessage = u"batch answer without a processing_status"_s;
    }
    return status;
}

void AnthropicProvider::pollBatch(const QString &batchId)
{
    callApi("GET", apiRequest(batchPath(batchId)), {}, [this, batchId](const ApiResult &result) {
        Q_EMIT batchPolled(batchStatusFrom(batchId, result));
    });
}

void AnthropicProvider::fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds)
{
    callApi("GET", apiRequest(batchPath(batchId)), {},
            [this, batchId, taskIds](const ApiResult &result) {
                const BatchStatus status = batchStatusFrom(batchId, result);
                if (status.error != ErrorClass::None) {
                    Q_EMIT batchResultsFetched(batchId, {}, status.error, status.errorMessage);
                    return;
                }
                if (status.phase != BatchPhase::Ended) {
                    Q_EMIT batchResultsFetched(batchId, {}, ErrorClass::ServerError,
                                               u"the batch is still "_s + status.providerStatus);
                    return;
                }
                // The documented path on our own base URL, so the key never goes to another host.
                callApi("GET", apiRequest(batchPath(batchId, u"/results"_s)), {},
                        [this, batchId, taskIds](const ApiResult &results) {
                            if (!results.ok()) {
                                Q_EMIT batchResultsFetched(batchId, {}, results.error,
                                                           u"downloading the results: "_s +
                                                               results.errorMessage);
                                return;
                            }
                            joinResults(batchId, results.body, taskIds);
                        });
            });
}

void AnthropicProvider::joinResults(const QString &batchId, const QByteArray &results,
                                    const QList<qint64> &taskIds)
{
    const QHash<qint64, ChatReply> byTask = parseAnthropicBatchResults(results, apiKey());
    QList<ChatReply> replies;
    replies.reserve(taskIds.size());
    for (qint64 taskId : taskIds) {
        const auto it = byTask.constFind(taskId);
        if (it != byTask.cend()) {
            replies.append(it.value());
            continue;
        }
        ChatReply missing;
        missing.taskId = taskId;
        missing.error = ErrorClass::Timeout;
        missing.errorMessage = u"no result for this line in the ended batch"_s;
        replies.append(missing);
    }
    Q_EMIT batchResultsFetched(batchId, replies, ErrorClass::None, QString());
}

void AnthropicProvider::cancelBatch(const QString &batchId)
{
    callApi("POST", apiRequest(batchPath(batchId, u"/cancel"_s)), {},
            [this, batchId](const ApiResult &result) {
                Q_EMIT batchCancelRequested(batchId, result.error, result.errorMessage);
            });
}

} // namespace bd::providers
