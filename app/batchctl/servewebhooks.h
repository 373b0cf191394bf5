#pragma once

#include "api/engine.h"

#include <QElapsedTimer>
#include <QHash>
#include <QNetworkAccessManager>
#include <QObject>
#include <QSet>
#include <QTimer>
#include <QUrl>

namespace batchctl {

// POSTs each finished task of a queue with a webhook to it (the object GET /v1/tasks/ID
// answers), retried with exponential backoff until a 2xx, at least once: a task leaves the
// database's outbox only when its receiver acknowledged it, so what this process did not
// deliver (a crash, SIGTERM, too much at once) the next sweep of the outbox finds again.
// Memory stays bounded: at most kMaxHeld deliveries are held, the rest wait in the outbox.
class WebhookDeliverer final : public QObject
{
    Q_OBJECT

public:
    static constexpr int kMaxHeld = 5'000;
    static constexpr int kConcurrency = 8;

    explicit WebhookDeliverer(bd::Engine &engine, QObject *parent = nullptr);
    ~WebhookDeliverer() override;

    // The queues with a webhook, by job.
    void setWebhooks(const QHash<qint64, QUrl> &webhooks);
    // Stops sending; what was not acknowledged stays in the outbox.
    void stop();
    int held() const { return int(m_held.size()); }

private:
    struct Delivery
    {
        bd::QueueTaskResult task;
        int failures = 0;
        qint64 dueMs = 0;
        bool sending = false;
    };
    void hold(const QList<bd::QueueTaskResult> &tasks);
    void pump();
    void send(qint64 taskId);
    void sweepOutbox();

    bd::Engine &m_engine;
    QHash<qint64, QUrl> m_webhooks;
    QHash<qint64, Delivery> m_held;      // by task id
    QList<qint64> m_acknowledged;        // to record in the database
    QSet<qint64> m_recentlyAcknowledged; // an outbox read may predate their record
    int m_sending = 0;
    quint64 m_nextTicket;
    QSet<quint64> m_tickets;
    QNetworkAccessManager m_network;
    QElapsedTimer m_clock;
    QTimer m_pump;
    QTimer m_outbox;
    bool m_stopped = false;
};

} // namespace batchctl
