#pragma once

// The PostgreSQL store's private parts, shared by its source files (one per concern): prepared
// statements kept for the connection's lifetime and the helpers that bind them.

#include "postgresstore.h"

#include <QByteArrayView>
#include <QJsonObject>

#include <QRegularExpression>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

namespace bd::store {


// A prepared statement kept for the connection's lifetime: the SQLite store's native
// statement interface over a QSqlQuery, so the per-row code reads the same in both
// backends. SQL is written with numbered parameters (?1, ?2 …, a number may repeat),
// which PostgreSQL takes as $1, $2 …; unbound parameters are NULL.
class Statement
{
public:
    enum StepResult
    {
        Row,
        Done,
        Error,
    };

    Statement() = default;
    Q_DISABLE_COPY_MOVE(Statement)

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

// Resets a statement when the scope ends, whatever path leaves it.
class ResetGuard
{
public:
    explicit ResetGuard(Statement &statement) : m_statement(statement) {}
    ~ResetGuard() { m_statement.reset(); }
    Q_DISABLE_COPY_MOVE(ResetGuard)

private:
    Statement &m_statement;
};

// A tiered task's route; a job on one model leaves both NULL (COALESCE keeps what is there).
inline void bindRoute(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    if (!outcome.tier.isEmpty())
        statement->bind(firstIndex, outcome.tier);
    if (!outcome.routedModel.isEmpty())
        statement->bind(firstIndex + 1, outcome.routedModel);
}

// A tiering classifier's tokens and cost, added to the task's (zero without one).
inline void bindClassification(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    statement->bind(firstIndex, outcome.classifyUsage.inputTokens);
    statement->bind(firstIndex + 1, outcome.classifyUsage.outputTokens);
    statement->bind(firstIndex + 2, outcome.classifyCostUsd);
}

// An answer the job's schema refused (invalid_output): billed, added to the task's (zero
// for any other outcome).
inline void bindRejected(Statement *statement, int firstIndex, const TaskOutcome &outcome)
{
    statement->bind(firstIndex, outcome.rejectedUsage.inputTokens + outcome.rejectedUsage.cachedTokens
                                    + outcome.rejectedUsage.cacheWriteTokens);
    statement->bind(firstIndex + 1, outcome.rejectedUsage.outputTokens);
    statement->bind(firstIndex + 2, outcome.rejectedCostUsd);
}

class PostgresStore::Statements
{
public:
    Statement insertTask;
    Statement claim;
    Statement complete;
    Statement completeGroup;
    Statement retry;
    Statement release;
    Statement dead;
    Statement insertAttempt;
    Statement addSpend;
    Statement exportPage;
    // Response cache.
    Statement cacheLookup;
    Statement cacheLookupMany;
    Statement cacheInsertMany;
};

// Qt binds a null QString as SQL NULL; NOT NULL text columns want ''.
inline QString text(const QString &value)
{
    return value.isNull() ? QString(QLatin1StringView("")) : value;
}


} // namespace bd::store
