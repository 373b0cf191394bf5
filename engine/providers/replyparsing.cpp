#include "replyparsing.h"

#include "errorclassification.h"
#include "usageparsing.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace bd::providers {

using namespace Qt::StringLiterals;

namespace {

QJsonObject jsonObject(const QByteArray &body)
{
    return QJsonDocument::fromJson(body).object();
}

// content is a string, or a list of parts of which the text ones count.
QString contentText(const QJsonValue &content, bool *present)
{
    *present = true;
    if (content.isString())
        return content.toString();
    if (content.isArray()) {
        QString text;
        for (const QJsonValue &part : content.toArray()) {
            const QJsonObject object = part.toObject();
            if (object.value(u"type"_s).toString() == u"text"_s)
                text += object.value(u"text"_s).toString();
        }
        return text;
    }
    *present = false;
    return {};
}

// The HTTP status an error type stands for, so that batch lines classify like realtime replies.
int statusForErrorType(const QString &type)
{
    static const QHash<QString, int> statuses{
        {u"invalid_request_error"_s, 400},
        {u"authentication_error"_s, 401},
        {u"permission_error"_s, 403},
        {u"not_found_error"_s, 404},
        {u"request_too_large"_s, 413},
        {u"rate_limit_error"_s, 429},
        {u"api_error"_s, 500},
        {u"overloaded_error"_s, 529},
    };
    return statuses.value(type, 500);
}

// The trimmed line starting at *at; *at moves past its newline. One line at a time, so a
// result file of hundreds of MiB is not copied whole into a list of lines.
QByteArray nextLine(const QByteArray &text, qsizetype *at)
{
    qsizetype end = text.indexOf('\n', *at);
    if (end < 0)
        end = text.size();
    const QByteArray line = QByteArrayView(text).sliced(*at, end - *at).trimmed().toByteArray();
    *at = end + 1;
    return line;
}

} // namespace

bool parseOpenAiChatAnswer(const QByteArray &body, ChatReply *reply, QString *problem)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body, &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject()) {
        *problem = parseError.error != QJsonParseError::NoError ? parseError.errorString()
                                                                : u"not a JSON object"_s;
        return false;
    }
    const QJsonObject root = document.object();
    if (root.value(u"error"_s).isObject() || root.value(u"error"_s).isString()) {
        *problem = u"an error inside a success: "_s + parseApiError(body).message;
        return false;
    }
    const QJsonArray choices = root.value(u"choices"_s).toArray();
    if (choices.isEmpty() || !choices.at(0).toObject().value(u"message"_s).isObject()) {
        *problem = u"no choices[0].message"_s;
        return false;
    }
    const QJsonObject choice = choices.at(0).toObject();
    const QJsonObject message = choice.value(u"message"_s).toObject();
    const QString model = root.value(u"model"_s).toString();
    if (!model.isEmpty())
        reply->model = model;
    reply->finishReason = choice.value(u"finish_reason"_s).toString();

    // Implausible figures make the whole reply malformed: they would be billed otherwise.
    QJsonObject usage;
    qint64 prompt = 0;
    qint64 cached = 0;
    qint64 completion = 0;
    if (!usageObject(root, &usage, problem) ||
        !readTokenCount(usage, u"prompt_tokens", &prompt, problem) ||
        !readTokenCount(usage.value(u"prompt_tokens_details"_s).toObject(), u"cached_tokens",
                        &cached, problem) ||
        !readTokenCount(usage, u"completion_tokens", &completion, problem)) {
        return false;
    }
    cached = qMin(cached, prompt); // cached tokens are a part of the prompt's
    reply->usage.inputTokens = prompt - cached;
    reply->usage.cachedTokens = cached;
    reply->usage.outputTokens = completion;

    bool present = false;
    reply->text = contentText(message.value(u"content"_s), &present);
    if (!present) {
        const QString refusal = message.value(u"refusal"_s).toString();
        if (!refusal.isEmpty()) {
            // A well-formed answer that will not change on a retry.
            reply->error = ErrorClass::InvalidRequest;
            reply->errorMessage = u"the model refused: "_s + refusal;
            return true;
        }
        *problem = u"choices[0].message.content is missing"_s;
        return false;
    }
    return true;
}

bool parseAnthropicMessage(const QByteArray &body, ChatReply *reply, QString *problem)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body, &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject()) {
        *problem = parseError.error != QJsonParseError::NoError ? parseError.errorString()
                                                                : u"not a JSON object"_s;
        return false;
    }
    const QJsonObject root = document.object();
    if (root.value(u"type"_s).toString() == u"error"_s) {
        *problem = u"an error inside a success: "_s +
                   root.value(u"error"_s).toObject().value(u"message"_s).toString();
        return false;
    }
    const QJsonValue content = root.value(u"content"_s);
    if (!content.isArray()) {
        *problem = u"no content[]"_s;
        return false;
    }
    QString text;
    for (const QJsonValue &block : content.toArray()) {
        const QJsonObject object = block.toObject();
        const QString type = object.value(u"type"_s).toString();
        if (type == u"text"_s) {
            text += object.value(u"text"_s).toString();
        } else if (type == u"tool_use"_s && object.value(u"input"_s).isObject()) {
            // A structured answer (a forced tool): the tool call's input is the answer.
            text = QString::fromUtf8(
                QJsonDocument(object.value(u"input"_s).toObject()).toJson(QJsonDocument::Compact));
            break;
        }
    }
    reply->text = text;
    const QString model = root.value(u"model"_s).toString();
    if (!model.isEmpty())
        reply->model = model;
    reply->finishReason = root.value(u"stop_reason"_s).toString();
    // Implausible figures make the whole reply malformed: they would be billed otherwise.
    QJsonObject usage;
    if (!usageObject(root, &usage, problem) ||
        !readTokenCount(usage, u"input_tokens", &reply->usage.inputTokens, problem) ||
        !readTokenCount(usage, u"output_tokens", &reply->usage.outputTokens, problem) ||
        !readTokenCount(usage, u"cache_read_input_tokens", &reply->usage.cachedTokens, problem) ||
        !readTokenCount(usage, u"cache_creation_input_tokens", &reply->usage.cacheWriteTokens,
                        problem)) {
        reply->usage = {};
        return false;
    }
    if (reply->finishReason == u"refusal"_s && text.isEmpty()) {
        reply->error = ErrorClass::InvalidRequest;
        reply->errorMessage = u"the model refused to answer"_s;
    }
    return true;
}

QHash<qint64, ChatReply> parseOpenAiBatchResults(const QList<QByteArray> &files,
                                                 const QString &apiKey)
{
    QHash<qint64, ChatReply> byTask;
    for (const QByteArray &file : files) {
        for (qsizetype at = 0; at < file.size();) {
            const QByteArray line = nextLine(file, &at);
            if (line.isEmpty())
                continue;
            const QJsonObject object = jsonObject(line);
            bool ok = false;
            const qint64 taskId = object.value(u"custom_id"_s).toString().toLongLong(&ok);
            if (!ok)
                continue; // not one of ours
            ChatReply reply;
            reply.taskId = taskId;
            const QJsonValue response = object.value(u"response"_s);
            const QJsonObject error = object.value(u"error"_s).toObject();
            if (response.isObject()) {
                const QJsonObject answer = response.toObject();
                reply.httpStatus = answer.value(u"status_code"_s).toInt();
                const QJsonValue bodyValue = answer.value(u"body"_s);
                const QByteArray body =
                    bodyValue.isObject()
                        ? QJsonDocument(bodyValue.toObject()).toJson(QJsonDocument::Compact)
                        : bodyValue.toString().toUtf8();
                if (reply.httpStatus >= 200 && reply.httpStatus < 300) {
                    QString problem;
                    if (!parseOpenAiChatAnswer(body, &reply, &problem)) {
                        reply.error = ErrorClass::Malformed;
                        reply.errorMessage =
                            tidyMessage(u"unreadable batch answer: "_s + problem, apiKey);
                        reply.text.clear();
                    } else {
                        reply.text = redactSecret(reply.text, apiKey);
                    }
                } else {
                    const Classification classification = classifyHttpError(reply.httpStatus, body);
                    reply.error = classification.errorClass;
                    reply.errorMessage = tidyMessage(classification.message, apiKey);
                }
            } else {
                const QString code = error.value(u"code"_s).toString();
                const QString message = error.value(u"message"_s).toString();
                if (code == u"batch_expired"_s)
                    reply.error = ErrorClass::Timeout;
                else if (code == u"batch_cancelled"_s)
                    reply.error = ErrorClass::Cancelled;
                else
                    reply.error = ErrorClass::ServerError;
                reply.errorMessage =
                    tidyMessage(code + (message.isEmpty() ? QString() : u": "_s + message), apiKey);
            }
            byTask.insert(taskId, reply);
        }
    }
    return byTask;
}

QHash<qint64, ChatReply> parseAnthropicBatchResults(const QByteArray &results,
                                                    const QString &apiKey)
{
    QHash<qint64, ChatReply> byTask;
    for (qsizetype at = 0; at < results.size();) {
        const QByteArray line = nextLine(results, &at);
        if (line.isEmpty())
            continue;
        const QJsonObject object = jsonObject(line);
        bool ok = false;
        const qint64 taskId = object.value(u"custom_id"_s).toString().toLongLong(&ok);
        if (!ok)
            continue;
        const QJsonObject result = object.value(u"result"_s).toObject();
        const QString type = result.value(u"type"_s).toString();
        ChatReply reply;
        reply.taskId = taskId;
        if (type == u"succeeded"_s) {
            reply.httpStatus = 200;
            QString problem;
            const QByteArray message =
                QJsonDocument(result.value(u"message"_s).toObject()).toJson(QJsonDocument::Compact);
            if (!parseAnthropicMessage(message, &reply, &problem)) {
                reply.error = ErrorClass::Malformed;
                reply.errorMessage = tidyMessage(u"unreadable batch answer: "_s + problem, apiKey);
                reply.text.clear();
            } else {
                reply.text = redactSecret(reply.text, apiKey);
            }
        } else if (type == u"errored"_s) {
            // {"type":"error","error":{"type":"invalid_request_error","message":"..."}}
            QJsonObject error = result.value(u"error"_s).toObject();
            if (error.value(u"error"_s).isObject())
                error = error.value(u"error"_s).toObject();
            ApiError apiError;
            apiError.present = true;
            apiError.type = error.value(u"type"_s).toString();
            apiError.message = error.value(u"message"_s).toString();
            reply.error = classifyHttpStatus(statusForErrorType(apiError.type), apiError);
            reply.errorMessage = tidyMessage(apiError.type + u": "_s + apiError.message, apiKey);
        } else if (type == u"canceled"_s) {
            reply.error = ErrorClass::Cancelled;
            reply.errorMessage = u"batch line canceled"_s;
        } else if (type == u"expired"_s) {
            reply.error = ErrorClass::Timeout;
            reply.errorMessage = u"batch line expired before it was processed"_s;
        } else {
            reply.error = ErrorClass::Malformed;
            reply.errorMessage = tidyMessage(u"unknown batch result type '%1'"_s.arg(type), apiKey);
        }
        byTask.insert(taskId, reply);
    }
    return byTask;
}

} // namespace bd::providers
