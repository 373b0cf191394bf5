#include "sqlitecheckpointer.h"

#include <QFile>
#include <sqlite3.h>

namespace bd::store {

namespace {
// A WAL frame is a page and its 24-byte header.
constexpr int kWalFrameHeaderBytes = 24;
} // namespace

SqliteCheckpointer::SqliteCheckpointer(sqlite3 *writer, const QString &databasePath, int pageSize,
                                       Bounds bounds)
    : m_writer(writer)
    , m_path(databasePath)
    , m_frameBytes(pageSize + kWalFrameHeaderBytes)
    , m_bounds(bounds)
{
    // Replaces the autocheckpoint hook (the two are one slot in SQLite).
    sqlite3_wal_hook(m_writer, &SqliteCheckpointer::afterCommit, this);
}

SqliteCheckpointer::~SqliteCheckpointer()
{
    sqlite3_wal_hook(m_writer, nullptr, nullptr);
    if (m_thread) {
        m_stopping = true;
        m_requested = true;
        m_requested.notify_all();
        m_thread->wait();
    }
    // Closed before the writer, so the writer stays the last connection and its close
    // checkpoints and removes the -wal file as before.
    sqlite3_close(m_checkpointConnection);
}

int SqliteCheckpointer::afterCommit(void *checkpointer, sqlite3 *writer, const char *schema,
                                    int frames)
{
    auto *self = static_cast<SqliteCheckpointer *>(checkpointer);
    if (frames < self->m_framesAtLastRequest)
        self->m_framesAtLastRequest = 0; // the log restarted
    const qint64 walBytes = frames * self->m_frameBytes;
    if (walBytes >= self->m_bounds.restartBytes) {
        // Returns at once (SQLITE_BUSY) while a background pass runs, and the next commit
        // tries again; past twice the bound the writer waits for that pass to end, so the
        // log stays bounded however slow the disk. A failure loses nothing: the frames stay
        // in the log.
        int result =
            sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
        if (result == SQLITE_BUSY && walBytes >= 2 * self->m_bounds.restartBytes) {
            self->m_requested.wait(true);
            result = sqlite3_wal_checkpoint_v2(writer, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                               nullptr);
        }
        if (result == SQLITE_OK)
            ++self->m_writerCheckpoints;
        return SQLITE_OK;
    }
    if ((frames - self->m_framesAtLastRequest) * self->m_frameBytes <
            self->m_bounds.checkpointBytes ||
        self->m_requested.exchange(true))
        return SQLITE_OK;
    self->m_framesAtLastRequest = frames;
    if (self->m_thread) {
        self->m_requested.notify_all();
    } else {
        // m_requested is already set, so the thread's first wait returns at once.
        self->m_thread.reset(QThread::create([self] { self->runBackgroundPasses(); }));
        self->m_thread->setObjectName(QStringLiteral("bd-sqlite-checkpoint"));
        self->m_thread->start(QThread::LowPriority);
    }
    return SQLITE_OK;
}

void SqliteCheckpointer::runBackgroundPasses()
{
    for (;;) {
        m_requested.wait(false);
        if (m_stopping)
            return;
        checkpointInBackground();
        // m_stopping is read after m_requested was cleared, so a stop that came meanwhile
        // ends the loop here rather than in a wait nobody wakes.
        m_requested = false;
        m_requested.notify_all();
        if (m_stopping)
            return;
    }
}

void SqliteCheckpointer::checkpointInBackground()
{
    if (!m_checkpointConnection) {
        const QByteArray path = QFile::encodeName(m_path);
        // A new connection checkpoints nothing (and says SQLITE_OK) until a read has found
        // the file in WAL mode.
        if (sqlite3_open_v2(path.constData(), &m_checkpointConnection, SQLITE_OPEN_READWRITE,
                            nullptr) != SQLITE_OK ||
            sqlite3_busy_timeout(m_checkpointConnection, 1000) != SQLITE_OK ||
            sqlite3_exec(m_checkpointConnection, "SELECT COUNT(*) FROM sqlite_schema", nullptr,
                         nullptr, nullptr) != SQLITE_OK) {
            // No background pass then: the writer's own pass keeps the log bounded.
            sqlite3_close(m_checkpointConnection);
            m_checkpointConnection = nullptr;
            return;
        }
    }
    int walFrames = -1;
    int checkpointedFrames = -1;
    if (sqlite3_wal_checkpoint_v2(m_checkpointConnection, "main", SQLITE_CHECKPOINT_PASSIVE,
                                  &walFrames, &checkpointedFrames) == SQLITE_OK &&
        checkpointedFrames > 0) {
        // SQLite syncs the database file only at a pass that reaches the log's end, which
        // the writer's own pass at restartBytes then is; syncing here leaves that one only
        // the last few pages to write out.
        sqlite3_file *database = nullptr;
        if (sqlite3_file_control(m_checkpointConnection, "main", SQLITE_FCNTL_FILE_POINTER,
                                 &database) == SQLITE_OK &&
            database && database->pMethods)
            database->pMethods->xSync(database, SQLITE_SYNC_NORMAL);
        ++m_backgroundCheckpoints;
    }
}

} // namespace bd::store
