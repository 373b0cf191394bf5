#pragma once

#include "core/types.h"

#include <QJsonObject>
#include <QObject>
#include <QString>

#include <memory>

namespace bd {
class Clock;
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
};

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
    QString model; // as the provider reported it
    Usage usage;
    int httpStatus = 0;
    QString errorMessage; // the provider's own words; never contains the key
    qint64 retryAfterMs = -1;
    RateLimitInfo rateLimits;
    qint64 latencyMs = 0;

    bool ok() const { return error == ErrorClass::None; }
};

struct ProviderConfig
{
    QString id = QStringLiteral("simulator"); // simulator | openai | anthropic | openai-compatible
    QString baseUrl;
    QString apiKey;       // held in memory only: never stored, logged or exported
    QJsonObject settings; // provider-specific knobs (simulator: latency_ms, failure_rate, rpm)
};

// A provider client. Lives on the engine thread; send() returns at once and the answer
// arrives later as replied(), on the same thread, exactly once per request (cancelAll()
// answers what is in flight with ErrorClass::Cancelled).
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

    virtual void send(const ChatRequest &request) = 0;
    virtual void cancelAll() = 0;
    virtual int inFlight() const = 0;

Q_SIGNALS:
    void replied(const bd::providers::ChatReply &reply);
};

// Names accepted by createProvider().
QStringList providerIds();
// Creates the client for config.id; nullptr and a message when unknown or misconfigured.
std::unique_ptr<Provider> createProvider(const ProviderConfig &config, Clock *clock,
                                         QString *error);

} // namespace bd::providers

Q_DECLARE_METATYPE(bd::providers::ChatReply)
