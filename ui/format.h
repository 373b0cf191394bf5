#pragma once

#include "api/types.h"

#include <QColor>
#include <QString>

#include <optional>

// Small shared presentation helpers: one way to write money, counts, durations and states.
namespace bd::ui {

QString formatCount(qint64 n);
QString formatUsd(double usd);                 // $0.0123, $12.34, $1,234
QString formatUsd(std::optional<double> usd);  // "unknown" when nullopt
QString formatDuration(qint64 seconds);        // 45 s, 12 min, 3 h 05 min, 2 d 4 h
QString formatRate(double perMinute);          // 1,234/min
// One vocabulary for priorities everywhere: "1 · now (realtime)", "2 · within the hour
// (grouped)", "3 · within a day (batch price)"; the short form drops the lane.
QString priorityLabel(int priority);
QString priorityShortLabel(int priority);
QStringList priorityLabels();
// "1 task", "2 tasks": a count with the right plural of the noun.
QString countOf(qint64 n, const char *singular, const char *plural);
QString taskStateLabel(TaskState state);
QString jobStateLabel(JobState state);
// A colour that reads on the current palette, for state text and chart series.
QColor stateColor(TaskState state);
QColor jobStateColor(JobState state);

} // namespace bd::ui
