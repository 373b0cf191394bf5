#pragma once

#include "core/tasktypes.h"
#include "dispatch/claimedwork.h"
#include "dispatch/responsecoalescer.h"
#include "dispatch/taskprompts.h"

#include <QByteArray>
#include <QList>

namespace bd {
class Clock;
}

namespace bd::dispatch {

class RetryPolicy;
class Router;
class TaskLanes;

// The runner's side of response-cache coalescing (ResponseCoalescer holds the keys, leaders
// and answers): a claimed task whose request is already answered completes from the cache,
// one whose request is in flight waits for its leader, and when a leader settles its
// followers take its answer, or, when it failed, are tried on their own — a sync task at
// once, a batch-API one back to pending for a later provider batch. Tasks answered this way
// use no request slot, budget or attempt. Engine-thread state over the runner's
// ClaimedWork; no timers.
class TaskCoalescing
{
public:
    class Host
    {
    public:
        virtual ~Host() = default;
        // Null when the template cannot be read (the runner has failed then).
        virtual const TaskPrompts::Revision *templateFor(int revision) = 0;
        // A task completed without a request of its own, for the metrics.
        virtual void answeredWithoutRequest(const ClaimedTask &task,
                                            const TaskTransition &transition, qint64 waitMs) = 0;
        virtual void flush() = 0;
        virtual void scheduleFlush() = 0;
    };

    struct Parts
    {
        ResponseCoalescer *cache = nullptr;
        Router *router = nullptr;
        RetryPolicy *retry = nullptr;
        const TaskLanes *lanes = nullptr;
        const JobSpec *spec = nullptr; // the job's, as the runner keeps it
        ClaimedWork *work = nullptr;
        Clock *clock = nullptr;
        int flushMaxTransitions = 2'000; // settled here: written at once beyond this many
    };

    TaskCoalescing(Host *host, const Parts &parts);

    // A sync group just claimed: its prompts are rendered and its keys looked up in one read
    // (not for a tiered job, whose model, part of the key, is known only when a task goes).
    void lookAhead(const QList<ClaimedTask> &group);
    // True when the task needs no request of its own: it waits for the leader of `key`, or
    // was answered from the cache (and completed).
    bool coalesce(const QByteArray &key, const ClaimedTask &task);
    // The same for a provider batch line; *key is the key it leads when it goes.
    bool lineCoalesced(const ClaimedTask &task, const providers::ChatRequest &line,
                       QByteArray *key);
    // The leader of a key has settled (or went back unsent): its followers take its answer,
    // or go back to be sent themselves when it did not complete.
    void resolveFollowers(qint64 leaderTaskId, const TaskTransition &leader);
    // Every follower goes back to pending unharmed (the runner hands its unsent work back);
    // their leader's answer, once it arrives, is in the cache for them.
    void releaseFollowers();

private:
    // Completes a task with an answer that cost nothing: no attempt, no tokens.
    void settleFromCache(const ClaimedTask &task, const QString &output, const QString &model);

    Host *m_host;
    Parts m_parts;
};

} // namespace bd::dispatch
