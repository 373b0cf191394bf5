#include "dispatch/capledger.h"

#include <QtGlobal>

namespace bd::dispatch {

namespace {

// What rounding leaves behind is no money.
constexpr double kEpsilonUsd = 1e-12;
// A raised claim covers this many more requests like the one that raised it while the cap
// is far, so that a worker publishes once every few requests, not for each.
constexpr double kClaimAhead = 4.0;

} // namespace

void CapLedger::setCap(double usd)
{
    m_capUsd = qMax(0.0, usd);
}

void CapLedger::setStoredSpend(double usd)
{
    m_storedUsd = qMax(0.0, usd);
    m_writtenSinceReadUsd = 0.0;
}

bool CapLedger::fits(double usd) const
{
    return !isActive() ||
           spentUsd() + m_reservedUsd + m_reservedElsewhereUsd + usd <= m_capUsd + kEpsilonUsd;
}

bool CapLedger::fitsBesideSpend(double usd) const
{
    return !isActive() || spentUsd() + usd <= m_capUsd + kEpsilonUsd;
}

bool CapLedger::admit(double usd)
{
    if (!isActive())
        return true;
    if (!m_exchange)
        return fits(usd);
    const double need = mineUsd() + usd;
    if (need <= m_claimedUsd + kEpsilonUsd)
        return true;
    // Everything committed once the claim stands: the spend written (by everybody), the
    // others' claims, and this one (which covers what this engine has not written).
    const auto fitsWith = [this](double claim) {
        return m_storedUsd + m_reservedElsewhereUsd + claim <= m_capUsd + kEpsilonUsd;
    };
    const double ahead = need + kClaimAhead * usd;
    if (!publish(ahead))
        return false; // a database error: nothing goes out on a guess
    if (fitsWith(ahead))
        return true;
    if (fitsWith(need)) {
        // Near the cap: the exact need. Lowering a claim needs no new read, and what the
        // others see stays at least this claim even if the statement fails.
        publish(need);
        m_claimedUsd = need;
        return true;
    }
    publish(mineUsd()); // refused: the room goes back to the others at once
    m_claimedUsd = mineUsd();
    return false;
}

void CapLedger::release(double reservedUsd)
{
    m_reservedUsd -= reservedUsd;
    if (m_reservedUsd < kEpsilonUsd)
        m_reservedUsd = 0.0;
}

void CapLedger::written(double costUsd)
{
    m_unwrittenUsd = qMax(0.0, m_unwrittenUsd - costUsd);
    m_writtenSinceReadUsd += costUsd;
    // Written, it is in the database's spend: the claim's room for it is not used again
    // until the next read counts it there.
    m_claimedUsd = qMax(mineUsd(), m_claimedUsd - costUsd);
}

bool CapLedger::exchange()
{
    if (!m_exchange)
        return false;
    return publish(mineUsd());
}

bool CapLedger::publish(double claimUsd)
{
    const auto view = m_exchange(claimUsd);
    if (!view)
        return false;
    // Whatever happens next, this is what the others see of this engine now.
    m_claimedUsd = claimUsd;
    m_reservedElsewhereUsd = qMax(0.0, view->othersUsd);
    setStoredSpend(view->storedUsd);
    return true;
}

} // namespace bd::dispatch
