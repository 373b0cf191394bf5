#include "sqliteconnection.h"

#include "migrations.h"

#include <QDir>
#include <QFileInfo>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

#include <sqlite3.h>

#include <atomic>

namespace bd::store {

using namespace Qt::StringLiterals;

namespace {

// Qt keeps connections in one process-wide registry by name; a name taken twice replaces
// the first connection. A counter makes every instance's name its own.
QString uniqueConnectionName(Database::Access access)
{
    static std::atomic<quint64> counter{0};
    return u"bd-sqlite-%1-%2"_s.arg(access == Database::Access::ReadOnly ? u"ro"_s : u"rw"_s)
        .arg(++counter);
}

} // namespace

SqliteConnection::SqliteConnection(const QString &databasePath, Database::Access access)
    : m_path(databasePath)
    , m_access(access)
    , m_name(uniqueConnectionName(access))
{
    const bool readWrite = access == Database::Access::ReadWrite;
    if (readWrite && databasePath != u":memory:"_s) {
        const QFileInfo info(databasePath);
        if (!QDir().mkpath(info.absolutePath())) {
            fail(u"cannot create the folder %1"_s.arg(info.absolutePath()));
            return;
        }
    }
    m_db = QSqlDatabase::addDatabase(u"QSQLITE"_s, m_name);
    if (!m_db.isValid()) {
        fail(u"the Qt SQLite driver (QSQLITE) is not installed"_s);
        return;
    }
    m_db.setDatabaseName(databasePath);
    m_db.setConnectOptions(readWrite ? u"QSQLITE_BUSY_TIMEOUT=10000"_s
                                     : u"QSQLITE_BUSY_TIMEOUT=5000"_s);
    if (!m_db.open()) {
        fail(u"cannot open %1: %2"_s.arg(databasePath, m_db.lastError().text()));
        return;
    }
    const QVariant handle = m_db.driver()->handle();
    if (handle.isValid() && qstrcmp(handle.typeName(), "sqlite3*") == 0)
        m_handle = *static_cast<sqlite3 *const *>(handle.constData());
    if (!m_handle) {
        fail(u"the SQLite driver gave no native handle"_s);
        return;
    }
    if (!readWrite) {
        // A reader never writes; WAL lets it read while the engine commits.
        for (const char *pragma : {"PRAGMA query_only = 1", "PRAGMA cache_size = -16384",
                                   "PRAGMA temp_store = MEMORY"}) {
            if (!exec(pragma))
                return;
        }
        m_open = true;
        return;
    }
    // WAL lets readers (views, status) run while the engine writes; NORMAL syncs at
    // checkpoints only, which WAL makes safe against corruption (a power cut can lose the
    // last commits, never the file).
    for (const char *pragma :
         {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON",
          "PRAGMA temp_store = MEMORY", "PRAGMA cache_size = -65536"}) {
        if (!exec(pragma))
            return;
    }
    QString error;
    if (!migrateSqlite(m_db, databasePath, &error, &m_backupPath)) {
        fail(error);
        return;
    }
    m_open = true;
}

SqliteConnection::~SqliteConnection()
{
    m_db.close();
    m_db = QSqlDatabase();
    QSqlDatabase::removeDatabase(m_name);
}

bool SqliteConnection::fail(const QString &what)
{
    m_error = what;
    return false;
}

bool SqliteConnection::exec(const char *sql)
{
    QSqlQuery query(m_db);
    if (!query.exec(QString::fromLatin1(sql)))
        return fail(u"%1: %2"_s.arg(QString::fromLatin1(sql), query.lastError().text()));
    return true;
}

} // namespace bd::store
