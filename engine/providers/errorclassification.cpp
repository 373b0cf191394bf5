#include "errorclassification.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QUrl>

namespace bd::providers {

using namespace Qt::StringLiterals;

namespace {

QString stringOf(const QJsonValue &value)
{
    if (value.isString())
        return value.toString();
    if (value.isDouble())
        return QString::number(value.toDouble());
    return {};
}

bool isQuotaCode(const QString &code)
{
    return code == u"insufficient_quota"_s || code == u"billing_hard_limit_reached"_s ||
           code == u"billing_not_active"_s || code == u"quota_exceeded"_s;
}

bool isOverloadCode(const QString &code)
{
    return code == u"overloaded_error"_s || code == u"server_is_overloaded"_s ||
           code == u"engine_overloaded"_s || code == u"overloaded"_s;
}

} // namespace

ApiError parseApiError(QByteArrayView body)
{
    ApiError result;
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body.toByteArray(), &parseError);
    if (parseError.error != QJsonParseError::NoError || !document.isObject())
        return result;
    const QJsonObject root = document.object();
    const QJsonValue error = root.value(u"error"_s);
    if (error.isObject()) {
        const QJsonObject object = error.toObject();
        result.present = true;
        result.type = stringOf(object.value(u"type"_s));
        result.code = stringOf(object.value(u"code"_s));
        result.message = stringOf(object.value(u"message"_s));
        // Google APIs: a numeric code repeating the HTTP status and the canonical status
        // word ("RESOURCE_EXHAUSTED"), which says more.
        const QJsonValue status = object.value(u"status"_s);
        if (status.isString() && !status.toString().isEmpty()) {
            if (result.type.isEmpty())
                result.type = status.toString();
            if (object.value(u"code"_s).isDouble())
                result.code = status.toString();
            // A daily quota spent: waiting a retryDelay will not help before tomorrow.
            for (const QJsonValue &detail : object.value(u"details"_s).toArray()) {
                for (const QJsonValue &violation :
                     detail.toObject().value(u"violations"_s).toArray()) {
                    if (violation.toObject().value(u"quotaId"_s).toString().contains(u"PerDay"_s))
                        result.code = u"quota_exceeded"_s;
                }
            }
        }
        return result;
    }
    if (error.isString()) { // Ollama, llama.cpp and friends
        result.present = true;
        result.message = error.toString();
        return result;
    }
    for (const QString &key : {u"detail"_s, u"message"_s}) { // FastAPI (vLLM), others
        const QJsonValue value = root.value(key);
        if (value.isString()) {
            result.present = true;
            result.message = value.toString();
            return result;
        }
    }
    return result;
}

ErrorClass classifyHttpStatus(int status, const ApiError &error)
{
    if (isQuotaCode(error.code) || isQuotaCode(error.type))
        return ErrorClass::QuotaExhausted;
    // Anthropic answers an empty prepaid balance with a 400 invalid_request_error: retrying or
    // dead-lettering every task would be wrong, the job has to wait for the account.
    if (status == 400 && error.message.contains(u"credit balance"_s, Qt::CaseInsensitive))
        return ErrorClass::QuotaExhausted;
    if (status == 429)
        return ErrorClass::RateLimited;
    if (status == 402)
        return ErrorClass::QuotaExhausted;
    if (status == 401 || status == 403 || status == 407)
        return ErrorClass::Auth;
    if (status == 404 || status == 405) {
        // With the API's own error body it is about this request (unknown model); without
        // one the endpoint is wrong, which every other request will hit as well.
        return error.present ? ErrorClass::InvalidRequest : ErrorClass::Auth;
    }
    if (status == 408 || status == 409 || status == 425)
        return ErrorClass::ServerError;
    if (status == 503 || status == 529 ||
        (status >= 500 && (isOverloadCode(error.type) || isOverloadCode(error.code))))
        return ErrorClass::Overloaded;
    if (status >= 500)
        return ErrorClass::ServerError;
    if (status >= 400)
        return ErrorClass::InvalidRequest;
    if (status >= 300)
        return ErrorClass::Auth; // a redirect: the base URL is not the API's
    return ErrorClass::ServerError;
}

Classification classifyHttpError(int httpStatus, QByteArrayView body)
{
    const ApiError error = parseApiError(body);
    Classification result;
    result.errorClass = classifyHttpStatus(httpStatus, error);
    QString label = !error.code.isEmpty() ? error.code : error.type;
    QString text = error.message;
    if (!error.present) {
        // Not the API's JSON: show a little of what came back (an HTML page, a proxy's text).
        text = QString::fromUtf8(body.first(qMin<qsizetype>(200, body.size())).toByteArray());
        if (httpStatus >= 300 && httpStatus < 400)
            text = u"unexpected redirect; check the base URL"_s;
        else if (result.errorClass == ErrorClass::Auth && (httpStatus == 404 || httpStatus == 405))
            text = u"no such endpoint; check the base URL. "_s + text;
    }
    result.message = u"HTTP "_s + QString::number(httpStatus) +
                     (label.isEmpty() ? QString() : u" "_s + label) +
                     (text.isEmpty() ? QString() : u": "_s + text);
    return result;
}

ErrorClass classifyNetworkError(QNetworkReply::NetworkError error, bool abortedByUs)
{
    switch (error) {
    case QNetworkReply::NoError:
        return ErrorClass::None;
    case QNetworkReply::TimeoutError:
    case QNetworkReply::ProxyTimeoutError:
        return ErrorClass::Timeout;
    case QNetworkReply::OperationCanceledError:
        // Qt aborts on its own when the transfer timeout passes.
        return abortedByUs ? ErrorClass::Cancelled : ErrorClass::Timeout;
    case QNetworkReply::SslHandshakeFailedError:
    case QNetworkReply::ProxyAuthenticationRequiredError:
    case QNetworkReply::ProtocolUnknownError:
    case QNetworkReply::ProtocolInvalidOperationError:
    case QNetworkReply::TooManyRedirectsError:
    case QNetworkReply::InsecureRedirectError:
    case QNetworkReply::AuthenticationRequiredError:
        return ErrorClass::Auth; // configuration: retrying will not help
    case QNetworkReply::ProtocolFailure:
        return ErrorClass::Malformed;
    case QNetworkReply::InternalServerError:
    case QNetworkReply::OperationNotImplementedError:
    case QNetworkReply::UnknownServerError:
        return ErrorClass::ServerError;
    case QNetworkReply::ServiceUnavailableError:
        return ErrorClass::Overloaded;
    default:
        return ErrorClass::Network; // refused, reset, host not found, proxy trouble ...
    }
}

QString redactSecret(const QString &text, const QString &secret)
{
    if (secret.size() < 4 || text.isEmpty())
        return text;
    QString result = text;
    result.replace(secret, u"[redacted]"_s);
    // A server may echo a percent- or JSON-escaped form of the key.
    const QString encoded = QString::fromLatin1(QUrl::toPercentEncoding(secret));
    if (encoded != secret)
        result.replace(encoded, u"[redacted]"_s);
    return result;
}

QString tidyMessage(const QString &text, const QString &secret, int maxChars)
{
    QString result = redactSecret(text, secret).simplified();
    if (result.size() > maxChars)
        result = result.left(maxChars - 1) + QChar(0x2026);
    return result;
}

} // namespace bd::providers
