#pragma once

#include "api/tasks.h"
#include "api/types.h"

#include <optional>
#include <QString>

namespace bd::ui {

// What an alert says to a person and where its tasks are: a title in words ("Error rate
// high" for error_rate_high) and, when the alert is about tasks, the Tasks view's filter
// and order that show them (the job's pending tasks for a queue that grows, its tasks of
// the leading error class for an error rate, everything by cost, dearest first, for a
// budget). Kinds it does not know read as their words and link to their job, if any.
struct AlertLink
{
    QString title;
    std::optional<bd::TaskFilter> filter; // none: nothing to show in the Tasks view
    bd::TaskOrder order;
    QString what; // the tasks shown, for the button's tooltip ("pending tasks of job 3")
};

AlertLink alertLink(const bd::AlertRecord &alert);

} // namespace bd::ui
