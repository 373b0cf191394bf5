#pragma once

#include "core/tasktypes.h"
#include "metrics/alertrules.h"
#include "api/metrictypes.h"

#include <QHash>
#include <QObject>

#include <functional>

namespace bd {
class Clock;
namespace store {
class Store;
}
} // namespace bd

namespace bd::metrics {

class Exposition;

// Where every alert goes through on the engine thread: the rules (fed with each closed
// interval) and ad-hoc raisers (the dispatcher's alertRaised) both land here, and it emits
// one raised() per alert that was not open and one cleared() per open alert that ends, so
// the store, the front ends and the notifier each hear of a transition exactly once.
// Raising an alert that is open already emits updated() (a fresher message for the store,
// no second notification).
//
// A user clearing an alert (clear()) acknowledges it: a rule that still sees the condition
// does not raise it again until the condition has ended and come back.
class AlertCenter final : public QObject
{
    Q_OBJECT

public:
    AlertCenter(const Clock *clock, const AlertThresholds &thresholds, QObject *parent = nullptr);

    AlertRules &rules() { return m_rules; }
    // Called at each evaluation for the state the samples do not carry (budgets, circuits).
    void setInputsProvider(std::function<RuleInputs()> provider) { m_inputs = std::move(provider); }

    // The record shared by every process on the database (the store's alerts table). It is
    // told each transition this process sees and answers whether this process made it:
    // a raise another worker has open already, or a clear another worker has made, is
    // then no new transition here (updated() for a raise, nothing for a clear), so two
    // workers on one database notify once. Without a ledger every transition is new.
    using Ledger = std::function<bool(const AlertEvent &event)>;
    void setLedger(Ledger ledger) { m_ledger = std::move(ledger); }
    // The ledger over the store's alerts table (one open alert per kind and job there);
    // a database error counts as "made here", so an alert is rather notified twice than never.
    static Ledger storeLedger(store::Store *store);

    // Alerts open in the store at start: known as open (no second notification) and, for
    // the rules' kinds, cleared by the rules when their condition is found false.
    void adoptOpen(const QList<AlertRecord> &open);

    // One closed interval (connect MetricsRecorder::intervalClosed here).
    void evaluate(const QList<bd::metrics::MetricSample> &samples);
    // From any other source; figures may be empty.
    void raise(qint64 jobId, const QString &kind, const QString &message,
               const QJsonObject &figures = {});
    // kind empty: every open alert of the job (jobId 0: every global one), as Store::clearAlerts.
    void clear(qint64 jobId, const QString &kind, const QString &message = QString(),
               const QJsonObject &figures = {});
    void submit(const AlertEvent &event);

    bool isOpen(const QString &kind, qint64 jobId = 0) const;
    QList<AlertEvent> openAlerts() const;

    // batchdesk_alerts_open{kind, job} for /metrics.
    void addTo(Exposition &exposition) const;

Q_SIGNALS:
    void raised(const bd::metrics::AlertEvent &event);
    void updated(const bd::metrics::AlertEvent &event);
    void cleared(const bd::metrics::AlertEvent &event);

private:
    const Clock *m_clock;
    AlertRules m_rules;
    std::function<RuleInputs()> m_inputs;
    Ledger m_ledger;
    QHash<std::pair<QString, qint64>, AlertEvent> m_open;
};

} // namespace bd::metrics
