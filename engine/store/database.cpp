#include "database.h"

#include "postgres/postgresdatabase.h"
#include "sqlite/sqlitedatabase.h"

namespace bd::store {

using namespace Qt::StringLiterals;

bool Database::isServerLocation(const QString &location)
{
    return location.startsWith(u"postgresql://"_s, Qt::CaseInsensitive) ||
           location.startsWith(u"postgres://"_s, Qt::CaseInsensitive);
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
