#pragma once

#include "dispatch/globalbudget.h"

#include <QJsonObject>
#include <QList>
#include <QSet>
#include <QString>

#include <functional>
#include <memory>
#include <optional>

namespace bd::dispatch {

// Decides what the engine does about the cap across every job of the database: reads the
// cap, period and every process's spend into the shared GlobalBudget pool its runners reserve
// from, raises the 80 % alert, pauses every job at the cap and, when the cap is raised (or
// removed) or a new period begins, starts again exactly the jobs it paused. A plain object on
// the engine thread: the stored values come in as arguments, the jobs to stop or start go out
// as a Decision, the alerts through small callbacks.
class GlobalBudgetController
{
public:
    // The settings rows (shared by every process on the database) that hold the cap.
    static QString capKey();
    static QString periodKey();

    struct Alerts
    {
        std::function<void(const QString &kind, const QString &message, const QJsonObject &figures)> raise;
        std::function<void(const QString &kind, const QString &message, const QJsonObject &figures)> clear;
        std::function<bool(const QString &kind)> isOpen;
    };
    struct Decision
    {
        QList<qint64> resume;  // start these again, as they were last started
        bool pauseAll = false; // stop every runner with StopCause::GlobalBudget
    };
    // The two settings rows to write for a new cap; nullopt for a negative cap or an unknown
    // period name (an empty name keeps the current period).
    struct Stored
    {
        QString cap;
        QString period;
    };

    static inline const QString kWarnKind = QStringLiteral("global_budget_80");
    static inline const QString kExhaustedKind = QStringLiteral("global_budget_exhausted");

    GlobalBudgetController();

    std::shared_ptr<GlobalBudget> budget() const { return m_budget; }
    void setAlerts(Alerts alerts) { m_alerts = std::move(alerts); }
    // The share of the cap spent that raises the warning (monitoring's budget.warn_fraction);
    // 0 or less: no warning.
    void setWarnFraction(double fraction) { m_warnFraction = fraction; }

    std::optional<Stored> toStore(double usd, const QString &period) const;
    // Reads what the settings rows hold now (another process may have changed them) and the
    // spend of every process since the start of the period that contains nowMs.
    void load(const QString &capSetting, const QString &periodSetting, qint64 nowMs,
              const std::function<double(qint64 sinceMs)> &spendSince);

    // After every load and whenever this engine's own spend moved.
    Decision check();
    // A runner stopped because nothing more fitted under the cap: every job waits for a
    // higher one, and this one is started again with them.
    Decision jobStoppedAtCap(qint64 jobId);
    // Paused or cancelled by hand, or started again: a higher cap does not start it.
    void forget(qint64 jobId) { m_pausedJobs.remove(jobId); }

    bool isPausedAtCap() const { return m_pause.has_value(); }
    QSet<qint64> pausedJobs() const { return m_pausedJobs; }

private:
    Decision pause();
    QJsonObject figures(bool withFraction) const;
    // "$0.5400 spent + $0.0500 in flight of the $0.6000 global budget (per month)"
    QString moneyText() const;
    void raise(const QString &kind, const QString &message, const QJsonObject &figures) const;
    void clear(const QString &kind, const QString &message, const QJsonObject &figures) const;
    bool isOpen(const QString &kind) const;

    std::shared_ptr<GlobalBudget> m_budget;
    Alerts m_alerts;
    double m_warnFraction = 0.8;
    // The cap and spend when the jobs were paused: resuming needs more room than that.
    struct Pause
    {
        double capUsd = 0.0;
        double spentUsd = 0.0;
    };
    std::optional<Pause> m_pause;
    QSet<qint64> m_pausedJobs;
};

} // namespace bd::dispatch
