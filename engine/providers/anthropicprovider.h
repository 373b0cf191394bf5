#pragma once

#include "httpchatprovider.h"

namespace bd::providers {

// Anthropic Messages (POST {base}/v1/messages; base URL https://api.anthropic.com unless
// configured, with or without a trailing /v1). Headers x-api-key and anthropic-version:
// 2023-06-01. The system prompt goes top level as one text block marked
// cache_control:{type:"ephemeral"} so that repeated prefixes are cached (5 minutes; lines of
// a Message Batch add "ttl":"1h", as a batch can take longer than 5 minutes to get from
// one line to the next and the 1 h write price is still far below re-reading); max_tokens is
// always sent. The answer is the text blocks of content[] joined. Structured answers: a
// forced tool (tools [{name: "answer", input_schema}], tool_choice {type: "tool", name}),
// and the answer is the tool_use block's input as compact JSON. Usage keeps the cache
// figures apart as the API does: input_tokens -> Usage::inputTokens,
// cache_read_input_tokens -> cachedTokens, cache_creation_input_tokens -> cacheWriteTokens.
//
// Message Batches (anthropicbatch.cpp): POST /v1/messages/batches with the request list,
// GET /v1/messages/batches/{id} to poll, GET .../{id}/results for the JSONL results, POST
// .../{id}/cancel. Limits from resources/providers.json (settings batch_max_requests /
// batch_max_bytes override them).
class AnthropicProvider final : public HttpChatProvider
{
    Q_OBJECT

public:
    static constexpr const char *kApiVersion = "2023-06-01";
    static constexpr const char *kExtendedCacheTtlBeta = "extended-cache-ttl-2025-04-11";

    static std::unique_ptr<AnthropicProvider> create(const ProviderConfig &config, Clock *clock,
                                                     QString *error);

    QString id() const override { return QStringLiteral("anthropic"); }
    QString displayName() const override { return QStringLiteral("Anthropic"); }
    bool requiresKey() const override { return true; }
    QString defaultModel() const override;
    QStringList knownModels() const override;

    bool hasBatchApi() const override { return true; }
    BatchLimits batchLimits() const override;
    QList<QList<ChatRequest>> planBatches(const QList<ChatRequest> &requests) const override;
    void submitBatch(const QString &reference, const QList<ChatRequest> &requests) override;
    void pollBatch(const QString &batchId) override;
    void fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds) override;
    void cancelBatch(const QString &batchId) override;
    // GET {base}/v1/models (first page, up to 1000 ids); modelsListed() follows.
    void listModels() override;
    // One entry of the batch's request list.
    QByteArray batchEntry(const ChatRequest &request) const;

    // How long the system prompt stays in Anthropic's prompt cache.
    enum class CacheLife
    {
        FiveMinutes,
        OneHour,
    };
    // The JSON body sent for a request (tests check it).
    QByteArray requestBody(const ChatRequest &request,
                           CacheLife cacheLife = CacheLife::FiveMinutes) const;

protected:
    QNetworkRequest buildRequest(const ChatRequest &request, QByteArray *body) const override;
    bool parseAnswer(const QByteArray &body, ChatReply *reply, QString *problem) const override;

private:
    AnthropicProvider(const ProviderConfig &config, const QUrl &baseUrl, Clock *clock);

    QNetworkRequest apiRequest(const QString &path) const; // makeRequest + key and version
    QString batchPath(const QString &batchId, const QString &suffix = {}) const;
    BatchStatus batchStatusFrom(const QString &batchId, const ApiResult &result) const;
    void joinResults(const QString &batchId, const QByteArray &results,
                     const QList<qint64> &taskIds);

    QString m_messagesPath;
};

} // namespace bd::providers
