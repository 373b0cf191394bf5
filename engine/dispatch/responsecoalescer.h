#pragma once

#include "core/tasktypes.h"
#include "cost/responsecache.h"
#include "store/store.h"

#include <deque>
#include <optional>
#include <QByteArray>
#include <QHash>
#include <QList>
#include <QSet>

namespace bd::dispatch {

// Identical requests of one job go out once (cost/responsecache.h names a request by its
// key). The first task of a key leads: it is sent, and tasks with the same key that come
// by meanwhile follow it without using a request slot or the budget. When the leader
// settles its followers are handed back to the runner: they take its answer, or are tried
// on their own when it failed. Answers are kept in memory and written to the store's cache
// in large groups (random keys dirty index pages all over; fewer, larger groups write far
// less); until then lookups find them here. A sync group's keys are looked up in the store
// in one read when it is claimed (lookAhead()); coalesce() decides each task as it goes.
// State over the caller's clock and store; no timers, no threads.
class ResponseCoalescer
{
public:
    struct Options
    {
        int flushEntries = 50'000;        // answers kept before they must be written
        qint64 flushIntervalMs = 30'000;  // ... or this long after the last write
    };

    explicit ResponseCoalescer(bool enabled);
    ResponseCoalescer(bool enabled, const Options &options);

    // The job setting response_cache; off, the runner never asks.
    bool isEnabled() const { return m_enabled; }
    // Where answers written earlier are looked up (null: only the ones kept here).
    void setStore(store::Store *store) { m_store = store; }

    // The key of a request (cost/responsecache.h); a replay with an edited system prompt
    // asks something else than the job's original.
    QByteArray keyFor(const JobSpec &spec, const QString &model, const QString &systemPrompt,
                      const QString &prompt)
    {
        return m_keys.keyFor(spec, model, systemPrompt, prompt);
    }

    // A task's prompt and key as rendered ahead, with its template revision.
    struct Rendered
    {
        QString prompt;
        QByteArray key;
        int templateRevision = -1;
    };
    // A group of sync calls, by task id: their keys are looked up in one read of the store
    // and kept until the next group (whatever was left of the last one went back or out).
    // Keys the store cannot hold are not read (see StoreCache); nowMs is the caller's clock.
    void lookAhead(const QHash<qint64, Rendered> &group, qint64 nowMs);
    // What lookAhead() rendered for the task; nothing when it was replayed with another
    // template since, or was not in the group.
    std::optional<Rendered> lookedAhead(const ClaimedTask &task) const;

    enum class Verdict
    {
        Send,     // nothing known: the task goes out (and leads its key: lead())
        Follows,  // the same request is in flight: the task waits for its leader
        Answered, // answered from the cache: *answer, nothing is sent or charged
    };
    // A task about to be sent under `key`. Neither a follower nor an answer uses a request
    // slot or the budget.
    Verdict coalesce(const QByteArray &key, const ClaimedTask &task, store::CachedResponse *answer);
    // A task answered without a request of its own (a cache hit, or its leader's answer):
    // completed at no cost, not an attempt.
    static TaskOutcome answeredOutcome(qint64 taskId, const QString &output, const QString &model,
                                       qint64 nowMs);

    // A task about to be sent under `key`: true when another task leads that key, in which
    // case the task now waits for it (returned by settleLeader() or takeAllFollowers()).
    bool follow(const QByteArray &key, const ClaimedTask &task);
    // The task goes out for `key`: it leads it until it settles.
    void lead(const QByteArray &key, qint64 taskId);
    // The key a task in flight leads (empty: none).
    QByteArray keyOf(qint64 taskId) const { return m_keyOfTask.value(taskId); }
    bool isLeading(const QByteArray &key) const { return m_leaderOfKey.contains(key); }

    // A leader's answer: kept for its key (the first answer for a key wins).
    void remember(qint64 taskId, const QString &output, const QString &model,
                  const Usage &usage, qint64 nowMs);
    // An answer kept here and not yet written to the store.
    std::optional<store::CachedResponse> unstored(const QByteArray &key) const;

    // The leader settled (answered, failed or handed back): its key is free and the tasks
    // that waited for it come back in the order they came.
    QList<ClaimedTask> settleLeader(qint64 leaderTaskId);
    // Every waiting task, for a runner that hands its unsent work back.
    QList<ClaimedTask> takeAllFollowers();
    int followerCount() const;

    // Whether the kept answers are due to be written: enough of them, long enough since
    // the last write, or `force` (the runner stops).
    bool writeDue(qint64 nowMs, bool force) const;
    // The kept answers, to be written now; the interval restarts. unstored() still finds
    // them until takenStored() says the write of the oldest such group ended (a write behind
    // the engine thread commits a little later).
    QList<store::CachedResponse> takeUnstored(qint64 nowMs);
    void takenStored();

private:
    // What the store's response cache may hold for this job's keys. Most jobs start on an
    // empty cache (or one with nothing of theirs): then the only entries that can match are
    // the answers this coalescer wrote itself, and every other key is a sure miss that needs
    // no read. The store's entries are counted before the first group and again after each
    // write of answers or flush interval: more entries than keys written here means someone
    // else wrote (another job, worker or process), and every key is read from then on. Until
    // that count, an entry written elsewhere is not looked for: a miss (one request more),
    // never a wrong answer.
    enum class StoreCache
    {
        Unknown,    // not counted yet: every key may be there
        OwnAnswers, // only the keys in m_writtenKeys may be there
        Anything,   // every key may be there
    };
    void checkStoreCache(qint64 nowMs);
    bool mayBeStored(const QByteArray &key) const;

    struct Ahead
    {
        Rendered rendered;
        std::optional<store::CachedResponse> hit;
        qint64 writes = 0; // m_writes then: a later write makes `hit` stale
    };

    bool m_enabled;
    Options m_options;
    store::Store *m_store = nullptr;
    cost::ResponseCacheKeys m_keys;                         // keyFor's encoding, kept per job shape
    QHash<qint64, Ahead> m_ahead;                           // by task id (lookAhead())
    qint64 m_writes = 0;                                    // groups of answers taken to be written
    QHash<QByteArray, qint64> m_leaderOfKey;                // key -> task in flight for it
    QHash<qint64, QByteArray> m_keyOfTask;                  // leader task -> its key
    QHash<QByteArray, QList<ClaimedTask>> m_followersOfKey; // duplicates waiting for it
    // Answers not yet written, in the order they came, and where each key's is (+1): a hash
    // of whole answers moved them each time one of its spans grew. Found by the key's first
    // 64 bits, compared inside the hash's nodes: with the whole key every probe went to the
    // key's bytes elsewhere in memory, most of remember() and unstored() in a long drain. A
    // key whose first 64 bits another kept key has goes by its whole key in the second hash.
    QList<store::CachedResponse> m_unstored;
    QHash<quint64, qsizetype> m_unstoredAt;
    QHash<QByteArray, qsizetype> m_unstoredAtByKey;
    // Groups taken to be written whose write has not ended yet, oldest first; found the same
    // way.
    struct Taken
    {
        QList<store::CachedResponse> entries;
        QHash<quint64, qsizetype> at;
        QHash<QByteArray, qsizetype> atByKey;
    };
    std::deque<Taken> m_taken;
    // Where key's answer is in entries (+1), 0: not there.
    static qsizetype positionOf(const QByteArray &key, const QList<store::CachedResponse> &entries,
                                const QHash<quint64, qsizetype> &at,
                                const QHash<QByteArray, qsizetype> &atByKey);
    qint64 m_lastWriteMs = 0;
    StoreCache m_storeCache = StoreCache::Unknown;
    qint64 m_storeCountedAtMs = 0;
    qint64 m_storeCountedAtWrite = 0; // m_writes when counted
    // The answers taken to be written, by their key's first 64 bits: about 12 bytes an
    // answer, one probe a lookup. Cleared once the store holds anything else.
    QSet<quint64> m_writtenKeys;
};

} // namespace bd::dispatch
