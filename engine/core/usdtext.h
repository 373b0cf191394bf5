#pragma once

#include <QString>

namespace bd {

// Dollars as the engine's messages write them: four decimals under $1 (a $0.002 cap is not
// "$0.00"), two from $1 up.
inline QString usdText(double usd)
{
    return QStringLiteral("$") + QString::number(usd, 'f', usd < 1.0 ? 4 : 2);
}

} // namespace bd
