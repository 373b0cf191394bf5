#pragma once

#include "api/engine.h"

namespace bd::cost {
class PriceTable;
}

namespace bd {

// The rules a job must pass before anything is imported or sent, in one place for every
// front end: the provider exists, the lane and model fit it, the input opens and the
// template names only its columns, a tiering file binds to the columns and the provider's
// models. Reads the CSV (header and checksum) and the tiering file on the calling thread.
JobCheck checkJobDraft(const JobDraft &draft);

// The lane "auto" stands for: realtime for priority 1, the batch API for priority 3 where
// the provider has one, grouped sync calls otherwise. A reprioritised job moves to it.
QString laneForPriority(int priority, bool hasBatchApi);

// The model a tiered job is estimated with: every row on the top tier's (an upper bound).
// Empty when the spec is not tiered.
QString topTierModel(const JobSpec &spec, const cost::PriceTable &prices);

} // namespace bd
