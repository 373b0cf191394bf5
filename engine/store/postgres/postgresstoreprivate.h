#pragma once

// The PostgreSQL store's private parts, shared by its source files (one per concern): prepared
// statements kept for the connection's lifetime (the helpers that bind them are in
// store/sql/sqlstatement.h).

#include "postgresstore.h"

#include "store/sql/sqlstatement.h"

#include <QByteArrayView>
#include <QJsonObject>

#include <QRegularExpression>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

// A prepared statement kept for the connection's lifetime: SqliteStatement's interface over a
// QSqlQuery, so the per-row code reads the same in both backends. SQL is written with numbered parameters (?1, ?2 …, a number may repeat),
// which PostgreSQL takes as $1, $2 …; unbound parameters are NULL.
class PostgresStatement
{
public:
    enum StepResult
    {
        Row,
        Done,
        Error,
    };

    PostgresStatement() = default;
    Q_DISABLE_COPY_MOVE(PostgresStatement)

    bool prepare(QSqlDatabase &db, const char *sql)
    {
        QString text = QString::fromUtf8(sql);
        static const QRegularExpression numbered(QStringLiteral("\\?(\\d+)"));
        int count = 0;
        for (auto it = numbered.globalMatch(text); it.hasNext();)
            count = qMax(count, it.next().captured(1).toInt());
        text.replace(numbered, QStringLiteral("$\\1"));
        m_count = count;
        m_query = QSqlQuery(db);
        m_query.setForwardOnly(true);
        if (!m_query.prepare(text))
            return false;
        reset();
        return true;
    }
    void reset()
    {
        m_query.finish();
        m_executed = false;
        for (int i = 0; i < m_count; ++i)
            m_query.bindValue(i, QVariant());
    }
    void bind(int index, qint64 value) { m_query.bindValue(index - 1, value); }
    void bind(int index, double value) { m_query.bindValue(index - 1, value); }
    void bindNull(int index) { m_query.bindValue(index - 1, QVariant()); }
    // Text given as UTF-8 (bytea goes through bindBlob).
    void bind(int index, const QByteArray &utf8) { bind(index, QString::fromUtf8(utf8)); }
    void bind(int index, const QString &text)
    {
        m_query.bindValue(index - 1, text.isNull() ? QString(QLatin1StringView("")) : text);
    }
    void bindText(int index, const QString &text)
    {
        if (text.isNull())
            bindNull(index);
        else
            bind(index, text);
    }
    void bindBlob(int index, const QByteArray &bytes) { m_query.bindValue(index - 1, bytes); }
    // Runs the statement on the first call, then walks its rows.
    StepResult step()
    {
        if (!m_executed) {
            m_executed = true;
            if (!m_query.exec())
                return Error;
        }
        return m_query.next() ? Row : Done;
    }
    int changes() const { return m_query.numRowsAffected(); }
    QString errorText() const { return m_query.lastError().text(); }
    qint64 int64(int column) const { return m_query.value(column).toLongLong(); }
    double real(int column) const { return m_query.value(column).toDouble(); }
    bool isNull(int column) const { return m_query.isNull(column); }
    QByteArray bytes(int column) const { return m_query.value(column).toString().toUtf8(); }
    QByteArray blob(int column) const { return m_query.value(column).toByteArray(); }
    QString text(int column) const
    {
        if (isNull(column))
            return {};
        return m_query.value(column).toString();
    }

private:
    QSqlQuery m_query;
    int m_count = 0;
    bool m_executed = false;
};

class PostgresStore::Statements
{
public:
    PostgresStatement insertTask;
    PostgresStatement claim;
    PostgresStatement complete;
    PostgresStatement completeGroup;
    PostgresStatement retry;
    PostgresStatement release;
    PostgresStatement dead;
    PostgresStatement insertAttempt;
    PostgresStatement addSpend;
    PostgresStatement exportPage;
    // Response cache.
    PostgresStatement cacheLookup;
    PostgresStatement cacheLookupMany;
    PostgresStatement cacheInsertMany;
};


} // namespace bd::store
