#pragma once

#include "store/database.h"

#include <QSqlDatabase>
#include <QString>

struct sqlite3;

namespace bd::store {

// One Qt SQLite connection under a name no other instance in the process uses, shared by
// the roles of one SqliteDatabase (each holds it, so it stays open while any of them
// lives). Belongs to the thread that opened it. Read-write: WAL, synchronous=NORMAL, a
// busy timeout, foreign keys on, the schema migrated. Read-only: query_only, no migration.
class SqliteConnection
{
public:
    SqliteConnection(const QString &databasePath, Database::Access access);
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

private:
    bool fail(const QString &what);
    bool exec(const char *sql);

    QString m_path;
    Database::Access m_access;
    QString m_name;
    QSqlDatabase m_db;
    sqlite3 *m_handle = nullptr;
    QString m_error;
    QString m_backupPath;
    bool m_open = false;
};

} // namespace bd::store
