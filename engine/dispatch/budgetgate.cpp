#include "dispatch/budgetgate.h"

#include <QtGlobal>

namespace bd::dispatch {

using namespace Qt::StringLiterals;

BudgetGate::BudgetGate(double capUsd)
    : m_capUsd(qMax(0.0, capUsd))
{
    m_job.setCap(m_capUsd);
}

BudgetGate::~BudgetGate()
{
    // Requests that never came back (a runner removed mid-flight) free the shared cap.
    if (m_global)
        m_global->release(m_job.reservedUsd());
}

void BudgetGate::setGlobal(std::shared_ptr<GlobalBudget> global)
{
    if (m_global)
        m_global->release(m_job.reservedUsd());
    m_global = std::move(global);
    if (m_global)
        m_global->reserve(m_job.reservedUsd());
}

bool BudgetGate::allows(double extraUsd)
{
    m_refusedByGlobal = false;
    if (!m_job.admit(extraUsd))
        return false;
    m_refusedByGlobal = m_global && !m_global->admit(extraUsd);
    return !m_refusedByGlobal;
}

BudgetGate::Refusal BudgetGate::refusal(double extraUsd, bool ownWorkInFlight) const
{
    // Other workers' claims on this job's cap free room when their answers are written;
    // a claim read a moment before it shrank refuses as well. Either way the request
    // waits while what is really spent leaves room for it.
    const bool heldElsewhere = !m_refusedByGlobal && m_job.fitsBesideSpend(extraUsd + m_job.reservedUsd());
    if ((m_refusedByGlobal && m_global->fitsBesideSpend(extraUsd)) || heldElsewhere)
        return ownWorkInFlight ? Refusal::WaitForOwnAnswers : Refusal::WaitForOthers;
    if (ownWorkInFlight)
        return Refusal::WaitForOwnAnswers; // decided when they are back
    return m_refusedByGlobal ? Refusal::PauseForGlobalCap : Refusal::PauseForJobCap;
}

void BudgetGate::reserve(double usd)
{
    m_job.reserve(usd);
    if (m_global)
        m_global->reserve(usd);
}

void BudgetGate::release(double usd)
{
    m_job.release(usd);
    if (m_global)
        m_global->release(usd);
}

void BudgetGate::settled(double usd)
{
    m_job.settled(usd);
    if (m_global)
        m_global->settled(usd);
}

void BudgetGate::written(double usd)
{
    m_job.written(usd);
    if (m_global)
        m_global->written(usd);
}

void BudgetGate::charged(double usd)
{
    settled(usd);
    written(usd);
}

bool BudgetGate::takeWarning()
{
    if (m_warned || m_capUsd <= 0 || m_warnFraction <= 0 || m_job.spentUsd() < m_warnFraction * m_capUsd)
        return false;
    m_warned = true;
    return true;
}

QJsonObject BudgetGate::figures() const
{
    return QJsonObject{{u"value"_s, m_job.spentUsd()}, {u"threshold"_s, m_capUsd},
                       {u"budget_usd"_s, m_capUsd}, {u"spent_usd"_s, m_job.spentUsd()}};
}

} // namespace bd::dispatch
