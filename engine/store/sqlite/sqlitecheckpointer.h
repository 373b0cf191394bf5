#pragma once

#include <atomic>
#include <memory>
#include <QString>
#include <QThread>

struct sqlite3;

namespace bd::store {

// Checkpoints a WAL database on a thread and connection of its own, so the writer's commits
// never sleep in the fsync a checkpoint ends with (issue 19: ~0.4 s of a 300,000-row drain),
// and keeps the -wal file bounded. It replaces SQLite's autocheckpoint on the writer: the
// writer's commits start each checkpoint (nothing runs while nobody writes). A checkpoint
// from another connection can never restart the log while the writer keeps writing, so past
// Bounds::restartBytes the writer checkpoints too: that pass only finds the frames committed
// since the last background one, and once every frame is in the database file SQLite starts
// the log over at the writer's next commit; journal_size_limit then cuts the file back.
// Every pass syncs the log and the database file, so the writer's own pass, which must sync
// both, finds little left to write.
// Data crosses threads by atomics only (no Qt event queue: its futex hand-over is invisible
// to ThreadSanitizer, and a wake-up needs nothing more).
class SqliteCheckpointer
{
public:
    struct Bounds
    {
        // WAL growth that starts a background checkpoint.
        qint64 checkpointBytes = 1024 * 1024;
        // WAL size past which the writer checkpoints itself so the log restarts (and past
        // twice which it waits for a background pass to end first); also the
        // journal_size_limit the -wal file is cut back to. SQLite's autocheckpoint works
        // on the writer at 1000 pages (4 MiB); more room here means fewer syncs on the writer's
        // thread, less means less disk (test_diskfull runs on 32 MiB).
        qint64 restartBytes = 8 * 1024 * 1024;
    };

    // Installs itself as writer's WAL hook; writer must outlive it. The thread and its
    // connection start at the first checkpoint.
    SqliteCheckpointer(sqlite3 *writer, const QString &databasePath, int pageSize, Bounds bounds);
    ~SqliteCheckpointer();
    Q_DISABLE_COPY_MOVE(SqliteCheckpointer)

    // Passes that succeeded, for tests and benchmarks.
    int backgroundCheckpoints() const { return m_backgroundCheckpoints.load(); }
    int writerCheckpoints() const { return m_writerCheckpoints.load(); }

private:
    static int afterCommit(void *checkpointer, sqlite3 *writer, const char *schema, int frames);
    void runBackgroundPasses();
    void checkpointInBackground();

    sqlite3 *m_writer;
    QString m_path;
    qint64 m_frameBytes;
    Bounds m_bounds;
    // The WAL's size (frames) when the writer last asked for a checkpoint; writer thread only.
    int m_framesAtLastRequest = 0;
    // Set by the writer to ask for a pass, cleared by the thread when it ends.
    std::atomic<bool> m_requested{false};
    std::atomic<bool> m_stopping{false};
    std::atomic<int> m_backgroundCheckpoints{0};
    std::atomic<int> m_writerCheckpoints{0};
    // Started by the first request (writer thread), joined by the destructor.
    std::unique_ptr<QThread> m_thread;
    // Opened, used and (after the thread stopped) closed only for the background passes.
    sqlite3 *m_checkpointConnection = nullptr;
};

} // namespace bd::store
