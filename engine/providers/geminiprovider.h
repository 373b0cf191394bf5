#pragma once

#include "cost/pricetable.h"
#include "httpchatprovider.h"

namespace bd::providers {

// Google Gemini (docs PROVIDERS.md). Sync: POST {base}/v1beta/models/{model}:generateContent
// with the key in x-goog-api-key; base URL https://generativelanguage.googleapis.com unless
// configured (with or without a trailing /v1beta). The system prompt goes as
// systemInstruction, the output cap as generationConfig.maxOutputTokens. Structured answers:
// generationConfig.responseMimeType "application/json" and responseSchema (the schema in
// Gemini's OpenAPI subset, propertyOrdering in the schema's field order).
//
// Usage: promptTokenCount includes the cached tokens (implicit or explicit caching), so
// Usage::inputTokens = promptTokenCount - cachedContentTokenCount and Usage::cachedTokens =
// cachedContentTokenCount; thoughts are billed as output, so Usage::outputTokens =
// candidatesTokenCount + thoughtsTokenCount.
//
// finishReason: STOP answers; MAX_TOKENS answers too, marked truncated in the reply's
// message (without any text, thinking spent the allowance: InvalidRequest); SAFETY, RECITATION,
// BLOCKLIST, PROHIBITED_CONTENT, SPII and a blocked prompt (promptFeedback.blockReason) are
// InvalidRequest with the reason: retrying the same text gives the same verdict.
//
// Errors: {"error":{"code","message","status","details"}}; a 429's RetryInfo.retryDelay
// ("30s") is the retry-after when no header says otherwise.
//
// Batch API (geminibatch.cpp): POST .../models/{model}:batchGenerateContent with the lines
// inline while the body stays under inline_max_bytes (20 MB), else a JSONL file uploaded
// through POST {base}/upload/v1beta/files (multipart). Each line is keyed by its task id.
// The batch's displayName is "batchdesk-{reference}-{fingerprint}" so that a restart finds it
// by listing GET /v1beta/batches. Inline results are joined by metadata.key when it comes
// back, else by position after checking the count (inline lines are sent in task-id order);
// file results by key. Explicit cachedContents for a long shared system prompt of a batch
// when the cache's creation and storage cost less than the input it saves (prices from the
// engine's price table, setPriceTable(); settings explicit_cache: "auto" (default) or
// "off"; explicit_cache_ttl_hours, default 24). What the cache costs (its tokens once at the
// input price, storage by the hour) is reported with batchCharged() the moment it is created,
// priced for its whole TTL, so the job's cost and budgets hold it whether or not a line is
// ever answered and whatever happens to this process; once the batch ends (results in,
// failed, cancelled) the cache is deleted and reported again at the hours it really lived.
// A cache whose batch outlives this process is left to its TTL, which is what was charged.
class GeminiProvider final : public HttpChatProvider
{
    Q_OBJECT

public:
    static std::unique_ptr<GeminiProvider> create(const ProviderConfig &config, Clock *clock,
                                                  QString *error);

    QString id() const override { return QStringLiteral("gemini"); }
    QString displayName() const override { return QStringLiteral("Google Gemini"); }
    bool requiresKey() const override { return true; }
    QString defaultModel() const override;
    QStringList knownModels() const override;
    void setPriceTable(const cost::PriceTable &prices) override;

    bool hasBatchApi() const override { return true; }
    BatchLimits batchLimits() const override;
    QList<QList<ChatRequest>> planBatches(const QList<ChatRequest> &requests) const override;
    void submitBatch(const QString &reference, const QList<ChatRequest> &requests) override;
    void pollBatch(const QString &batchId) override;
    void fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds) override;
    void cancelBatch(const QString &batchId) override;
    bool canFindBatches() const override { return true; }
    void findBatch(const QString &reference, const QList<ChatRequest> &requests,
                   qint64 createdSinceMs) override;
    // GET {base}/v1beta/models (ids without the "models/" prefix).
    void listModels() override;
    bool chargesSettling() const override;

    // The generateContent body for a request (tests check it). With cachedContent, the
    // system prompt lives in that cache and is left out.
    QJsonObject requestJson(const ChatRequest &request, const QString &cachedContent = {}) const;
    // A JSON Schema as responseSchema.
    static QJsonObject responseSchema(const ingest::OutputSchema &schema);
    // One line of the JSONL input file: {"key": taskId, "request": {...}}.
    QByteArray fileLine(const ChatRequest &request, const QString &cachedContent = {}) const;
    // The batch's display name: carries the reference and a digest of the lines.
    QString displayNameFor(const QString &reference, const QList<ChatRequest> &requests) const;
    // Parses a generateContent response (also a batch line's response) into reply.
    bool parseResponse(const QJsonObject &root, ChatReply *reply, QString *problem) const;
    // "30s", "1.5s" -> ms; -1 when it is none of these.
    static qint64 parseDuration(const QString &text);
    // The retryDelay of a RetryInfo detail in an error body; -1 without one.
    static qint64 retryDelayMs(const QByteArray &errorBody);

protected:
    QNetworkRequest buildRequest(const ChatRequest &request, QByteArray *body) const override;
    bool parseAnswer(const QByteArray &body, ChatReply *reply, QString *problem) const override;
    qint64 retryAfterFromBody(const QByteArray &body) const override { return retryDelayMs(body); }

private:
    GeminiProvider(const ProviderConfig &config, const QUrl &baseUrl, Clock *clock);

    // A request to {base root}{path}, with the key header.
    QNetworkRequest apiRequest(const QString &path, const QString &query = {}) const;
    QString modelPath(const QString &model, const QString &verb) const;
    QString batchPath(const QString &batchId, const QString &suffix = {}) const;
    BatchStatus batchStatusFrom(const QString &batchId, const ApiResult &result) const;
    void createBatch(const QString &reference, const QList<ChatRequest> &requests,
                     const QString &cachedContent);
    void createBatchOver(const QString &reference, const QString &model,
                         const QJsonObject &inputConfig, const QString &displayName,
                         const QString &cachedContent);
    // Deletes the batch's explicit cache, if it has one (results in, failed, cancelled).
    void releaseBatchCache(const QString &batchId);
    // Deletes an explicit cache and reports what it came to: the hours it lived, or its
    // whole TTL again when the delete is refused.
    void releaseCache(const QString &cacheName);
    // Reports a cache's cost had it lived `hours` (batchCharged).
    void reportCache(const QString &cacheName, double hours);
    // Whether an explicit cache of the requests' shared system prompt costs less than
    // the input it saves; its estimated size in tokens through *tokens.
    bool explicitCachePays(const QList<ChatRequest> &requests, qint64 *tokens) const;
    void findBatchPage(const QString &reference, const QString &displayName, qint64 oldestMs,
                       const QString &pageToken, int page);
    ChatReply lineReply(qint64 taskId, const QJsonObject &line) const;
    void joinInline(const QString &batchId, const QJsonArray &responses,
                    const QList<qint64> &taskIds, const BatchStatus &status);
    void joinFile(const QString &batchId, const QByteArray &file, const QList<qint64> &taskIds,
                  const BatchStatus &status);

    QString m_rootPath; // the base URL's path without a trailing /v1beta
    // Explicit caches of batches in flight, deleted once their batch ends (storage is
    // billed by the hour). Lost in a crash: then the cache's TTL ends it, and the cost
    // reported at its creation (for the whole TTL) stands.
    struct ExplicitCache
    {
        QString name; // cachedContents/...
        QString model;
        qint64 tokens = 0;
        qint64 createdAtMs = 0;
        double ttlHours = 0;
        bool deleting = false; // its DELETE is under way
    };
    QHash<QString, ExplicitCache> m_caches; // by name, from creation on
    QHash<QString, QString> m_batchCaches;  // batch id -> cache name
    cost::PriceTable m_prices;
};

} // namespace bd::providers
