// Rate-limit and Retry-After headers: "name: value" lines of any bytes.

#include "fuzzsupport.h"
#include "providers/ratelimitheaders.h"

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
    bd::fuzz::silenceQt();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    using namespace bd::providers::ratelimit;
    const QByteArray input = bd::fuzz::bytes(data, size);
    RawHeaders headers;
    for (const QByteArray &line : input.split('\n')) {
        const qsizetype colon = line.indexOf(':');
        if (colon < 0)
            headers.append({line, QByteArray()});
        else
            headers.append({line.left(colon), line.mid(colon + 1).trimmed()});
    }
    const qint64 now = 1'780'000'000'000; // a fixed "now" (2026), so runs repeat
    const bd::providers::RateLimitInfo info = parseRateLimits(headers, now);
    const qint64 retry = parseRetryAfterMs(headers, now);
    if (retry < -1)
        __builtin_trap();
    (void)waitFromRateLimits(info);
    (void)parseDurationMs(input);
    (void)parseRfc3339DelayMs(input, now);
    (void)parseHttpDateDelayMs(input, now);
    return 0;
}
