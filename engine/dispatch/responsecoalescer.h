#pragma once

#include "core/tasktypes.h"
#include "store/store.h"

#include <optional>
#include <QByteArray>
#include <QHash>
#include <QList>

namespace bd::dispatch {

// Identical requests of one job go out once (cost/responsecache.h names a request by its
// key). The first task of a key leads: it is sent, and tasks with the same key that come
// by meanwhile follow it without using a request slot or the budget. When the leader
// settles its followers are handed back to the runner: they take its answer, or are tried
// on their own when it failed. Answers are kept in memory and written to the store's cache
// in large groups (random keys dirty index pages all over; fewer, larger groups write far
// less); until then lookups find them here. Pure state over the caller's clock.
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
    // The kept answers, to be written now; the interval restarts.
    QList<store::CachedResponse> takeUnstored(qint64 nowMs);

private:
    bool m_enabled;
    Options m_options;
    QHash<QByteArray, qint64> m_leaderOfKey;                // key -> task in flight for it
    QHash<qint64, QByteArray> m_keyOfTask;                  // leader task -> its key
    QHash<QByteArray, QList<ClaimedTask>> m_followersOfKey; // duplicates waiting for it
    QHash<QByteArray, store::CachedResponse> m_unstored;    // answers not yet written
    qint64 m_lastWriteMs = 0;
};

} // namespace bd::dispatch
