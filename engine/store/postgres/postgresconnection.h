#pragma once

#include "store/database.h"

#include <QSqlDatabase>
#include <QSqlQuery>
#include <QString>
#include <QVariant>

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

    // The location with any password removed (for messages and location()).
    static QString redacted(const QString &location);
    // Prepares sql, binds values in order and runs it; false when any step failed
    // (query.lastError() says why). The stores' run() helpers keep the error.
    static bool execBound(QSqlQuery &query, const QString &sql, const QVariantList &values);

private:
    bool fail(const QString &what);
    bool configure(QSqlDatabase &db, const QString &databaseName) const;
    bool createDatabase();

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
};

} // namespace bd::store
