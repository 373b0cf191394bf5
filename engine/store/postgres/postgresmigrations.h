#pragma once

#include <QList>
#include <QString>
#include <QStringList>

class QSqlDatabase;

namespace bd::store {

// The PostgreSQL schema: its own forward-only versions (not SQLite's numbers), the same
// logical model. Versions are kept in bd_schema_version.
struct PostgresMigration
{
    int version;
    const char *description;
    QStringList statements;
};

const QList<PostgresMigration> &postgresMigrations();
int latestPostgresSchemaVersion();
// The stored version; 0 for a database without our schema, -1 on an error.
int postgresSchemaVersion(QSqlDatabase &db);

// Brings the database to the latest version, every step in its own transaction, all of it
// under an advisory lock so that processes opening a new database together migrate it once.
// There is no backup copy: that is the server's business (pg_dump, base backups).
bool migratePostgres(QSqlDatabase &db, const QString &location, QString *error);

} // namespace bd::store
