#pragma once

#include <QLatin1String>

// Job settings only the console writes and reads (the engine carries them through
// untouched): what the import wizard's estimate said, shown beside the actual cost once the
// job is done.
namespace bd::ui::estimatekeys {
inline constexpr QLatin1String maxUsd{"estimated_max_usd"};  // the upper bound
inline constexpr QLatin1String expectedUsd{"estimated_usd"}; // when earlier tasks calibrate it
} // namespace bd::ui::estimatekeys
