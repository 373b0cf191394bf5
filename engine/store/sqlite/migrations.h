#pragma once

#include <QString>
#include <QStringList>

class QSqlDatabase;

namespace bd::store {

// Forward-only schema migrations. Version N is reached by running every step above the
// stored version in order, all in one write transaction (BEGIN IMMEDIATE) that also rereads
// the version: processes opening one new database at once migrate it once.
struct Migration
{
    int version;
    const char *description;
    QStringList statements;
};

const QList<Migration> &sqliteMigrations();
int latestSchemaVersion();

// Brings the database to the latest version. Before changing an existing database it
// writes a consistent copy next to it ("<db>.pre-v<N>.bak") so an upgrade can be rolled
// back by putting that file back with the previous program version.
bool migrateSqlite(QSqlDatabase &db, const QString &databasePath, QString *error,
                   QString *backupPath = nullptr);

} // namespace bd::store
