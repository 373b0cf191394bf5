#include "usageparsing.h"

#include <cmath>
#include <QJsonValue>

using namespace Qt::StringLiterals;

namespace bd::providers {

bool readTokenCount(const QJsonObject &usage, QStringView key, qint64 *count, QString *problem,
                    QStringView member)
{
    *count = 0;
    const QJsonValue value = usage.value(key);
    if (value.isUndefined() || value.isNull())
        return true;
    const QString field = member.toString() + u'.' + key.toString();
    if (!value.isDouble()) {
        *problem = field + u" is not a number"_s;
        return false;
    }
    // Compare as a double first: toInteger() of 1e300 or 2^63 would not say it overflowed.
    const double number = value.toDouble();
    if (!std::isfinite(number) || number != std::floor(number)) {
        *problem = field + u" is not a whole number"_s;
        return false;
    }
    if (number < 0) {
        *problem = field + u" is negative"_s;
        return false;
    }
    if (number > double(kMaxUsageTokens)) {
        *problem = field + u" claims more than %1 tokens"_s.arg(kMaxUsageTokens);
        return false;
    }
    *count = value.toInteger(qint64(number));
    return true;
}

bool usageObject(const QJsonObject &root, QJsonObject *usage, QString *problem, QStringView member)
{
    const QJsonValue value = root.value(member);
    if (value.isUndefined() || value.isNull()) {
        *usage = {};
        return true;
    }
    if (!value.isObject()) {
        *problem = member.toString() + u" is not an object"_s;
        return false;
    }
    *usage = value.toObject();
    return true;
}

} // namespace bd::providers
