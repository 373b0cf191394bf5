#pragma once

#include <QString>

namespace bd {

// How a duration is rounded before it is written out.
enum class DurationRounding {
    NearestSecond, // "45 s", "3 min 5 s": what a wait or a window lasted
    UpToMinute,    // "1 min" rather than "0 min": how long until something happens
};

// One way to write a duration for people, shared by alerts, plans and status lines:
// "45 s", "12 min", "3 h 5 min", "3 h", "2.5 days". Negative durations are written as
// their magnitude; the caller says "ago" or "late by".
QString durationText(qint64 ms, DurationRounding rounding = DurationRounding::NearestSecond);

} // namespace bd
