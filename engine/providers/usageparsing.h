#pragma once

#include <QJsonObject>
#include <QString>
#include <QStringView>

namespace bd::providers {

// The most tokens one usage field of one reply may claim. No model's context comes near
// it; anything above is a broken or hostile server, and trusting it would wreck the
// job's totals and its spend (2^63-1 tokens wrapped them negative; 10^15 booked $3.75 B).
inline constexpr qint64 kMaxUsageTokens = 100'000'000;

// Reads usage[key] as a token count: absent or null is 0 (local servers often say
// nothing); a negative, fractional, non-numeric or implausibly large value is refused
// with *problem naming the field ("usage.key", or "<member>.key" for another member's
// name, e.g. Gemini's usageMetadata), and the reply is to be treated as malformed.
bool readTokenCount(const QJsonObject &usage, QStringView key, qint64 *count, QString *problem,
                    QStringView member = u"usage");

// The usage member of a reply ("usage" unless named): absent or null is fine (no
// figures), anything but an object is refused.
bool usageObject(const QJsonObject &root, QJsonObject *usage, QString *problem,
                 QStringView member = u"usage");

} // namespace bd::providers
