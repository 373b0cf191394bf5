#include "writebehind.h"

#include "database.h"

#include <QtGlobal>

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
    QString error;
    // Opened, used and closed on this thread only (a connection belongs to its thread).
    std::unique_ptr<Database> database =
        Database::open(path, Database::Access::ReadWrite, &error);
    {
        std::lock_guard lock(m_mutex);
        if (database)
            m_opened = true;
        else
            m_openError = error.isEmpty() ? QStringLiteral("cannot open %1").arg(path) : error;
    }
    m_changed.notify_all();
    if (!database)
        return;
    for (;;) {
        Group group;
        {
            std::unique_lock lock(m_mutex);
            m_changed.wait(lock, [this] { return m_stopping || !m_queue.empty(); });
            if (m_queue.empty())
                break; // stopping, and everything posted is written
            group = std::move(m_queue.front());
            m_queue.pop_front();
        }
        Written written = write(*database, group);
        {
            std::lock_guard lock(m_mutex);
            m_written[group.jobId].append(std::move(written));
            --m_unwritten;
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
    Written written;
    if (!group.transitions.isEmpty() &&
        !store.applyTransitions(group.owner, group.transitions, group.nowMs, &written.skipped)) {
        written.error = store.errorString();
        written.skipped = 0;
    }
    if (database.takeDiskFull())
        m_diskFull = true;
    written.transitions = std::move(group.transitions);
    return written;
}

} // namespace bd::store
