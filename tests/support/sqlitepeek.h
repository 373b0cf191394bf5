#pragma once

// A look into a database file from a test, on a connection of the test's own (not the
// engine's), opened for the call and closed after it.

#include <QAtomicInteger>
#include <QSqlDatabase>
#include <QSqlQuery>
#include <QString>
#include <QVariant>

#include <functional>

namespace bd::test {

// Runs body on an open connection to path; false when it could not be opened.
inline bool withSqlite(const QString &path, const std::function<void(QSqlDatabase &)> &body)
{
    static QAtomicInteger<int> counter;
    const QString name = QStringLiteral("test-peek-%1").arg(++counter);
    bool opened = false;
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QSQLITE"), name);
        db.setDatabaseName(path);
        db.setConnectOptions(QStringLiteral("QSQLITE_BUSY_TIMEOUT=2000"));
        opened = db.open();
        if (opened)
            body(db);
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
    return opened;
}

// The first column of the first row sql returns; -1 when there is none or it failed.
inline qint64 sqliteScalar(const QString &path, const QString &sql)
{
    qint64 value = -1;
    withSqlite(path, [&](QSqlDatabase &db) {
        QSqlQuery query(db);
        if (query.exec(sql) && query.next())
            value = query.value(0).toLongLong();
    });
    return value;
}

} // namespace bd::test
