#pragma once

#include "provider.h"

#include <functional>

namespace bd::providers {

// Splits requests into provider batches: one model per batch (every batch API demands it),
// at most limits.maxRequests lines and limits.maxBytes bytes each (as lineBytes measures a
// line). Keeps the order of the requests inside each model; models in order of first
// appearance. A zero limit is no limit. A single line larger than maxBytes gets a batch of
// its own (the API will refuse it, and that one task alone is dead-lettered).
QList<QList<ChatRequest>>
splitIntoBatches(const QList<ChatRequest> &requests, const BatchLimits &limits,
                 const std::function<qint64(const ChatRequest &)> &lineBytes);

} // namespace bd::providers
