#include "monitoring.h"

#include "core/clock.h"
#include "store/database.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonParseError>

namespace bd::metrics {

using namespace Qt::StringLiterals;

MonitoringConfig MonitoringConfig::fromJson(const QJsonObject &json)
{
    MonitoringConfig config;
    config.recorder = MetricsRecorder::Options::fromJson(json.value(u"metrics"_s).toObject());
    config.thresholds = AlertThresholds::fromJson(json.value(u"alerts"_s).toObject());
    config.notifier = AlertNotifier::Options::fromJson(json.value(u"notify"_s).toObject());
    const QJsonObject endpoint = json.value(u"openmetrics"_s).toObject();
    config.openMetricsEnabled = endpoint.value(u"enabled"_s).toBool(false);
    const int port = endpoint.value(u"port"_s).toInt(-1);
    if (port >= 0 && port <= 65535)
        config.openMetricsPort = quint16(port);
    return config;
}

MonitoringConfig MonitoringConfig::load(const QString &path, QString *error)
{
    QFile file(path);
    if (!file.exists())
        return MonitoringConfig{};
    if (!file.open(QIODevice::ReadOnly)) {
        *error = u"cannot read %1: %2"_s.arg(path, file.errorString());
        return MonitoringConfig{};
    }
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(file.readAll(), &parseError);
    if (!document.isObject()) {
        *error = u"%1 is not a JSON object: %2"_s.arg(path, parseError.errorString());
        return MonitoringConfig{};
    }
    return fromJson(document.object());
}

Monitoring::Monitoring(const MonitoringConfig &config, const Clock *clock,
                       store::Database &database, const QString &workerId, QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_clock(clock)
{
    m_config.recorder = m_config.recorder.normalized();
    m_config.notifier.worker = workerId;
    m_store = database.metricsStore(clock, m_config.recorder);
    m_recorder = std::make_unique<MetricsRecorder>(clock, m_store.get(), m_config.recorder);
    m_alerts = std::make_unique<AlertCenter>(clock, m_config.thresholds);
    m_notifier = std::make_unique<AlertNotifier>(m_config.notifier);

    connect(m_recorder.get(), &MetricsRecorder::intervalClosed, m_alerts.get(), &AlertCenter::evaluate);
    connect(m_recorder.get(), &MetricsRecorder::intervalClosed, this, &Monitoring::intervalClosed);
    // A lost connection is the engine's to say, once; the samples of the outage are lost.
    connect(m_recorder.get(), &MetricsRecorder::writeFailed, this,
            [&database](const QString &error) {
                if (!database.connectionLost())
                    qWarning("metrics: cannot store samples: %s", qPrintable(error));
            });
    connect(m_alerts.get(), &AlertCenter::raised, m_notifier.get(), &AlertNotifier::notify);
    connect(m_alerts.get(), &AlertCenter::cleared, m_notifier.get(), &AlertNotifier::notify);
    connect(m_alerts.get(), &AlertCenter::raised, this, &Monitoring::alertRaised);
    connect(m_alerts.get(), &AlertCenter::updated, this, &Monitoring::alertUpdated);
    connect(m_alerts.get(), &AlertCenter::cleared, this, &Monitoring::alertCleared);
}

Monitoring::~Monitoring()
{
    shutdown();
}

bool Monitoring::start(const QList<AlertRecord> &openAlerts, QString *error)
{
    m_alerts->adoptOpen(openAlerts);
    // Two cost periods and a baseline window of rollups give the rules their history.
    const qint64 now = m_clock->nowMs();
    const qint64 history = qMax(2 * m_config.thresholds.costPerTask.periodMs,
                                m_config.thresholds.queueDepth.baselineWindowMs);
    const QList<MetricSample> past = m_store->samples(
        {QString::fromLatin1(names::tasksCompleted), QString::fromLatin1(names::costUsd),
         QString::fromLatin1(names::queuePending)},
        m_config.recorder.rollupMs, now - history, now);
    m_alerts->rules().prime(past);
    m_recorder->tick(); // opens the first interval
    if (m_config.openMetricsEnabled)
        return enableEndpoint(m_config.openMetricsPort, error);
    return true;
}

bool Monitoring::reconfigure(const MonitoringConfig &config, QString *error)
{
    m_config.thresholds = config.thresholds;
    m_alerts->rules().setThresholds(config.thresholds);
    m_config.notifier = config.notifier;
    m_config.notifier.worker = m_notifier->options().worker;
    m_notifier->setOptions(m_config.notifier);
    const bool portChanged = config.openMetricsPort != m_config.openMetricsPort;
    m_config.openMetricsEnabled = config.openMetricsEnabled;
    m_config.openMetricsPort = config.openMetricsPort;
    if (!config.openMetricsEnabled) {
        disableEndpoint();
        return true;
    }
    if (m_server && !portChanged)
        return true;
    return enableEndpoint(config.openMetricsPort, error);
}

bool Monitoring::enableEndpoint(quint16 port, QString *error)
{
    disableEndpoint();
    auto server = std::make_unique<OpenMetricsServer>();
    MetricsRecorder *recorder = m_recorder.get();
    AlertCenter *alerts = m_alerts.get();
    server->addSource([recorder](Exposition &out) { recorder->addTo(out); });
    server->addSource([alerts](Exposition &out) { alerts->addTo(out); });
    if (!server->listen(port, error))
        return false;
    m_server = std::move(server);
    return true;
}

void Monitoring::disableEndpoint()
{
    if (m_server) {
        m_server->close();
        m_server.reset();
    }
}

void Monitoring::shutdown()
{
    if (m_shutDown)
        return;
    m_shutDown = true;
    disableEndpoint();
    if (m_recorder) {
        m_recorder->flush();
        m_recorder->setSink(nullptr);
    }
}

} // namespace bd::metrics
