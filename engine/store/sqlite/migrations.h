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

// Adds to one cost line (job_cost_lines): ?1-?5 its key (job, lane, model, day, tier), then
// tasks, unpriced, cost_usd and the token and classifier figures, in the table's order. The
// store counts a group's completions with it (migration 17).
QString costLineUpsertSql();

// Brings the database to the latest version. Before changing an existing database it
// writes a consistent copy next to it ("<db>.pre-v<N>.bak") so an upgrade can be rolled
// back by putting that file back with the previous program version.
bool migrateSqlite(QSqlDatabase &db, const QString &databasePath, QString *error,
                   QString *backupPath = nullptr);

} // namespace bd::store
