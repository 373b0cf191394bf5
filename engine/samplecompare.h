#pragma once

#include "api/jobs.h"

namespace bd {

namespace store {
class Store;
}

// Reads the jobs' rows (samples: small) and compares their answers row by row, in input
// order; see SampleComparison. At most maxRows rows per job.
SampleComparison compareSamples(store::Store &store, const QList<qint64> &jobIds,
                                qint64 maxRows = 10'000);

} // namespace bd
