#pragma once

#include "sqlitecheckpointer.h"
#include "store/database.h"

#include <QSqlDatabase>
#include <QString>
#include <QStringList>

#include <memory>
#include <optional>
#include <utility>

struct sqlite3;

namespace bd::store {

// One Qt SQLite connection under a name no other instance in the process uses, shared by
// the roles of one SqliteDatabase (each holds it, so it stays open while any of them
// lives). Belongs to the thread that opened it. Read-write: WAL, synchronous=NORMAL, a
// busy timeout, foreign keys on, the schema migrated, checkpoints on a thread of their own
// (SqliteCheckpointer). Read-only: query_only, no migration.
class SqliteConnection
{
public:
    // Bounded: the check every open makes (see checkAtOpen); None: for the full check only.
    enum class OpenCheck
    {
        Bounded,
        None,
    };
    SqliteConnection(const QString &databasePath, Database::Access access,
                     OpenCheck openCheck = OpenCheck::Bounded,
                     SqliteCheckpointer::Bounds walBounds = {});
    ~SqliteConnection();
    Q_DISABLE_COPY_MOVE(SqliteConnection)

    bool isOpen() const { return m_open; }
    QString errorString() const { return m_error; }
    QString databasePath() const { return m_path; }
    Database::Access access() const { return m_access; }
    // Only the backend's own code (and its tests) use the name.
    QString name() const { return m_name; }
    QString migrationBackupPath() const { return m_backupPath; }

    QSqlDatabase &db() { return m_db; }
    sqlite3 *handle() const { return m_handle; }
    // How long a statement waits for another connection's write lock before it fails.
    int busyTimeoutMs() const { return m_busyTimeoutMs; }
    // A read-write connection's checkpointer (null for read-only and :memory:).
    const SqliteCheckpointer *checkpointer() const { return m_checkpointer.get(); }

    // Why the file cannot be trusted, once SQLite reported it damaged (SQLITE_CORRUPT,
    // SQLITE_NOTADB) on this connection; empty otherwise. Reads that answered empty or zero
    // after that may be wrong, so the store's users stop on it.
    QString damage() const { return m_damage; }
    // Looks at the code of a call that just failed on this connection (sqlite3_errcode
    // when code is -1): a damaged file latches damage(), a full disk takeDiskFull(). Returns
    // what to tell the user instead of SQLite's words (damage(), or that the disk is full),
    // else empty.
    QString noteFailure(int code = -1);
    // Whether a failure noted since the last call was the disk refusing a write
    // (SQLITE_FULL, or an I/O error that says no space is left); clears it.
    bool takeDiskFull() { return std::exchange(m_diskFull, false); }
    // Latches damage() for a problem a check found; returns damage().
    QString noteDamage(const QString &problem);
    // PRAGMA integrity_check (full) or quick_check: the problems SQLite lists, empty when
    // the file is sound; nullopt with errorString() when the check itself could not run.
    std::optional<QStringList> integrityProblems(bool full);

private:
    bool fail(const QString &what);
    bool exec(const char *sql);
    // An open that failed, said with the file and, when it is read-only, that it is.
    QString openFailure(const QString &sqliteText) const;
    // The check made at every open, bounded in time (see the .cpp for the measured sizes).
    bool checkAtOpen();
    // journal_size_limit, then the checkpointer that replaces SQLite's autocheckpoint.
    bool startCheckpointer(SqliteCheckpointer::Bounds walBounds);

    QString m_path;
    Database::Access m_access;
    QString m_name;
    QSqlDatabase m_db;
    sqlite3 *m_handle = nullptr;
    int m_busyTimeoutMs = 0; // the busy handler reads it
    QString m_error;
    QString m_backupPath;
    QString m_damage;
    bool m_diskFull = false;
    bool m_open = false;
    std::unique_ptr<SqliteCheckpointer> m_checkpointer;
};

} // namespace bd::store
