#pragma once

#include <functional>
#include <optional>

namespace bd::dispatch {

// One USD cap as this engine sees it (the global budget, or one job's), shared with the
// other workers on the database when an exchange is set. Spend has three parts, so nothing
// is counted twice or missed between two reads of the database: what the database held at
// the last read, what this engine wrote since, and what it settled but has not written.
//
// Across workers the cap holds by claims: an engine's share in the database (its "claim")
// always covers what its requests in flight may still cost plus what it settled and has
// not written. A request that does not fit within the claim raises it first — the claim is
// published, THEN the others' claims and the spend are read — and goes only if everything
// fits under the cap. Of two workers raising their claims at once, the second to read sees
// the first's claim (each publishes before it reads), so they cannot both take the last
// room. What a claim covers and is written moves into the spend; it is never sent again.
// Engine-thread only.
class CapLedger
{
public:
    struct View
    {
        double othersUsd = 0.0; // the other workers' claims
        double storedUsd = 0.0; // the spend the database holds
    };
    // Publishes mineUsd as this engine's claim, then reads the others' and the spend (in
    // that order); nullopt on a database error.
    using Exchange = std::function<std::optional<View>(double mineUsd)>;

    void setCap(double usd);
    double capUsd() const { return m_capUsd; }
    bool isActive() const { return m_capUsd > 0; }
    void setExchange(Exchange exchange) { m_exchange = std::move(exchange); }

    // The spend as the database holds it now (what this engine wrote is in it).
    void setStoredSpend(double usd);
    double spentUsd() const { return m_storedUsd + m_writtenSinceReadUsd + m_unwrittenUsd; }
    double reservedUsd() const { return m_reservedUsd; }
    void setReservedElsewhere(double usd) { m_reservedElsewhereUsd = usd > 0 ? usd : 0.0; }
    double reservedElsewhereUsd() const { return m_reservedElsewhereUsd; }
    // What this engine's claim must cover: reserved, and settled but not written.
    double mineUsd() const { return m_reservedUsd + m_unwrittenUsd; }

    // Whether `usd` more fits beside the spend and everybody's reservations as last read.
    bool fits(double usd) const;
    // Whether `usd` would fit beside what is really spent, once requests in flight settle.
    bool fitsBesideSpend(double usd) const;
    // Whether `usd` more may be reserved now: within this engine's claim, or after raising
    // it (shared), or by fits() (alone).
    bool admit(double usd);
    void reserve(double usd) { m_reservedUsd += usd; }
    void release(double reservedUsd);
    void settled(double costUsd) { m_unwrittenUsd += costUsd; }
    void written(double costUsd);
    // Publishes the claim shrunk to what it covers now and reads the others' and the
    // spend (each tick). False on a database error (the last figures are kept).
    bool exchange();

private:
    bool publish(double claimUsd);

    double m_capUsd = 0.0; // 0: no cap
    double m_storedUsd = 0.0;
    double m_writtenSinceReadUsd = 0.0;
    double m_unwrittenUsd = 0.0;
    double m_reservedUsd = 0.0;
    double m_reservedElsewhereUsd = 0.0;
    double m_claimedUsd = 0.0; // as published: mineUsd() may grow to it without a statement
    Exchange m_exchange;
};

} // namespace bd::dispatch
