#pragma once

#include "providers/provider.h"

namespace bd::dispatch {

// What a 429 refused. The rate (requests or tokens per window): the rate limiter waits the
// retry-after and, when the refusal was not expected, slows the lane. Anything else —
// requests at once (a gateway's or a self-hosted server's parallel limit), a queue that is
// full — is the concurrency limiter's alone: the lane goes on at the adapted concurrency
// and only the refused task waits its retry-after. Halving the request rate for those
// (what every 429 did before) left the lane far below what the server takes.
enum class Refusal
{
    Rate,
    Concurrency,
};

// A refusal that states its figures says which: nothing remaining (or fewer tokens than the
// request needs) is the rate, room left is not. One that states none is not the rate when
// the server's answers state them (it would have said); from a server that never does, it
// is the rate only when one is known (--rpm / --tpm): slowing an unknown rate would only
// halve the one the headers announce later.
Refusal classifyRefusal(const providers::RateLimitInfo &refusal, qint64 requestTokens,
                        bool serverStatesLimits, bool rateKnown);

// Whether an answer states rate-limit figures at all.
bool statesRateLimits(const providers::RateLimitInfo &info);

} // namespace bd::dispatch
