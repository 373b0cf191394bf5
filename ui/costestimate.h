#pragma once

#include "api/estimate.h"

#include <QString>

namespace bd::ui {

// One line for the import wizard from the engine's estimate (the same figures as
// `batchctl estimate`): rows to send, tokens, and the upper bound per lane.
QString describeEstimate(const JobEstimate &estimate, const QString &lane);

} // namespace bd::ui
