#include "sqliteconnection.h"

#include "migrations.h"

#include <QDir>
#include <QFileInfo>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QThread>
#include <QVariant>

#include <sqlite3.h>

#include <atomic>
#include <unistd.h>
#include <cerrno>

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

// Up to this size every open runs PRAGMA quick_check, which reads every page. Measured on
// the 2-core machine while busy (load 15-16): 300,000 tasks in 124-135 MiB took 1.6-4.8 s
// for quick_check and 2.9-7.7 s for integrity_check (bench_foundation --rows 300000 prints
// both), so up to about 0.5 s at this size, and a command opens up to three connections.
// A larger file gets a bounded check instead (checkAtOpen) and relies on every query
// reporting the damage it meets.
constexpr qint64 kQuickCheckBytes = 16 * 1024 * 1024;
// Tasks read by id, spread over the whole table, in the bounded check of a large file.
constexpr int kSampledTasks = 64;

bool isDamageCode(int code)
{
    const int primary = code & 0xff;
    return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

// What the user reads: the file, that it is damaged, and the two ways back.
QString damagedMessage(const QString &path, const QString &detail)
{
    const QFileInfo info(path);
    QStringList backups =
        info.dir().entryList({info.fileName() + u".pre-v*.bak"_s}, QDir::Files, QDir::Time);
    const QString restore =
        backups.isEmpty()
            ? u"no copy from before an upgrade (%1.pre-vN.bak) is next to it"_s.arg(path)
            : u"restore the copy made before its last upgrade (%1) if it is recent enough"_s.arg(
                  info.dir().filePath(backups.constFirst()));
    return u"%1: the database is damaged (%2); nothing more was read from it or written to it. "
           "To go on: %3, or rescue what is readable with `sqlite3 %1 .recover | sqlite3 "
           "%1.recovered` and use that file; `batchctl check --db %1` lists the damage"_s.arg(
               path, detail, restore);
}

// The write lock is held for a commit's few milliseconds, most often by another connection of
// this same process (the engine's and its write-behind's, store/writebehind.h). SQLite's own
// busy handler sleeps 1, 2, 5, 10 ms... between tries, so a claim queued behind a group
// commit lost more time asleep than the commit took. This one tries again every 50 us for
// the first 5 ms, every 0.5 ms to 50 ms, then every 5 ms; it gives up after the same total
// as QSQLITE_BUSY_TIMEOUT.
int retryWhileLocked(void *timeoutMs, int tries)
{
    qint64 waitedUs = 0;
    qint64 stepUs = 50;
    if (tries >= 100 + 90) {
        waitedUs = 100 * 50 + 90 * 500 + qint64(tries - 190) * 5000;
        stepUs = 5000;
    } else if (tries >= 100) {
        waitedUs = 100 * 50 + qint64(tries - 100) * 500;
        stepUs = 500;
    } else {
        waitedUs = qint64(tries) * 50;
    }
    if (waitedUs >= *static_cast<const int *>(timeoutMs) * qint64(1000))
        return 0;
    ::usleep(useconds_t(stepUs));
    return 1;
}

} // namespace

SqliteConnection::SqliteConnection(const QString &databasePath, Database::Access access,
                                   OpenCheck openCheck, SqliteCheckpointer::Bounds walBounds)
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
    m_busyTimeoutMs = readWrite ? 10000 : 5000;
    sqlite3_busy_handler(m_handle, &retryWhileLocked, &m_busyTimeoutMs);
    if (openCheck == OpenCheck::Bounded && !checkAtOpen())
        return;
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
    // Switching a new file to WAL needs it alone for a moment, and SQLite answers "locked"
    // at once, without its busy handler, while another process creates the same database
    // (test_databasefaults newDatabaseRaceMigratesOnce): try again for the busy timeout.
    // (Open runs on the engine's threads, never the GUI's.)
    for (int attempt = 0;; ++attempt) {
        QSqlQuery query(m_db);
        if (query.exec(u"PRAGMA journal_mode = WAL"_s))
            break;
        if (attempt >= 200 || sqlite3_errcode(m_handle) != SQLITE_BUSY) {
            if (!exec("PRAGMA journal_mode = WAL"))
                return;
            break;
        }
        QThread::msleep(50);
    }
    // The writer's page cache stays small (8 MiB): SQLite 3.40 walks the whole page hash at
    // a commit whenever a B-tree balance parked a page at the lock-byte page's number (most
    // commits of a drain); with 64 MiB that was a quarter of a 300,000-row run's CPU (perf,
    // issue 19). 2 MiB measured the same as 8: fewer walked pages, more reads.
    for (const char *pragma :
         {"PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON",
          "PRAGMA temp_store = MEMORY", "PRAGMA cache_size = -8192"}) {
        if (!exec(pragma))
            return;
    }
    QString error;
    if (!migrateSqlite(m_db, databasePath, &error, &m_backupPath)) {
        fail(error);
        return;
    }
    if (databasePath != u":memory:"_s && !startCheckpointer(walBounds))
        return;
    m_open = true;
}

bool SqliteConnection::startCheckpointer(SqliteCheckpointer::Bounds walBounds)
{
    // After a restart of the log SQLite cuts the -wal file back to this size.
    QSqlQuery query(m_db);
    if (!query.exec(u"PRAGMA journal_size_limit = %1"_s.arg(walBounds.restartBytes)) ||
        !query.exec(u"PRAGMA page_size"_s) || !query.next()) {
        if (const QString instead = noteFailure(); !instead.isEmpty())
            return fail(instead);
        return fail(openFailure(query.lastError().text()));
    }
    m_checkpointer = std::make_unique<SqliteCheckpointer>(m_handle, m_path,
                                                          query.value(0).toInt(), walBounds);
    return true;
}

SqliteConnection::~SqliteConnection()
{
    m_checkpointer.reset(); // its hook points at it, and the writer should close last
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
    if (!query.exec(QString::fromLatin1(sql))) {
        if (const QString instead = noteFailure(); !instead.isEmpty())
            return fail(instead);
        return fail(
            openFailure(u"%1: %2"_s.arg(QString::fromLatin1(sql), query.lastError().text())));
    }
    return true;
}

QString SqliteConnection::openFailure(const QString &sqliteText) const
{
    // SQLite's "unable to open database file" says neither which file nor why; a file or
    // folder it may not write is the usual why (WAL needs <db>-wal and <db>-shm beside it).
    const QFileInfo info(m_path);
    const bool writable =
        ::access(QFile::encodeName(info.absolutePath()).constData(), W_OK) == 0 &&
        (!info.exists() || ::access(QFile::encodeName(m_path).constData(), W_OK) == 0);
    if (!writable)
        return u"%1: cannot use the database: the file or its folder is read-only (%2); it needs "
               "to write %3-wal and %3-shm beside it"_s.arg(m_path, sqliteText, info.fileName());
    return u"%1: %2"_s.arg(m_path, sqliteText);
}

QString SqliteConnection::noteFailure(int code)
{
    if (!m_handle)
        return m_damage;
    if (code == -1)
        code = sqlite3_extended_errcode(m_handle);
    if (isDamageCode(code))
        return noteDamage(QString::fromUtf8(sqlite3_errstr(code)));
    if ((code & 0xff) == SQLITE_FULL ||
        ((code & 0xff) == SQLITE_IOERR && sqlite3_system_errno(m_handle) == ENOSPC)) {
        // Kept until taken: the ROLLBACK after a failed write may fail in turn (SQLite
        // already rolled back) and must not hide why.
        m_diskFull = true;
        return u"%1: the disk is full (%2); nothing of the refused write was kept; free space "
               "there, then resume"_s.arg(m_path, QString::fromUtf8(sqlite3_errstr(code)));
    }
    return m_damage;
}

QString SqliteConnection::noteDamage(const QString &problem)
{
    if (m_damage.isEmpty()) {
        // A check lists one problem a line under a "*** in database main ***" heading: the
        // first says enough here, `batchctl check` lists them all.
        QStringList lines = problem.split(u'\n', Qt::SkipEmptyParts);
        lines.removeIf([](const QString &line) { return line.startsWith(u"***"_s); });
        QString detail = lines.value(0, problem);
        if (lines.size() > 1)
            detail += u" and %1 more problem(s)"_s.arg(lines.size() - 1);
        m_damage = damagedMessage(m_path, detail);
    }
    return m_damage;
}

std::optional<QStringList> SqliteConnection::integrityProblems(bool full)
{
    QSqlQuery query(m_db);
    query.setForwardOnly(true);
    if (!query.exec(full ? u"PRAGMA integrity_check"_s : u"PRAGMA quick_check"_s)) {
        // A file SQLite cannot even walk is damaged; say so as a problem, not a failure.
        if (isDamageCode(sqlite3_extended_errcode(m_handle)))
            return QStringList{query.lastError().databaseText()};
        fail(openFailure(query.lastError().text()));
        return std::nullopt;
    }
    QStringList problems;
    while (query.next()) {
        const QString line = query.value(0).toString();
        if (line != u"ok"_s)
            problems.append(line);
    }
    if (query.lastError().isValid())
        problems.append(query.lastError().databaseText());
    return problems;
}

bool SqliteConnection::checkAtOpen()
{
    if (m_path == u":memory:"_s)
        return true;
    const auto damaged = [this](const QString &detail) { return fail(noteDamage(detail)); };
    if (QFileInfo(m_path).size() <= kQuickCheckBytes) {
        const auto problems = integrityProblems(false);
        if (!problems)
            return false;
        return problems->isEmpty() || damaged(problems->constFirst());
    }
    // A large file: the schema, the small tables every command reads whole, and tasks
    // sampled across the table (each read walks the tree from its root to a leaf).
    QSqlQuery query(m_db);
    const auto readable = [&](const QString &sql) {
        if (query.exec(sql) && query.next())
            return true;
        const QString instead = noteFailure();
        return fail(instead.isEmpty() ? u"%1: %2"_s.arg(m_path, query.lastError().text())
                                      : instead);
    };
    if (!readable(u"SELECT COUNT(*), TOTAL(LENGTH(sql)) FROM sqlite_schema"_s))
        return false;
    const bool hasTasks =
        query.exec(u"SELECT 1 FROM sqlite_schema WHERE name = 'tasks'"_s) && query.next();
    if (!hasTasks)
        return true;
    if (!readable(u"SELECT COUNT(*), TOTAL(LENGTH(settings)) FROM jobs"_s) ||
        !readable(u"SELECT MIN(id), MAX(id) FROM tasks"_s))
        return false;
    const qint64 first = query.value(0).toLongLong();
    const qint64 last = query.value(1).toLongLong();
    const qint64 step = qMax<qint64>(1, (last - first) / kSampledTasks);
    for (qint64 id = first; id <= last; id += step) {
        if (!readable(u"SELECT COUNT(*), TOTAL(LENGTH(vals) + LENGTH(output)) FROM tasks "
                      "WHERE id BETWEEN %1 AND %2"_s.arg(id)
                          .arg(id + 16)))
            return false;
    }
    return true;
}

} // namespace bd::store
