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
};

} // namespace bd::dispatch
