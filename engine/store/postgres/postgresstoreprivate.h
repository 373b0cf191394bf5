#pragma once

// The PostgreSQL store's private parts, shared by its source files (one per concern): prepared
// statements kept for the connection's lifetime (the helpers that bind them are in
// store/sql/sqlstatement.h).

#include "postgresconnection.h"
#include "postgresstore.h"

#include "store/sql/sqlstatement.h"

#include <atomic>
#include <QByteArrayView>
#include <QJsonObject>
#include <QRegularExpression>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlField>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {

// A prepared statement kept for the connection's lifetime: SqliteStatement's interface over a
// QSqlQuery, so the per-row code reads the same in both backends. SQL is written with numbered
// parameters (?1, ?2 …, a number may repeat), which PostgreSQL takes as $1, $2 …; unbound
// parameters are NULL.
//
// It is PREPAREd under a name of its own and run as EXECUTE name (literals…), one round trip
// a row as QPSQL's own prepared queries are, but never DEALLOCATEd: the server frees it with
// the session. QPSQL deallocates a prepared query when the query object goes, which fails,
// and says "Unable to free statement", whenever the session it was prepared on is gone (the
// server restarted, or the connection closed first). After a reconnect the statement is
// prepared again on its first use.
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

    bool prepare(PostgresConnection &connection, const char *sql)
    {
        QString text = QString::fromUtf8(sql);
        static const QRegularExpression numbered(QStringLiteral("\\?(\\d+)"));
        int count = 0;
        for (auto it = numbered.globalMatch(text); it.hasNext();)
            count = qMax(count, it.next().captured(1).toInt());
        text.replace(numbered, QStringLiteral("$\\1"));
        static std::atomic<quint64> names{0};
        m_connection = &connection;
        m_name = QStringLiteral("bd_statement_%1").arg(++names);
        m_prepareSql = QStringLiteral("PREPARE %1 AS %2").arg(m_name, text);
        m_values.resize(count);
        m_query = QSqlQuery(connection.db());
        m_query.setForwardOnly(true);
        if (!prepareOnServer())
            return false;
        reset();
        return true;
    }
    void reset()
    {
        m_query.finish();
        m_executed = false;
        m_values.fill(QVariant());
    }
    void bind(int index, qint64 value) { m_values[index - 1] = value; }
    void bind(int index, double value) { m_values[index - 1] = value; }
    void bindNull(int index) { m_values[index - 1] = QVariant(); }
    // Text given as UTF-8 (bytea goes through bindBlob).
    void bind(int index, const QByteArray &utf8) { bind(index, QString::fromUtf8(utf8)); }
    void bind(int index, const QString &text)
    {
        m_values[index - 1] = text.isNull() ? QString(QLatin1StringView("")) : text;
    }
    void bindText(int index, const QString &text)
    {
        if (text.isNull())
            bindNull(index);
        else
            bind(index, text);
    }
    void bindBlob(int index, const QByteArray &bytes) { m_values[index - 1] = bytes; }
    // Runs the statement on the first call, then walks its rows.
    StepResult step()
    {
        if (!m_executed) {
            m_executed = true;
            if (!execute())
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
    bool prepareOnServer()
    {
        m_generation = m_connection->generation();
        const bool ok = m_query.exec(m_prepareSql);
        m_query.finish();
        return ok;
    }
    bool execute()
    {
        // A new session (after a reconnect) has none of the old one's statements.
        if (m_generation != m_connection->generation() && !prepareOnServer())
            return false;
        QString sql = QStringLiteral("EXECUTE ") + m_name;
        if (!m_values.isEmpty()) {
            // The driver quotes each value as QPSQL does for its own prepared queries.
            const QSqlDriver *driver = m_query.driver();
            QStringList literals;
            literals.reserve(m_values.size());
            for (const QVariant &value : std::as_const(m_values)) {
                QSqlField field(QString(), value.metaType());
                if (!value.isNull())
                    field.setValue(value);
                literals.append(driver->formatValue(field));
            }
            sql += QStringLiteral(" (") + literals.join(QStringLiteral(", ")) + u')';
        }
        return m_query.exec(sql);
    }

    PostgresConnection *m_connection = nullptr;
    QString m_name;
    QString m_prepareSql;
    quint64 m_generation = 0;
    QSqlQuery m_query;
    QList<QVariant> m_values;
    bool m_executed = false;
};

// Rows per import statement: one EXECUTE a row made the import a round trip per row; a
// thousand rows of ~200 bytes keep one statement's text near 200 KB.
constexpr int kRowsPerImportStatement = 1000;

class PostgresStore::Statements
{
public:
    PostgresStatement insertTasks; // up to kRowsPerImportStatement rows (appendTasks)
    PostgresStatement claim;
    PostgresStatement complete;
    PostgresStatement completeGroup;
    PostgresStatement retry;
    PostgresStatement release;
    PostgresStatement dead;
    PostgresStatement insertAttempt;
    PostgresStatement addSpend;
    // Response cache.
    PostgresStatement cacheLookup;
    PostgresStatement cacheLookupMany;
    PostgresStatement cacheInsertMany;
};


} // namespace bd::store
