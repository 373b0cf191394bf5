#include "simulatorprovider.h"

#include "core/clock.h"

#include <QCryptographicHash>
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

} // namespace

SimulatorProvider::SimulatorProvider(const ProviderConfig &config, Clock *clock, QObject *parent)
    : Provider(parent)
    , m_clock(clock)
    , m_latencyMs(qMax(0, config.settings.value(u"latency_ms"_s).toInt(0)))
    , m_failureRate(qBound(0.0, config.settings.value(u"failure_rate"_s).toDouble(0.0), 1.0))
    , m_rpm(qMax(0, config.settings.value(u"sim_rpm"_s).toInt(0)))
{
}

QStringList SimulatorProvider::knownModels() const
{
    return {u"sim-1"_s, u"sim-1-mini"_s};
}

QString SimulatorProvider::answerFor(const QString &systemPrompt, const QString &prompt)
{
    const quint64 hash = fnv1a(prompt, fnv1a(systemPrompt));
    static const char *const labels[] = {"positive", "negative", "neutral", "mixed"};
    return u"[simulated] %1 (%2) for: %3"_s.arg(QString::fromLatin1(labels[hash % 4]))
        .arg(hash % 100000, 5, 10, QLatin1Char('0'))
        .arg(prompt.left(120));
}

ChatReply SimulatorProvider::answer(const ChatRequest &request)
{
    ChatReply reply;
    reply.taskId = request.taskId;
    reply.model = request.model;
    reply.latencyMs = m_latencyMs;
    const qint64 now = m_clock->nowMs();

    if (m_rpm > 0) {
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

    if (request.prompt.contains(u"[[sim:invalid]]"_s)) {
        reply.error = ErrorClass::InvalidRequest;
        reply.httpStatus = 400;
        reply.errorMessage = u"simulated invalid request: the prompt is marked [[sim:invalid]]"_s;
        return reply;
    }
    if (request.prompt.contains(u"[[sim:quota]]"_s)) {
        reply.error = ErrorClass::QuotaExhausted;
        reply.httpStatus = 429;
        reply.errorMessage = u"simulated insufficient_quota: the account is out of credit"_s;
        return reply;
    }
    const bool alwaysFails = request.prompt.contains(u"[[sim:fail]]"_s);
    const quint64 attemptHash = fnv1a(request.prompt, quint64(request.attempt) * 7919 + 17);
    if (alwaysFails || (m_failureRate > 0 && double(attemptHash % 10000) < m_failureRate * 10000)) {
        reply.error = ErrorClass::ServerError;
        reply.httpStatus = 500;
        reply.errorMessage = u"simulated server error"_s;
        return reply;
    }

    reply.httpStatus = 200;
    reply.text = answerFor(request.systemPrompt, request.prompt);
    reply.usage.inputTokens = approximateTokens(request.systemPrompt) + approximateTokens(request.prompt);
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
