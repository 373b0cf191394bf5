#include "globalbudgetcontroller.h"

#include "api/jobsettings.h"

#include <algorithm>
#include <utility>

namespace bd::dispatch {

using namespace Qt::StringLiterals;

QString GlobalBudgetController::capKey()
{
    return databasekeys::globalBudgetUsd;
}

QString GlobalBudgetController::periodKey()
{
    return databasekeys::globalBudgetPeriod;
}

GlobalBudgetController::GlobalBudgetController()
    : m_budget(std::make_shared<GlobalBudget>())
{
}

std::optional<GlobalBudgetController::Stored>
GlobalBudgetController::toStore(double usd, const QString &period) const
{
    const auto parsed = period.isEmpty() ? std::optional(m_budget->period())
                                         : GlobalBudget::periodFromName(period);
    if (!parsed || usd < 0)
        return std::nullopt;
    return Stored{QString::number(usd, 'g', 15), GlobalBudget::periodName(*parsed)};
}

void GlobalBudgetController::load(const QString &capSetting, const QString &periodSetting,
                                  qint64 nowMs,
                                  const std::function<double(qint64 sinceMs)> &spendSince)
{
    const auto period = GlobalBudget::periodFromName(periodSetting);
    m_budget->setCap(capSetting.toDouble(), period.value_or(GlobalBudget::Period::Month));
    const qint64 start = GlobalBudget::periodStartMs(m_budget->period(), nowMs);
    m_budget->setStoredSpend(spendSince ? spendSince(start) : 0.0);
}

QJsonObject GlobalBudgetController::figures(bool withFraction) const
{
    const double cap = m_budget->capUsd();
    const double spent = m_budget->spentUsd();
    QJsonObject figures{{u"value"_s, spent},
                        {u"threshold"_s, cap},
                        {u"budget_usd"_s, cap},
                        {u"spent_usd"_s, spent},
                        {u"in_flight_usd"_s, m_budget->reservedUsd()},
                        {u"period"_s, GlobalBudget::periodName(m_budget->period())}};
    if (withFraction)
        figures.insert(u"fraction"_s, cap > 0 ? spent / cap : 0.0);
    return figures;
}

QString GlobalBudgetController::moneyText() const
{
    // Real spend first; what requests in flight may still cost is reserved, not spent.
    const GlobalBudget &budget = *m_budget;
    const double cap = budget.capUsd();
    const double reserved = budget.reservedUsd();
    QString text = u"$%1 spent"_s.arg(QString::number(budget.spentUsd(), 'f', 4));
    if (reserved > 0)
        text += u" + $%1 in flight"_s.arg(QString::number(reserved, 'f', 4));
    return text +
           u" of the $%1 global budget (per %2)"_s.arg(QString::number(cap, 'f', cap < 1 ? 4 : 2),
                                                       GlobalBudget::periodName(budget.period()));
}

GlobalBudgetController::Decision GlobalBudgetController::check()
{
    const GlobalBudget &budget = *m_budget;
    const double cap = budget.capUsd();
    const double spent = budget.spentUsd();
    const QJsonObject figures = this->figures(true);
    const QString money = moneyText();

    Decision decision;
    if (m_pause) {
        // Paused at the cap: a higher cap, no cap, or a new period (less spent) resumes.
        const bool resume = !budget.isActive() || cap > m_pause->capUsd
                            || spent < m_pause->spentUsd - 1e-9;
        if (!resume)
            return decision;
        m_pause.reset();
        clear(kExhaustedKind, u"global budget raised: "_s + money, {});
        const QSet<qint64> paused = std::exchange(m_pausedJobs, {});
        decision.resume = paused.values();
        std::sort(decision.resume.begin(), decision.resume.end());
    }
    if (budget.isActive() && spent >= cap) {
        decision.pauseAll = pause().pauseAll;
        return decision;
    }
    if (budget.isActive() && m_warnFraction > 0 && spent >= m_warnFraction * cap)
        raise(kWarnKind, money, figures);
    else if (isOpen(kWarnKind))
        clear(kWarnKind, money, figures);
    if (isOpen(kExhaustedKind))
        clear(kExhaustedKind, money, figures);
    return decision;
}

GlobalBudgetController::Decision GlobalBudgetController::jobStoppedAtCap(qint64 jobId)
{
    m_pausedJobs.insert(jobId);
    return pause();
}

GlobalBudgetController::Decision GlobalBudgetController::pause()
{
    const GlobalBudget &budget = *m_budget;
    if (!m_pause) {
        m_pause = Pause{budget.capUsd(), budget.spentUsd()};
        raise(
            kExhaustedKind,
            u"global budget reached: %1; every job is paused until it is raised"_s.arg(moneyText()),
            figures(false));
    }
    // Requests in flight were reserved under the cap: they may come back. Runners already
    // stopping are stopped again harmlessly.
    Decision decision;
    decision.pauseAll = true;
    return decision;
}

void GlobalBudgetController::raise(const QString &kind, const QString &message,
                                   const QJsonObject &figures) const
{
    if (m_alerts.raise)
        m_alerts.raise(kind, message, figures);
}

void GlobalBudgetController::clear(const QString &kind, const QString &message,
                                   const QJsonObject &figures) const
{
    if (m_alerts.clear)
        m_alerts.clear(kind, message, figures);
}

bool GlobalBudgetController::isOpen(const QString &kind) const
{
    return m_alerts.isOpen && m_alerts.isOpen(kind);
}

} // namespace bd::dispatch
