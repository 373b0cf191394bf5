// FakeProvider, second half: OpenAI Files + Batches and Anthropic Message Batches.

#include "fakeprovider.h"

#include <algorithm>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QRegularExpression>
#include <QSet>
#include <QUrlQuery>
#include <random>

namespace bd::testing {

using namespace Qt::StringLiterals;

namespace {

QByteArray compact(const QJsonObject &object)
{
    return QJsonDocument(object).toJson(QJsonDocument::Compact);
}

// The parts of a multipart/form-data body: name -> (filename, content).
QHash<QString, std::pair<QString, QByteArray>> parseMultipart(const QByteArray &contentType,
                                                              const QByteArray &body)
{
    QHash<QString, std::pair<QString, QByteArray>> parts;
    const qsizetype at = contentType.indexOf("boundary=");
    if (at < 0)
        return parts;
    QByteArray boundary = contentType.mid(at + 9);
    if (boundary.startsWith('"'))
        boundary = boundary.mid(1, boundary.indexOf('"', 1) - 1);
    const QByteArray delimiter = "--" + boundary;
    qsizetype position = body.indexOf(delimiter);
    while (position >= 0) {
        position += delimiter.size();
        if (body.mid(position, 2) == "--")
            break;
        const qsizetype next = body.indexOf(delimiter, position);
        if (next < 0)
            break;
        QByteArray part = body.mid(position, next - position);
        if (part.startsWith("\r\n"))
            part.remove(0, 2);
        if (part.endsWith("\r\n"))
            part.chop(2);
        const qsizetype headerEnd = part.indexOf("\r\n\r\n");
        if (headerEnd >= 0) {
            const QByteArray headers = part.left(headerEnd);
            const QByteArray content = part.mid(headerEnd + 4);
            const auto attribute = [&](const QByteArray &name) {
                const QByteArray key = name + "=\"";
                const qsizetype start = headers.indexOf(key);
                if (start < 0)
                    return QString();
                const qsizetype end = headers.indexOf('"', start + key.size());
                return QString::fromUtf8(headers.mid(start + key.size(), end - start - key.size()));
            };
            parts.insert(attribute("name"), {attribute("filename"), content});
        }
        position = next;
    }
    return parts;
}

// The user prompt of a chat request body (OpenAI line body or Anthropic params).
QString userPromptOf(const QByteArray &body)
{
    QString prompt;
    const QJsonArray messages = QJsonDocument::fromJson(body).object().value(u"messages"_s).toArray();
    for (const QJsonValue &value : messages) {
        const QJsonObject message = value.toObject();
        if (message.value(u"role"_s).toString() != u"user"_s)
            continue;
        const QJsonValue content = message.value(u"content"_s);
        if (content.isString()) {
            prompt = content.toString();
        } else {
            prompt.clear();
            for (const QJsonValue &part : content.toArray())
                prompt += part.toObject().value(u"text"_s).toString();
        }
    }
    return prompt;
}

// [[fake:expire]] / [[fake:cancel]] (optionally *N: only the first N runs) in a batch line.
bool lineMarker(const QString &prompt, const QString &name, int run)
{
    static const QRegularExpression marker(uR"(\[\[fake:(expire|cancel)(?:\*(\d+))?\]\])"_s);
    for (auto it = marker.globalMatch(prompt); it.hasNext();) {
        const QRegularExpressionMatch match = it.next();
        if (match.captured(1) != name)
            continue;
        if (!match.hasCaptured(2) || run <= match.captured(2).toInt())
            return true;
    }
    return false;
}

template <typename T> void shuffle(QList<T> &list, const QString &seed)
{
    std::mt19937 generator(qHash(seed));
    std::shuffle(list.begin(), list.end(), generator);
}

} // namespace

bool FakeProvider::authorized(const ReceivedRequest &request, bool anthropic) const
{
    if (m_options.requiredKey.isEmpty())
        return true;
    const QByteArray expected = m_options.requiredKey.toUtf8();
    return anthropic ? request.header("x-api-key") == expected
                     : request.header("authorization") == "Bearer " + expected;
}

FakeProvider::Response FakeProvider::jsonResponse(int status, const QJsonObject &body) const
{
    Response response;
    response.status = status;
    response.body = compact(body);
    return response;
}

FakeProvider::Response FakeProvider::apiError(int status, bool anthropic, const QString &type,
                                              const QString &message) const
{
    if (anthropic)
        return jsonResponse(
            status, {{u"type"_s, u"error"_s},
                     {u"error"_s, QJsonObject{{u"type"_s, type}, {u"message"_s, message}}}});
    return jsonResponse(status, {{u"error"_s, QJsonObject{{u"message"_s, message},
                                                          {u"type"_s, type},
                                                          {u"param"_s, QJsonValue()},
                                                          {u"code"_s, QJsonValue()}}}});
}

FakeProvider::Response FakeProvider::routeFiles(const ReceivedRequest &request,
                                                const QList<QByteArray> &parts)
{
    if (!authorized(request, false))
        return apiError(401, false, u"invalid_request_error"_s, u"Invalid API key"_s);
    // /v1/files, /v1/files/{id}, /v1/files/{id}/content
    if (parts.size() == 3 && request.method == "POST") {
        const auto form = parseMultipart(request.header("content-type"), request.body);
        if (!form.contains(u"file"_s) || form.value(u"purpose"_s).second != "batch")
            return apiError(400, false, u"invalid_request_error"_s,
                            u"need a file and purpose=batch"_s);
        const QString id = u"file-fake%1"_s.arg(m_nextId++);
        m_files.insert(id, {form.value(u"file"_s).second, u"batch"_s, form.value(u"file"_s).first});
        return jsonResponse(200, {{u"id"_s, id},
                                  {u"object"_s, u"file"_s},
                                  {u"bytes"_s, qint64(form.value(u"file"_s).second.size())},
                                  {u"filename"_s, form.value(u"file"_s).first},
                                  {u"purpose"_s, u"batch"_s}});
    }
    const QString id = QString::fromUtf8(parts.value(3));
    if (!m_files.contains(id))
        return apiError(404, false, u"invalid_request_error"_s, u"No such File object: "_s + id);
    if (parts.size() == 5 && parts.at(4) == "content" && request.method == "GET") {
        Response response;
        response.headers.append(
            {QByteArray("Content-Type"), QByteArray("application/octet-stream")});
        response.body = m_files.value(id).content;
        return response;
    }
    if (parts.size() == 4 && request.method == "DELETE") {
        m_files.remove(id);
        return jsonResponse(200, {{u"id"_s, id}, {u"object"_s, u"file"_s}, {u"deleted"_s, true}});
    }
    return apiError(404, false, u"invalid_request_error"_s, u"no route"_s);
}

QJsonObject FakeProvider::openAiBatchJson(const Batch &batch) const
{
    const bool ended = batch.status == u"completed"_s || batch.status == u"expired"_s ||
                       batch.status == u"cancelled"_s;
    return {
        {u"id"_s, batch.id},
        {u"object"_s, u"batch"_s},
        {u"endpoint"_s, u"/v1/chat/completions"_s},
        {u"errors"_s, batch.errors.isEmpty() ? QJsonValue()
                                             : QJsonValue(QJsonObject{{u"object"_s, u"list"_s},
                                                                      {u"data"_s, batch.errors}})},
        {u"input_file_id"_s, batch.inputFileId},
        {u"completion_window"_s, u"24h"_s},
        {u"status"_s, batch.status},
        {u"output_file_id"_s,
         batch.outputFileId.isEmpty() ? QJsonValue() : QJsonValue(batch.outputFileId)},
        {u"error_file_id"_s,
         batch.errorFileId.isEmpty() ? QJsonValue() : QJsonValue(batch.errorFileId)},
        {u"created_at"_s, batch.createdAt},
        {u"request_counts"_s,
         QJsonObject{{u"total"_s, qint64(batch.lines.size())},
                     {u"completed"_s, ended ? batch.succeeded : 0},
                     {u"failed"_s, ended ? batch.errored + batch.expired + batch.canceled : 0}}},
        {u"metadata"_s, batch.metadata},
    };
}

QJsonObject FakeProvider::anthropicBatchJson(const Batch &batch) const
{
    const bool ended = batch.status == u"ended"_s;
    const qint64 done = batch.succeeded + batch.errored + batch.expired + batch.canceled;
    return {
        {u"id"_s, batch.id},
        {u"type"_s, u"message_batch"_s},
        {u"processing_status"_s, batch.status},
        {u"request_counts"_s,
         QJsonObject{{u"processing"_s, ended ? 0 : qint64(batch.lines.size()) - done},
                     {u"succeeded"_s, batch.succeeded},
                     {u"errored"_s, batch.errored},
                     {u"canceled"_s, batch.canceled},
                     {u"expired"_s, batch.expired}}},
        {u"created_at"_s,
         QDateTime::fromSecsSinceEpoch(batch.createdAt).toUTC().toString(Qt::ISODate)},
        {u"ended_at"_s, QJsonValue()},
        {u"cancel_initiated_at"_s, QJsonValue()},
        {u"results_url"_s, ended ? QJsonValue(anthropicBaseUrl() + u"/v1/messages/batches/"_s +
                                              batch.id + u"/results"_s)
                                 : QJsonValue()},
    };
}

FakeProvider::Response FakeProvider::routeOpenAiBatches(const ReceivedRequest &request,
                                                        const QList<QByteArray> &parts)
{
    if (!authorized(request, false))
        return apiError(401, false, u"invalid_request_error"_s, u"Invalid API key"_s);
    // /v1/batches, /v1/batches/{id}, /v1/batches/{id}/cancel
    if (parts.size() == 3 && request.method == "GET")
        return listOpenAiBatches(request);
    if (parts.size() == 3 && request.method == "POST") {
        const QJsonObject body = QJsonDocument::fromJson(request.body).object();
        const QString fileId = body.value(u"input_file_id"_s).toString();
        if (!m_files.contains(fileId))
            return apiError(400, false, u"invalid_request_error"_s,
                            u"No such File object: "_s + fileId);
        if (body.value(u"endpoint"_s).toString() != u"/v1/chat/completions"_s ||
            body.value(u"completion_window"_s).toString() != u"24h"_s)
            return apiError(400, false, u"invalid_request_error"_s,
                            u"bad endpoint or completion_window"_s);
        auto *batch = new Batch;
        batch->outcome = nextBatchOutcome();
        batch->id = u"batch_fake%1"_s.arg(m_nextId++);
        batch->status = u"validating"_s;
        batch->inputFileId = fileId;
        batch->metadata = body.value(u"metadata"_s).toObject();
        batch->headers = request.headers;
        batch->notFoundLeft = m_options.batchNotFoundPolls;
        batch->createdAt = QDateTime::currentSecsSinceEpoch();
        // Validation as the API does it, line by line.
        QSet<QString> seen;
        QString model;
        int lineNumber = 0;
        for (const QByteArray &raw : m_files.value(fileId).content.split('\n')) {
            ++lineNumber;
            if (raw.trimmed().isEmpty())
                continue;
            const QJsonObject line = QJsonDocument::fromJson(raw).object();
            const QString customId = line.value(u"custom_id"_s).toString();
            const QJsonObject lineBody = line.value(u"body"_s).toObject();
            QString problem;
            if (customId.isEmpty() || seen.contains(customId))
                problem = u"custom_id missing or not unique"_s;
            else if (line.value(u"method"_s).toString() != u"POST"_s ||
                     line.value(u"url"_s).toString() != u"/v1/chat/completions"_s)
                problem = u"method must be POST and url /v1/chat/completions"_s;
            else if (!model.isEmpty() && lineBody.value(u"model"_s).toString() != model)
                problem = u"one model per batch file"_s;
            if (!problem.isEmpty()) {
                batch->errors.append(QJsonObject{{u"code"_s, u"invalid_request"_s},
                                                 {u"message"_s, problem},
                                                 {u"param"_s, QJsonValue()},
                                                 {u"line"_s, lineNumber}});
                continue;
            }
            seen.insert(customId);
            model = lineBody.value(u"model"_s).toString();
            batch->lines.append({customId, compact(lineBody)});
            m_batchLinesByCustomId[customId] += 1;
        }
        if (batch->outcome == BatchOutcome::FailValidation && batch->errors.isEmpty())
            batch->errors.append(QJsonObject{{u"code"_s, u"invalid_request"_s},
                                             {u"message"_s, u"fake validation failure"_s},
                                             {u"line"_s, 1}});
        if (batch->outcome == BatchOutcome::FailServer)
            batch->errors.append(QJsonObject{{u"code"_s, u"server_error"_s},
                                             {u"message"_s, u"The batch failed (fake)."_s}});
        if (batch->outcome == BatchOutcome::TokenLimit)
            batch->errors.append(
                QJsonObject{{u"code"_s, u"token_limit_exceeded"_s},
                            {u"message"_s, u"Enqueued token limit reached for fake-model."_s}});
        m_batches.insert(batch->id, batch);
        ++m_batchesCreated;
        return jsonResponse(200, openAiBatchJson(*batch));
    }
    Batch *batch = m_batches.value(QString::fromUtf8(parts.value(3)));
    if (!batch || batch->anthropic)
        return apiError(404, false, u"invalid_request_error"_s, u"No such batch"_s);
    if (parts.size() == 4 && request.method == "GET") {
        if (batch->notFoundLeft > 0) {
            --batch->notFoundLeft;
            return apiError(404, false, u"invalid_request_error"_s,
                            u"No batch found with id "_s + batch->id);
        }
        if (!m_options.holdBatches)
            advance(batch);
        return jsonResponse(200, openAiBatchJson(*batch));
    }
    if (parts.size() == 5 && parts.at(4) == "cancel" && request.method == "POST") {
        if (batch->status == u"validating"_s || batch->status == u"in_progress"_s ||
            batch->status == u"finalizing"_s) {
            batch->cancelRequested = true;
            batch->status = u"cancelling"_s;
        }
        return jsonResponse(200, openAiBatchJson(*batch));
    }
    return apiError(404, false, u"invalid_request_error"_s, u"no route"_s);
}

FakeProvider::Response FakeProvider::listOpenAiBatches(const ReceivedRequest &request)
{
    const QUrlQuery query(QString::fromUtf8(request.query));
    bool ok = true;
    const int limit =
        query.hasQueryItem(u"limit"_s) ? query.queryItemValue(u"limit"_s).toInt(&ok) : 20;
    if (!ok || limit < 1 || limit > 100)
        return apiError(400, false, u"invalid_request_error"_s, u"limit must be 1..100"_s);
    // Newest first; ids number the batches in the order they were made.
    QList<const Batch *> batches;
    for (const Batch *batch : std::as_const(m_batches)) {
        if (!batch->anthropic)
            batches.append(batch);
    }
    const auto sequence = [](const Batch *batch) { return batch->id.mid(10).toLongLong(); };
    std::sort(batches.begin(), batches.end(), [&](const Batch *a, const Batch *b) {
        return a->createdAt != b->createdAt ? a->createdAt > b->createdAt
                                            : sequence(a) > sequence(b);
    });
    qsizetype start = 0;
    if (query.hasQueryItem(u"after"_s)) {
        const QString after = query.queryItemValue(u"after"_s);
        const auto it = std::find_if(batches.cbegin(), batches.cend(),
                                     [&](const Batch *batch) { return batch->id == after; });
        if (it == batches.cend())
            return apiError(400, false, u"invalid_request_error"_s, u"No such batch: "_s + after);
        start = (it - batches.cbegin()) + 1;
    }
    QJsonArray data;
    for (qsizetype i = start; i < batches.size() && data.size() < limit; ++i)
        data.append(openAiBatchJson(*batches.at(i)));
    const bool hasMore = start + data.size() < batches.size();
    return jsonResponse(200,
                        QJsonObject{
                            {u"object"_s, u"list"_s},
                            {u"data"_s, data},
                            {u"first_id"_s, data.isEmpty() ? QJsonValue() : data.first()[u"id"_s]},
                            {u"last_id"_s, data.isEmpty() ? QJsonValue() : data.last()[u"id"_s]},
                            {u"has_more"_s, hasMore},
                        });
}

QString FakeProvider::addForeignOpenAiBatch(const QJsonObject &metadata, qint64 createdAtSeconds)
{
    auto *batch = new Batch;
    batch->id = u"batch_fake%1"_s.arg(m_nextId++);
    batch->status = u"completed"_s;
    batch->metadata = metadata;
    batch->createdAt = createdAtSeconds;
    m_batches.insert(batch->id, batch);
    return batch->id;
}

FakeProvider::Response FakeProvider::routeAnthropicBatches(const ReceivedRequest &request,
                                                           const QList<QByteArray> &parts)
{
    if (!authorized(request, true))
        return apiError(401, true, u"authentication_error"_s, u"invalid x-api-key"_s);
    if (request.header("anthropic-version").isEmpty())
        return apiError(400, true, u"invalid_request_error"_s,
                        u"anthropic-version header is required"_s);
    // /v1/messages/batches, .../{id}, .../{id}/results, .../{id}/cancel
    if (parts.size() == 4 && request.method == "POST") {
        const QJsonArray requests =
            QJsonDocument::fromJson(request.body).object().value(u"requests"_s).toArray();
        if (requests.isEmpty())
            return apiError(400, true, u"invalid_request_error"_s,
                            u"requests: at least one is required"_s);
        const BatchOutcome outcome = nextBatchOutcome();
        if (outcome == BatchOutcome::FailValidation)
            return apiError(400, true, u"invalid_request_error"_s, u"fake validation failure"_s);
        auto *batch = new Batch;
        batch->outcome = outcome;
        batch->anthropic = true;
        batch->id = u"msgbatch_fake%1"_s.arg(m_nextId++);
        batch->status = u"in_progress"_s;
        batch->headers = request.headers;
        batch->notFoundLeft = m_options.batchNotFoundPolls;
        batch->createdAt = QDateTime::currentSecsSinceEpoch();
        QSet<QString> seen;
        for (const QJsonValue &value : requests) {
            const QJsonObject entry = value.toObject();
            const QString customId = entry.value(u"custom_id"_s).toString();
            if (customId.isEmpty() || seen.contains(customId) ||
                !entry.value(u"params"_s).isObject()) {
                delete batch;
                return apiError(400, true, u"invalid_request_error"_s,
                                u"custom_id missing or not unique, or params missing"_s);
            }
            seen.insert(customId);
            batch->lines.append({customId, compact(entry.value(u"params"_s).toObject())});
            m_batchLinesByCustomId[customId] += 1;
        }
        m_batches.insert(batch->id, batch);
        ++m_batchesCreated;
        return jsonResponse(200, anthropicBatchJson(*batch));
    }
    Batch *batch = m_batches.value(QString::fromUtf8(parts.value(4)));
    if (!batch || !batch->anthropic)
        return apiError(404, true, u"not_found_error"_s, u"No such batch"_s);
    if (parts.size() == 5 && request.method == "GET") {
        if (batch->notFoundLeft > 0) {
            --batch->notFoundLeft;
            return apiError(404, true, u"not_found_error"_s,
                            u"No batch found with id "_s + batch->id);
        }
        if (!m_options.holdBatches)
            advance(batch);
        return jsonResponse(200, anthropicBatchJson(*batch));
    }
    if (parts.size() == 6 && parts.at(5) == "results" && request.method == "GET") {
        if (batch->status != u"ended"_s)
            return apiError(400, true, u"invalid_request_error"_s, u"the batch has not ended"_s);
        Response response;
        response.headers.append({QByteArray("Content-Type"), QByteArray("application/binary")});
        response.body = batch->results;
        return response;
    }
    if (parts.size() == 6 && parts.at(5) == "cancel" && request.method == "POST") {
        if (batch->status == u"in_progress"_s) {
            batch->cancelRequested = true;
            batch->status = u"canceling"_s;
        }
        return jsonResponse(200, anthropicBatchJson(*batch));
    }
    return apiError(404, true, u"not_found_error"_s, u"no route"_s);
}

FakeProvider::BatchOutcome FakeProvider::nextBatchOutcome() const
{
    if (m_options.batchOutcomeBatches >= 0 && m_batchesCreated >= m_options.batchOutcomeBatches)
        return BatchOutcome::Complete;
    return m_options.batchOutcome;
}

void FakeProvider::advance(Batch *batch)
{
    const qsizetype half = batch->lines.size() / 2;
    if (batch->anthropic) {
        if (batch->status == u"canceling"_s)
            finishBatch(batch, u"ended"_s, half);
        else if (batch->status == u"in_progress"_s)
            finishBatch(batch, u"ended"_s,
                        batch->outcome == BatchOutcome::Expire ? half : batch->lines.size());
        return;
    }
    const QString &status = batch->status;
    if (status == u"validating"_s) {
        if (!batch->errors.isEmpty())
            batch->status = u"failed"_s;
        else
            batch->status = u"in_progress"_s;
    } else if (status == u"in_progress"_s) {
        batch->status = u"finalizing"_s;
    } else if (status == u"finalizing"_s) {
        if (batch->outcome == BatchOutcome::Expire)
            finishBatch(batch, u"expired"_s, half);
        else
            finishBatch(batch, u"completed"_s, batch->lines.size());
    } else if (status == u"cancelling"_s) {
        finishBatch(batch, u"cancelled"_s, half);
    }
}

void FakeProvider::finishBatch(Batch *batch, const QString &finalStatus, qsizetype linesToRun)
{
    batch->status = finalStatus;
    const bool anthropic = batch->anthropic;
    QList<QByteArray> output;
    QList<QByteArray> errors;
    bool markedExpired = false;
    bool markedCancelled = false;
    for (qsizetype i = 0; i < batch->lines.size(); ++i) {
        const auto &[customId, body] = batch->lines.at(i);
        const QString prompt = userPromptOf(body);
        const int run = ++m_batchLineRuns[prompt];
        const bool cancelLine = lineMarker(prompt, u"cancel"_s, run);
        const bool expireLine = !cancelLine && lineMarker(prompt, u"expire"_s, run);
        markedCancelled = markedCancelled || cancelLine;
        markedExpired = markedExpired || expireLine;
        if (i >= linesToRun || cancelLine || expireLine) {
            const bool cancelled = cancelLine || (!expireLine && batch->cancelRequested);
            if (cancelled)
                ++batch->canceled;
            else
                ++batch->expired;
            if (anthropic) {
                errors.append(compact(
                    {{u"custom_id"_s, customId},
                     {u"result"_s,
                      QJsonObject{{u"type"_s, cancelled ? u"canceled"_s : u"expired"_s}}}}));
            } else {
                const QString code = cancelled ? u"batch_cancelled"_s : u"batch_expired"_s;
                errors.append(compact(
                    {{u"id"_s, u"batch_req_%1"_s.arg(m_nextId++)},
                     {u"custom_id"_s, customId},
                     {u"response"_s, QJsonValue()},
                     {u"error"_s,
                      QJsonObject{
                          {u"code"_s, code},
                          {u"message"_s,
                           u"This request could not be executed before the batch ended."_s}}}}));
            }
            continue;
        }
        // Answer the line as the chat endpoint would (latency, close and hang do not apply).
        ReceivedRequest line;
        line.method = "POST";
        line.path = anthropic ? "/v1/messages" : "/v1/chat/completions";
        line.headers = batch->headers;
        line.body = body;
        m_answeringBatchLine = true;
        Response answer = chat(line, anthropic);
        m_answeringBatchLine = false;
        if (answer.close || answer.hang) {
            answer =
                apiError(500, anthropic, anthropic ? u"api_error"_s : u"server_error"_s, u"fake"_s);
        }
        const QJsonDocument answerJson = QJsonDocument::fromJson(answer.body);
        const bool succeeded = answer.status == 200 && answerJson.isObject();
        if (succeeded) {
            ++batch->succeeded;
            ++m_successes[prompt];
        } else {
            ++batch->errored;
        }
        if (anthropic) {
            QJsonObject result;
            if (succeeded) {
                result = {{u"type"_s, u"succeeded"_s}, {u"message"_s, answerJson.object()}};
            } else {
                QJsonObject error = answerJson.object();
                if (error.isEmpty())
                    error = {{u"type"_s, u"error"_s},
                             {u"error"_s, QJsonObject{{u"type"_s, u"api_error"_s},
                                                      {u"message"_s, u"malformed"_s}}}};
                error.remove(u"request_id"_s);
                result = {{u"type"_s, u"errored"_s}, {u"error"_s, error}};
            }
            (succeeded ? output : errors)
                .append(compact({{u"custom_id"_s, customId}, {u"result"_s, result}}));
        } else {
            const QJsonValue bodyValue = answerJson.isObject()
                                             ? QJsonValue(answerJson.object())
                                             : QJsonValue(QString::fromUtf8(answer.body));
            (succeeded ? output : errors)
                .append(compact(
                    {{u"id"_s, u"batch_req_%1"_s.arg(m_nextId++)},
                     {u"custom_id"_s, customId},
                     {u"response"_s, QJsonObject{{u"status_code"_s, answer.status},
                                                 {u"request_id"_s, u"req_%1"_s.arg(m_nextId++)},
                                                 {u"body"_s, bodyValue}}},
                     {u"error"_s, QJsonValue()}}));
        }
    }
    // A batch with lines that expired or were cancelled ended that way as a whole.
    if (!anthropic && finalStatus == u"completed"_s)
        batch->status = markedCancelled ? u"cancelled"_s
                        : markedExpired ? u"expired"_s
                                        : finalStatus;
    // Results come in any order.
    shuffle(output, batch->id);
    shuffle(errors, batch->id + u"e"_s);
    if (anthropic) {
        QList<QByteArray> all = output + errors;
        shuffle(all, batch->id + u"a"_s);
        batch->results = all.join('\n') + '\n';
        return;
    }
    if (!output.isEmpty()) {
        batch->outputFileId = u"file-fake%1"_s.arg(m_nextId++);
        m_files.insert(batch->outputFileId,
                       {output.join('\n') + '\n', u"batch_output"_s, u"output.jsonl"_s});
    }
    if (!errors.isEmpty()) {
        batch->errorFileId = u"file-fake%1"_s.arg(m_nextId++);
        m_files.insert(batch->errorFileId,
                       {errors.join('\n') + '\n', u"batch_output"_s, u"errors.jsonl"_s});
    }
}

} // namespace bd::testing
