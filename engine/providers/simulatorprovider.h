#pragma once

#include "provider.h"

#include <QHash>
#include <QList>

namespace bd::providers {

// In-process stand-in for an LLM API, the offline default. Deterministic: the answer and
// its token counts are derived from the prompt, so a test can tell which row an answer
// belongs to. Knobs (ProviderConfig::settings):
//   latency_ms    delay of every answer (0: next event-loop turn)
//   failure_rate  share of tries that fail with a 500, chosen by hashing prompt and attempt
//   sim_rpm       requests per rolling minute before answering 429 with a retry-after
//                 (the provider-side limit; the client-side ceiling is the job's "rpm")
//   sim_batch_ms  time a simulated provider batch takes from submit to results (default 2000)
// Prompts containing "[[sim:invalid]]" are refused as invalid (400); "[[sim:fail]]" always
// fails with a 500; "[[sim:quota]]" answers 429 insufficient_quota.
//
// Prompt caching (deterministic, per instance): a system prompt of 1024+ tokens (chars/4)
// that this instance answered within the last 5 minutes of its clock counts as cached,
// rounded down to 128-token steps, like OpenAI's automatic caching; the cached tokens are
// reported apart from Usage::inputTokens (which stays the uncached input). Shorter system
// prompts are never cached.
//
// It also has a batch API in the providers' manner (submit, poll, fetch). Its batches live
// in this process, shared by every simulator instance as a provider's servers are by every
// client: a restarted engine in the same process finds them again, while a batch id from
// another process is unknown and its lines come back expired, as after 24 h.
class SimulatorProvider final : public Provider
{
    Q_OBJECT

public:
    SimulatorProvider(const ProviderConfig &config, Clock *clock, QObject *parent = nullptr);

    QString id() const override { return QStringLiteral("simulator"); }
    QString displayName() const override { return QStringLiteral("Simulator (offline)"); }
    bool isSimulated() const override { return true; }
    bool hasBatchApi() const override { return true; }
    QString defaultModel() const override { return QStringLiteral("sim-1"); }
    QStringList knownModels() const override;

    BatchLimits batchLimits() const override { return {50'000, 200 * 1024 * 1024}; }
    QList<QList<ChatRequest>> planBatches(const QList<ChatRequest> &requests) const override;
    void submitBatch(const QString &reference, const QList<ChatRequest> &requests) override;
    void pollBatch(const QString &batchId) override;
    void fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds) override;
    void cancelBatch(const QString &batchId) override;

    void send(const ChatRequest &request) override;
    void cancelAll() override;
    int inFlight() const override { return int(m_pending.size()); }

    // The answer the simulator gives for a prompt (used by tests to check outputs).
    static QString answerFor(const QString &systemPrompt, const QString &prompt);
    // How many batches this process's simulator has accepted so far (for tests).
    static int batchesSubmitted();

private:
    // Batch lines skip the per-minute limit: batch APIs have their own queue.
    ChatReply answer(const ChatRequest &request, bool rateLimited = true);
    void deliver(quint64 ticket);

    Clock *m_clock;
    int m_latencyMs = 0;
    double m_failureRate = 0.0;
    int m_rpm = 0;
    QList<qint64> m_recentRequestsMs; // sliding one-minute window for the rpm limit
    QHash<quint64, ChatReply> m_pending;
    quint64 m_nextTicket = 1;

    qint64 m_batchTurnaroundMs = 2'000;
    QHash<quint64, qint64> m_prefixSeenMs; // system prompt (and model) -> last answered at
};

} // namespace bd::providers
