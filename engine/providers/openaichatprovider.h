#pragma once

#include "httpchatprovider.h"

#include <QStringList>

namespace bd::providers {

// OpenAI chat completions (POST {base}/chat/completions) for OpenAI itself ("openai":
// base URL https://api.openai.com/v1 unless configured, key required, models from the
// catalog) and for any server that speaks the same API ("openai-compatible": Ollama, vLLM,
// llama.cpp; base URL required, key optional, open model list).
//
// Request: the system prompt as the first message, the prompt as the user message, the
// output cap as max_completion_tokens (OpenAI) or max_tokens (compatible servers, which
// mostly know only that name), prompt_cache_key = ChatRequest::cacheKey for OpenAI.
// Structured answers: response_format {type: json_schema, json_schema: {name: "answer",
// schema, strict}} with the schema in its own key order (strict: true when the schema meets
// strict mode's rules). A compatible server whose settings say structured_output:
// "json_object" (for servers without json_schema support) gets response_format {type:
// json_object} and the schema in an instruction after the system prompt instead.
// Usage: Usage::inputTokens = prompt_tokens - cached_tokens, Usage::cachedTokens =
// prompt_tokens_details.cached_tokens.
//
// OpenAI (not compatible servers) also has the Batch API (openaibatch.cpp): the JSONL file
// goes up through POST /files (purpose=batch), POST /batches starts it, GET /batches/{id}
// polls, GET /files/{id}/content fetches the output and error files, POST
// /batches/{id}/cancel cancels. Limits come from resources/providers.json (settings
// batch_max_requests / batch_max_bytes override them).
class OpenAiChatProvider final : public HttpChatProvider
{
    Q_OBJECT

public:
    enum class Flavour
    {
        OpenAi,
        Compatible,
    };

    // nullptr and a message when the configuration cannot work (no or bad base URL).
    static std::unique_ptr<OpenAiChatProvider> create(Flavour flavour, const ProviderConfig &config,
                                                      Clock *clock, QString *error);

    QString id() const override;
    QString displayName() const override;
    bool requiresKey() const override { return m_flavour == Flavour::OpenAi; }
    bool isLocalServer() const override;
    QString defaultModel() const override;
    QStringList knownModels() const override;

    bool hasBatchApi() const override { return m_flavour == Flavour::OpenAi; }
    BatchLimits batchLimits() const override;
    QList<QList<ChatRequest>> planBatches(const QList<ChatRequest> &requests) const override;
    void submitBatch(const QString &reference, const QList<ChatRequest> &requests) override;
    void pollBatch(const QString &batchId) override;
    void fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds) override;
    void cancelBatch(const QString &batchId) override;
    bool canFindBatches() const override { return hasBatchApi(); }
    void findBatch(const QString &reference, const QList<ChatRequest> &requests,
                   qint64 createdSinceMs) override;
    // One line of the batch input file (without the newline).
    QByteArray batchLine(const ChatRequest &request) const;
    // What a batch's metadata says of its lines (batchdesk_lines): SHA-256 of the lines in
    // custom_id order, so that findBatch() adopts only a batch of exactly these requests.
    QString batchFingerprint(const QList<ChatRequest> &requests) const;

    // GET {base}/models; modelsListed() follows (ids, or an empty list and the error).
    void listModels() override;

    // The JSON body sent for a request (tests check it).
    QByteArray requestBody(const ChatRequest &request) const;

protected:
    QNetworkRequest buildRequest(const ChatRequest &request, QByteArray *body) const override;
    bool parseAnswer(const QByteArray &body, ChatReply *reply, QString *problem) const override;

private:
    OpenAiChatProvider(Flavour flavour, const ProviderConfig &config, const QUrl &baseUrl,
                       Clock *clock);
    bool usesJsonObjectMode() const;

    // What a task whose line has no result in the files gets.
    struct MissingLines
    {
        ErrorClass error = ErrorClass::Timeout;
        QString message;
    };

    QNetworkRequest apiRequest(const QString &path) const; // makeRequest + Authorization
    // One page of GET /batches (newest first) in findBatch(), after the batch id `after`.
    void findBatchPage(const QString &reference, const QString &fingerprint, qint64 oldestSeconds,
                       const QString &after, int page);
    BatchStatus batchStatusFrom(const QString &batchId, const ApiResult &result) const;
    void downloadResultFiles(const QString &batchId, QStringList fileIds, QList<QByteArray> files,
                             const QList<qint64> &taskIds, const MissingLines &missing);
    void joinResults(const QString &batchId, const QList<QByteArray> &files,
                     const QList<qint64> &taskIds, const MissingLines &missing);

    Flavour m_flavour;
};

} // namespace bd::providers
