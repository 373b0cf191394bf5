#pragma once

#include <QtGlobal>

namespace bd::ui {

// A number for an engine request that no other asker in this process uses, so that an
// answer arriving on a shared signal (seriesReady, ...) is taken by its asker alone.
quint64 nextRequestTicket();

} // namespace bd::ui
