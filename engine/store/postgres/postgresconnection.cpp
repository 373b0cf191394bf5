#include "postgresconnection.h"

#include "postgresmigrations.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <libpq-events.h>
#include <libpq-fe.h>
#include <mutex>
#include <QSet>
#include <QSocketNotifier>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QUrl>
#include <QUrlQuery>
#include <unistd.h>
#include <utility>

namespace bd::store {

using namespace Qt::StringLiterals;

namespace {

// Qt keeps connections in one process-wide registry by name; a name taken twice replaces
// the first connection. A counter makes every instance's name its own.
QString uniqueConnectionName(const QString &kind)
{
    static std::atomic<quint64> counter{0};
    return u"bd-pg-%1-%2"_s.arg(kind).arg(++counter);
}

// SQLSTATE 3D000: invalid_catalog_name (the database does not exist).
bool isMissingDatabase(const QSqlError &error)
{
    return error.nativeErrorCode() == u"3D000"_s ||
           error.text().contains(u"does not exist"_s, Qt::CaseInsensitive);
}

// QPSQL deallocates a prepared statement when its QSqlQuery goes; on a session the server has
// already dropped that fails, and QPSQL says "Unable to free statement: no connection to the
// server" on stderr. The statement died with the session, so there is nothing to free, and the
// loss itself is reported once by the reconnect loop: that warning alone is dropped, anything
// else goes to the handler that was there before.
// Atomic: messages from other threads may arrive while it is being set.
std::atomic<QtMessageHandler> previousHandler = nullptr;

void dropFreeingOnDeadSessions(QtMsgType type, const QMessageLogContext &context,
                               const QString &message)
{
    if (type == QtWarningMsg && message.startsWith(u"Unable to free statement:"_s) &&
        (message.contains(u"no connection to the server"_s) ||
         message.contains(u"server closed the connection"_s) ||
         message.contains(u"connection pointer is NULL"_s)))
        return;
    if (const QtMessageHandler previous = previousHandler.load())
        previous(type, context, message);
    else
        std::fprintf(stderr, "%s\n", qPrintable(qFormatLogMessage(type, context, message)));
}

void installDeadSessionFilter()
{
    static std::once_flag once;
    std::call_once(once,
                   [] { previousHandler = qInstallMessageHandler(dropFreeingOnDeadSessions); });
}

} // namespace

QString PostgresConnection::redacted(const QString &location)
{
    QUrl url(location);
    if (!url.isValid())
        return u"(an invalid PostgreSQL URL)"_s;
    if (url.password().isEmpty())
        return location; // as the user wrote it
    url.setPassword(QString());
    return url.toString(QUrl::RemovePassword);
}

PostgresConnection::PostgresConnection(const QString &location, Database::Access access)
    : m_location(redacted(location))
    , m_access(access)
    , m_name(uniqueConnectionName(access == Database::Access::ReadOnly ? u"ro"_s : u"rw"_s))
{
    installDeadSessionFilter();
    const QUrl url(location);
    if (!url.isValid() || url.host().isEmpty()) {
        fail(u"%1 is not a PostgreSQL URL (postgresql://user@host:port/dbname)"_s.arg(m_location));
        return;
    }
    m_user = url.userName();
    m_host = url.host();
    m_port = url.port(5432);
    m_database = url.path().mid(1);
    if (m_database.isEmpty())
        m_database = m_user.isEmpty() ? u"postgres"_s : m_user;
    m_options = connectOptions(url);

    m_db = QSqlDatabase::addDatabase(u"QPSQL"_s, m_name);
    if (!m_db.isValid()) {
        fail(u"the Qt PostgreSQL driver (QPSQL, Debian package libqt6sql6-psql) is not "
             "installed"_s);
        return;
    }
    configure(m_db, m_database);
    if (!m_db.open()) {
        const QSqlError error = m_db.lastError();
        if (access == Database::Access::ReadWrite && isMissingDatabase(error)) {
            if (!createDatabase())
                return;
            if (!m_db.open()) {
                fail(u"cannot open %1: %2"_s.arg(m_location, m_db.lastError().text()));
                return;
            }
        } else {
            fail(u"cannot open %1: %2"_s.arg(m_location, error.text()));
            return;
        }
    }
    if (!setUpSession())
        return;
    if (access == Database::Access::ReadOnly) {
        const int version = postgresSchemaVersion(m_db);
        if (version < latestPostgresSchemaVersion()) {
            fail(u"%1 has no BatchDesk schema (or an older one); open it read-write first"_s.arg(
                m_location));
            return;
        }
        m_open = true;
        return;
    }
    QString error;
    if (!migratePostgres(m_db, m_location, &error)) {
        fail(error);
        return;
    }
    m_open = true;
}

PostgresConnection::~PostgresConnection()
{
    stopWatching();
    m_db.close();
    m_db = QSqlDatabase();
    QSqlDatabase::removeDatabase(m_name);
}

bool PostgresConnection::setUpSession()
{
    QSqlQuery query(m_db);
    // UTC and quiet notices; a reader never writes.
    if (!query.exec(u"SET TIME ZONE 'UTC'; SET client_min_messages = warning"_s))
        return fail(
            u"cannot set up the session on %1: %2"_s.arg(m_location, query.lastError().text()));
    if (m_access == Database::Access::ReadOnly &&
        !query.exec(u"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"_s))
        return fail(query.lastError().text());
    return true;
}

QString PostgresConnection::connectOptions(const QUrl &url)
{
    // Options libpq understands (sslmode=…, connect_timeout=…) pass through; a password in
    // the URL is ignored on purpose: it would end up in logs and process lists.
    QStringList options;
    QSet<QString> given;
    for (const auto &[key, value] : QUrlQuery(url).queryItems(QUrl::FullyDecoded)) {
        if (key == u"password"_s)
            continue;
        options << key + u'=' + value;
        given.insert(key.toLower());
    }
    // Without these a server that vanishes without a word (a dead host, a dropped route)
    // holds a worker in a read for the kernel's two hours; with them libpq gives up within
    // about a minute and the reconnect loop takes over. The user's own values win.
    const std::pair<const char16_t *, const char16_t *> defaults[] = {
        {u"connect_timeout", u"10"}, {u"keepalives", u"1"},
        {u"keepalives_idle", u"30"}, {u"keepalives_interval", u"10"},
        {u"keepalives_count", u"3"}, {u"tcp_user_timeout", u"60000"},
    };
    for (const auto &[key, value] : defaults) {
        const QString name = QString::fromUtf16(key);
        if (!given.contains(name))
            options << name + u'=' + QString::fromUtf16(value);
    }
    return options.join(u';');
}

PGconn *PostgresConnection::session() const
{
    if (!m_open)
        return nullptr;
    const QSqlDriver *driver = m_db.driver();
    const QVariant handle = driver ? driver->handle() : QVariant();
    // QPSQL hands out libpq's PGconn (registered under its struct's name, pg_conn*).
    const char *type = handle.typeName();
    if (!type || (qstrcmp(type, "pg_conn*") != 0 && qstrcmp(type, "PGconn*") != 0))
        return nullptr;
    return *static_cast<PGconn *const *>(handle.constData());
}

bool PostgresConnection::copyOut(const QByteArray &sql,
                                 const std::function<bool(QByteArrayView line)> &row,
                                 QString *error)
{
    PGconn *connection = session();
    if (!connection) {
        *error = u"not connected to %1"_s.arg(m_location);
        return false;
    }
    // Every result is read to its end, so that QPSQL finds the session idle afterwards.
    const auto drainResults = [connection, error] {
        bool ok = true;
        while (PGresult *result = PQgetResult(connection)) {
            const ExecStatusType status = PQresultStatus(result);
            if (status != PGRES_COMMAND_OK && status != PGRES_COPY_OUT && error->isEmpty()) {
                *error = QString::fromUtf8(PQresultErrorMessage(result)).trimmed();
                ok = false;
            }
            PQclear(result);
        }
        return ok;
    };
    if (!PQsendQuery(connection, sql.constData())) {
        *error = QString::fromUtf8(PQerrorMessage(connection)).trimmed();
        return false;
    }
    PGresult *start = PQgetResult(connection);
    const bool copying = start && PQresultStatus(start) == PGRES_COPY_OUT;
    if (!copying)
        *error = start ? QString::fromUtf8(PQresultErrorMessage(start)).trimmed()
                       : QString::fromUtf8(PQerrorMessage(connection)).trimmed();
    PQclear(start);
    if (!copying) {
        drainResults();
        return false;
    }
    bool wanted = true;
    char *buffer = nullptr;
    int length = 0;
    while ((length = PQgetCopyData(connection, &buffer, 0)) > 0) {
        if (wanted) {
            QByteArrayView line(buffer, length);
            if (line.endsWith('\n'))
                line.chop(1);
            if (!row(line)) {
                // Asked to stop: the server is told to, and what it sent meanwhile is dropped.
                wanted = false;
                if (PGcancel *cancel = PQgetCancel(connection)) {
                    char reason[256];
                    PQcancel(cancel, reason, int(sizeof reason));
                    PQfreeCancel(cancel);
                }
            }
        }
        PQfreemem(buffer);
    }
    if (length == -2 && error->isEmpty())
        *error = QString::fromUtf8(PQerrorMessage(connection)).trimmed();
    const bool ended = drainResults() && length == -1;
    if (!wanted) { // the cancel's "canceling statement due to user request" is no failure
        error->clear();
        return true;
    }
    return ended;
}

bool PostgresConnection::connectionLost() const
{
    if (!m_open)
        return false;
    const PGconn *connection = session();
    return !connection || PQstatus(connection) != CONNECTION_OK;
}

QString PostgresConnection::sessionOption(const QByteArray &keyword) const
{
    PGconn *connection = session();
    if (!connection)
        return {};
    PQconninfoOption *options = PQconninfo(connection);
    QString value;
    for (PQconninfoOption *option = options; option && option->keyword; ++option) {
        if (keyword == option->keyword && option->val)
            value = QString::fromUtf8(option->val);
    }
    PQconninfoFree(options);
    return value;
}

bool PostgresConnection::reconnect()
{
    // close() ends libpq's session; the statements prepared on it die with it on the server,
    // so nothing is deallocated by hand.
    stopWatching();
    m_db.close();
    if (!m_db.open())
        return fail(u"cannot open %1: %2"_s.arg(m_location, m_db.lastError().text()));
    if (!setUpSession()) {
        m_db.close();
        return false;
    }
    ++m_generation;
    for (auto it = m_listeners.cbegin(); it != m_listeners.cend(); ++it) {
        if (!subscribe(it.key())) {
            stopWatching();
            m_db.close();
            return fail(u"cannot listen on %1 again: %2"_s.arg(m_location, m_error));
        }
    }
    return true;
}

bool PostgresConnection::listen(const QString &channel, std::function<void()> heard)
{
    if (!subscribe(channel))
        return false;
    m_listeners.insert(channel, std::move(heard));
    return true;
}

bool PostgresConnection::subscribe(const QString &channel)
{
    QSqlQuery query(m_db);
    if (!query.exec(u"LISTEN "_s + m_db.driver()->escapeIdentifier(channel, QSqlDriver::TableName)))
        return fail(query.lastError().text());
    return watchSession();
}

// Not QPSQL's subscribeToNotification(): its notifier watches libpq's own socket, which libpq
// closes the moment it meets the end of the session (often inside one of our queries), and
// the event loop then polls a closed descriptor: "QSocketNotifier: Invalid socket N" once per
// outage. A duplicate of the socket stays open until the watch on it is gone; when the
// session ends it reads as ready, and the watch stops there.
bool PostgresConnection::watchSession()
{
    if (m_watcher)
        return true;
    PGconn *connection = session();
    if (!connection)
        return fail(u"no session to listen on"_s);
    const int socket = fcntl(PQsocket(connection), F_DUPFD_CLOEXEC, 0);
    if (socket < 0)
        return fail(u"cannot watch the session's socket: %1"_s.arg(qt_error_string(errno)));
    m_watcher = std::make_unique<QSocketNotifier>(socket, QSocketNotifier::Read);
    QObject::connect(m_watcher.get(), &QSocketNotifier::activated, m_watcher.get(),
                     [this] { takeNotifications(); });
    // A notification that comes with the answer to a query is read into libpq's queue with
    // it, and no socket shows it: every result has the queue looked at soon after.
    PQregisterEventProc(
        connection,
        [](PGEventId event, void *, void *self) -> int {
            if (event == PGEVT_RESULTCREATE)
                static_cast<PostgresConnection *>(self)->takeNotificationsSoon();
            return 1;
        },
        "batchdesk-listen", this);
    return true;
}

void PostgresConnection::stopWatching()
{
    if (!m_watcher)
        return;
    const auto socket = int(m_watcher->socket());
    m_watcher.reset(); // off the event loop before its descriptor closes
    ::close(socket);
    m_takeQueued = false;
}

void PostgresConnection::takeNotificationsSoon()
{
    if (!m_watcher || std::exchange(m_takeQueued, true))
        return;
    QMetaObject::invokeMethod(
        m_watcher.get(), [this] { takeNotifications(); }, Qt::QueuedConnection);
}

void PostgresConnection::takeNotifications()
{
    m_takeQueued = false;
    PGconn *connection = session();
    if (!connection) {
        stopWatching();
        return;
    }
    PQconsumeInput(connection);
    QStringList heardOn;
    while (PGnotify *notify = PQnotifies(connection)) {
        // Our own changes need no wake-up.
        if (notify->be_pid != PQbackendPID(connection))
            heardOn.append(QString::fromUtf8(notify->relname));
        PQfreemem(notify);
    }
    if (PQstatus(connection) != CONNECTION_OK)
        stopWatching(); // the session is over; reconnect() watches the next one
    // Last: a listener may reconnect, which ends this session.
    for (const QString &channel : std::as_const(heardOn)) {
        if (const std::function<void()> heard = m_listeners.value(channel))
            heard();
    }
}

bool PostgresConnection::configure(QSqlDatabase &db, const QString &databaseName) const
{
    db.setHostName(m_host);
    db.setPort(m_port);
    db.setDatabaseName(databaseName);
    if (!m_user.isEmpty())
        db.setUserName(m_user);
    db.setConnectOptions(m_options);
    return true;
}

// Read-write opening of a database that is not there yet creates it (like a new SQLite
// file), over the server's maintenance database. Another process doing the same at the same
// time makes CREATE DATABASE fail with "already exists", which is fine.
bool PostgresConnection::createDatabase()
{
    const QString adminName = m_name + u"-admin"_s;
    bool ok = false;
    {
        QSqlDatabase admin = QSqlDatabase::addDatabase(u"QPSQL"_s, adminName);
        configure(admin, u"postgres"_s);
        if (!admin.open()) {
            fail(u"%1 does not exist and the server's postgres database cannot be opened to "
                 "create it: %2"_s.arg(m_location, admin.lastError().text()));
        } else {
            QSqlQuery query(admin);
            QString quoted = m_database;
            quoted.replace(u"\""_s, u"\"\""_s);
            // duplicate_database, or, when both creations run at once, the catalog's
            // unique index (unique_violation).
            ok = query.exec(
                     u"CREATE DATABASE \"%1\" ENCODING 'UTF8' TEMPLATE template0"_s.arg(quoted)) ||
                 query.lastError().nativeErrorCode() == u"42P04"_s ||
                 query.lastError().nativeErrorCode() == u"23505"_s;
            if (!ok)
                fail(u"cannot create %1: %2"_s.arg(m_location, query.lastError().text()));
            admin.close();
        }
    }
    QSqlDatabase::removeDatabase(adminName);
    return ok;
}

bool PostgresConnection::fail(const QString &what)
{
    m_error = what;
    return false;
}

bool PostgresConnection::execBound(QSqlQuery &query, const QString &sql, const QVariantList &values)
{
    if (!query.prepare(sql))
        return false;
    for (const QVariant &value : values)
        query.addBindValue(value);
    return query.exec();
}

} // namespace bd::store
