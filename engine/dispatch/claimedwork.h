#pragma once

#include "core/tasktypes.h"
#include "dispatch/batchassembly.h"

#include <QList>
#include <QQueue>

namespace bd::dispatch {

// What one runner holds of its job between the store and the provider: the job's counts as
// it last knew them, the tasks it leased and has not sent yet, and the transitions waiting
// to be written. The runner and the lanes that claim for it (BatchApiDispatch,
// TaskCoalescing) share it. Pure state.
struct ClaimedWork
{
    TaskCounts counts;
    QQueue<ClaimedTask> ready;     // leased, going out as sync calls
    BatchAssembly assembly;        // leased into the group or provider batch being assembled
    BatchAssembly lowered;         // sync jobs: tasks lowered to the batch API on their own
    QList<TaskTransition> toWrite; // settled or handed back, not yet stored
    // Nothing more is due now for the sync lane; cleared when something may have come due.
    bool claimedEverything = false;

    void claimed(qsizetype tasks)
    {
        counts.pending -= tasks;
        counts.leased += tasks;
    }
    // A leased task goes back to pending unsent, no attempt charged.
    void handBack(qint64 taskId, qint64 nowMs)
    {
        toWrite.append(releaseUnsent(taskId, nowMs));
        counts.leased -= 1;
        counts.pending += 1;
    }
};

} // namespace bd::dispatch
