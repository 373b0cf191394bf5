#pragma once

#include "core/tasktypes.h"
#include "metrics/alertcenter.h"
#include "metrics/alertnotifier.h"
#include "metrics/alertrules.h"
#include "metrics/metricsrecorder.h"
#include "metrics/openmetricsserver.h"
#include "metrics/metricsstore.h"

#include <QObject>

#include <memory>

namespace bd {
class Clock;
}

namespace bd::store {
class Database;
}

namespace bd::metrics {

// Every monitoring setting, from one JSON object (each part optional):
//
// { "metrics":     { "interval_s": 10, "rollup_s": 300, "fine_retention_h": 24,
//                    "coarse_retention_d": 30 },
//   "alerts":      { see AlertThresholds },
//   "notify":      { "webhook_url": "https://...", "webhook_headers": {"Authorization": "..."},
//                    "webhook_timeout_s": 10, "webhook_retries": 1,
//                    "command": ["/usr/local/bin/page-me", "--team", "ops"],
//                    "command_timeout_s": 30, "notify_cleared": false },
//   "openmetrics": { "enabled": false, "port": 9469 } }
struct MonitoringConfig
{
    MetricsRecorder::Options recorder;
    AlertThresholds thresholds;
    AlertNotifier::Options notifier;
    bool openMetricsEnabled = false;
    quint16 openMetricsPort = OpenMetricsServer::kDefaultPort; // 0: any free port

    static MonitoringConfig fromJson(const QJsonObject &json);
    // Reads a JSON file; a missing file gives the defaults, a broken one an error.
    static MonitoringConfig load(const QString &path, QString *error);
};

// The monitoring parts put together for the engine thread: the recorder writing into the
// metric tables through the writer connection, the alert center evaluating the rules on
// every closed interval, the notifier delivering raised alerts, and (when enabled) the
// /metrics endpoint serving the recorder's and the alert center's figures.
//
// The owner (EngineWorker) feeds recorder() with events, routes alertRaised / alertUpdated
// / alertCleared to the store and the front ends, and calls shutdown() before the store
// closes.
class Monitoring final : public QObject
{
    Q_OBJECT

public:
    // database: the writer's; the metrics store is made over its connection.
    Monitoring(const MonitoringConfig &config, const Clock *clock, store::Database &database,
               const QString &workerId, QObject *parent = nullptr);
    ~Monitoring() override;

    // After the store is open (schema 2 present): primes the rules from the stored rollups,
    // adopts the alerts open in the store and starts the endpoint if enabled. Returns false
    // (with the reason) only when the endpoint cannot listen; monitoring runs regardless.
    bool start(const QList<AlertRecord> &openAlerts, QString *error = nullptr);
    // Writes the open intervals and closes the endpoint. Call before the store closes.
    void shutdown();

    const MonitoringConfig &config() const { return m_config; }
    MetricsRecorder *recorder() { return m_recorder.get(); }
    AlertCenter *alerts() { return m_alerts.get(); }
    AlertNotifier *notifier() { return m_notifier.get(); }
    MetricsStore *store() { return m_store.get(); }
    OpenMetricsServer *server() { return m_server.get(); } // null unless enabled
    quint16 endpointPort() const { return m_server ? m_server->port() : 0; }

    // Starts or stops the endpoint at run time (the console's toggle).
    bool enableEndpoint(quint16 port, QString *error = nullptr);
    void disableEndpoint();
    // Applies thresholds, notifications and the endpoint switch at run time (the console's
    // settings). The recorder's intervals and retentions keep their start-up values. False
    // (with the reason) only when the endpoint cannot listen.
    bool reconfigure(const MonitoringConfig &config, QString *error = nullptr);

Q_SIGNALS:
    void alertRaised(const bd::metrics::AlertEvent &event);
    void alertUpdated(const bd::metrics::AlertEvent &event);
    void alertCleared(const bd::metrics::AlertEvent &event);
    void intervalClosed(const QList<bd::metrics::MetricSample> &samples);

private:
    MonitoringConfig m_config;
    const Clock *m_clock;
    std::unique_ptr<MetricsStore> m_store;
    std::unique_ptr<MetricsRecorder> m_recorder;
    std::unique_ptr<AlertCenter> m_alerts;
    std::unique_ptr<AlertNotifier> m_notifier;
    std::unique_ptr<OpenMetricsServer> m_server;
    bool m_shutDown = false;
};

} // namespace bd::metrics
