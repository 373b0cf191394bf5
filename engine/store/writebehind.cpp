#include "writebehind.h"

#include "sqlite/sqlitedatabase.h"

#include <QtGlobal>

#include <algorithm>

#if defined(Q_OS_LINUX)
#include <pthread.h>
#endif

namespace bd::store {

std::unique_ptr<WriteBehind> WriteBehind::open(const QString &path, QString *error)
{
    std::unique_ptr<WriteBehind> writer(new WriteBehind);
    writer->m_thread = std::thread([raw = writer.get(), path] { raw->run(path); });
    std::unique_lock lock(writer->m_mutex);
    writer->m_changed.wait(lock, [&] { return writer->m_opened || !writer->m_openError.isEmpty(); });
    if (writer->m_opened)
        return writer;
    if (error)
        *error = writer->m_openError;
    lock.unlock();
    writer->m_thread.join(); // run() returned after saying why
    writer->m_thread = {};
    return nullptr;
}

WriteBehind::~WriteBehind()
{
    if (!m_thread.joinable())
        return;
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_changed.notify_all();
    m_thread.join();
}

void WriteBehind::post(Group group)
{
    {
        std::lock_guard lock(m_mutex);
        if (group.claimLimit > 0)
            ++m_unclaimed;
        m_queue.push_back(std::move(group));
        ++m_unwritten;
    }
    m_changed.notify_all();
}

void WriteBehind::waitUntilWritten()
{
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [this] { return m_unwritten == 0; });
}

void WriteBehind::waitUntilClaimed()
{
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [this] { return m_unclaimed == 0; });
}

QList<WriteBehind::Written> WriteBehind::takeWritten(qint64 jobId)
{
    std::lock_guard lock(m_mutex);
    return m_written.take(jobId);
}

void WriteBehind::run(const QString &path)
{
#if defined(Q_OS_LINUX)
    pthread_setname_np(pthread_self(), "bd-write-behind");
#endif
    // Opened, used and closed on this thread only (a connection belongs to its thread).
    // This connection writes most of the log, so it restarts it (its own checkpoint pass)
    // before the engine connection's bound is reached: the engine thread never waits in
    // that pass's fsync.
    SqliteCheckpointer::Bounds bounds;
    bounds.restartBytes /= 2;
    auto database = std::make_unique<SqliteDatabase>(path, Database::Access::ReadWrite, bounds);
    {
        std::lock_guard lock(m_mutex);
        m_opened = database->isOpen();
        if (!m_opened) // never empty: open() waits for one or the other
            m_openError = database->errorString().isEmpty()
                              ? QStringLiteral("cannot open %1").arg(path)
                              : database->errorString();
    }
    m_changed.notify_all();
    if (!m_opened)
        return;
    for (;;) {
        Group group;
        {
            std::unique_lock lock(m_mutex);
            m_changed.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
            if (m_queue.empty())
                break; // stopping, and everything posted is written
            // A claim goes before the writes queued ahead of it: the runner waits for its
            // tasks, while the writes wait for nobody. It cannot miss what they change (a
            // task they make pending again is claimed by a later claim).
            auto next = std::find_if(m_queue.begin(), m_queue.end(),
                                     [](const Group &queued) { return queued.claimLimit > 0; });
            if (next == m_queue.end())
                next = m_queue.begin();
            group = std::move(*next);
            m_queue.erase(next);
        }
        Written written = write(*database, group);
        {
            std::lock_guard lock(m_mutex);
            m_written[group.jobId].append(std::move(written));
            --m_unwritten;
            if (group.claimLimit > 0)
                --m_unclaimed;
        }
        m_changed.notify_all();
        Q_EMIT this->written();
    }
}

WriteBehind::Written WriteBehind::write(Database &database, Group &group)
{
    Store &store = database.queue();
    // Cache entries first, as the synchronous flush does: a lookup joins on the task's
    // completion, so an entry before its task is harmless, the other way round a miss.
    if (!group.cacheEntries.isEmpty() && !store.storeCachedResponses(group.cacheEntries))
        qWarning("job %lld: response cache not updated: %s", group.jobId,
                 qPrintable(store.errorString()));
    for (const Group::SentBatch &batch : std::as_const(group.sentBatches)) {
        if (store.createBatch(group.jobId, batch.provider, batch.lane, batch.size, batch.maxSize,
                              QStringLiteral("dispatched"), batch.atMs) == 0)
            qWarning("job %lld: a sent group was not recorded: %s", group.jobId,
                     qPrintable(store.errorString()));
    }
    Written written;
    written.cacheEntries = !group.cacheEntries.isEmpty();
    written.claimLimit = group.claimLimit;
    if (!group.transitions.isEmpty() &&
        !store.applyTransitions(group.owner, group.transitions, group.nowMs, &written.skipped)) {
        written.error = store.errorString();
        written.skipped = 0;
    }
    written.transitions = std::move(group.transitions);
    if (group.claimLimit > 0 && written.error.isEmpty() &&
        !store.claimTasks(group.jobId, group.owner, group.claimLimit, group.nowMs,
                          group.leaseUntilMs, &written.claimed)) {
        written.claimError = store.errorString();
        written.claimed.clear();
    }
    if (database.takeDiskFull())
        m_diskFull = true; // before the runner hears of the failure
    return written;
}

} // namespace bd::store
