#include "taskcoalescing.h"

#include "core/clock.h"
#include "dispatch/batchassembly.h"
#include "dispatch/retrypolicy.h"
#include "dispatch/router.h"

namespace bd::dispatch {

TaskCoalescing::TaskCoalescing(Host *host, const Parts &parts)
    : m_host(host)
    , m_parts(parts)
{
}

void TaskCoalescing::lookAhead(const QList<ClaimedTask> &group)
{
    ResponseCoalescer &cache = *m_parts.cache;
    QHash<qint64, ResponseCoalescer::Rendered> rendered;
    if (cache.isEnabled() && !m_parts.router->isTiered() && group.size() >= 2) {
        const QString model = m_parts.router->models().constFirst(); // the job's, or the default
        rendered.reserve(group.size());
        for (const ClaimedTask &task : group) {
            const TaskPrompts::Revision *revision = m_host->templateFor(task.templateRevision);
            if (!revision)
                return;
            const QString prompt = revision->prompt.render(task.values);
            rendered.insert(task.id,
                            {prompt,
                             cache.keyFor(*m_parts.spec, model, revision->systemPrompt, prompt),
                             task.templateRevision});
        }
    }
    cache.lookAhead(rendered, m_parts.clock->nowMs());
}

bool TaskCoalescing::coalesce(const QByteArray &key, const ClaimedTask &task)
{
    store::CachedResponse answer;
    switch (m_parts.cache->coalesce(key, task, &answer)) {
    case ResponseCoalescer::Verdict::Send:
        return false;
    case ResponseCoalescer::Verdict::Follows:
        return true;
    case ResponseCoalescer::Verdict::Answered:
        settleFromCache(task, answer.output, answer.model); // leased -> completed
        return true;
    }
    return false;
}

bool TaskCoalescing::lineCoalesced(const ClaimedTask &task, const providers::ChatRequest &line,
                                   QByteArray *key)
{
    if (!m_parts.cache->isEnabled())
        return false;
    *key = m_parts.cache->keyFor(*m_parts.spec, line.model, line.systemPrompt, line.prompt);
    return coalesce(*key, task);
}

void TaskCoalescing::settleFromCache(const ClaimedTask &task, const QString &output,
                                     const QString &model)
{
    const qint64 now = m_parts.clock->nowMs();
    TaskOutcome outcome = ResponseCoalescer::answeredOutcome(
        task.id, output, model.isEmpty() ? m_parts.router->modelOf(task.id) : model, now);
    m_parts.router->takeRoute(task.id, &outcome);
    TaskTransition transition = m_parts.retry->decide(outcome, task.attempts, now, -1);
    transition.chargeAttempt = false; // not sent: not an attempt
    ClaimedWork &work = *m_parts.work;
    work.counts.leased -= 1;
    work.counts.completed += 1;
    m_host->answeredWithoutRequest(
        task, transition, task.queuedAtMs > 0 ? qMax<qint64>(0, now - task.queuedAtMs) : -1);
    work.toWrite.append(transition);
    if (work.toWrite.size() >= m_parts.flushMaxTransitions)
        m_host->flush();
}

void TaskCoalescing::resolveFollowers(qint64 leaderTaskId, const TaskTransition &leader)
{
    const QList<ClaimedTask> followers = m_parts.cache->settleLeader(leaderTaskId);
    if (followers.isEmpty())
        return;
    if (leader.action == OutcomeAction::Complete) {
        for (const ClaimedTask &follower : followers)
            settleFromCache(follower, leader.outcome.output, leader.outcome.model);
        m_host->scheduleFlush();
        return;
    }
    // The leader failed: its duplicates are tried on their own (one leads, the rest wait),
    // as sync calls at once or in a later provider batch.
    ClaimedWork &work = *m_parts.work;
    const qint64 now = m_parts.clock->nowMs();
    bool released = false;
    for (auto it = followers.crbegin(); it != followers.crend(); ++it) {
        if (m_parts.lanes->laneOf(*it) == TaskLanes::Lane::Sync) {
            work.ready.prepend(*it);
            continue;
        }
        work.handBack(it->id, now);
        released = true;
    }
    if (!released)
        return;
    work.claimedEverything = false;
    m_host->scheduleFlush();
}

void TaskCoalescing::releaseFollowers()
{
    const qint64 now = m_parts.clock->nowMs();
    for (const ClaimedTask &follower : m_parts.cache->takeAllFollowers()) {
        m_parts.work->handBack(follower.id, now);
        m_parts.router->forget(follower.id);
    }
}

} // namespace bd::dispatch
