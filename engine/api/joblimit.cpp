#include "joblimit.h"

#include <algorithm>
#include <cmath>

namespace bd {

using namespace Qt::StringLiterals;

JobLimit explainJobLimit(const JobLoadFigures &f)
{
    // In order of what a person can do least about: an outage, a budget, priority 1 work
    // going first, the provider's limit, the job's own ceiling; then whether the workers
    // are the bottleneck.
    JobLimit limit;
    limit.workers = f.workers;
    if (f.breakerOpen) {
        limit.kind = JobLimit::Kind::Breaker;
        limit.text =
            u"the provider endpoint is failing (circuit breaker open) — more workers would not help"_s;
        return limit;
    }
    if (f.budgetHeld) {
        limit.kind = JobLimit::Kind::Budget;
        limit.text = u"held by its budget — raise the budget to go on"_s;
        return limit;
    }
    if (f.heldForUrgentWork) {
        limit.kind = JobLimit::Kind::UrgentWork;
        limit.text = u"priority 1 work goes first — this job goes on when it is done (one "
                     "request at a time after 10 min)"_s;
        return limit;
    }
    if (f.configuredRpm > 0 && f.sentPerMinute >= kRateLimitInUse * f.configuredRpm) {
        limit.kind = JobLimit::Kind::RateLimit;
        limit.percent =
            int(std::lround(std::min(100.0, 100.0 * f.sentPerMinute / f.configuredRpm)));
        limit.text =
            u"%1 % of the provider's rate limit in use — more workers would not help"_s.arg(
                limit.percent);
        return limit;
    }
    if (f.concurrencyCeiling > 0 && f.inFlight >= f.concurrencyCeiling) {
        limit.kind = JobLimit::Kind::Concurrency;
        limit.text =
            u"%1 requests in flight, the job's concurrency — more workers would not help; raise its concurrency"_s
                .arg(f.inFlight);
        return limit;
    }
    if (f.workers > 0 && f.saturatedWorkers >= f.workers) {
        limit.kind = JobLimit::Kind::WorkersSaturated;
        limit.text =
            f.workers == 1
                ? u"workers saturated (1 worker, every request slot taken) — add workers"_s
                : u"workers saturated (%1 workers, every request slot taken) — add workers"_s.arg(
                      f.workers);
        return limit;
    }
    return limit;
}

} // namespace bd
