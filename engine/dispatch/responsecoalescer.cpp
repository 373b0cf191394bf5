#include "dispatch/responsecoalescer.h"

#include <utility>

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

void ResponseCoalescer::lookAhead(const QHash<qint64, Rendered> &group, qint64 nowMs)
{
    m_ahead.clear();
    if (group.isEmpty())
        return;
    m_ahead.reserve(group.size()); // clear() let its storage go: no rehash while it fills
    for (auto it = group.cbegin(); it != group.cend(); ++it)
        m_ahead.insert(it.key(), Ahead{it.value(), std::nullopt, m_writes});
    if (!m_store)
        return;
    checkStoreCache(nowMs);
    QList<QByteArray> keys;
    for (auto it = group.cbegin(); it != group.cend(); ++it) {
        if (mayBeStored(it.value().key))
            keys.append(it.value().key);
    }
    if (keys.isEmpty())
        return; // none can be there: no read
    const QHash<QByteArray, store::CachedResponse> hits = m_store->cachedResponses(keys);
    if (hits.isEmpty())
        return;
    for (Ahead &ahead : m_ahead) {
        const auto it = hits.constFind(ahead.rendered.key);
        if (it != hits.constEnd())
            ahead.hit = it.value();
    }
}

namespace {

// A key's first 64 bits (keys are hex SHA-256). Any other text still maps to one number:
// keys that share it only cost a read.
quint64 keyPrefix(const QByteArray &key)
{
    quint64 prefix = 0;
    const qsizetype digits = qMin<qsizetype>(key.size(), 16);
    for (qsizetype i = 0; i < digits; ++i) {
        const char c = key.at(i);
        prefix = prefix << 4 | (quint64(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10) & 0xf);
    }
    return prefix;
}

} // namespace

void ResponseCoalescer::checkStoreCache(qint64 nowMs)
{
    if (m_storeCache == StoreCache::Anything)
        return;
    if (m_storeCache == StoreCache::OwnAnswers && m_writes == m_storeCountedAtWrite &&
        nowMs - m_storeCountedAtMs < m_options.flushIntervalMs)
        return;
    const qint64 entries = m_store->cachedResponseCount();
    m_storeCountedAtMs = nowMs;
    m_storeCountedAtWrite = m_writes;
    // One entry a key: no more entries than keys written here, and none is anyone else's
    // (or it has a key written here too).
    if (entries >= 0 && entries <= qint64(m_writtenKeys.size())) {
        m_storeCache = StoreCache::OwnAnswers;
        return;
    }
    m_storeCache = StoreCache::Anything;
    m_writtenKeys = {};
}

bool ResponseCoalescer::mayBeStored(const QByteArray &key) const
{
    return m_storeCache != StoreCache::OwnAnswers || m_writtenKeys.contains(keyPrefix(key));
}

std::optional<ResponseCoalescer::Rendered>
ResponseCoalescer::lookedAhead(const ClaimedTask &task) const
{
    const auto it = m_ahead.constFind(task.id);
    if (it == m_ahead.constEnd() || it->rendered.templateRevision != task.templateRevision)
        return std::nullopt;
    return it->rendered;
}

ResponseCoalescer::Verdict ResponseCoalescer::coalesce(const QByteArray &key,
                                                       const ClaimedTask &task,
                                                       store::CachedResponse *answer)
{
    if (follow(key, task))
        return Verdict::Follows;
    std::optional<store::CachedResponse> hit = unstored(key);
    if (!hit) {
        // The group's read holds while nothing was written since and the key is the same.
        const auto ahead = m_ahead.constFind(task.id);
        const bool known = ahead != m_ahead.constEnd() && ahead->rendered.key == key &&
                           ahead->rendered.templateRevision == task.templateRevision &&
                           ahead->writes == m_writes;
        if (known)
            hit = ahead->hit;
        else if (m_store && mayBeStored(key))
            hit = m_store->cachedResponse(key);
    }
    if (!hit)
        return Verdict::Send;
    *answer = std::move(*hit);
    return Verdict::Answered;
}

TaskOutcome ResponseCoalescer::answeredOutcome(qint64 taskId, const QString &output,
                                               const QString &model, qint64 nowMs)
{
    TaskOutcome outcome;
    outcome.taskId = taskId;
    outcome.output = output;
    outcome.model = model;
    outcome.costUsd = 0.0; // nothing was billed
    outcome.cacheHit = true;
    outcome.startedAtMs = nowMs;
    outcome.finishedAtMs = nowMs;
    return outcome;
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
    qsizetype *position = &m_unstoredAt[keyPrefix(key)]; // one lookup per answer; 0: none yet
    if (*position != 0 && m_unstored.at(*position - 1).key != key)
        position = &m_unstoredAtByKey[key]; // another key starts the same
    if (*position != 0)
        return;
    m_unstored.append(store::CachedResponse{key, taskId, output, model, usage, nowMs});
    *position = m_unstored.size();
}

qsizetype ResponseCoalescer::positionOf(const QByteArray &key,
                                        const QList<store::CachedResponse> &entries,
                                        const QHash<quint64, qsizetype> &at,
                                        const QHash<QByteArray, qsizetype> &atByKey)
{
    const qsizetype position = at.value(keyPrefix(key));
    if (position != 0 && entries.at(position - 1).key != key)
        return atByKey.value(key);
    return position;
}

std::optional<store::CachedResponse> ResponseCoalescer::unstored(const QByteArray &key) const
{
    if (const qsizetype position = positionOf(key, m_unstored, m_unstoredAt, m_unstoredAtByKey))
        return m_unstored.at(position - 1);
    for (const Taken &taken : m_taken) {
        if (const qsizetype position = positionOf(key, taken.entries, taken.at, taken.atByKey))
            return taken.entries.at(position - 1);
    }
    return std::nullopt;
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
    ++m_writes; // what the lookahead found may be stale now
    QList<store::CachedResponse> entries = std::exchange(m_unstored, {});
    if (m_store && m_storeCache != StoreCache::Anything) {
        // The store may hold these from now on: their keys are read again.
        m_writtenKeys.reserve(m_writtenKeys.size() + entries.size());
        for (const store::CachedResponse &entry : std::as_const(entries))
            m_writtenKeys.insert(keyPrefix(entry.key));
    }
    // The next group of answers grows about as large: room for it now, not rehash by rehash.
    m_unstored.reserve(entries.size());
    m_taken.push_back(Taken{entries, std::exchange(m_unstoredAt, {}),
                            std::exchange(m_unstoredAtByKey, {})});
    m_unstoredAt.reserve(entries.size());
    return entries;
}

void ResponseCoalescer::takenStored()
{
    if (!m_taken.empty())
        m_taken.pop_front();
}

} // namespace bd::dispatch
