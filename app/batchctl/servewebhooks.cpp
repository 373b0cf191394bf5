#include "servewebhooks.h"

#include "serveapi.h"

#include <QJsonDocument>
#include <QNetworkReply>
#include <QRandomGenerator>

using namespace Qt::StringLiterals;

namespace batchctl {

namespace {

constexpr qint64 kFirstRetryMs = 500;
constexpr qint64 kMaxRetryMs = 60'000;
constexpr int kTimeoutMs = 10'000;
constexpr int kOutboxPage = 500;
// Tickets of their own, apart from the API's (both hear every queueTasksRead).
constexpr quint64 kTicketBase = quint64(1) << 62;

} // namespace

WebhookDeliverer::WebhookDeliverer(bd::Engine &engine, QObject *parent)
    : QObject(parent)
    , m_engine(engine)
    , m_nextTicket(kTicketBase)
{
    m_clock.start();
    connect(&engine, &bd::Engine::queueTasksSettled, this,
            [this](qint64 jobId, const QList<qint64> &taskIds) {
                if (m_stopped || !m_webhooks.contains(jobId) || m_held.size() >= kMaxHeld)
                    return; // the outbox sweep takes them later
                const quint64 ticket = m_nextTicket++;
                m_tickets.insert(ticket);
                m_engine.requestQueueTasks(ticket, taskIds);
            });
    connect(&engine, &bd::Engine::queueTasksRead, this,
            [this](quint64 ticket, const QList<bd::QueueTaskResult> &tasks) {
                if (m_tickets.remove(ticket))
                    hold(tasks);
            });
    m_pump.setInterval(100);
    connect(&m_pump, &QTimer::timeout, this, &WebhookDeliverer::pump);
    m_outbox.setInterval(5'000);
    connect(&m_outbox, &QTimer::timeout, this, &WebhookDeliverer::sweepOutbox);
}

WebhookDeliverer::~WebhookDeliverer() = default;

void WebhookDeliverer::setWebhooks(const QHash<qint64, QUrl> &webhooks)
{
    const bool first = m_webhooks.isEmpty() && !webhooks.isEmpty();
    m_webhooks = webhooks;
    if (m_stopped || webhooks.isEmpty())
        return;
    m_pump.start();
    m_outbox.start();
    if (first)
        sweepOutbox(); // what an earlier run left undelivered
}

void WebhookDeliverer::stop()
{
    m_stopped = true;
    m_pump.stop();
    m_outbox.stop();
    if (!m_acknowledged.isEmpty())
        m_engine.markDelivered(std::exchange(m_acknowledged, {}));
}

void WebhookDeliverer::hold(const QList<bd::QueueTaskResult> &tasks)
{
    for (const bd::QueueTaskResult &task : tasks) {
        if (!task.isFinal() || m_held.contains(task.taskId) || m_held.size() >= kMaxHeld ||
            !m_webhooks.contains(task.jobId) || m_recentlyAcknowledged.contains(task.taskId))
            continue;
        m_held.insert(task.taskId, Delivery{task, 0, m_clock.elapsed(), false});
    }
    pump();
}

void WebhookDeliverer::pump()
{
    if (m_stopped)
        return;
    if (!m_acknowledged.isEmpty())
        m_engine.markDelivered(std::exchange(m_acknowledged, {}));
    const qint64 now = m_clock.elapsed();
    for (auto it = m_held.begin(); it != m_held.end() && m_sending < kConcurrency; ++it) {
        if (!it->sending && it->dueMs <= now)
            send(it.key());
    }
}

void WebhookDeliverer::send(qint64 taskId)
{
    Delivery &delivery = m_held[taskId];
    delivery.sending = true;
    ++m_sending;
    QNetworkRequest request(m_webhooks.value(delivery.task.jobId));
    request.setHeader(QNetworkRequest::ContentTypeHeader, u"application/json"_s);
    request.setTransferTimeout(kTimeoutMs);
    QNetworkReply *reply = m_network.post(
        request, QJsonDocument(taskResultJson(delivery.task)).toJson(QJsonDocument::Compact));
    connect(reply, &QNetworkReply::finished, this, [this, reply, taskId] {
        reply->deleteLater();
        --m_sending;
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        auto it = m_held.find(taskId);
        if (it == m_held.end())
            return;
        if (reply->error() == QNetworkReply::NoError && status >= 200 && status < 300) {
            m_acknowledged.append(taskId);
            if (m_recentlyAcknowledged.size() >= kMaxHeld * 4)
                m_recentlyAcknowledged.clear();
            m_recentlyAcknowledged.insert(taskId);
            m_held.erase(it);
            return;
        }
        // Backoff doubles from half a second to a minute, with jitter so that many failed
        // deliveries do not all come back at once.
        it->sending = false;
        it->failures += 1;
        const qint64 backoff = qMin(kMaxRetryMs, kFirstRetryMs << qMin(it->failures - 1, 16));
        it->dueMs =
            m_clock.elapsed() + backoff / 2 + QRandomGenerator::global()->bounded(backoff / 2 + 1);
        qWarning("webhook for task %lld failed (%s), attempt %d; retrying in about %lld ms", taskId,
                 status ? qPrintable(u"HTTP %1"_s.arg(status)) : qPrintable(reply->errorString()),
                 it->failures, backoff);
    });
}

void WebhookDeliverer::sweepOutbox()
{
    if (m_stopped || m_held.size() >= kMaxHeld)
        return;
    for (auto it = m_webhooks.cbegin(); it != m_webhooks.cend(); ++it) {
        const quint64 ticket = m_nextTicket++;
        m_tickets.insert(ticket);
        m_engine.requestUndelivered(ticket, it.key(), kOutboxPage);
    }
}

} // namespace batchctl
