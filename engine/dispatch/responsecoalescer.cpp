#include "dispatch/responsecoalescer.h"

namespace bd::dispatch {

ResponseCoalescer::ResponseCoalescer(bool enabled)
    : ResponseCoalescer(enabled, Options())
{
}

ResponseCoalescer::ResponseCoalescer(bool enabled, const Options &options)
    : m_enabled(enabled)
    , m_options(options)
{
}

bool ResponseCoalescer::follow(const QByteArray &key, const ClaimedTask &task)
{
    if (!m_leaderOfKey.contains(key))
        return false;
    m_followersOfKey[key].append(task);
    return true;
}

void ResponseCoalescer::lead(const QByteArray &key, qint64 taskId)
{
    if (key.isEmpty())
        return;
    m_leaderOfKey.insert(key, taskId);
    m_keyOfTask.insert(taskId, key);
}

void ResponseCoalescer::remember(qint64 taskId, const QString &output, const QString &model,
                                 const Usage &usage, qint64 nowMs)
{
    // Only answers are kept, never failures; the first answer for a key wins.
    const QByteArray key = m_keyOfTask.value(taskId);
    if (key.isEmpty())
        return;
    store::CachedResponse &entry = m_unstored[key]; // one lookup per answer
    if (!entry.key.isEmpty())
        return;
    entry.key = key;
    entry.taskId = taskId;
    entry.output = output;
    entry.model = model;
    entry.usage = usage;
    entry.createdAtMs = nowMs;
}

std::optional<store::CachedResponse> ResponseCoalescer::unstored(const QByteArray &key) const
{
    const auto it = m_unstored.constFind(key);
    if (it == m_unstored.constEnd())
        return std::nullopt;
    return it.value();
}

QList<ClaimedTask> ResponseCoalescer::settleLeader(qint64 leaderTaskId)
{
    const QByteArray key = m_keyOfTask.take(leaderTaskId);
    if (key.isEmpty())
        return {};
    if (m_leaderOfKey.value(key) == leaderTaskId)
        m_leaderOfKey.remove(key);
    return m_followersOfKey.take(key);
}

QList<ClaimedTask> ResponseCoalescer::takeAllFollowers()
{
    QList<ClaimedTask> all;
    for (const QList<ClaimedTask> &followers : std::as_const(m_followersOfKey))
        all += followers;
    m_followersOfKey.clear();
    return all;
}

int ResponseCoalescer::followerCount() const
{
    int count = 0;
    for (const QList<ClaimedTask> &followers : m_followersOfKey)
        count += int(followers.size());
    return count;
}

bool ResponseCoalescer::writeDue(qint64 nowMs, bool force) const
{
    return !m_unstored.isEmpty()
           && (force || m_unstored.size() >= m_options.flushEntries
               || nowMs - m_lastWriteMs >= m_options.flushIntervalMs);
}

QList<store::CachedResponse> ResponseCoalescer::takeUnstored(qint64 nowMs)
{
    m_lastWriteMs = nowMs;
    QList<store::CachedResponse> entries = m_unstored.values();
    m_unstored.clear();
    return entries;
}

} // namespace bd::dispatch
