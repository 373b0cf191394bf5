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
