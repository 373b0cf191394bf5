#pragma once

#include "dispatch/globalbudget.h"

#include <memory>
#include <QJsonObject>

namespace bd::dispatch {

// The money side of one job's dispatch: its own cap (job setting budget_usd) and the cap
// across every job of the database (GlobalBudget, shared by the engine's runners). A
// request goes out only when the most it can cost fits under both beside what is spent and
// what the requests in flight may still cost; that worst case is reserved while it is out
// and released when it comes back. Pure state: the runner says what was sent, settled and
// written. Engine-thread only.
class BudgetGate
{
public:
    // What the runner does after allows() said no.
    enum class Refusal
    {
        WaitForOwnAnswers, // this job's answers in flight free room (they pump again)
        WaitForOthers,     // only other jobs' reservations stand in the way: look again soon
        PauseForJobCap,    // what the job really spent leaves no room for the request
        PauseForGlobalCap, // what every job really spent leaves no room
    };

    explicit BudgetGate(double capUsd = 0.0);
    ~BudgetGate();
    BudgetGate(const BudgetGate &) = delete;
    BudgetGate &operator=(const BudgetGate &) = delete;

    double capUsd() const { return m_capUsd; }
    void setGlobal(std::shared_ptr<GlobalBudget> global);
    GlobalBudget *global() const { return m_global.get(); }
    // The share of the cap spent that warns once (takeWarning()); 0 or less: never.
    void setWarnFraction(double fraction) { m_warnFraction = fraction; }

    // The job's spend as the database holds it (at start and stop, and at each exchange).
    void setSpent(double usd) { m_job.setStoredSpend(usd); }
    double spentUsd() const { return m_job.spentUsd(); }
    double reservedUsd() const { return m_job.reservedUsd(); }
    // Other workers running the job: this one claims its share of the job's cap through
    // the exchange (capledger.h) before it sends; the others' claims are waited for
    // rather than paused at.
    void setExchange(CapLedger::Exchange exchange) { m_job.setExchange(std::move(exchange)); }
    // Each tick: this worker's claim shrunk to what it covers, the others' and the spend read.
    bool exchange() { return m_job.exchange(); }
    // Nothing may go out at all: the job's own cap is spent.
    bool jobCapReached() const { return m_capUsd > 0 && m_job.spentUsd() >= m_capUsd; }
    bool globalCapReached() const { return m_global && m_global->isReached(); }

    // Whether `extraUsd` more may be reserved now under both caps.
    bool allows(double extraUsd);
    // After allows(extraUsd) said no: whether to wait or pause, and under which cap.
    Refusal refusal(double extraUsd, bool ownWorkInFlight) const;

    void reserve(double usd);
    void release(double usd);
    // An answer's cost, settled and not yet written to the database.
    void settled(double usd);
    // Costs written to the database by this runner.
    void written(double usd);
    // A charge stored at once (settled and written in one go).
    void charged(double usd);
    // Spend of the job the global pool counts elsewhere (a classification call's cost goes
    // with its task's answer, and is written with it).
    void addSpent(double usd) { m_job.settled(usd); }

    // True once, the first time the spend reaches the warning share of the cap.
    bool takeWarning();
    // value/threshold/budget/spent for the alerts.
    QJsonObject figures() const;

private:
    double m_capUsd;
    CapLedger m_job; // the job's own cap: spend, reservations, this worker's claim
    std::shared_ptr<GlobalBudget> m_global;
    bool m_refusedByGlobal = false; // which cap allows() last refused under
    bool m_warned = false;
    double m_warnFraction = 0.8;
};

} // namespace bd::dispatch
