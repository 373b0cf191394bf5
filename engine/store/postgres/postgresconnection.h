#pragma once

#include "store/database.h"

#include <functional>
#include <memory>
#include <QHash>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QString>
#include <QVariant>
#include <vector>

class QSocketNotifier;
class QUrl;
struct pg_conn; // libpq's PGconn

namespace bd::store {

// One Qt PostgreSQL (QPSQL) connection under a name no other instance in the process uses,
// shared by the roles of one PostgresDatabase (each holds it, so it stays open while any of
// them lives). Belongs to the thread that opened it.
//
// The location is "postgresql://user@host:port/dbname" (also "postgres://"). A password is
// never taken from the URL into anything we keep: libpq reads PGPASSWORD or ~/.pgpass
// itself. Read-write opening creates the database when it is missing and migrates the
// schema under an advisory lock, so two processes opening a new database do not race.
class PostgresConnection
{
public:
    PostgresConnection(const QString &location, Database::Access access);
    ~PostgresConnection();
    Q_DISABLE_COPY_MOVE(PostgresConnection)

    bool isOpen() const { return m_open; }
    QString errorString() const { return m_error; }
    // The location without any password, safe to show.
    QString databasePath() const { return m_location; }
    Database::Access access() const { return m_access; }
    // Only the backend's own code (and its tests) use the name.
    QString name() const { return m_name; }
    QString migrationBackupPath() const { return {}; }

    QSqlDatabase &db() { return m_db; }

    // Whether the server dropped the session (a restart, a network blip,
    // pg_terminate_backend): libpq marks the connection bad, and every query fails until
    // reconnect() opens a new one.
    bool connectionLost() const;
    // Opens a new session on the same QSqlDatabase, so every role's copy of it works again:
    // the session settings, and LISTEN when it was listening. Statements prepared on the
    // old session are prepared again on first use (generation()). False, errorString()
    // saying why, while the server is still away.
    bool reconnect();
    // Counts new sessions: a statement prepared under another generation is gone from the
    // server.
    quint64 generation() const { return m_generation; }
    // LISTEN on channel, again after each reconnect; heard runs (on this thread) for each
    // notification another session sends on it.
    bool listen(const QString &channel, std::function<void()> heard);
    // A query prepared on an earlier session, kept until the driver is gone (its DEALLOCATE
    // would fail on the new session, and say so).
    void retire(QSqlQuery &&query) { m_retired.push_back(std::move(query)); }

    // Runs `COPY (…) TO STDOUT` (text format) and hands each row, its newline cut, to row
    // as the server streams it; row returning false cancels the COPY. False when the COPY
    // failed (*error says why); the session is idle again either way.
    bool copyOut(const QByteArray &sql, const std::function<bool(QByteArrayView line)> &row,
                 QString *error);

    // A libpq option of the open session as libpq took it ("" when closed or unknown).
    QString sessionOption(const QByteArray &keyword) const;

    // The location with any password removed (for messages and location()).
    static QString redacted(const QString &location);
    // libpq's options for a URL: its query items but a password, then defaults for what the
    // URL leaves out (connect_timeout, TCP keepalives, tcp_user_timeout).
    static QString connectOptions(const QUrl &url);
    // Prepares sql, binds values in order and runs it; false when any step failed
    // (query.lastError() says why). The stores' run() helpers keep the error.
    static bool execBound(QSqlQuery &query, const QString &sql, const QVariantList &values);

private:
    pg_conn *session() const;
    bool fail(const QString &what);
    bool configure(QSqlDatabase &db, const QString &databaseName) const;
    bool createDatabase();
    bool setUpSession();
    bool subscribe(const QString &channel);
    bool watchSession();
    void stopWatching();
    void takeNotifications();
    void takeNotificationsSoon();

    QString m_location;
    Database::Access m_access;
    QString m_name;
    QSqlDatabase m_db;
    QString m_user;
    QString m_host;
    int m_port = 5432;
    QString m_database;
    QString m_options;
    QString m_error;
    bool m_open = false;
    quint64 m_generation = 0;
    QHash<QString, std::function<void()>> m_listeners; // by channel, again after a reconnect
    // Watches a duplicate of the session's socket for notifications: libpq closes its own
    // when the session ends, and a watch on a closed descriptor makes Qt say "Invalid socket".
    std::unique_ptr<QSocketNotifier> m_watcher;
    bool m_takeQueued = false;
    // Declared last, destroyed after the destructor removed the driver: queries without a
    // driver go without sending anything.
    std::vector<QSqlQuery> m_retired;
};

} // namespace bd::store
