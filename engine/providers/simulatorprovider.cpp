#include "simulatorprovider.h"
#include "api/jobsettings.h"

#include "core/clock.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QMutex>
#include <QTimer>

namespace bd::providers {

using namespace Qt::StringLiterals;

namespace {

quint64 fnv1a(QStringView text, quint64 seed = 1469598103934665603ULL)
{
    quint64 hash = seed;
    for (QChar c : text) {
        hash ^= c.unicode();
        hash *= 1099511628211ULL;
    }
    return hash;
}

// Roughly four characters a token, as the providers' own rule of thumb says.
qint64 approximateTokens(const QString &text)
{
    return (text.size() + 3) / 4;
}

// The simulated provider side of batch jobs, shared by all instances in the process.
struct SimulatedBatch
{
    qint64 submittedAtMs = 0;
    bool cancelled = false;
    QHash<qint64, ChatRequest> requests; // by task id
};

struct BatchRegistry
{
    QMutex mutex;
    QHash<QString, SimulatedBatch> batches;
    int submitted = 0;
};

BatchRegistry &batchRegistry()
{
    static BatchRegistry registry;
    return registry;
}

} // namespace

int SimulatorProvider::batchesSubmitted()
{
    QMutexLocker lock(&batchRegistry().mutex);
    return batchRegistry().submitted;
}

SimulatorProvider::SimulatorProvider(const ProviderConfig &config, Clock *clock, QObject *parent)
    : Provider(parent)
    , m_clock(clock)
    , m_latencyMs(qMax(0, config.settings.value(settingkeys::simLatencyMs).toInt(0)))
    , m_failureRate(qBound(0.0, config.settings.value(settingkeys::simFailureRate).toDouble(0.0), 1.0))
    , m_rpm(qMax(0, config.settings.value(settingkeys::simRpm).toInt(0)))
    , m_batchTurnaroundMs(qMax<qint64>(0, config.settings.value(u"sim_batch_ms"_s).toInteger(2'000)))
{
}

QStringList SimulatorProvider::knownModels() const
{
    return {u"sim-1"_s, u"sim-1-mini"_s};
}

QString SimulatorProvider::answerFor(const QString &systemPrompt, const QString &prompt)
{
    const quint64 hash = fnv1a(prompt, fnv1a(systemPrompt));
    static constexpr QLatin1StringView labels[] = {"positive"_L1, "negative"_L1, "neutral"_L1,
                                                   "mixed"_L1};
    // Built for every answer (300,000 in a zero-latency run of that many rows): the number
    // zero-padded by hand and the parts joined in one allocation, not three arg() passes.
    char number[5];
    quint64 rest = hash % 100000;
    for (int i = 4; i >= 0; --i, rest /= 10)
        number[i] = char('0' + rest % 10);
    return "[simulated] "_L1 + labels[hash % 4] + " ("_L1 + QLatin1StringView(number, 5) +
           ") for: "_L1 + QStringView(prompt).left(120);
}

ChatReply SimulatorProvider::answer(const ChatRequest &request, bool rateLimited)
{
    ChatReply reply;
    reply.taskId = request.taskId;
    reply.model = request.model;
    reply.latencyMs = m_latencyMs;
    const qint64 now = m_clock->nowMs();

    if (rateLimited && m_rpm > 0) {
        while (!m_recentRequestsMs.isEmpty() && m_recentRequestsMs.constFirst() <= now - 60'000)
            m_recentRequestsMs.removeFirst();
        reply.rateLimits.limitRequests = m_rpm;
        reply.rateLimits.remainingRequests = qMax<qint64>(0, m_rpm - m_recentRequestsMs.size() - 1);
        if (m_recentRequestsMs.size() >= m_rpm) {
            reply.error = ErrorClass::RateLimited;
            reply.httpStatus = 429;
            reply.retryAfterMs = m_recentRequestsMs.constFirst() + 60'000 - now;
            reply.rateLimits.resetRequestsMs = reply.retryAfterMs;
            reply.errorMessage = u"simulated rate limit: %1 requests per minute"_s.arg(m_rpm);
            return reply;
        }
        m_recentRequestsMs.append(now);
    }

    // The markers share a prefix: one scan of the prompt finds whether any is there. Most
    // prompts hold no '[' at all, which Qt's vectorised search for one character tells
    // quickly; Qt 6.4's search for a short string walks the prompt a unit at a time (~1,900
    // instructions a prompt in the drain's profile).
    const bool marked = request.prompt.contains(u'[') && request.prompt.contains(u"[[sim:"_s);
    if (marked && request.prompt.contains(u"[[sim:invalid]]"_s)) {
        reply.error = ErrorClass::InvalidRequest;
        reply.httpStatus = 400;
        reply.errorMessage = u"simulated invalid request: the prompt is marked [[sim:invalid]]"_s;
        return reply;
    }
    if (marked && request.prompt.contains(u"[[sim:quota]]"_s)) {
        reply.error = ErrorClass::QuotaExhausted;
        reply.httpStatus = 429;
        reply.errorMessage = u"simulated insufficient_quota: the account is out of credit"_s;
        return reply;
    }
    const bool alwaysFails = marked && request.prompt.contains(u"[[sim:fail]]"_s);
    // Which tries fail is a hash of prompt and attempt, taken only when some may.
    const auto failsByChance = [&] {
        const quint64 attemptHash = fnv1a(request.prompt, quint64(request.attempt) * 7919 + 17);
        return double(attemptHash % 10000) < m_failureRate * 10000;
    };
    if (alwaysFails || (m_failureRate > 0 && failsByChance())) {
        reply.error = ErrorClass::ServerError;
        reply.httpStatus = 500;
        reply.errorMessage = u"simulated server error"_s;
        return reply;
    }

    reply.httpStatus = 200;
    reply.text = answerFor(request.systemPrompt, request.prompt);
    // Prompt caching as OpenAI does it: a static prefix (the system prompt) of 1024 tokens
    // or more that was seen within the last 5 minutes is read from the cache, in 128-token
    // steps. Reported like the OpenAI parser reports it: inputTokens is the uncached part.
    const qint64 systemTokens = approximateTokens(request.systemPrompt);
    qint64 cached = 0;
    if (systemTokens >= 1024) {
        const quint64 prefix = fnv1a(request.systemPrompt, fnv1a(request.model));
        const auto seen = m_prefixSeenMs.constFind(prefix);
        if (seen != m_prefixSeenMs.constEnd() && now - seen.value() <= 5 * 60'000)
            cached = systemTokens / 128 * 128;
        m_prefixSeenMs.insert(prefix, now);
    }
    reply.usage.inputTokens = systemTokens + approximateTokens(request.prompt) - cached;
    reply.usage.cachedTokens = cached;
    reply.usage.outputTokens = qMin<qint64>(request.maxOutputTokens, approximateTokens(reply.text));
    return reply;
}

void SimulatorProvider::send(const ChatRequest &request)
{
    const quint64 ticket = m_nextTicket++;
    m_pending.insert(ticket, answer(request));
    // Always answer later, never from inside send(): callers may hold state across it.
    if (m_latencyMs > 0)
        QTimer::singleShot(m_latencyMs, this, [this, ticket] { deliver(ticket); });
    else
        QMetaObject::invokeMethod(this, [this, ticket] { deliver(ticket); }, Qt::QueuedConnection);
}

void SimulatorProvider::deliver(quint64 ticket)
{
    const auto it = m_pending.constFind(ticket);
    if (it == m_pending.constEnd())
        return; // cancelled
    const ChatReply reply = it.value();
    m_pending.erase(it);
    Q_EMIT replied(reply);
}

QList<QList<ChatRequest>> SimulatorProvider::planBatches(const QList<ChatRequest> &requests) const
{
    QList<QList<ChatRequest>> batches;
    const qsizetype limit = batchLimits().maxRequests;
    for (qsizetype i = 0; i < requests.size(); i += limit)
        batches.append(requests.mid(i, limit));
    return batches;
}

void SimulatorProvider::submitBatch(const QString &reference, const QList<ChatRequest> &requests)
{
    SimulatedBatch batch;
    batch.submittedAtMs = m_clock->nowMs();
    for (const ChatRequest &request : requests)
        batch.requests.insert(request.taskId, request);
    QString batchId;
    {
        BatchRegistry &registry = batchRegistry();
        QMutexLocker lock(&registry.mutex);
        batchId = u"simbatch_%1_%2"_s.arg(QCoreApplication::applicationPid()).arg(++registry.submitted);
        registry.batches.insert(batchId, batch);
    }
    QMetaObject::invokeMethod(
        this,
        [this, reference, batchId] {
            Q_EMIT batchSubmitted(reference, batchId, ErrorClass::None, QString());
        },
        Qt::QueuedConnection);
}

void SimulatorProvider::pollBatch(const QString &batchId)
{
    BatchStatus status;
    status.batchId = batchId;
    BatchRegistry &registry = batchRegistry();
    QMutexLocker lock(&registry.mutex);
    const auto it = registry.batches.constFind(batchId);
    if (it == registry.batches.constEnd()) {
        // Unknown here (submitted before a restart): ended, every line expired.
        status.phase = BatchPhase::Ended;
        status.providerStatus = u"expired"_s;
    } else if (it->cancelled) {
        status.phase = BatchPhase::Ended;
        status.providerStatus = u"cancelled"_s;
    } else {
        const bool done = m_clock->nowMs() - it->submittedAtMs >= m_batchTurnaroundMs;
        status.phase = done ? BatchPhase::Ended : BatchPhase::Pending;
        status.providerStatus = done ? u"completed"_s : u"in_progress"_s;
        status.total = it->requests.size();
    }
    QMetaObject::invokeMethod(
        this, [this, status] { Q_EMIT batchPolled(status); }, Qt::QueuedConnection);
}

void SimulatorProvider::fetchBatchResults(const QString &batchId, const QList<qint64> &taskIds)
{
    QList<ChatReply> replies;
    replies.reserve(taskIds.size());
    SimulatedBatch batch;
    bool batchKnown = false;
    {
        BatchRegistry &registry = batchRegistry();
        QMutexLocker lock(&registry.mutex);
        batchKnown = registry.batches.contains(batchId);
        batch = registry.batches.take(batchId);
    }
    const auto *it = batchKnown ? &batch : nullptr;
    for (qint64 taskId : taskIds) {
        ChatReply reply;
        reply.taskId = taskId;
        const bool known = it && it->requests.contains(taskId);
        if (!known) {
            reply.error = ErrorClass::Timeout;
            reply.errorMessage = u"batch_expired: the simulated batch is not known (it was "
                                 "submitted before a restart)"_s;
        } else if (it->cancelled) {
            reply.error = ErrorClass::Cancelled;
            reply.errorMessage = u"batch_cancelled"_s;
        } else {
            reply = answer(it->requests.value(taskId), false);
        }
        replies.append(reply);
    }
    QMetaObject::invokeMethod(
        this,
        [this, batchId, replies] {
            Q_EMIT batchResultsFetched(batchId, replies, ErrorClass::None, QString());
        },
        Qt::QueuedConnection);
}

void SimulatorProvider::cancelBatch(const QString &batchId)
{
    {
        BatchRegistry &registry = batchRegistry();
        QMutexLocker lock(&registry.mutex);
        if (auto it = registry.batches.find(batchId); it != registry.batches.end())
            it->cancelled = true;
    }
    QMetaObject::invokeMethod(
        this,
        [this, batchId] { Q_EMIT batchCancelRequested(batchId, ErrorClass::None, QString()); },
        Qt::QueuedConnection);
}

void SimulatorProvider::cancelAll()
{
    const QHash<quint64, ChatReply> pending = std::exchange(m_pending, {});
    for (ChatReply reply : pending) {
        reply.error = ErrorClass::Cancelled;
        reply.text.clear();
        reply.usage = {};
        reply.errorMessage = u"cancelled before the answer arrived"_s;
        Q_EMIT replied(reply);
    }
}

} // namespace bd::providers
