#include "httpchatprovider.h"

#include "api/jobsettings.h"
#include "core/clock.h"
#include "errorclassification.h"
#include "networkpool.h"

#include <chrono>
#include <QNetworkReply>
#include <QTimer>

namespace bd::providers {

using namespace Qt::StringLiterals;

namespace {

qint64 positiveSetting(const QJsonObject &settings, QStringView key, qint64 fallback)
{
    const qint64 value = settings.value(key).toInteger(fallback);
    return value > 0 ? value : fallback;
}

qint64 positiveSetting(const QJsonObject &settings, QLatin1String key, qint64 fallback)
{
    return positiveSetting(settings, QStringView(QString(key)), fallback);
}

QString byteSize(qint64 bytes)
{
    if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0)
        return u"%1 MiB"_s.arg(bytes / (1024 * 1024));
    if (bytes >= 1024 && bytes % 1024 == 0)
        return u"%1 KiB"_s.arg(bytes / 1024);
    return u"%1 bytes"_s.arg(bytes);
}

} // namespace

HttpChatProvider::HttpChatProvider(const ProviderConfig &config, const QUrl &baseUrl, Clock *clock,
                                   QObject *parent)
    : Provider(parent)
    , m_baseUrl(baseUrl)
    , m_apiKey(config.apiKey.trimmed()) // a key pasted with its newline must not break the header
    , m_settings(config.settings)
    , m_clock(clock)
    , m_timeoutMs(qMax(1, config.settings.value(u"request_timeout_ms"_s).toInt(300'000)))
    , m_maxReplyBytes(positiveSetting(config.settings, u"max_reply_bytes", kDefaultMaxReplyBytes))
    , m_maxDownloadBytes(
          positiveSetting(config.settings, u"max_download_bytes", kDefaultMaxDownloadBytes))
    , m_deadlineMs(positiveSetting(config.settings, u"request_deadline_ms", kDefaultDeadlineMs))
    , m_apiDeadlineMs(
          positiveSetting(config.settings, settingkeys::apiDeadlineMs, kDefaultApiDeadlineMs))
    , m_pool(new NetworkPool(
          baseUrl, qMax(1, config.settings.value(u"max_network_managers"_s).toInt(64)), this))
{
}

HttpChatProvider::~HttpChatProvider()
{
    // The pool (a child) deletes the replies later; none may call back into a half-gone object.
    for (auto it = m_pending.cbegin(); it != m_pending.cend(); ++it)
        disconnect(it.key(), nullptr, this, nullptr);
    for (QNetworkReply *reply : std::as_const(m_apiCalls))
        disconnect(reply, nullptr, this, nullptr);
    for (auto it = m_transfers.cbegin(); it != m_transfers.cend(); ++it) {
        disconnect(it.key(), nullptr, this, nullptr);
        disconnect(it->deadline, nullptr, this, nullptr);
    }
}

void HttpChatProvider::track(QNetworkReply *reply, qint64 maxBytes, qint64 deadlineMs)
{
    Transfer transfer;
    transfer.maxBytes = maxBytes;
    transfer.deadlineMs = deadlineMs;
    // The inactivity timeout does not stop a server that sends a byte now and then; this does.
    transfer.deadline = new QTimer(reply);
    transfer.deadline->setSingleShot(true);
    connect(transfer.deadline, &QTimer::timeout, this,
            [this, reply] { stopTransfer(reply, Stop::Deadline); });
    transfer.deadline->start(std::chrono::milliseconds(deadlineMs));
    m_transfers.insert(reply, transfer);
    // Throttles Qt's HTTP thread, so that a flood waits in the socket rather than in memory. The
    // size reaches that thread only once Qt has started the request there, which for a POST it
    // does from a queued call: hence once more from a queued call of our own, which runs right
    // after it. Without the throttle a busy thread here lets Qt merge a flood into one late
    // readyRead, far past any cap.
    reply->setReadBufferSize(kReadAheadBytes);
    QMetaObject::invokeMethod(
        reply, [reply] { reply->setReadBufferSize(kReadAheadBytes); }, Qt::QueuedConnection);
    connect(reply, &QNetworkReply::metaDataChanged, this,
            [this, reply] { checkDeclaredSize(reply); });
    connect(reply, &QNetworkReply::readyRead, this, [this, reply] { drain(reply); });
}

void HttpChatProvider::checkDeclaredSize(QNetworkReply *reply)
{
    const auto it = m_transfers.find(reply);
    if (it == m_transfers.end() || it->stop != Stop::None)
        return;
    bool known = false;
    const qint64 declared = reply->header(QNetworkRequest::ContentLengthHeader).toLongLong(&known);
    if (!known || declared < 0)
        return;
    if (declared > it->maxBytes) {
        stopTransfer(reply, Stop::TooLarge); // refused before a byte of it is read
        return;
    }
    if (it->body.isEmpty())
        it->body.reserve(qsizetype(declared));
}

void HttpChatProvider::drain(QNetworkReply *reply)
{
    const auto it = m_transfers.find(reply);
    if (it == m_transfers.end() || it->stop != Stop::None)
        return;
    // Moved out of Qt's buffer as it arrives, so the body is never held twice.
    const qint64 available = reply->bytesAvailable();
    if (available <= 0)
        return;
    if (it->body.size() + available > it->maxBytes) {
        stopTransfer(reply, Stop::TooLarge);
        return;
    }
    const qsizetype at = it->body.size();
    it->body.resize(at + qsizetype(available));
    const qint64 got = reply->read(it->body.data() + at, available);
    it->body.resize(at + qsizetype(qMax<qint64>(0, got)));
}

void HttpChatProvider::stopTransfer(QNetworkReply *reply, Stop why)
{
    const auto it = m_transfers.find(reply);
    if (it == m_transfers.end() || it->stop != Stop::None || reply->isFinished())
        return;
    it->stop = why;
    it->body = QByteArray(); // give the memory back now
    reply->abort();          // finished() follows, and classification reads `stop`
}

HttpChatProvider::Transfer HttpChatProvider::takeTransfer(QNetworkReply *reply)
{
    drain(reply);
    Transfer transfer = m_transfers.take(reply);
    if (transfer.deadline) {
        transfer.deadline->stop();
        disconnect(transfer.deadline, nullptr, this, nullptr);
        transfer.deadline = nullptr;
    }
    return transfer;
}

void HttpChatProvider::forgetTransfer(QNetworkReply *reply)
{
    const Transfer transfer = m_transfers.take(reply);
    if (transfer.deadline) {
        transfer.deadline->stop();
        disconnect(transfer.deadline, nullptr, this, nullptr);
    }
}

QString HttpChatProvider::stopMessage(const Transfer &transfer)
{
    switch (transfer.stop) {
    case Stop::None:
        break;
    case Stop::TooLarge:
        return u"reply too large: more than %1 (max_reply_bytes / max_download_bytes)"_s.arg(
            byteSize(transfer.maxBytes));
    case Stop::Deadline:
        return u"no complete answer within the %1 s deadline"_s.arg(double(transfer.deadlineMs) /
                                                                    1000.0);
    }
    return {};
}

int HttpChatProvider::networkManagerCount() const
{
    return m_pool->managerCount();
}

bool HttpChatProvider::resolveBaseUrl(const QString &configured, const QString &fallback, QUrl *url,
                                      QString *error)
{
    const QString text = configured.trimmed().isEmpty() ? fallback : configured.trimmed();
    if (text.isEmpty()) {
        *error = u"a base URL is required (--base-url or the provider's *_BASE_URL variable)"_s;
        return false;
    }
    QUrl parsed(text, QUrl::StrictMode);
    const QString scheme = parsed.scheme().toLower();
    if (!parsed.isValid() || (scheme != u"http"_s && scheme != u"https"_s) ||
        parsed.host().isEmpty()) {
        // Never echo credentials someone put into the URL.
        const QString shown = parsed.isValid()      ? parsed.toDisplayString(QUrl::RemoveUserInfo)
                              : text.contains(u'@') ? u"(not shown)"_s
                                                    : text;
        *error = u"base URL '%1' is not an http:// or https:// URL"_s.arg(shown);
        return false;
    }
    if (!parsed.userInfo().isEmpty() || parsed.hasQuery() || parsed.hasFragment()) {
        *error = u"base URL '%1' must not carry credentials, a query or a fragment"_s.arg(
            parsed.toDisplayString(QUrl::RemoveUserInfo));
        return false;
    }
    QString path = parsed.path();
    while (path.endsWith(u'/'))
        path.chop(1);
    parsed.setPath(path);
    *url = parsed;
    return true;
}

QNetworkRequest HttpChatProvider::makeRequest(const QString &path) const
{
    QUrl url = m_baseUrl;
    url.setPath(m_baseUrl.path() + path);
    QNetworkRequest request(url);
    request.setHeader(QNetworkRequest::ContentTypeHeader, u"application/json"_s);
    request.setHeader(QNetworkRequest::UserAgentHeader, u"BatchDesk/" BATCHDESK_VERSION ""_s);
    request.setAttribute(QNetworkRequest::Http2AllowedAttribute, true);
    request.setAttribute(QNetworkRequest::RedirectPolicyAttribute,
                         QNetworkRequest::ManualRedirectPolicy);
    request.setTransferTimeout(m_timeoutMs);
    return request;
}

QString HttpChatProvider::safeMessage(const QString &text) const
{
    return tidyMessage(text, m_apiKey);
}

void HttpChatProvider::send(const ChatRequest &request)
{
    QByteArray body;
    const QNetworkRequest networkRequest = buildRequest(request, &body);
    QNetworkReply *reply = m_pool->send("POST", networkRequest, body);
    track(reply, m_maxReplyBytes, m_deadlineMs);
    Pending pending;
    pending.taskId = request.taskId;
    pending.model = request.model;
    pending.timer.start();
    m_pending.insert(reply, pending);
    // Qt never finishes a reply from inside post(): the answer always comes later.
    connect(reply, &QNetworkReply::finished, this, [this, reply] { handleFinished(reply); });
}

void HttpChatProvider::handleFinished(QNetworkReply *reply)
{
    const auto it = m_pending.constFind(reply);
    if (it == m_pending.constEnd())
        return; // cancelled
    const Pending pending = it.value();
    m_pending.erase(it);
    const Transfer transfer = takeTransfer(reply);
    const ChatReply answer = classify(reply, pending, transfer);
    reply->deleteLater();
    Q_EMIT replied(answer);
}

ChatReply HttpChatProvider::classify(QNetworkReply *reply, const Pending &pending,
                                     const Transfer &transfer) const
{
    ChatReply answer;
    answer.taskId = pending.taskId;
    answer.model = pending.model;
    answer.latencyMs = pending.timer.elapsed();
    const qint64 now = m_clock->nowMs();
    const QVariant statusAttribute = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    const int status = statusAttribute.isValid() ? statusAttribute.toInt() : 0;
    const QNetworkReply::NetworkError transportError = reply->error();
    const QByteArray &body = transfer.body;
    const ratelimit::RawHeaders headers = reply->rawHeaderPairs();
    answer.httpStatus = status;
    answer.rateLimits = ratelimit::parseRateLimits(headers, now);

    if (transfer.stop == Stop::TooLarge) {
        // The same prompt would bring the same flood: not worth another try.
        answer.error = ErrorClass::InvalidRequest;
        answer.errorMessage = stopMessage(transfer);
        return answer;
    }
    if (transfer.stop == Stop::Deadline) {
        answer.error = ErrorClass::Timeout;
        answer.errorMessage = stopMessage(transfer);
        return answer;
    }

    const bool success = status >= 200 && status < 300;
    if (status == 0 || (success && transportError != QNetworkReply::NoError)) {
        // No (complete) HTTP answer: the connection failed, was cut, or timed out.
        answer.error = classifyNetworkError(transportError, false);
        if (answer.error == ErrorClass::None)
            answer.error = ErrorClass::Network;
        answer.errorMessage = answer.error == ErrorClass::Timeout
                                  ? u"no answer within %1 s"_s.arg(m_timeoutMs / 1000.0)
                                  : safeMessage(reply->errorString());
        return answer;
    }
    if (success) {
        QString problem;
        if (!parseAnswer(body, &answer, &problem)) {
            answer.error = ErrorClass::Malformed;
            answer.errorMessage =
                safeMessage(u"HTTP %1 with an unreadable answer: %2"_s.arg(status).arg(problem));
            answer.text.clear();
            return answer;
        }
        answer.text = redactSecret(answer.text, m_apiKey);
        answer.errorMessage = safeMessage(answer.errorMessage);
        return answer;
    }
    const Classification classification = classifyHttpError(status, body);
    answer.error = classification.errorClass;
    answer.errorMessage = safeMessage(classification.message);
    answer.retryAfterMs = ratelimit::parseRetryAfterMs(headers, now);
    if (answer.retryAfterMs < 0)
        answer.retryAfterMs = retryAfterFromBody(body);
    if (answer.error == ErrorClass::RateLimited && answer.retryAfterMs < 0)
        answer.retryAfterMs = ratelimit::waitFromRateLimits(answer.rateLimits);
    return answer;
}

void HttpChatProvider::callApi(const QByteArray &verb, const QNetworkRequest &request,
                               const QByteArray &body, std::function<void(const ApiResult &)> done)
{
    QNetworkReply *reply = m_pool->send(verb, request, body);
    track(reply, m_maxDownloadBytes, m_apiDeadlineMs);
    m_apiCalls.insert(reply);
    connect(reply, &QNetworkReply::finished, this, [this, reply, done = std::move(done)] {
        m_apiCalls.remove(reply);
        const Transfer transfer = takeTransfer(reply);
        const ApiResult result = classifyApiReply(reply, transfer);
        reply->deleteLater();
        done(result);
    });
}

HttpChatProvider::ApiResult HttpChatProvider::classifyApiReply(QNetworkReply *reply,
                                                               const Transfer &transfer) const
{
    ApiResult result;
    const QVariant statusAttribute = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute);
    result.httpStatus = statusAttribute.isValid() ? statusAttribute.toInt() : 0;
    if (transfer.stop != Stop::None) {
        // Too large stays too large; a deadline may pass on a calmer try.
        result.error =
            transfer.stop == Stop::TooLarge ? ErrorClass::InvalidRequest : ErrorClass::Timeout;
        result.errorMessage = stopMessage(transfer);
        return result;
    }
    result.body = transfer.body;
    const QNetworkReply::NetworkError transportError = reply->error();
    const bool success = result.httpStatus >= 200 && result.httpStatus < 300;
    if (result.httpStatus == 0 || (success && transportError != QNetworkReply::NoError)) {
        result.error = classifyNetworkError(transportError, false);
        if (result.error == ErrorClass::None)
            result.error = ErrorClass::Network;
        result.errorMessage = safeMessage(reply->errorString());
        return result;
    }
    if (success)
        return result;
    const Classification classification = classifyHttpError(result.httpStatus, result.body);
    result.error = classification.errorClass;
    result.errorMessage = safeMessage(classification.message);
    result.retryAfterMs = ratelimit::parseRetryAfterMs(reply->rawHeaderPairs(), m_clock->nowMs());
    if (result.retryAfterMs < 0)
        result.retryAfterMs = retryAfterFromBody(result.body);
    return result;
}

void HttpChatProvider::cancelAll()
{
    const QHash<QNetworkReply *, Pending> pending = std::exchange(m_pending, {});
    for (auto it = pending.cbegin(); it != pending.cend(); ++it) {
        QNetworkReply *reply = it.key();
        disconnect(reply, nullptr, this, nullptr);
        forgetTransfer(reply);
        reply->abort();
        reply->deleteLater();
    }
    for (const Pending &request : pending) {
        ChatReply answer;
        answer.taskId = request.taskId;
        answer.model = request.model;
        answer.error = ErrorClass::Cancelled;
        answer.errorMessage = u"cancelled before the answer arrived"_s;
        answer.latencyMs = request.timer.elapsed();
        Q_EMIT replied(answer);
    }
}

BatchStatus HttpChatProvider::failedPoll(const QString &batchId, const ApiResult &result)
{
    BatchStatus status;
    status.batchId = batchId;
    status.error = result.error;
    status.errorMessage = result.errorMessage;
    if (result.httpStatus == 404) {
        status.error = ErrorClass::ServerError;
        status.errorMessage = u"batch not visible (yet): "_s + result.errorMessage;
    }
    return status;
}

} // namespace bd::providers
