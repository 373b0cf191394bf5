// OpenAiChatProvider, second half: the OpenAI Batch API (Files + Batches), docs PROVIDERS.md.

#include "batchplanner.h"
#include "errorclassification.h"
#include "openaichatprovider.h"
#include "providercatalog.h"
#include "replyparsing.h"

#include <algorithm>
#include <QCryptographicHash>
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

QString batchStatusOf(const QJsonObject &batch)
{
    return batch.value(u"status"_s).toString();
}

} // namespace

BatchLimits OpenAiChatProvider::batchLimits() const
{
    if (m_flavour != Flavour::OpenAi)
        return {};
    const ProviderCatalogEntry catalog = providerCatalogEntry(u"openai"_s);
    BatchLimits limits;
    limits.maxRequests =
        settings().value(u"batch_max_requests"_s).toInteger(catalog.batchMaxRequests);
    limits.maxBytes = settings().value(u"batch_max_bytes"_s).toInteger(catalog.batchMaxBytes);
    return limits;
}

QByteArray OpenAiChatProvider::batchLine(const ChatRequest &request) const
{
    // Key order fixed by hand: custom_id first makes the files easy to read.
    return "{\"custom_id\":\"" + QByteArray::number(request.taskId) +
           "\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":" +
           requestBody(request) + '}';
}

QList<QList<ChatRequest>> OpenAiChatProvider::planBatches(const QList<ChatRequest> &requests) const
{
    if (!hasBatchApi())
        return {};
    return splitIntoBatches(requests, batchLimits(), [this](const ChatRequest &request) {
        return batchLine(request).size() + 1;
    });
}

void OpenAiChatProvider::submitBatch(const QString &reference, const QList<ChatRequest> &requests)
{
    if (!hasBatchApi()) {
        Provider::submitBatch(reference, requests);
        return;
    }
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
    QByteArray jsonl;
    for (const ChatRequest &request : requests) {
        if (request.model != requests.first().model)
            return refuse(u"one model per batch file: split with planBatches() first"_s);
        jsonl += batchLine(request) + '\n';
    }
    const BatchLimits limits = batchLimits();
    if ((limits.maxRequests > 0 && requests.size() > limits.maxRequests) ||
        (limits.maxBytes > 0 && jsonl.size() > limits.maxBytes))
        return refuse(u"the batch is over the API's limits: split with planBatches() first"_s);

    // 1. The file, as multipart/form-data (purpose=batch).
    const QByteArray boundary =
        "batchdesk-" + QByteArray::number(QRandomGenerator::global()->generate64(), 16);
    QByteArray multipart;
    multipart +=
        "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n";
    multipart += "--" + boundary +
                 "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"batchdesk-" +
                 QUrl::toPercentEncoding(reference) +
                 ".jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n";
    multipart += jsonl;
    multipart += "\r\n--" + boundary + "--\r\n";
    QNetworkRequest upload = apiRequest(u"/files"_s);
    upload.setHeader(QNetworkRequest::ContentTypeHeader,
                     QString::fromLatin1("multipart/form-data; boundary=" + boundary));
    const QString fingerprint = batchFingerprint(requests);
    callApi("POST", upload, multipart, [this, reference, fingerprint](const ApiResult &uploaded) {
        const QString fileId = jsonObject(uploaded.body).value(u"id"_s).toString();
        if (!uploaded.ok() || fileId.isEmpty()) {
            Q_EMIT batchSubmitted(
                reference, QString(), uploaded.ok() ? ErrorClass::Malformed : uploaded.error,
                u"uploading the batch file: "_s +
                    (uploaded.ok() ? u"no file id in the answer"_s : uploaded.errorMessage));
            return;
        }
        // 2. The batch over that file.
        const QJsonObject create{
            {u"input_file_id"_s, fileId},
            {u"endpoint"_s, u"/v1/chat/completions"_s},
            {u"completion_window"_s, u"24h"_s},
            {u"metadata"_s, QJsonObject{{u"batchdesk_reference"_s, reference},
                                        {u"batchdesk_lines"_s, fingerprint}}},
        };
        callApi(
            "POST", apiRequest(u"/batches"_s), QJsonDocument(create).toJson(QJsonDocument::Compact),
            [this, reference, fileId](const ApiResult &created) {
                const QString batchId = jsonObject(created.body).value(u"id"_s).toString();
                if (created.ok() && !batchId.isEmpty()) {
                    Q_EMIT batchSubmitted(reference, batchId, ErrorClass::None, QString());
                    return;
                }
                // Do not leave the uploaded file behind (best effort).
                callApi("DELETE", apiRequest(u"/files/"_s + fileId), {}, [](const ApiResult &) {});
                Q_EMIT batchSubmitted(
                    reference, QString(), created.ok() ? ErrorClass::Malformed : created.error,
                    u"creating the batch: "_s +
                        (created.ok() ? u"no batch id in the answer"_s : created.errorMessage));
            });
    });
}

QString OpenAiChatProvider::batchFingerprint(const QList<ChatRequest> &requests) const
{
    QList<std::pair<qint64, QByteArray>> lines;
    lines.reserve(requests.size());
    for (const ChatRequest &request : requests)
        lines.append({request.taskId, batchLine(request)});
    std::sort(lines.begin(), lines.end());
    QCryptographicHash hash(QCryptographicHash::Sha256);
    for (const auto &line : std::as_const(lines)) {
        hash.addData(line.second);
        hash.addData("\n");
    }
    return QString::fromLatin1(hash.result().toHex());
}

void OpenAiChatProvider::findBatch(const QString &reference, const QList<ChatRequest> &requests,
                                   qint64 createdSinceMs)
{
    if (!hasBatchApi()) {
        Provider::findBatch(reference, requests, createdSinceMs);
        return;
    }
    // The row is written before the create is sent, but the two clocks differ: look ten
    // minutes further back than the row's own time.
    const qint64 oldestSeconds = (createdSinceMs - 10 * 60'000) / 1000;
    findBatchPage(reference, batchFingerprint(requests), oldestSeconds, QString(), 0);
}

void OpenAiChatProvider::findBatchPage(const QString &reference, const QString &fingerprint,
                                       qint64 oldestSeconds, const QString &after, int page)
{
    // Far more batches than one account creates in the window; past it, submit again.
    constexpr int kMaxPages = 50;
    QNetworkRequest request = apiRequest(u"/batches"_s);
    QUrl url = request.url();
    QUrlQuery query;
    query.addQueryItem(u"limit"_s, u"100"_s);
    if (!after.isEmpty())
        query.addQueryItem(u"after"_s, after);
    url.setQuery(query);
    request.setUrl(url);
    callApi("GET", request, {}, [=, this](const ApiResult &listed) {
        const QJsonObject root = jsonObject(listed.body);
        if (!listed.ok() || !root.value(u"data"_s).isArray()) {
            Q_EMIT batchFound(reference, QString(),
                              listed.ok() ? ErrorClass::Malformed : listed.error,
                              u"listing batches: "_s +
                                  (listed.ok() ? u"no data in the answer"_s : listed.errorMessage));
            return;
        }
        const QJsonArray data = root.value(u"data"_s).toArray();
        bool pastTheWindow = false;
        for (const QJsonValue &value : data) {
            const QJsonObject batch = value.toObject();
            if (batch.value(u"created_at"_s).toInteger() < oldestSeconds) {
                pastTheWindow = true; // newest first: the rest are older still
                break;
            }
            const QJsonObject metadata = batch.value(u"metadata"_s).toObject();
            if (metadata.value(u"batchdesk_reference"_s).toString() == reference &&
                metadata.value(u"batchdesk_lines"_s).toString() == fingerprint &&
                !batch.value(u"id"_s).toString().isEmpty()) {
                Q_EMIT batchFound(reference, batch.value(u"id"_s).toString(), ErrorClass::None,
                                  QString());
                return;
            }
        }
        QString last = root.value(u"last_id"_s).toString();
        if (last.isEmpty() && !data.isEmpty())
            last = data.last().toObject().value(u"id"_s).toString();
        if (pastTheWindow || !root.value(u"has_more"_s).toBool() || last.isEmpty() ||
            page + 1 >= kMaxPages) {
            Q_EMIT batchFound(reference, QString(), ErrorClass::None, QString());
            return;
        }
        findBatchPage(reference, fingerprint, oldestSeconds, last, page + 1);
    });
}

BatchStatus OpenAiChatProvider::batchStatusFrom(const QString &batchId,
                                                const ApiResult &result) const
{
    if (!result.ok())
        return failedPoll(batchId, result);
    BatchStatus status;
    status.batchId = batchId;
    const QJsonObject batch = jsonObject(result.body);
    status.providerStatus = batchStatusOf(batch);
    const QJsonObject counts = batch.value(u"request_counts"_s).toObject();
    if (!counts.isEmpty()) {
        status.total = counts.value(u"total"_s).toInteger();
        status.succeeded = counts.value(u"completed"_s).toInteger();
        status.failed = counts.value(u"failed"_s).toInteger();
    }
    const QString &word = status.providerStatus;
    if (word == u"completed"_s || word == u"expired"_s || word == u"cancelled"_s) {
        status.phase = BatchPhase::Ended;
    } else if (word == u"failed"_s) {
        status.phase = BatchPhase::Failed;
        const QJsonArray errors = batch.value(u"errors"_s).toObject().value(u"data"_s).toArray();
        QStringList messages;
        bool tokenLimit = false;
        bool lineErrors = false;
        for (const QJsonValue &value : errors) {
            const QJsonObject error = value.toObject();
            const QString code = error.value(u"code"_s).toString();
            tokenLimit = tokenLimit || code == u"token_limit_exceeded"_s ||
                         error.value(u"message"_s)
                             .toString()
                             .contains(u"enqueued token limit"_s, Qt::CaseInsensitive);
            QString line = error.value(u"message"_s).toString();
            lineErrors = lineErrors || error.value(u"line"_s).isDouble();
            if (error.value(u"line"_s).isDouble())
                line = u"line %1: "_s.arg(error.value(u"line"_s).toInteger()) + line;
            messages.append(code.isEmpty() ? line : code + u": "_s + line);
        }
        // Over the enqueued-token limit the same batch will pass later; errors naming lines
        // are the file's fault; a failure that names no line is the provider's.
        status.error = tokenLimit   ? ErrorClass::RateLimited
                       : lineErrors ? ErrorClass::InvalidRequest
                                    : ErrorClass::ServerError;
        status.errorMessage =
            safeMessage(u"batch failed: "_s +
                        (messages.isEmpty() ? u"no reason given"_s : messages.join(u"; "_s)));
    } else if (word.isEmpty()) {
        status.error = ErrorClass::Malformed;
        status.errorMessage = u"batch answer without a status"_s;
    }
    return status;
}

void OpenAiChatProvider::pollBatch(const QString &batchId)
{
    if (!hasBatchApi()) {
        Provider::pollBatch(batchId);
        return;
    }
    callApi("GET",
            apiRequest(u"/batches/"_s + QString::fromLatin1(QUrl::toPercentEncoding(batchId))), {},
            [this, batchId](const ApiResult &result) {
                Q_EMIT batchPolled(batchStatusFrom(batchId, result));
            });
}

void OpenAiChatProvider::fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds)
{
    if (!hasBatchApi()) {
        Provider::fetchBatchResults(batchId, taskIds);
        return;
    }
    // The batch first: it names the output and error files (either may be null).
    callApi("GET",
            apiRequest(u"/batches/"_s + QString::fromLatin1(QUrl::toPercentEncoding(batchId))), {},
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
                const QJsonObject batch = jsonObject(result.body);
                QStringList fileIds;
                for (const QString &key : {u"output_file_id"_s, u"error_file_id"_s}) {
                    const QString fileId = batch.value(key).toString();
                    if (!fileId.isEmpty())
                        fileIds.append(fileId);
                }
                // Lines without a result: an expired batch's unfinished lines (retry them),
                // a cancelled batch's, or every line of a batch that failed as a whole.
                MissingLines missing;
                missing.error = status.phase == BatchPhase::Failed        ? status.error
                                : status.providerStatus == u"cancelled"_s ? ErrorClass::Cancelled
                                                                          : ErrorClass::Timeout;
                missing.message =
                    status.phase == BatchPhase::Failed
                        ? status.errorMessage
                        : u"no result for this line in the %1 batch"_s.arg(status.providerStatus);
                downloadResultFiles(batchId, fileIds, {}, taskIds, missing);
            });
}

void OpenAiChatProvider::downloadResultFiles(const QString &batchId, QStringList fileIds,
                                             QList<QByteArray> files, const QList<qint64> &taskIds,
                                             const MissingLines &missing)
{
    if (fileIds.isEmpty()) {
        joinResults(batchId, files, taskIds, missing);
        return;
    }
    const QString fileId = fileIds.takeFirst();
    callApi("GET",
            apiRequest(u"/files/"_s + QString::fromLatin1(QUrl::toPercentEncoding(fileId)) +
                       u"/content"_s),
            {}, [this, batchId, fileIds, files, taskIds, missing](const ApiResult &result) mutable {
                if (!result.ok()) {
                    Q_EMIT batchResultsFetched(batchId, {}, result.error,
                                               u"downloading the results: "_s +
                                                   result.errorMessage);
                    return;
                }
                files.append(result.body);
                downloadResultFiles(batchId, fileIds, files, taskIds, missing);
            });
}

void OpenAiChatProvider::joinResults(const QString &batchId, const QList<QByteArray> &files,
                                     const QList<qint64> &taskIds, const MissingLines &missing)
{
    const QHash<qint64, ChatReply> byTask = parseOpenAiBatchResults(files, apiKey());
    QList<ChatReply> replies;
    replies.reserve(taskIds.size());
    for (qint64 taskId : taskIds) {
        const auto it = byTask.constFind(taskId);
        if (it != byTask.cend()) {
            replies.append(it.value());
            continue;
        }
        ChatReply reply;
        reply.taskId = taskId;
        reply.error = missing.error;
        reply.errorMessage = missing.message;
        replies.append(reply);
    }
    Q_EMIT batchResultsFetched(batchId, replies, ErrorClass::None, QString());
}

void OpenAiChatProvider::cancelBatch(const QString &batchId)
{
    if (!hasBatchApi()) {
        Provider::cancelBatch(batchId);
        return;
    }
    callApi("POST",
            apiRequest(u"/batches/"_s + QString::fromLatin1(QUrl::toPercentEncoding(batchId)) +
                       u"/cancel"_s),
            {}, [this, batchId](const ApiResult &result) {
                Q_EMIT batchCancelRequested(batchId, result.error, result.errorMessage);
            });
}

} // namespace bd::providers
