#pragma once

#include "circuitbreaker.h"
#include "ratelimiter.h"

namespace bd::dispatch {

// What every job talking to the same provider endpoint and model shares: one rate limit
// and one view of whether the provider is up. Engine-thread only.
struct ProviderGuard
{
    RateLimiter limiter;
    CircuitBreaker breaker;
    // The provider's batch endpoints (files, batches): a refused or failed batch is one
    // request for the whole batch, so one outage failure opens it.
    CircuitBreaker batchBreaker{CircuitBreaker::Options{.failureThreshold = 1, .openMs = 2'000}};
};

} // namespace bd::dispatch
