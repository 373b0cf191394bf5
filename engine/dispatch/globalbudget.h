#pragma once

#include <optional>
#include <QString>

namespace bd::dispatch {

// The USD cap across every job of the database over a period (UTC calendar month by
// default, or the UTC day, or all time). One per engine, shared by all its runners (like
// ProviderGuard), so a request is only sent when the most it can cost still fits beside
// what was spent and what the requests in flight may still cost; concurrent requests
// cannot overshoot. Engine-thread only.
//
// Spend has three parts, so nothing is counted twice or missed between two reads of the
// database: what the database held at the last read (every process), what this engine
// wrote since, and what it settled but has not written yet. Other processes' spend
// arrives with the next read (EngineWorker re-reads on a timer), and so does what their
// requests in flight reserved (setReservedElsewhere, exchanged through the database), so a
// cap holds across workers: it can be passed only by what other workers reserve between
// two reads (one engine tick, a second).
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
    double capUsd() const { return m_capUsd; }
    Period period() const { return m_period; }
    bool isActive() const { return m_capUsd > 0; }

    // The period's spend as the database holds it now.
    void setStoredSpend(double usd);
    double spentUsd() const { return m_storedUsd + m_writtenSinceReadUsd + m_unwrittenUsd; }
    double reservedUsd() const { return m_reservedUsd; }
    // What other workers' requests in flight reserved, as last read.
    void setReservedElsewhere(double usd) { m_reservedElsewhereUsd = usd > 0 ? usd : 0.0; }
    double reservedElsewhereUsd() const { return m_reservedElsewhereUsd; }
    bool isReached() const { return isActive() && spentUsd() >= m_capUsd; }

    // Whether `usd` more can be reserved now (always, without a cap).
    bool fits(double usd) const;
    // Whether `usd` would fit beside what is really spent, once the requests in flight
    // are settled: when it would not, waiting for them is pointless and the job pauses.
    bool fitsBesideSpend(double usd) const;
    bool tryReserve(double usd);
    // Reserves without checking (after fits() said yes for a whole group).
    void reserve(double usd) { m_reservedUsd += usd; }
    // A request came back (or never went): its reservation is gone.
    void release(double reservedUsd);
    // An answer's cost, settled by a runner and not yet written to the database.
    void settled(double costUsd);
    // A runner wrote settled costs to the database.
    void written(double costUsd);

private:
    double m_capUsd = 0.0; // 0: no cap
    Period m_period = Period::Month;
    double m_storedUsd = 0.0;
    double m_writtenSinceReadUsd = 0.0;
    double m_unwrittenUsd = 0.0;
    double m_reservedUsd = 0.0;
    double m_reservedElsewhereUsd = 0.0;
};

} // namespace bd::dispatch
