#pragma once

#include "api/providers.h"
#include "core/tasktypes.h"
#include "ingest/outputschema.h"

#include <memory>
#include <QJsonObject>
#include <QObject>
#include <QString>

namespace bd {
class Clock;
}
namespace bd::cost {
class PriceTable;
}

namespace bd::providers {

// One chat request for one task. The static part (system prompt) comes first so that
// providers with prompt caching can reuse it.
struct ChatRequest
{
    qint64 taskId = 0;
    int attempt = 1; // 1-based number of this try, for logs and the simulator
    QString model;
    QString systemPrompt;
    QString prompt;
    int maxOutputTokens = 256;
    QString cacheKey; // stable per job: OpenAI prompt_cache_key
    // Structured answers: the provider is asked for one JSON object that matches it (the
    // mapping per API is the provider's); dispatch validates the answer. None: free text.
    std::optional<ingest::OutputSchema> outputSchema;
};

// The name under which a structured answer is asked for (OpenAI's json_schema name,
// Anthropic's forced tool).
inline constexpr QLatin1StringView kStructuredAnswerName{"answer"};
// For APIs that only promise some JSON object (json_object mode): the instruction, with the
// schema, that goes after the system prompt.
QString structuredAnswerInstruction(const ingest::OutputSchema &schema);

// Figures from rate-limit headers; -1 where the provider did not say.
struct RateLimitInfo
{
    qint64 limitRequests = -1;
    qint64 remainingRequests = -1;
    qint64 resetRequestsMs = -1; // time until the request window resets
    qint64 limitTokens = -1;
    qint64 remainingTokens = -1;
    qint64 resetTokensMs = -1;

    bool isKnown() const { return limitRequests >= 0 || limitTokens >= 0; }
};

// The classified outcome of one request: exactly one per ChatRequest sent.
struct ChatReply
{
    qint64 taskId = 0;
    ErrorClass error = ErrorClass::None;
    QString text;
    QString model;        // as the provider reported it
    QString finishReason; // "stop", "length", "end_turn", "max_tokens" ... when the API says
    Usage usage;
    int httpStatus = 0;
    QString errorMessage; // the provider's own words; never contains the key
    qint64 retryAfterMs = -1;
    RateLimitInfo rateLimits;
    qint64 latencyMs = 0;

    bool ok() const { return error == ErrorClass::None; }
};

// Limits of a provider's batch API (one model per batch in every API).
struct BatchLimits
{
    qint64 maxRequests = 0; // lines per batch
    qint64 maxBytes = 0;    // bytes of the JSONL file / request list
};

// Where a provider batch stands after one poll.
enum class BatchPhase : int
{
    Pending, // validating, in progress, finalizing, cancelling: poll again later
    Ended,   // results are ready (completed, expired or cancelled: possibly partial)
    Failed,  // the whole batch was refused (validation, enqueued-token limit): no results
};

struct BatchStatus
{
    QString batchId;
    QString providerStatus; // the API's own word: "in_progress", "finalizing", "ended" ...
    BatchPhase phase = BatchPhase::Pending;
    qint64 total = -1; // request counts as the API reports them; -1 unknown
    qint64 succeeded = -1;
    qint64 failed = -1; // errored, expired and cancelled lines together
    // Failed: why (InvalidRequest for validation errors, RateLimited for an enqueued-token
    // limit). Pending with an error: this poll itself failed (network, a 404 right after
    // create): poll again later.
    ErrorClass error = ErrorClass::None;
    QString errorMessage;
};

// A provider client. Lives on the engine thread; send() returns at once and the answer
// arrives later as replied(), on the same thread, exactly once per request (cancelAll()
// answers what is in flight with ErrorClass::Cancelled).
//
// Providers with a batch API (hasBatchApi()) also run provider batch jobs, each step
// asynchronous and answered by exactly one signal:
//   planBatches()          split requests by model and the API's limits (synchronous)
//   submitBatch(ref, rs)   -> batchSubmitted(ref, batchId, error, message); custom_id of each
//                             line is the task id. Store batchId at once: after a restart
//                             poll it, never submit again.
//   pollBatch(id)          -> batchPolled(status)
//   fetchBatchResults(id, taskIds)
//                          -> batchResultsFetched(id, replies, error, message): one ChatReply
//                             per task id asked for, in any order, joined on custom_id.
//                             Expired or missing lines come back as Timeout, cancelled ones
//                             as Cancelled, errored ones classified like a realtime reply.
//   cancelBatch(id)        -> batchCancelRequested(id, error, message); poll until Ended.
//   findBatch(ref, rs, sinceMs)
//                          -> batchFound(ref, batchId, error, message): after a crash between
//                             a create and storing its id, the batch created since sinceMs
//                             whose reference and lines are these (empty id: there is none,
//                             submit again). Only where canFindBatches(): Anthropic batches
//                             carry nothing of the caller's to match on.
class Provider : public QObject
{
    Q_OBJECT

public:
    using QObject::QObject;
    ~Provider() override = default;

    virtual QString id() const = 0;
    virtual QString displayName() const = 0;
    // Results of a simulated provider are labelled as such wherever they show.
    virtual bool isSimulated() const { return false; }
    virtual bool hasBatchApi() const { return false; }
    virtual bool requiresKey() const { return false; }
    virtual QString defaultModel() const = 0;
    // Models this provider is known to serve; empty when the list is open (local servers).
    virtual QStringList knownModels() const { return {}; }
    // A server of one's own on this machine (an OpenAI-compatible server on a loopback
    // address): it bills nothing, so a model without a price costs nothing there.
    virtual bool isLocalServer() const { return false; }
    // The prices the engine uses (the user's overrides included), for providers that weigh
    // costs themselves (Gemini: whether an explicit cache pays). Set before the first send.
    virtual void setPriceTable(const cost::PriceTable &) {}

    virtual void send(const ChatRequest &request) = 0;
    virtual void cancelAll() = 0;
    virtual int inFlight() const = 0;
    // Whether a call that changes what this job was charged is still unanswered (a Gemini
    // context cache's DELETE lowers its charge from the whole TTL to the hours it lived): a
    // job is not finished, and its cost not final, before that answer.
    virtual bool chargesSettling() const { return false; }

    // Batch jobs (only when hasBatchApi(); the defaults answer with an error).
    virtual BatchLimits batchLimits() const { return {}; }
    virtual QList<QList<ChatRequest>> planBatches(const QList<ChatRequest> &requests) const;
    virtual void submitBatch(const QString &reference, const QList<ChatRequest> &requests);
    virtual void pollBatch(const QString &batchId);
    virtual void fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds);
    virtual void cancelBatch(const QString &batchId);
    virtual bool canFindBatches() const { return false; }
    virtual void findBatch(const QString &reference, const QList<ChatRequest> &requests,
                           qint64 createdSinceMs);

    // The models the endpoint serves (HTTP providers: GET {base}/v1/models with the
    // credentials, which also proves they work); modelsListed() follows, never from inside
    // the call. The default answers with knownModels().
    virtual void listModels();

Q_SIGNALS:
    // Model ids, or an empty list and an error safe to show (no key).
    void modelsListed(const QStringList &models, const QString &error);
    void replied(const bd::providers::ChatReply &reply);
    void batchSubmitted(const QString &reference, const QString &batchId, bd::ErrorClass error,
                        const QString &errorMessage);
    void batchPolled(const bd::providers::BatchStatus &status);
    void batchResultsFetched(const QString &batchId, const QList<bd::providers::ChatReply> &replies,
                             bd::ErrorClass error, const QString &errorMessage);
    void batchCancelRequested(const QString &batchId, bd::ErrorClass error,
                              const QString &errorMessage);
    void batchFound(const QString &reference, const QString &batchId, bd::ErrorClass error,
                    const QString &errorMessage);
    // What batches cost beyond their lines (a Gemini explicit cache's creation and storage),
    // emitted the moment it is incurred, whether or not any line is ever answered: the first
    // report of a key is the charge as it stands (a cache kept for its whole TTL), a later one
    // what it came to (deleted sooner). The runner records each key once per job
    // (store::Store::recordJobCharge), so a report repeated after a restart counts once.
    void batchCharged(const QString &key, const QString &model, double usd, const QString &detail);
};

// A poll schedule with backoff: 0-based poll number -> wait before it. Starts at firstMs,
// grows by half each time, never above maxMs.
qint64 batchPollDelayMs(int pollNumber, qint64 firstMs = 5'000, qint64 maxMs = 300'000);

// Names accepted by createProvider().
QStringList providerIds();
// Creates the client for config.id; nullptr and a message when unknown or misconfigured.
std::unique_ptr<Provider> createProvider(const ProviderConfig &config, Clock *clock,
                                         QString *error);

} // namespace bd::providers

Q_DECLARE_METATYPE(bd::providers::ChatReply)
Q_DECLARE_METATYPE(bd::providers::BatchStatus)
