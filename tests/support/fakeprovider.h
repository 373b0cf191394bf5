#pragma once

#include <QByteArray>
#include <QElapsedTimer>
#include <QHash>
#include <QHostAddress>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QPointer>
#include <QString>
#include <utility>

class QSslConfiguration;
class QTcpServer;
class QTcpSocket;
class QTimer;

namespace bd::testing {

// A small HTTP/1.1 server on 127.0.0.1 that speaks enough of the OpenAI and Anthropic APIs
// for the providers' tests and benchmarks (docs PROVIDERS.md):
//   POST /v1/chat/completions   OpenAI chat
//   GET  /v1/models             model list
//   POST /v1/messages           Anthropic Messages
//   POST /v1/files, GET /v1/files/{id}/content, DELETE /v1/files/{id}    OpenAI Files
//   POST /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel  OpenAI Batch API
//   GET  /v1/batches?limit=N&after=ID   OpenAI batch list, newest first, paged
//   POST /v1/messages/batches, GET .../{id}, GET .../{id}/results, POST .../{id}/cancel
//                               Anthropic Message Batches
//   GET  /fake/stats            counters as JSON; POST /fake/reset clears them
// Batches move one step per poll (OpenAI validating -> in_progress -> finalizing ->
// completed; Anthropic in_progress -> ended), each line answered as the chat endpoint would
// answer it (markers work per line), results in shuffled order; Options::batchOutcome makes
// a batch fail, fail on the enqueued-token limit, or expire half done.
// Keep-alive connections, answers derived from the prompt (answerFor), rate-limit headers
// of the API's own family, and faults chosen for the whole server (Options::fault) or per
// request by a marker in the prompt:
//   [[fake:429]] [[fake:quota]] [[fake:400]] [[fake:401]] [[fake:500]] [[fake:503]]
//   [[fake:529]] [[fake:malformed]] [[fake:close]] (drop the connection, no answer)
//   [[fake:hang]] (never answer)   — add *N ([[fake:500*2]]) to fail only the first N tries
//   of that prompt, then answer normally
//   [[fake:latency=MS]] [[fake:cached=N]] [[fake:cachewrite=N]]
// Markers for the lines of a provider batch (ignored by the chat endpoints):
//   [[fake:expire]] (the line comes back expired; the batch ends "expired")
//   [[fake:cancel]] (the line comes back cancelled; the batch ends "cancelled")
//   — with *N only the first N batch runs of that prompt.
// Further switches (Options): a rate limit the server enforces (fixed or sliding window,
// 429 with retry-after and x-ratelimit headers that describe that window), quota
// exhaustion after N chat requests, holding batches where they are (polls do not advance
// them). Counters: successful answers per prompt, 429s sent, chat arrivals as a signal.
// Single-threaded: lives on the thread that created it and needs its event loop.
class FakeProvider final : public QObject
{
    Q_OBJECT

public:
    enum class Fault
    {
        None,
        RateLimited,  // 429 rate_limit_exceeded / rate_limit_error with retry headers
        Quota,        // OpenAI 429 insufficient_quota; Anthropic 400 "credit balance is too low"
        BadRequest,   // 400 invalid_request_error
        Unauthorized, // 401
        ServerError,  // 500
        Unavailable,  // 503 (server_is_overloaded)
        Overloaded,   // 529 overloaded_error
        Malformed,    // 200 with a body that is not JSON
        Close,        // close the connection instead of answering
        Hang,         // never answer
    };

    enum class BatchOutcome
    {
        Complete,
        FailValidation, // OpenAI "failed" with errors.data (Anthropic: 400 at create)
        TokenLimit,     // OpenAI "failed": enqueued token limit reached
        Expire,         // half the lines done, the rest expired
        FailServer,     // OpenAI "failed" with an error that names no line (provider trouble)
    };

    struct Options
    {
        int latencyMs = 0;
        Fault fault = Fault::None;
        QString requiredKey; // non-empty: 401 unless the request carries this key
        bool echoCredentialsInErrors =
            false; // error bodies quote the credentials (redaction tests)
        bool sendRateLimitHeaders = true;
        qint64 requestsPerMinute = 10'000; // figures for the headers (not enforced)
        qint64 tokensPerMinute = 2'000'000;
        int retryAfterMs = 250;     // what a 429 asks for
        bool sendRetryAfter = true; // false: a 429 says when only through the rate-limit headers
        BatchOutcome batchOutcome = BatchOutcome::Complete;
        int batchNotFoundPolls = 0; // the first N polls of a new batch answer 404
        // batchOutcome applies to the first N batches created, later ones complete (-1: all).
        int batchOutcomeBatches = -1;
        // Every request to the Files and batch endpoints gets this fault (None: served);
        // the chat endpoints are not affected.
        Fault batchFault = Fault::None;
        // Enforced rate limit on the chat endpoints: at most enforceRequests accepted per
        // enforceWindowMs (0: not enforced). Fixed windows start with the first request
        // after the last one ended; sliding windows count the accepted requests of the last
        // enforceWindowMs. Refused requests get 429 rate_limit_exceeded with retry-after(-ms)
        // naming the time until a request is accepted again, do not count against the
        // window and never reach the model (no attempt of the prompt is counted). While it
        // is on, the rate-limit headers describe this window: limit = its per-minute
        // equivalent, remaining = left in the window, reset = time until the window ends
        // (fixed) or until its oldest request leaves it (sliding).
        int enforceRequests = 0;
        int enforceWindowMs = 60'000;
        bool slidingWindow = false;
        // The reset headers of the enforced window: false names when the next request is
        // accepted again, true when the window is fully replenished (OpenAI's and
        // Anthropic's meaning; sliding: when the newest request leaves it).
        bool resetUntilFull = false;
        // Enforced token limit (0: not enforced): at most this many tokens per sliding
        // enforceWindowMs, a request charged its prompt's tokens plus
        // its max_tokens / max_completion_tokens as OpenAI counts them. The token headers
        // then describe this window like the request ones.
        qint64 enforceTokens = 0;
        // After this many chat requests (since the last reset), answer every further one
        // with the quota error, markers or not (-1: never). Set it back to -1 to "top up".
        int quotaAfterRequests = -1;
        // A 429 storm: every chat request is refused with 429 rate_limit_exceeded (retry
        // after retryAfterMs, headers saying nothing remains) before it reaches the model.
        bool rateLimitStorm = false;
        // Provider batches stay where they are: polls answer without advancing them.
        bool holdBatches = false;
        // Requests the chat endpoints take at once (a gateway's or a self-hosted server's
        // parallel limit; 0: no limit): one more is refused at once with 429
        // rate_limit_exceeded "too many concurrent requests" and never reaches the model.
        int maxConcurrent = 0;
    };

    struct ReceivedRequest
    {
        QByteArray method;
        QByteArray path;
        QByteArray query; // after the '?', undecoded
        QList<std::pair<QByteArray, QByteArray>> headers;
        QByteArray body;
        QByteArray header(const QByteArray &name) const;
    };

    explicit FakeProvider(QObject *parent = nullptr);
    ~FakeProvider() override;

    // Listens on 127.0.0.1 only; port 0 picks a free one.
    bool listen(quint16 port = 0);
    // The same over TLS with this certificate and key (QSslServer); base URLs become https.
    bool listenTls(const QSslConfiguration &configuration, quint16 port = 0);
    quint16 port() const { return m_port; }
    QString openAiBaseUrl() const;    // http://127.0.0.1:PORT/v1
    QString anthropicBaseUrl() const; // http://127.0.0.1:PORT

    Options &options() { return m_options; }
    void setOptions(const Options &options) { m_options = options; }

    // Outage: stop accepting (connections are refused) and drop every open connection, for
    // durationMs (0: until endOutage()).
    void startOutage(int durationMs = 0);
    void endOutage();
    bool inOutage() const { return m_outage; }

    // Counters since the start or the last resetCounters().
    int requestCount() const { return m_requestCount; }
    int requestCount(const QByteArray &path) const { return m_requestsByPath.value(path); }
    int inFlight() const { return m_inFlight; }
    int maxInFlight() const { return m_maxInFlight; }
    double meanInFlight() const; // time-weighted since the reset
    int connectionsAccepted() const { return m_connectionsAccepted; }
    int attemptsFor(const QString &prompt) const { return m_attempts.value(prompt); }
    int batchesCreated() const { return m_batchesCreated; }
    // An OpenAI batch someone else created (completed, no lines) for the batch list: its id.
    QString addForeignOpenAiBatch(const QJsonObject &metadata, qint64 createdAtSeconds);
    int filesStored() const { return int(m_files.size()); }
    // Lines of every batch created so far, by custom_id (a resubmitted line counts twice).
    int batchLinesFor(const QString &customId) const
    {
        return m_batchLinesByCustomId.value(customId);
    }
    // Successful answers that went out for this prompt: 200s of the chat endpoints actually
    // written to a connection, plus succeeded lines of provider batches.
    int successesFor(const QString &prompt) const { return m_successes.value(prompt); }
    // 429 answers written by the chat endpoints (enforced limit or fault, not quota).
    int rateLimitedCount() const { return m_rateLimitedSent; }
    // Chat requests answered with 200 / refused by the enforced limit.
    int chatSuccessCount() const { return m_chatSuccessSent; }
    int enforcedRefusals() const { return m_enforcedRefusals; }
    int concurrencyRefusals() const { return m_concurrencyRefusals; }
    // The last (up to 2000) requests, oldest first.
    const QList<ReceivedRequest> &received() const { return m_received; }
    void resetCounters();

Q_SIGNALS:
    // A chat request (not a batch line) arrived with this user prompt.
    void chatReceived(const QString &prompt);

public:
    // The answer text for a prompt: tests check each row's output against it.
    static QString answerFor(const QString &systemPrompt, const QString &prompt);
    // Token figure the server reports for a text (about four characters a token).
    static qint64 tokensFor(const QString &text);

private:
    struct Connection;
    struct Response
    {
        int status = 200;
        QByteArray body;
        QList<std::pair<QByteArray, QByteArray>> headers;
        bool close = false; // close instead of answering
        bool hang = false;  // never answer
        int latencyMs = 0;
        bool chat = false;  // an answer of a chat endpoint (not a batch line)
        bool answered = false; // chat: a real answer (not a fault)
        QString prompt;     // chat answers: the user prompt they answer
    };

    struct StoredFile
    {
        QByteArray content;
        QString purpose;
        QString filename;
    };
    struct Batch
    {
        QString id;
        bool anthropic = false;
        QString status;                                   // the API's own word
        QList<std::pair<QString, QByteArray>> lines;      // custom_id, request body
        QList<std::pair<QByteArray, QByteArray>> headers; // of the create request
        QString inputFileId;
        QJsonObject metadata;
        QJsonArray errors; // OpenAI errors.data of a failed batch
        int notFoundLeft = 0;
        bool cancelRequested = false;
        QString outputFileId; // OpenAI
        QString errorFileId;  // OpenAI
        QByteArray results;   // Anthropic JSONL
        qint64 succeeded = 0;
        qint64 errored = 0;
        qint64 expired = 0;
        qint64 canceled = 0;
        qint64 createdAt = 0;
        BatchOutcome outcome = BatchOutcome::Complete;
    };
    // The outcome a batch created now gets (Options::batchOutcome, batchOutcomeBatches).
    BatchOutcome nextBatchOutcome() const;

    void handleNewConnection();
    void handleReadyRead(QTcpSocket *socket);
    void handleDisconnected(QTcpSocket *socket);
    void processBuffered(QTcpSocket *socket);
    Response route(const ReceivedRequest &request);
    Response chat(const ReceivedRequest &request, bool anthropic);
    Response failure(Fault fault, bool anthropic, const ReceivedRequest &request);
    // The enforced limit: true when a chat request may go on now (and counts it).
    bool admitEnforced(qint64 nowMs, qint64 *retryAfterMs);
    void enforcedWindowFigures(qint64 nowMs, qint64 *remaining, qint64 *resetMs);
    // The enforced token limit: true when `tokens` fit now (and counts them).
    bool admitTokens(qint64 tokens, qint64 nowMs, qint64 *retryAfterMs);
    void tokenWindowFigures(qint64 nowMs, qint64 *remaining, qint64 *resetMs);
    void addRateLimitHeaders(Response *response, bool anthropic, bool exhausted);
    void finishRequest(QTcpSocket *socket, const Response &response, bool keepAlive);
    void writeResponse(QTcpSocket *socket, const Response &response, bool keepAlive);
    void setInFlight(int value);
    bool authorized(const ReceivedRequest &request, bool anthropic) const;
    Response jsonResponse(int status, const QJsonObject &body) const;
    Response apiError(int status, bool anthropic, const QString &type,
                      const QString &message) const;
    Response routeFiles(const ReceivedRequest &request, const QList<QByteArray> &parts);
    Response routeOpenAiBatches(const ReceivedRequest &request, const QList<QByteArray> &parts);
    Response listOpenAiBatches(const ReceivedRequest &request);
    Response routeAnthropicBatches(const ReceivedRequest &request, const QList<QByteArray> &parts);
    void advance(Batch *batch);
    void finishBatch(Batch *batch, const QString &finalStatus, qsizetype linesToRun);
    QJsonObject openAiBatchJson(const Batch &batch) const;
    QJsonObject anthropicBatchJson(const Batch &batch) const;

    QTcpServer *m_server;
    quint16 m_port = 0;
    bool m_tls = false;
    Options m_options;
    bool m_outage = false;
    QTimer *m_outageTimer;
    QHash<QTcpSocket *, Connection *> m_connections;

    int m_requestCount = 0;
    QHash<QByteArray, int> m_requestsByPath;
    int m_inFlight = 0;
    int m_maxInFlight = 0;
    int m_connectionsAccepted = 0;
    QHash<QString, int> m_attempts;
    QList<ReceivedRequest> m_received;
    QHash<QString, StoredFile> m_files;
    QHash<QString, Batch *> m_batches;
    int m_nextId = 1;
    int m_batchesCreated = 0;
    QHash<QString, int> m_batchLinesByCustomId;
    qint64 m_chatArrivals = 0; // chat requests received (not batch lines), refused or not
    qint64 m_firstChatAtMs = 0; // ... the first and the last one's arrival (epoch ms)
    qint64 m_lastChatAtMs = 0;
    QElapsedTimer m_since;         // for the time-weighted mean
    double m_inFlightIntegral = 0; // sum of in-flight x ms
    qint64 m_lastChangeMs = 0;
    qint64 m_windowStartMs = 0; // one-minute window of the rate-limit headers
    qint64 m_windowRequests = 0;
    qint64 m_windowTokens = 0;
    // The enforced limit.
    qint64 m_enforcedWindowStartMs = -1; // fixed window
    int m_enforcedInWindow = 0;          // fixed window
    QList<qint64> m_enforcedAccepted;    // sliding window: accepted times, oldest first
    QList<std::pair<qint64, qint64>> m_tokenWindow; // enforced tokens: (time, tokens), oldest first
    int m_enforcedRefusals = 0;
    int m_concurrencyRefusals = 0;
    int m_chatRequests = 0;
    int m_rateLimitedSent = 0;
    int m_chatSuccessSent = 0;
    QHash<QString, int> m_successes;
    QHash<QString, int> m_batchLineRuns; // per prompt: lines of batches that ran it
    bool m_answeringBatchLine = false;
};

} // namespace bd::testing
