#pragma once

#include <QString>

namespace bd {

// What the workers of a running job report about it through the database, every second,
// summed over all of them (issue #14): whatever process shows the job reads the same.
struct JobLoadFigures
{
    double configuredRpm = 0.0; // the job's --rpm (0: none configured)
    double sentPerMinute = 0.0; // requests of the job all workers sent, per minute lately
    int workers = 0;            // workers running the job (alive within a lease)
    int saturatedWorkers = 0;   // ... of which every request slot is taken
    int inFlight = 0;           // the job's requests in flight, all workers
    int concurrencyCeiling = 0; // the job's --concurrency for all workers (0: none)
    bool breakerOpen = false;   // its provider endpoint's breaker is open for everybody
    bool budgetHeld = false;    // a budget (the job's, the global cap) holds it back
    // Priority 1 work (here or in another process on the database) goes first: this job's
    // lane sends nothing, or one request at a time once it has waited long (preemption).
    bool heldForUrgentWork = false;
};

// What limits a running job now, and what to do about it.
struct JobLimit
{
    enum class Kind
    {
        None,             // nothing of the above: it runs as fast as it can
        RateLimit,        // the provider's rate limit: more workers would not help
        Concurrency,      // the job's concurrency ceiling across workers
        WorkersSaturated, // every worker's request slots are taken: add workers
        Breaker,          // the provider endpoint fails: the breaker holds everybody
        Budget,           // a budget holds it
        UrgentWork,       // priority 1 work goes first (preemption)
    };
    Kind kind = Kind::None;
    int percent = 0; // RateLimit: share of the limit in use
    int workers = 0; // workers running the job (JobLoadFigures::workers)
    QString text;    // "98 % of the provider's rate limit in use — more workers would not help"
};

// From 90 % of a configured rate up, the rate limit is what holds a job.
constexpr double kRateLimitInUse = 0.9;

JobLimit explainJobLimit(const JobLoadFigures &figures);

} // namespace bd
