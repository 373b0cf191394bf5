#pragma once

#include "core/tasktypes.h"
#include "store/store.h"

#include <QHash>
#include <QList>
#include <QObject>
#include <QString>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace bd::store {

class Database;

// The engine's group commits on a thread and connection of their own, so the engine thread
// renders, sends and settles the next tasks while SQLite writes the last ones (issue 19:
// half of a drain's time was the engine thread waiting on its own commits).
//
// A runner posts a group (its transitions and the response-cache entries due, or a claim
// of its next tasks) and goes on; the writer applies them in posting order (a claim goes
// first), each group in the same transactions
// Store::applyTransitions and Store::storeCachedResponses make, then says written() (a
// queued signal on the owner's thread) and keeps the outcome until the runner takes it.
// Nothing is dropped on the way: a crash before a group's commit leaves its tasks leased,
// as a crash before a synchronous flush did, and their leases bring them back.
//
// Whatever must see every earlier write (a count that decides a job is finished, a pause,
// a release of leases) calls waitUntilWritten() first: it returns once every posted group
// is committed or failed. The engine's own connection and this one share the database's
// write lock; SqliteConnection retries a locked write every few microseconds, so the one
// waits the other's commit and no more.
//
// SQLite only: a PostgreSQL worker's writes wait on the network, not the disk, and its
// lost connections are handled by the engine's reconnect (workers scale out by process).
// Data crosses threads under one mutex; the owner learns of results by a queued signal.
class WriteBehind final : public QObject
{
    Q_OBJECT
public:
    struct Group
    {
        qint64 jobId = 0;
        QString owner; // the lease owner the transitions are checked against
        QList<TaskTransition> transitions;
        QList<CachedResponse> cacheEntries;
        qint64 nowMs = 0;
        // Groups of sync calls sent since the last group, for the batches table (their fill
        // rate; Store::createBatch).
        struct SentBatch
        {
            QString provider;
            QString lane;
            int size = 0;
            int maxSize = 0;
            qint64 atMs = 0;
        };
        QList<SentBatch> sentBatches;
        // Then leases up to this many of the job's pending tasks for the owner (a claim
        // ahead of the runner's need, Store::claimTasks); 0: none.
        int claimLimit = 0;
        qint64 leaseUntilMs = 0;
    };
    struct Written
    {
        QList<TaskTransition> transitions; // as posted
        int skipped = 0;                   // no longer leased by the owner: not applied
        QString error;                     // empty: applied; else nothing of the group was
        bool cacheEntries = false;         // the group carried some (written or not)
        int claimLimit = 0;                // as posted
        QList<ClaimedTask> claimed;        // the claim ahead's tasks, leased by the owner
        QString claimError;                // the claim ahead failed (nothing leased)
    };

    // Opens its own read-write connection to the SQLite file at path on a new thread;
    // nullptr with *error when that fails (the caller then writes synchronously).
    static std::unique_ptr<WriteBehind> open(const QString &path, QString *error);
    // Writes what is still queued, then closes.
    ~WriteBehind() override;
    Q_DISABLE_COPY_MOVE(WriteBehind)

    void post(Group group);
    // Blocks until every group posted so far is written (or failed).
    void waitUntilWritten();
    // Blocks until every claim posted so far is answered (they go before writes).
    void waitUntilClaimed();
    // The job's written groups, oldest first, and forgets them.
    QList<Written> takeWritten(qint64 jobId);
    // Whether a write failed for want of disk space since the last call (which clears it).
    bool takeDiskFull() { return m_diskFull.exchange(false); }

Q_SIGNALS:
    // Some group is written; each runner takes its own (takeWritten).
    void written();

private:
    WriteBehind() = default;
    void run(const QString &path);
    Written write(Database &database, Group &group);

    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<Group> m_queue;
    int m_unwritten = 0; // posted, not yet written
    int m_unclaimed = 0; // claims posted, not yet answered
    QHash<qint64, QList<Written>> m_written;
    bool m_opened = false;
    QString m_openError;
    bool m_stopping = false;
    std::atomic<bool> m_diskFull{false};
    std::thread m_thread;
};

} // namespace bd::store
