#include "postgresstoreprivate.h"

#include "core/jsonutil.h"
#include "store/sql/sqlcharges.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>

namespace bd::store {

using namespace Qt::StringLiterals;

// --- counts, totals and the export walk (dead tasks, replay and templates are SqlStore's)

TaskCounts PostgresStore::taskCounts(qint64 jobId)
{
    TaskCounts counts;
    QSqlQuery query(m_db);
    if (!run(query, u"SELECT state, COUNT(*) FROM tasks WHERE job_id = ? GROUP BY state"_s,
             {jobId}))
        return counts;
    while (query.next()) {
        const qint64 n = query.value(1).toLongLong();
        switch (static_cast<TaskState>(query.value(0).toInt())) {
        case TaskState::Pending: counts.pending = n; break;
        case TaskState::Leased: counts.leased = n; break;
        case TaskState::Completed: counts.completed = n; break;
        case TaskState::Dead: counts.dead = n; break;
        case TaskState::Cancelled: counts.cancelled = n; break;
        }
    }
    return counts;
}

bool PostgresStore::jobTotals(qint64 jobId, Usage *usage, double *costUsd, qint64 *billedTasks)
{
    QSqlQuery query(m_db);
    // Answers are billed when they complete; a tiering classifier's calls whatever became
    // of the task (a completed task's cost_usd already holds them).
    query.prepare(u"SELECT COALESCE(SUM(CASE WHEN state = 2 THEN input_tokens END), 0), "
                  "COALESCE(SUM(CASE WHEN state = 2 THEN output_tokens END), 0), "
                  "COALESCE(SUM(CASE WHEN state = 2 THEN cached_tokens END), 0), "
                  "COALESCE(SUM(CASE WHEN state = 2 THEN cache_write_tokens END), 0), "
                  "COALESCE(SUM(CASE WHEN state = 2 THEN cost_usd ELSE classify_cost_usd + rejected_cost_usd END), 0), "
                  "COUNT(CASE WHEN state = 2 THEN cost_usd END) FROM tasks WHERE job_id = ?"_s);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next())
        return fail(query.lastError().text());
    if (usage) {
        usage->inputTokens = qint64(query.value(0).toDouble());
        usage->outputTokens = qint64(query.value(1).toDouble());
        usage->cachedTokens = qint64(query.value(2).toDouble());
        usage->cacheWriteTokens = qint64(query.value(3).toDouble());
    }
    if (costUsd) {
        QString error;
        *costUsd = query.value(4).toDouble() + sqlcharges::total(m_db, jobId, &error);
        if (!error.isEmpty())
            return fail(error);
    }
    if (billedTasks)
        *billedTasks = query.value(5).toLongLong();
    return true;
}

bool PostgresStore::forEachExportRow(qint64 jobId,
                                   const std::function<bool(const ExportRow &)> &sink)
{
    constexpr int kPageSize = 2000;
    PostgresStatement &page = m_statements->exportPage;
    // Pages are ranges of kPageSize ids from the job's first id to its last (read again
    // once the walk reaches it, so rows added meanwhile come out too). A bounded range
    // keeps each page's cost to its own rows whatever plan PostgreSQL picks (with a bare
    // LIMIT it may take a bitmap scan of the rest of the job and a sort, every page).
    qint64 lastId = 0;
    qint64 maxId = 0;
    const auto readRange = [&](qint64 *first, qint64 *last) {
        QSqlQuery query(m_db);
        query.prepare(u"SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM tasks "
                      "WHERE job_id = ?"_s);
        query.addBindValue(jobId);
        if (!query.exec() || !query.next())
            return fail(u"export query failed: "_s + query.lastError().text());
        if (first)
            *first = query.value(0).toLongLong();
        *last = query.value(1).toLongLong();
        return true;
    };
    qint64 firstId = 0;
    if (!readRange(&firstId, &maxId))
        return false;
    lastId = qMax<qint64>(0, firstId - 1);
    ExportRow row;
    for (;;) {
        // Read a page, then hand it out, so no statement stays open while the sink writes.
        QList<ExportRow> rows;
        rows.reserve(kPageSize);
        {
            ResetGuard guard(page);
            page.bind(1, jobId);
            page.bind(2, lastId);
            page.bind(3, qMin(maxId, lastId + kPageSize));
            page.bind(4, qint64(kPageSize));
            int rc;
            while ((rc = page.step()) == PostgresStatement::Row) {
                row.taskId = page.int64(0);
                row.inputValues = json::decodeStringArray(page.bytes(1)).value_or(QStringList());
                const auto state = static_cast<TaskState>(page.int64(2));
                row.status = state == TaskState::Leased ? u"pending"_s : taskStateName(state);
                row.output = state == TaskState::Completed ? page.text(3) : QString();
                const QString errorClass = page.text(4);
                const QString errorMessage = page.text(5);
                row.error = errorClass.isEmpty() ? QString()
                            : errorMessage.isEmpty() ? errorClass
                                                     : errorClass + u": "_s + errorMessage;
                row.model = page.text(6);
                row.inputTokens = page.int64(7);
                row.outputTokens = page.int64(8);
                row.cachedTokens = page.int64(9);
                row.costUsd = page.isNull(10) ? std::optional<double>() : page.real(10);
                if (state != TaskState::Completed)
                    row.costUsd = 0.0;
                row.attempts = int(page.int64(11));
                row.tier = page.text(12);
                rows.append(row);
            }
            if (rc != PostgresStatement::Done)
                return failSql(u"export query failed: "_s + page.errorText());
        }
        for (const ExportRow &r : std::as_const(rows)) {
            if (!sink(r))
                return true;
        }
        lastId = qMin(maxId, lastId + kPageSize);
        if (lastId >= maxId) {
            const qint64 walked = maxId;
            if (!readRange(nullptr, &maxId))
                return false;
            if (maxId <= walked)
                return true;
        }
    }
}

} // namespace bd::store
