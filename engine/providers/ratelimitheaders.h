#pragma once

#include "provider.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QList>
#include <utility>

// Parsing of the rate-limit and retry headers the provider APIs send. Pure functions,
// callable from any thread. Every figure is -1 when the header is missing or unreadable:
// missing headers are normal (local servers send none).
namespace bd::providers::ratelimit {

// The shape of QNetworkReply::rawHeaderPairs().
using RawHeaders = QList<std::pair<QByteArray, QByteArray>>;

// Value of the first header named `name` (case-insensitive); a null QByteArray when absent.
QByteArray headerValue(const RawHeaders &headers, QByteArrayView name);

// A Go-style duration as OpenAI sends it ("1s", "6m0s", "450ms", "1h2m3.5s", "20us"; a bare
// number counts as seconds) in whole milliseconds, rounded up; -1 when it does not parse.
qint64 parseDurationMs(QByteArrayView text);

// An RFC 3339 timestamp ("2026-11-26T10:00:30Z", fractions and offsets allowed) as the
// milliseconds from nowMs until then (0 when it is past); -1 when it does not parse.
qint64 parseRfc3339DelayMs(QByteArrayView text, qint64 nowMs);

// An HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT") as the milliseconds from nowMs (>= 0); -1
// when it does not parse.
qint64 parseHttpDateDelayMs(QByteArrayView text, qint64 nowMs);

// OpenAI: x-ratelimit-{limit,remaining,reset}-{requests,tokens}.
RateLimitInfo parseOpenAiRateLimits(const RawHeaders &headers);
// Anthropic: anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset} (resets are RFC 3339
// timestamps). When the combined tokens-* headers are missing, the input-tokens-* ones stand in.
RateLimitInfo parseAnthropicRateLimits(const RawHeaders &headers, qint64 nowMs);
// Whichever of the two families is present (OpenAI wins when both are).
RateLimitInfo parseRateLimits(const RawHeaders &headers, qint64 nowMs);

// The wait a server asks for: retry-after-ms (milliseconds, fractions allowed) wins over
// retry-after (seconds, or an HTTP date). -1 when neither is there or readable.
qint64 parseRetryAfterMs(const RawHeaders &headers, qint64 nowMs);

// The wait implied by rate-limit figures after a 429 without retry headers: the reset of
// the exhausted window (or the longer reset when none says it is exhausted); -1 if unknown.
qint64 waitFromRateLimits(const RateLimitInfo &info);

} // namespace bd::providers::ratelimit
