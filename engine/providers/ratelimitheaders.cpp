#include "ratelimitheaders.h"

#include <QDateTime>
#include <QLocale>
#include <QTimeZone>

namespace bd::providers::ratelimit {

using namespace Qt::StringLiterals;

namespace {

bool isDigit(char c)
{
    return c >= '0' && c <= '9';
}

// A whole non-negative number; -1 when the text is not one.
qint64 parseCount(const QByteArray &value)
{
    if (value.isNull())
        return -1;
    bool ok = false;
    const qint64 number = value.trimmed().toLongLong(&ok);
    return ok && number >= 0 ? number : -1;
}

constexpr qint64 kMaxSaneMs = qint64(366) * 24 * 3600 * 1000; // a year: anything longer is noise

} // namespace

QByteArray headerValue(const RawHeaders &headers, QByteArrayView name)
{
    for (const auto &[key, value] : headers) {
        if (key.size() == name.size() && key.compare(name, Qt::CaseInsensitive) == 0)
            return value.isNull() ? QByteArray("") : value;
    }
    return {};
}

qint64 parseDurationMs(QByteArrayView input)
{
    const QByteArray text = input.toByteArray().trimmed();
    if (text.isEmpty())
        return -1;
    qint64 totalNs = 0;
    qsizetype i = 0;
    bool sawUnit = false;
    while (i < text.size()) {
        // number: digits, optionally a fraction
        qint64 whole = 0;
        int wholeDigits = 0;
        while (i < text.size() && isDigit(text.at(i))) {
            if (++wholeDigits > 12)
                return -1;
            whole = whole * 10 + (text.at(i) - '0');
            ++i;
        }
        qint64 fraction = 0; // in units of 10^-9
        int fractionDigits = 0;
        if (i < text.size() && text.at(i) == '.') {
            ++i;
            qint64 scale = 100'000'000;
            while (i < text.size() && isDigit(text.at(i))) {
                fraction += (text.at(i) - '0') * scale;
                scale /= 10;
                ++fractionDigits;
                ++i;
            }
        }
        if (wholeDigits == 0 && fractionDigits == 0)
            return -1;
        // unit
        qint64 unitNs = 0;
        const QByteArrayView rest = QByteArrayView(text).sliced(i);
        if (rest.startsWith("ms")) {
            unitNs = 1'000'000;
            i += 2;
        } else if (rest.startsWith("us")) {
            unitNs = 1'000;
            i += 2;
        } else if (rest.startsWith("\xC2\xB5s")) { // µs
            unitNs = 1'000;
            i += 3;
        } else if (rest.startsWith("ns")) {
            unitNs = 1;
            i += 2;
        } else if (rest.startsWith("h")) {
            unitNs = qint64(3600) * 1'000'000'000;
            i += 1;
        } else if (rest.startsWith("m")) {
            unitNs = qint64(60) * 1'000'000'000;
            i += 1;
        } else if (rest.startsWith("s")) {
            unitNs = 1'000'000'000;
            i += 1;
        } else if (rest.isEmpty() && !sawUnit) {
            unitNs = 1'000'000'000; // a bare number: seconds
        } else {
            return -1;
        }
        sawUnit = true;
        // fraction is in 1e-9 of the unit; unitNs * fraction / 1e9 without overflow
        const qint64 fractionNs = unitNs >= 1'000'000'000 ? (unitNs / 1'000'000'000) * fraction
                                                          : (fraction * unitNs) / 1'000'000'000;
        if (whole > kMaxSaneMs * 1'000'000 / unitNs)
            return -1;
        totalNs += whole * unitNs + fractionNs;
        if (totalNs / 1'000'000 > kMaxSaneMs)
            return -1;
    }
    return (totalNs + 999'999) / 1'000'000;
}

qint64 parseRfc3339DelayMs(QByteArrayView input, qint64 nowMs)
{
    const QString text = QString::fromLatin1(input.toByteArray().trimmed());
    if (text.isEmpty())
        return -1;
    QDateTime at = QDateTime::fromString(text, Qt::ISODateWithMs);
    if (!at.isValid())
        at = QDateTime::fromString(text, Qt::ISODate);
    if (!at.isValid())
        return -1;
    if (at.timeSpec() == Qt::LocalTime)
        return -1; // RFC 3339 always names the offset; a local time is not one
    return qBound<qint64>(0, at.toMSecsSinceEpoch() - nowMs, kMaxSaneMs);
}

qint64 parseHttpDateDelayMs(QByteArrayView input, qint64 nowMs)
{
    QString text = QString::fromLatin1(input.toByteArray().trimmed());
    if (text.isEmpty())
        return -1;
    // IMF-fixdate, the one form servers are to send: "Sun, 06 Nov 1994 08:49:37 GMT".
    if (text.endsWith(u" GMT"_s) || text.endsWith(u" UTC"_s))
        text.chop(4);
    const QLocale c = QLocale::c();
    QDateTime at;
    for (const QString &format : {u"ddd, dd MMM yyyy HH:mm:ss"_s, u"dd MMM yyyy HH:mm:ss"_s,
                                  u"dddd, dd-MMM-yy HH:mm:ss"_s}) {
        at = c.toDateTime(text, format);
        if (at.isValid())
            break;
    }
    if (!at.isValid()) {
        at = QDateTime::fromString(QString::fromLatin1(input.toByteArray().trimmed()),
                                   Qt::RFC2822Date);
        if (!at.isValid())
            return -1;
    } else {
        at.setTimeZone(QTimeZone::utc());
    }
    return qBound<qint64>(0, at.toMSecsSinceEpoch() - nowMs, kMaxSaneMs);
}

RateLimitInfo parseOpenAiRateLimits(const RawHeaders &headers)
{
    RateLimitInfo info;
    info.limitRequests = parseCount(headerValue(headers, "x-ratelimit-limit-requests"));
    info.remainingRequests = parseCount(headerValue(headers, "x-ratelimit-remaining-requests"));
    info.limitTokens = parseCount(headerValue(headers, "x-ratelimit-limit-tokens"));
    info.remainingTokens = parseCount(headerValue(headers, "x-ratelimit-remaining-tokens"));
    const QByteArray resetRequests = headerValue(headers, "x-ratelimit-reset-requests");
    if (!resetRequests.isNull())
        info.resetRequestsMs = parseDurationMs(resetRequests);
    const QByteArray resetTokens = headerValue(headers, "x-ratelimit-reset-tokens");
    if (!resetTokens.isNull())
        info.resetTokensMs = parseDurationMs(resetTokens);
    return info;
}

RateLimitInfo parseAnthropicRateLimits(const RawHeaders &headers, qint64 nowMs)
{
    RateLimitInfo info;
    const auto reset = [&](QByteArrayView name) {
        const QByteArray value = headerValue(headers, name);
        return value.isNull() ? qint64(-1) : parseRfc3339DelayMs(value, nowMs);
    };
    info.limitRequests = parseCount(headerValue(headers, "anthropic-ratelimit-requests-limit"));
    info.remainingRequests =
        parseCount(headerValue(headers, "anthropic-ratelimit-requests-remaining"));
    info.resetRequestsMs = reset("anthropic-ratelimit-requests-reset");
    info.limitTokens = parseCount(headerValue(headers, "anthropic-ratelimit-tokens-limit"));
    info.remainingTokens = parseCount(headerValue(headers, "anthropic-ratelimit-tokens-remaining"));
    info.resetTokensMs = reset("anthropic-ratelimit-tokens-reset");
    if (info.limitTokens < 0 && info.remainingTokens < 0) {
        info.limitTokens =
            parseCount(headerValue(headers, "anthropic-ratelimit-input-tokens-limit"));
        info.remainingTokens =
            parseCount(headerValue(headers, "anthropic-ratelimit-input-tokens-remaining"));
        info.resetTokensMs = reset("anthropic-ratelimit-input-tokens-reset");
    }
    return info;
}

RateLimitInfo parseRateLimits(const RawHeaders &headers, qint64 nowMs)
{
    const RateLimitInfo openAi = parseOpenAiRateLimits(headers);
    if (openAi.isKnown() || openAi.remainingRequests >= 0 || openAi.remainingTokens >= 0)
        return openAi;
    return parseAnthropicRateLimits(headers, nowMs);
}

qint64 parseRetryAfterMs(const RawHeaders &headers, qint64 nowMs)
{
    const QByteArray ms = headerValue(headers, "retry-after-ms").trimmed();
    if (!ms.isEmpty()) {
        bool ok = false;
        const double value = ms.toDouble(&ok);
        if (ok && value >= 0 && value < double(kMaxSaneMs))
            return qint64(value + 0.999);
    }
    const QByteArray after = headerValue(headers, "retry-after").trimmed();
    if (after.isEmpty())
        return -1;
    bool ok = false;
    const double seconds = after.toDouble(&ok);
    if (ok)
        return seconds >= 0 && seconds * 1000 < double(kMaxSaneMs) ? qint64(seconds * 1000 + 0.999)
                                                                   : -1;
    return parseHttpDateDelayMs(after, nowMs);
}

qint64 waitFromRateLimits(const RateLimitInfo &info)
{
    const bool requestsOut = info.remainingRequests == 0 && info.resetRequestsMs >= 0;
    const bool tokensOut = info.remainingTokens == 0 && info.resetTokensMs >= 0;
    if (requestsOut || tokensOut)
        return qMax(requestsOut ? info.resetRequestsMs : -1, tokensOut ? info.resetTokensMs : -1);
    return qMax(info.resetRequestsMs, info.resetTokensMs);
}

} // namespace bd::providers::ratelimit
