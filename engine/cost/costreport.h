#pragma once

#include "api/types.h"
#include "cost/pricetable.h"

#include <QJsonObject>

namespace bd::store {
class Store;
}

namespace bd::cost {

// Where a job's money went: by lane, model, token kind, day and tier, cache hits, and what
// a naive run would have cost (every row realtime on the job's model, or the top tier's,
// at list price, no prompt caching, no response cache). Breakdowns use the current price
// table; cost_usd is what was recorded per task when it completed. The keys are those of
// `batchctl status --json` ("cost" of each job).
QJsonObject costReport(store::Store &store, const JobInfo &job, const PriceTable &prices);

} // namespace bd::cost
