#pragma once

#include "api/types.h"

#include <QFuture>
#include <QString>

// The sample job the welcome panel offers: the product reviews shipped with the console,
// classified by the simulator (no key, no cost), so a first run shows a real job moving.
namespace bd::ui::samplejob {

// Writes the bundled CSV to the user's data folder (off the calling thread) and gives its
// path; empty when it cannot be written (the reason goes to the log).
QFuture<QString> prepareCsv();
// The job's settings, as the import wizard takes them from an earlier job.
bd::JobInfo settings();

} // namespace bd::ui::samplejob
