#include "alertcenter.h"

#include "core/clock.h"
#include "metrics/exposition.h"
#include "store/store.h"

#include <algorithm>

namespace bd::metrics {

using namespace Qt::StringLiterals;

AlertCenter::AlertCenter(const Clock *clock, const AlertThresholds &thresholds, QObject *parent)
    : QObject(parent)
    , m_clock(clock)
    , m_rules(thresholds, clock)
{
}

AlertCenter::Ledger AlertCenter::storeLedger(store::Store *store)
{
    return [store](const AlertEvent &event) {
        if (event.raised()) {
            bool created = false;
            const qint64 id = store->raiseAlert(event.jobId, event.kind, event.message, event.atMs,
                                                event.figures, &created);
            return created || id == 0;
        }
        int cleared = 0;
        const bool ok = store->clearAlerts(event.jobId, event.kind, event.atMs, event.figures, &cleared);
        return cleared > 0 || !ok;
    };
}

void AlertCenter::adoptOpen(const QList<AlertRecord> &open)
{
    for (const AlertRecord &record : open) {
        if (record.clearedAt.isValid())
            continue;
        AlertEvent event;
        event.kind = record.kind;
        event.jobId = record.jobId;
        event.message = record.message;
        event.figures = record.figures;
        event.atMs = record.raisedAt.toMSecsSinceEpoch();
        m_open.insert({record.kind, record.jobId}, event);
        m_rules.adoptOpen(record.kind, record.jobId, record.message);
    }
}

void AlertCenter::evaluate(const QList<MetricSample> &samples)
{
    const QList<AlertEvent> events = m_rules.evaluate(samples, m_inputs ? m_inputs() : RuleInputs{});
    for (const AlertEvent &event : events)
        submit(event);
}

void AlertCenter::raise(qint64 jobId, const QString &kind, const QString &message,
                        const QJsonObject &figures)
{
    submit(AlertEvent{AlertEvent::Type::Raised, kind, jobId, message, figures, m_clock->nowMs()});
}

void AlertCenter::clear(qint64 jobId, const QString &kind, const QString &message,
                        const QJsonObject &figures)
{
    QList<std::pair<QString, qint64>> keys;
    for (auto it = m_open.cbegin(); it != m_open.cend(); ++it) {
        if (it.key().second == jobId && (kind.isEmpty() || it.key().first == kind))
            keys.append(it.key());
    }
    std::sort(keys.begin(), keys.end());
    for (const auto &key : std::as_const(keys))
        submit(AlertEvent{AlertEvent::Type::Cleared, key.first, key.second,
                          message.isEmpty() ? u"cleared by the user"_s : message, figures,
                          m_clock->nowMs()});
}

void AlertCenter::submit(const AlertEvent &event)
{
    const std::pair<QString, qint64> key{event.kind, event.jobId};
    if (event.raised()) {
        const auto it = m_open.find(key);
        if (it != m_open.end()) {
            AlertEvent refreshed = event;
            refreshed.atMs = it->atMs; // still the time it was raised
            *it = refreshed;
            Q_EMIT updated(refreshed);
            return;
        }
        m_open.insert(key, event);
        if (m_ledger && !m_ledger(event)) {
            Q_EMIT updated(event); // open already, raised by another worker
            return;
        }
        Q_EMIT raised(event);
        return;
    }
    if (m_open.remove(key) == 0)
        return;
    if (m_ledger && !m_ledger(event))
        return; // another worker cleared it already
    Q_EMIT cleared(event);
}

bool AlertCenter::isOpen(const QString &kind, qint64 jobId) const
{
    return m_open.contains({kind, jobId});
}

QList<AlertEvent> AlertCenter::openAlerts() const
{
    QList<AlertEvent> list = m_open.values();
    std::sort(list.begin(), list.end(), [](const AlertEvent &a, const AlertEvent &b) {
        return a.atMs != b.atMs ? a.atMs < b.atMs : a.kind < b.kind;
    });
    return list;
}

void AlertCenter::addTo(Exposition &out) const
{
    out.family(u"batchdesk_alerts_open"_s, Exposition::Type::Gauge,
               u"1 for each open alert, by kind and job (0: global)."_s);
    for (const AlertEvent &event : openAlerts())
        out.sample({{u"kind"_s, event.kind}, {u"job"_s, QString::number(event.jobId)}}, 1);
}

} // namespace bd::metrics
