#pragma once

#include <QByteArray>
#include <QElapsedTimer>
#include <QHash>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>
#include <utility>

class QTcpServer;
class QTcpSocket;

namespace bd::testing {

// A small HTTP/1.1 server on 127.0.0.1 that speaks enough of the Gemini API for the
// provider's tests and benchmarks (docs PROVIDERS.md):
//   POST /v1beta/models/{model}:generateContent       sync answers
//   GET  /v1beta/models                               model list
//   POST /v1beta/models/{model}:batchGenerateContent  create a batch (inline or file input)
//   GET  /v1beta/batches/{id}, POST /v1beta/batches/{id}:cancel, GET /v1beta/batches (paged)
//   POST /upload/v1beta/files?uploadType=multipart    File API upload (multipart/related)
//   GET  /download/v1beta/files/{id}:download?alt=media
//   POST /v1beta/cachedContents, DELETE /v1beta/cachedContents/{id}   explicit context caches
//   GET  /fake/stats, POST /fake/reset                 counters (benchmarks), no key needed
// Every request needs x-goog-api-key equal to Options::requiredKey (when set): 403
// PERMISSION_DENIED otherwise. Answers are derived from the prompt (answerFor). Markers in a
// prompt choose a fault, per request or per batch line ([[g:KIND]] or [[g:KIND*N]]: only
// the first N tries of that prompt):
//   429 (RESOURCE_EXHAUSTED with RetryInfo retryDelay Options::retryDelay), 400, 403, 500,
//   503, 504, safety, recitation, maxtokens, blocked (promptFeedback), cached=N,
//   thoughts=N, thinkall (MAX_TOKENS with no text), expire (batch line: the batch expires with this
//   line unanswered)
// Batches move one step per poll: PENDING -> RUNNING -> SUCCEEDED (EXPIRED when a line
// expired). File results come back shuffled; inline results in request order, without
// their metadata when Options::dropInlineMetadata, one short when Options::dropInlineResult.
// Single-threaded: lives on the thread that created it and needs its event loop.
class FakeGemini final : public QObject
{
    Q_OBJECT

public:
    struct Options
    {
        QString requiredKey;
        QString retryDelay = QStringLiteral("1s");
        int latencyMs = 0;
        int deleteLatencyMs = 0; // a cache's DELETE is answered this late (0: as any other)
        bool holdBatches = false; // polls do not advance batches
        bool failBatches = false; // batches end BATCH_STATE_FAILED
        bool dropInlineMetadata = false;
        bool dropInlineResult = false;
        int listPageSize = 100;
        bool echoKeyInErrors = false; // error messages quote the key (redaction tests)
        QString modelVersion = QStringLiteral("gemini-2.5-flash"); // what answers name
    };

    struct ReceivedRequest
    {
        QByteArray method;
        QByteArray path;
        QByteArray query;
        QList<std::pair<QByteArray, QByteArray>> headers;
        QByteArray body;
        QByteArray header(const QByteArray &name) const;
    };

    explicit FakeGemini(QObject *parent = nullptr);
    ~FakeGemini() override;

    bool listen(quint16 port = 0);
    quint16 port() const;
    QString baseUrl() const; // http://127.0.0.1:PORT
    Options &options() { return m_options; }

    static QString answerFor(const QString &systemPrompt, const QString &prompt);
    static qint64 tokensFor(const QString &text);

    // Adds a finished batch someone else made, for the batch list; its id.
    QString addForeignBatch(const QString &displayName, qint64 createdAtMs);

    int requestCount(const QByteArray &pathPrefix) const;
    int attemptsFor(const QString &prompt) const { return m_attempts.value(prompt); }
    // When each request of this prompt arrived (ms since the epoch), oldest first.
    QList<qint64> arrivalsFor(const QString &prompt) const { return m_arrivals.value(prompt); }
    int batchesCreated() const { return m_batchesCreated; }
    int filesUploaded() const { return m_filesUploaded; }
    int cachesCreated() const { return m_cachesCreated; }
    int cachesDeleted() const { return m_cachesDeleted; }
    int cachesAlive() const { return int(m_caches.size()); }
    // The ttl of each cache created ("86400s"), in order.
    const QStringList &cacheTtls() const { return m_cacheTtls; }
    int batchLinesFor(const QString &key) const { return m_linesByKey.value(key); }
    int maxInFlight() const { return m_maxInFlight; }
    const QList<ReceivedRequest> &received() const { return m_received; }
    void resetCounters();

private:
    struct Connection;
    struct Reply
    {
        int status = 200;
        QByteArray body;
    };
    struct Line
    {
        QString key;
        QJsonObject request;
        QJsonObject metadata;
    };
    struct Batch
    {
        QString id;
        QString model;
        QString displayName;
        qint64 createdAtMs = 0;
        bool fromFile = false;
        QList<Line> lines;
        int step = 0; // 0 pending, 1 running, 2 ended
        QString endState;
        QJsonObject response; // the output once ended
    };

    void accountInFlight();
    void handleConnection();
    void handleData(QTcpSocket *socket);
    void dispatch(QTcpSocket *socket, const ReceivedRequest &request);
    void send(QTcpSocket *socket, const Reply &reply);
    Reply route(const ReceivedRequest &request);
    Reply generate(const QJsonObject &request, bool batchLine);
    Reply createBatch(const QString &model, const QJsonObject &body);
    Reply pollBatch(const QString &id);
    Reply listBatches(const QByteArray &query);
    void finishBatch(Batch &batch);
    QJsonObject operationOf(const Batch &batch) const;
    QString systemOf(const QJsonObject &request) const;
    static Reply error(int status, const QString &word, const QString &message,
                       const QJsonArray &details = {});

    QTcpServer *m_server;
    Options m_options;
    QHash<QTcpSocket *, Connection *> m_connections;
    QHash<QString, QByteArray> m_files;
    QHash<QString, QString> m_caches; // name -> system prompt
    QStringList m_cacheTtls;
    QList<Batch> m_batches;
    QHash<QString, int> m_attempts;
    QHash<QString, QList<qint64>> m_arrivals;
    QHash<QString, int> m_linesByKey;
    QList<ReceivedRequest> m_received;
    int m_batchesCreated = 0;
    int m_filesUploaded = 0;
    int m_cachesCreated = 0;
    int m_cachesDeleted = 0;
    int m_nextId = 1;
    int m_inFlight = 0;
    int m_maxInFlight = 0;
    QElapsedTimer m_inFlightClock;
    double m_inFlightIntegral = 0; // requests in flight x ns since the reset
    qint64 m_lastChangeNs = 0;
};

} // namespace bd::testing
