// The SQLite writer's checkpoints (SqliteCheckpointer, issue 19): they run on a thread and
// connection of their own, so the writer never fsyncs the database file, and the -wal file
// stays bounded however long the writer keeps committing. A real database file; a VFS shim
// (the process default) counts which thread syncs which file.

#include "store/sqlite/sqliteconnection.h"

#include <algorithm>
#include <atomic>
#include <QFileInfo>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryDir>
#include <QTest>
#include <sqlite3.h>

using namespace Qt::StringLiterals;
using bd::store::Database;
using bd::store::SqliteCheckpointer;
using bd::store::SqliteConnection;

namespace {

// Syncs of database and -wal files, by whether the test's thread (the writer) made them.
std::atomic<Qt::HANDLE> g_writerThread{nullptr};
std::atomic<int> g_writerSyncs{0};
std::atomic<int> g_otherSyncs{0};

sqlite3_vfs *g_realVfs = nullptr;
sqlite3_vfs g_watchVfs;
sqlite3_io_methods g_watchMethods;

struct WatchedFile
{
    sqlite3_file base;
    sqlite3_file *real() { return reinterpret_cast<sqlite3_file *>(this + 1); }
};

WatchedFile *watched(sqlite3_file *file)
{
    return reinterpret_cast<WatchedFile *>(file);
}

int watchSync(sqlite3_file *file, int flags)
{
    if (QThread::currentThreadId() == g_writerThread.load())
        ++g_writerSyncs;
    else
        ++g_otherSyncs;
    return watched(file)->real()->pMethods->xSync(watched(file)->real(), flags);
}

int watchOpen(sqlite3_vfs *, sqlite3_filename name, sqlite3_file *file, int flags, int *outFlags)
{
    WatchedFile *watchedFile = watched(file);
    const int rc = g_realVfs->xOpen(g_realVfs, name, watchedFile->real(), flags, outFlags);
    const sqlite3_io_methods *real = watchedFile->real()->pMethods;
    if (!real) {
        file->pMethods = nullptr;
        return rc;
    }
    // Every method forwards to the real file; only xSync counts first. Version 2: no mmap.
    static const bool filled = [real] {
        g_watchMethods.iVersion = 2;
        g_watchMethods.xClose = [](sqlite3_file *f) {
            return watched(f)->real()->pMethods->xClose(watched(f)->real());
        };
        g_watchMethods.xRead = [](sqlite3_file *f, void *b, int n, sqlite3_int64 o) {
            return watched(f)->real()->pMethods->xRead(watched(f)->real(), b, n, o);
        };
        g_watchMethods.xWrite = [](sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
            return watched(f)->real()->pMethods->xWrite(watched(f)->real(), b, n, o);
        };
        g_watchMethods.xTruncate = [](sqlite3_file *f, sqlite3_int64 size) {
            return watched(f)->real()->pMethods->xTruncate(watched(f)->real(), size);
        };
        g_watchMethods.xSync = watchSync;
        g_watchMethods.xFileSize = [](sqlite3_file *f, sqlite3_int64 *size) {
            return watched(f)->real()->pMethods->xFileSize(watched(f)->real(), size);
        };
        g_watchMethods.xLock = [](sqlite3_file *f, int level) {
            return watched(f)->real()->pMethods->xLock(watched(f)->real(), level);
        };
        g_watchMethods.xUnlock = [](sqlite3_file *f, int level) {
            return watched(f)->real()->pMethods->xUnlock(watched(f)->real(), level);
        };
        g_watchMethods.xCheckReservedLock = [](sqlite3_file *f, int *out) {
            return watched(f)->real()->pMethods->xCheckReservedLock(watched(f)->real(), out);
        };
        g_watchMethods.xFileControl = [](sqlite3_file *f, int op, void *arg) {
            return watched(f)->real()->pMethods->xFileControl(watched(f)->real(), op, arg);
        };
        g_watchMethods.xSectorSize = [](sqlite3_file *f) {
            return watched(f)->real()->pMethods->xSectorSize(watched(f)->real());
        };
        g_watchMethods.xDeviceCharacteristics = [](sqlite3_file *f) {
            return watched(f)->real()->pMethods->xDeviceCharacteristics(watched(f)->real());
        };
        g_watchMethods.xShmMap = [](sqlite3_file *f, int page, int size, int extend,
                                    void volatile **out) {
            return watched(f)->real()->pMethods->xShmMap(watched(f)->real(), page, size, extend,
                                                         out);
        };
        g_watchMethods.xShmLock = [](sqlite3_file *f, int offset, int n, int lockFlags) {
            return watched(f)->real()->pMethods->xShmLock(watched(f)->real(), offset, n, lockFlags);
        };
        g_watchMethods.xShmBarrier = [](sqlite3_file *f) {
            watched(f)->real()->pMethods->xShmBarrier(watched(f)->real());
        };
        g_watchMethods.xShmUnmap = [](sqlite3_file *f, int deleteFlag) {
            return watched(f)->real()->pMethods->xShmUnmap(watched(f)->real(), deleteFlag);
        };
        return real->iVersion >= 2;
    }();
    Q_UNUSED(filled);
    file->pMethods = &g_watchMethods;
    return rc;
}

// Installs the shim as the default VFS, so Qt's connections and the checkpointer's use it.
void installSyncWatch()
{
    g_realVfs = sqlite3_vfs_find(nullptr);
    g_watchVfs = *g_realVfs;
    g_watchVfs.pNext = nullptr;
    g_watchVfs.zName = "bd-syncwatch";
    g_watchVfs.szOsFile = int(sizeof(WatchedFile)) + g_realVfs->szOsFile;
    g_watchVfs.xOpen = watchOpen;
    sqlite3_vfs_register(&g_watchVfs, 1);
}

qint64 walBytes(const QString &path)
{
    return QFileInfo(path + u"-wal"_s).size();
}

} // namespace

class TestSqliteCheckpoint : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QCOMPARE(sqlite3_initialize(), SQLITE_OK);
        installSyncWatch();
        g_writerThread = QThread::currentThreadId();
    }

    void init()
    {
        QVERIFY(m_dir.isValid());
        m_path = m_dir.filePath(u"ckpt-%1.sqlite"_s.arg(++m_files));
    }

    void checkpointsMoveFramesWithoutTheWriterSyncing()
    {
        SqliteConnection writer(m_path, Database::Access::ReadWrite,
                                SqliteConnection::OpenCheck::Bounded,
                                {.checkpointBytes = 256 * 1024, .restartBytes = 64 << 20});
        QVERIFY2(writer.isOpen(), qPrintable(writer.errorString()));
        QVERIFY(writer.checkpointer());
        QVERIFY(createBurstTable(writer));
        const qint64 databaseBefore = QFileInfo(m_path).size();
        g_writerSyncs = 0;
        g_otherSyncs = 0;

        for (int commit = 0; commit < 100; ++commit)
            QVERIFY(commitRows(writer, commit, 16));

        // Background passes copy the log's frames into the database file (and sync it).
        QTRY_VERIFY(writer.checkpointer()->backgroundCheckpoints() > 0);
        QTRY_VERIFY(QFileInfo(m_path).size() > databaseBefore + (1 << 20));
        QVERIFY(g_otherSyncs.load() > 0);
        QCOMPARE(writer.checkpointer()->writerCheckpoints(), 0);
        QCOMPARE(g_writerSyncs.load(), 0);
    }

    void walStaysBoundedUnderALongBurst()
    {
        const qint64 restartBytes = 1 << 20;
        SqliteConnection writer(m_path, Database::Access::ReadWrite,
                                SqliteConnection::OpenCheck::Bounded,
                                {.checkpointBytes = 128 * 1024, .restartBytes = restartBytes});
        QVERIFY2(writer.isOpen(), qPrintable(writer.errorString()));
        QVERIFY(createBurstTable(writer));

        // 24 MiB of rows in commits of 64 KiB: 24 times the bound.
        qint64 peakWal = 0;
        for (int commit = 0; commit < 384; ++commit) {
            QVERIFY(commitRows(writer, commit, 16));
            peakWal = std::max(peakWal, walBytes(m_path));
        }
        // Twice the bound (past which the writer waits for a background pass) and one commit
        // of 64 KiB; checkpoints only from another connection would let it reach 24 MiB.
        QVERIFY2(peakWal <= 2 * restartBytes + 128 * 1024,
                 qPrintable(u"peak WAL %1 bytes"_s.arg(peakWal)));
        QVERIFY(writer.checkpointer()->writerCheckpoints() > 0);
        QVERIFY(writer.checkpointer()->backgroundCheckpoints() > 0);

        // Every row is there, read by another connection.
        SqliteConnection reader(m_path, Database::Access::ReadOnly);
        QVERIFY2(reader.isOpen(), qPrintable(reader.errorString()));
        QSqlQuery count(reader.db());
        QVERIFY(count.exec(u"SELECT COUNT(*) FROM burst"_s) && count.next());
        QCOMPARE(count.value(0).toInt(), 384 * 16);
    }

private:
    static bool createBurstTable(SqliteConnection &writer)
    {
        QSqlQuery query(writer.db());
        return query.exec(u"CREATE TABLE burst (id INTEGER PRIMARY KEY, body BLOB)"_s);
    }

    // One transaction of rows of 4 KiB each.
    static bool commitRows(SqliteConnection &writer, int commit, int rows)
    {
        QSqlDatabase &db = writer.db();
        if (!db.transaction())
            return false;
        QSqlQuery insert(db);
        insert.prepare(u"INSERT INTO burst (body) VALUES (zeroblob(4096) || ?)"_s);
        for (int row = 0; row < rows; ++row) {
            insert.addBindValue(commit * rows + row);
            if (!insert.exec()) {
                qWarning() << insert.lastError().text();
                return false;
            }
        }
        return db.commit();
    }

    QTemporaryDir m_dir;
    QString m_path;
    int m_files = 0;
};

QTEST_GUILESS_MAIN(TestSqliteCheckpoint)
#include "test_sqlitecheckpoint.moc"
