#pragma once

#include "provider.h"
#include "ratelimitheaders.h"

#include <functional>
#include <QElapsedTimer>
#include <QHash>
#include <QNetworkRequest>
#include <QSet>
#include <QUrl>

class QNetworkReply;
class QTimer;

namespace bd::providers {

class NetworkPool;

// The plumbing every HTTP chat client shares: a NetworkPool so that the concurrency
// dispatch asks for is really reached, per-request transfer timeouts, exactly one
// classified ChatReply per send(), cancelAll(), and keeping the API key out of every
// message. Subclasses say how a request looks and how an answer parses.
//
// Threads: lives on the engine thread like every Provider; send() returns at once and
// replies arrive later on that thread (cancelAll() answers synchronously with Cancelled).
//
// ProviderConfig::settings read here:
//   request_timeout_ms  give up when nothing arrives for this long (default 300000)
//   request_deadline_ms give up on a chat request after this long in all (default 600000):
//                       a server dripping a byte at a time, or endless headers, cannot hold
//                       it longer (Timeout, retried)
//   max_reply_bytes     largest chat answer accepted (default 32 MiB); a larger one is
//                       stopped as soon as it is known to be larger and answered with
//                       InvalidRequest "reply too large" (dead-lettered, not retried)
//   max_download_bytes  the same for other API calls: batch result files (default 1 GiB)
//   api_deadline_ms     the deadline of those calls (default 1800000; settingkeys::apiDeadlineMs)
//   temperature         sent when present
//   max_network_managers  cap of the NetworkPool (default 64 managers, 384 HTTP/1.1 connections)
//
// Bodies are read as they arrive into one buffer (sized from Content-Length when that is
// within the cap), so an answer is held once, not once by Qt and once more by us.
class HttpChatProvider : public Provider
{
    Q_OBJECT

public:
    ~HttpChatProvider() override;

    void send(const ChatRequest &request) final;
    void cancelAll() final;
    int inFlight() const final { return int(m_pending.size()); }

    QUrl baseUrl() const { return m_baseUrl; }
    // How many QNetworkAccessManagers the pool has opened so far (tests, benchmarks).
    int networkManagerCount() const;

    // `configured` (or `fallback` when empty) as an http(s) URL without a trailing slash;
    // false and a message when it is not one.
    static bool resolveBaseUrl(const QString &configured, const QString &fallback, QUrl *url,
                               QString *error);

protected:
    HttpChatProvider(const ProviderConfig &config, const QUrl &baseUrl, Clock *clock,
                     QObject *parent);

    // The outcome of one API call outside the chat path (files, batches).
    struct ApiResult
    {
        int httpStatus = 0;
        QByteArray body;
        ErrorClass error = ErrorClass::None; // None: a 2xx answer arrived whole
        QString errorMessage;                // safe to show (no key)
        qint64 retryAfterMs = -1;
        bool ok() const { return error == ErrorClass::None; }
    };
    // Sends one API call; `done` runs exactly once on this thread when it finishes (never
    // from inside callApi(), never after the provider is gone). cancelAll() leaves these be.
    void callApi(const QByteArray &verb, const QNetworkRequest &request, const QByteArray &body,
                 std::function<void(const ApiResult &)> done);

    // The HTTP request (URL, headers) and JSON body for one chat request.
    virtual QNetworkRequest buildRequest(const ChatRequest &request, QByteArray *body) const = 0;
    // Fills text, model, usage and finish reason from a 2xx body. False and a short reason
    // when the body is not what the API promises (the reply becomes Malformed), or set
    // reply->error yourself for a well-formed refusal.
    virtual bool parseAnswer(const QByteArray &body, ChatReply *reply, QString *problem) const = 0;
    // A wait the error body asks for (Gemini's RetryInfo.retryDelay), used when no header
    // names one; -1: none.
    virtual qint64 retryAfterFromBody(const QByteArray &) const { return -1; }

    // A poll that failed: pending, to be polled again. A 404 is normal for a moment right
    // after a batch was created, so it is reported as a passing server error.
    static BatchStatus failedPoll(const QString &batchId, const ApiResult &result);

    // A request to baseUrl() + path with the headers every call carries.
    QNetworkRequest makeRequest(const QString &path) const;
    const QString &apiKey() const { return m_apiKey; }
    Clock *clock() const { return m_clock; }
    NetworkPool *pool() const { return m_pool; }
    const QJsonObject &settings() const { return m_settings; }
    int timeoutMs() const { return m_timeoutMs; }

    static constexpr qint64 kDefaultMaxReplyBytes = 32 * 1024 * 1024;
    static constexpr qint64 kDefaultMaxDownloadBytes = 1024 * 1024 * 1024;
    static constexpr qint64 kReadAheadBytes = 256 * 1024;
    static constexpr qint64 kDefaultDeadlineMs = 600'000;
    static constexpr qint64 kDefaultApiDeadlineMs = 1'800'000;
    // Provider text made safe to show: the key removed, whitespace tidied, length capped.
    QString safeMessage(const QString &text) const;

private:
    struct Pending
    {
        qint64 taskId = 0;
        QString model;
        QElapsedTimer timer;
    };

    // Why we stopped a transfer ourselves.
    enum class Stop
    {
        None,
        TooLarge,
        Deadline,
    };
    // The body of one reply as it arrives, and its limits.
    struct Transfer
    {
        QByteArray body;
        qint64 maxBytes = 0;
        qint64 deadlineMs = 0;
        QTimer *deadline = nullptr; // a child of the reply
        Stop stop = Stop::None;
    };

    void track(QNetworkReply *reply, qint64 maxBytes, qint64 deadlineMs);
    void checkDeclaredSize(QNetworkReply *reply);
    void drain(QNetworkReply *reply);
    void stopTransfer(QNetworkReply *reply, Stop why);
    // The whole body (what is left is read now) and how the transfer went; forgets it.
    Transfer takeTransfer(QNetworkReply *reply);
    void forgetTransfer(QNetworkReply *reply);
    // The message for a transfer we stopped; empty when we did not.
    static QString stopMessage(const Transfer &transfer);

    void handleFinished(QNetworkReply *reply);
    ChatReply classify(QNetworkReply *reply, const Pending &pending,
                       const Transfer &transfer) const;
    ApiResult classifyApiReply(QNetworkReply *reply, const Transfer &transfer) const;

    QUrl m_baseUrl;
    QString m_apiKey;
    QJsonObject m_settings;
    Clock *m_clock;
    int m_timeoutMs;
    qint64 m_maxReplyBytes;
    qint64 m_maxDownloadBytes;
    qint64 m_deadlineMs;
    qint64 m_apiDeadlineMs;
    NetworkPool *m_pool;
    QHash<QNetworkReply *, Pending> m_pending;
    QSet<QNetworkReply *> m_apiCalls;
    QHash<QNetworkReply *, Transfer> m_transfers;
};

} // namespace bd::providers
