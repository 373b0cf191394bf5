#include "database.h"

#include "postgres/postgresdatabase.h"
#include "sqlite/sqlitedatabase.h"

#include <QFileInfo>

namespace bd::store {

using namespace Qt::StringLiterals;

bool Database::isServerLocation(const QString &location)
{
    return location.startsWith(u"postgresql://"_s, Qt::CaseInsensitive) ||
           location.startsWith(u"postgres://"_s, Qt::CaseInsensitive);
}

bool Database::exists(const QString &location)
{
    if (!isServerLocation(location))
        return QFileInfo::exists(location);
    // Read-only opening neither creates the database nor migrates it.
    return PostgresDatabase(location, Access::ReadOnly).isOpen();
}

QString Database::displayLocation(const QString &location)
{
    return isServerLocation(location) ? PostgresConnection::redacted(location) : location;
}

std::optional<QStringList> Database::integrityProblems(const QString &location, QString *error)
{
    if (isServerLocation(location)) {
        *error = u"%1: a PostgreSQL server checks its own pages; run pg_amcheck (the amcheck "
                 "extension) on the server"_s.arg(displayLocation(location));
        return std::nullopt;
    }
    if (!QFileInfo::exists(location)) {
        *error = u"%1: no such database"_s.arg(location);
        return std::nullopt;
    }
    SqliteConnection connection(location, Access::ReadOnly, SqliteConnection::OpenCheck::None);
    auto problems = connection.isOpen() ? connection.integrityProblems(true) : std::nullopt;
    if (!problems)
        *error = connection.errorString();
    else if (!problems->isEmpty())
        *error = connection.noteDamage(problems->constFirst());
    return problems;
}

std::unique_ptr<Database> Database::open(const QString &location, Access access, QString *error)
{
    if (isServerLocation(location)) {
        auto database = std::make_unique<PostgresDatabase>(location, access);
        if (!database->isOpen()) {
            if (error)
                *error = database->errorString();
            return nullptr;
        }
        return database;
    }
    auto database = std::make_unique<SqliteDatabase>(location, access);
    if (!database->isOpen()) {
        if (error)
            *error = database->errorString();
        return nullptr;
    }
    return database;
}

} // namespace bd::store
