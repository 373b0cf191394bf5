#pragma once

#include "api/metrictypes.h"

#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QStringList>
#include <QUrl>

class QNetworkAccessManager;
class QNetworkReply;
class QProcess;

namespace bd::metrics {

// Delivers alerts to what the user set up, besides the desktop notification (the UI's job,
// from Engine::alertRaised):
//
// - webhook: a JSON POST (Content-Type: application/json) of AlertEvent::toJson() plus
//   "source", "host" and "worker". Each try has a timeout; a network error, a timeout, a
//   5xx or a 429 is tried once more after retryDelayMs; other 4xx are final.
// - command: a program started directly (QProcess, never a shell) with the same JSON on
//   its stdin and BATCHDESK_ALERT_* in its environment; killed after its timeout. At most
//   maxProcesses run at once, the rest wait in order.
//
// Both are asynchronous (never blocks the engine thread) and both report how delivery went
// with delivered(). Lives on the engine thread.
class AlertNotifier final : public QObject
{
    Q_OBJECT

public:
    struct Options
    {
        QUrl webhookUrl;          // empty: no webhook. http or https only
        QList<std::pair<QByteArray, QByteArray>> webhookHeaders; // e.g. Authorization
        int webhookTimeoutMs = 10'000;
        int webhookRetries = 1;
        int retryDelayMs = 2'000;
        QString command;          // program path; empty: no command
        QStringList commandArgs;
        int commandTimeoutMs = 30'000;
        int maxProcesses = 4;
        bool notifyCleared = false; // also deliver "cleared" events
        QString source = QStringLiteral("batchdesk");
        QString worker;           // the engine's worker id, for the payload

        // Keys: webhook_url, webhook_headers {name: value}, webhook_timeout_s,
        // webhook_retries, command (a string split into words at spaces, double quotes
        // grouping, as QProcess::splitCommand does; or an array: program then arguments;
        // no shell either way), command_timeout_s, notify_cleared.
        static Options fromJson(const QJsonObject &json);
    };

    explicit AlertNotifier(const Options &options, QObject *parent = nullptr);
    ~AlertNotifier() override;

    const Options &options() const { return m_options; }
    // New destinations for the next events; deliveries under way finish as they began.
    void setOptions(const Options &options)
    {
        m_options = options;
        m_options.maxProcesses = qMax(1, m_options.maxProcesses);
    }
    bool isActive() const { return m_options.webhookUrl.isValid() || !m_options.command.isEmpty(); }
    // Deliveries still under way (for shutdown and tests).
    int pending() const;

    // The JSON body / stdin for an event.
    QByteArray payload(const AlertEvent &event) const;

    void notify(const bd::metrics::AlertEvent &event);

Q_SIGNALS:
    // channel: "webhook" or "command". detail: HTTP status / exit code or the error.
    void delivered(const QString &channel, const QString &kind, bool ok, const QString &detail);

private:
    void post(const QByteArray &body, const QString &kind, int attempt);
    void startCommand(const QByteArray &body, const AlertEvent &event);
    void runQueued();

    Options m_options;
    QNetworkAccessManager *m_network = nullptr;
    int m_webhooksInFlight = 0;
    int m_processes = 0;
    struct Queued
    {
        QByteArray body;
        AlertEvent event;
    };
    QList<Queued> m_queue;
};

} // namespace bd::metrics
