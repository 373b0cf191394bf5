#pragma once

#include "dispatch/capledger.h"

#include <optional>
#include <QString>

namespace bd::dispatch {

// The USD cap across every job of the database over a period (UTC calendar month by
// default, or the UTC day, or all time). One per engine, shared by all its runners (like
// ProviderGuard), so a request is only sent when the most it can cost still fits beside
// what was spent and what the requests in flight may still cost; concurrent requests
// cannot overshoot. Engine-thread only.
//
// Spend and reservations are kept by a CapLedger (capledger.h): with an exchange set (the
// engine's, through the database) every worker claims its share of the cap before it sends,
// so that workers together do not pass it.
class GlobalBudget
{
public:
    enum class Period
    {
        Month,
        Day,
        All
    };
    static QString periodName(Period period);
    static std::optional<Period> periodFromName(const QString &name);
    // Start (ms since the epoch, UTC) of the period that contains nowMs; 0 for All.
    static qint64 periodStartMs(Period period, qint64 nowMs);


    void setCap(double usd, Period period);
    double capUsd() const { return m_ledger.capUsd(); }
    Period period() const { return m_period; }
    bool isActive() const { return m_ledger.isActive(); }
    // Publishes this engine's claim and reads the others' and the period's spend.
    void setExchange(CapLedger::Exchange exchange) { m_ledger.setExchange(std::move(exchange)); }
    // Each tick: the claim shrunk to what it covers, the others' and the spend read.
    bool exchange() { return m_ledger.exchange(); }

    // The period's spend as the database holds it now.
    void setStoredSpend(double usd) { m_ledger.setStoredSpend(usd); }
    double spentUsd() const { return m_ledger.spentUsd(); }
    double reservedUsd() const { return m_ledger.reservedUsd(); }
    // What other workers claimed (their requests in flight, their answers not yet written).
    void setReservedElsewhere(double usd) { m_ledger.setReservedElsewhere(usd); }
    double reservedElsewhereUsd() const { return m_ledger.reservedElsewhereUsd(); }
    bool isReached() const { return isActive() && spentUsd() >= capUsd(); }

    // Whether `usd` more fits beside spend and reservations as last read (always, without a cap).
    bool fits(double usd) const { return m_ledger.fits(usd); }
    // Whether `usd` would fit beside what is really spent, once the requests in flight
    // are settled: when it would not, waiting for them is pointless and the job pauses.
    bool fitsBesideSpend(double usd) const { return m_ledger.fitsBesideSpend(usd); }
    // Whether `usd` more may be reserved now (claiming more of the cap when shared).
    bool admit(double usd) { return m_ledger.admit(usd); }
    bool tryReserve(double usd);
    // Reserves without checking (after admit() said yes).
    void reserve(double usd) { m_ledger.reserve(usd); }
    // A request came back (or never went): its reservation is gone.
    void release(double reservedUsd) { m_ledger.release(reservedUsd); }
    // An answer's cost, settled by a runner and not yet written to the database.
    void settled(double costUsd) { m_ledger.settled(costUsd); }
    // A runner wrote settled costs to the database.
    void written(double costUsd) { m_ledger.written(costUsd); }

private:
    Period m_period = Period::Month;
    CapLedger m_ledger;
};

} // namespace bd::dispatch
