#include "sqlitestoreprivate.h"

#include "core/jsonutil.h"
#include "store/sql/sqlcharges.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>
#include <QStringDecoder>

#include <algorithm>

namespace bd::store {

using namespace Qt::StringLiterals;

namespace {

// Decodes UTF-8 into target, in its own buffer when it has one (an export reuses its page
// of rows, so most texts cost no allocation).
void assignUtf8(QString &target, QByteArrayView utf8, QStringDecoder &decoder)
{
    target.resize(utf8.size()); // UTF-16 never takes more units than UTF-8 takes bytes
    QChar *const begin = target.data();
    target.resize(decoder.appendToBuffer(begin, utf8) - begin);
}

} // namespace

// --- counts, totals and the export walk (dead tasks, replay and templates are SqlStore's)

SqliteStore::DatabaseState SqliteStore::databaseState()
{
    // data_version moves with every commit of another connection; total_changes with every
    // row this one writes. Both unchanged: nothing a read saw has changed since.
    DatabaseState state;
    SqliteStatement &version = m_statements->dataVersion;
    if (version.get() || version.prepare(m_handle, "PRAGMA data_version")) {
        ResetGuard guard(version);
        if (version.step() == SQLITE_ROW)
            state.dataVersion = version.int64(0);
    }
    state.changes = sqlite3_total_changes64(m_handle);
    return state;
}

TaskCounts SqliteStore::taskCounts(qint64 jobId)
{
    // All: a scan of the job's entries in tasks_job (300,000 tasks: tens of milliseconds);
    // leased, dead, cancelled: tasks_active; completed: the job's cost lines; pending: the
    // rest (migration 17: no index on tasks follows a task through every transition).
    // Asked again of an unchanged database (the engine's snapshot after the runner's last
    // read), the last answer stands.
    Statements::Counts &last = m_statements->lastCounts;
    const DatabaseState state = databaseState();
    if (state.dataVersion >= 0 && last.jobId == jobId && last.dataVersion == state.dataVersion &&
        last.changes == state.changes) {
        return last.counts;
    }
    last = Statements::Counts();
    TaskCounts counts;
    QSqlQuery query(m_db);
    query.prepare(u"SELECT -1, COUNT(*) FROM tasks WHERE job_id = ? "
                  "UNION ALL SELECT state, COUNT(*) FROM tasks WHERE state IN (1, 3, 4) AND "
                  "state NOT IN (0, 2) AND job_id = ? GROUP BY state "
                  "UNION ALL SELECT 2, TOTAL(tasks) FROM job_cost_lines WHERE job_id = ? "
                  "AND lane <> ''"_s);
    query.addBindValue(jobId);
    query.addBindValue(jobId);
    query.addBindValue(jobId);
    if (!query.exec()) {
        fail(query.lastError().text());
        return counts;
    }
    qint64 all = 0;
    while (query.next()) {
        const qint64 n = qint64(query.value(1).toDouble());
        if (query.value(0).toInt() < 0) {
            all = n;
            continue;
        }
        switch (static_cast<TaskState>(query.value(0).toInt())) {
        case TaskState::Pending: counts.pending = n; break;
        case TaskState::Leased: counts.leased = n; break;
        case TaskState::Completed: counts.completed = n; break;
        case TaskState::Dead: counts.dead = n; break;
        case TaskState::Cancelled: counts.cancelled = n; break;
        }
    }
    if (query.lastError().isValid()) {
        fail(query.lastError().text());
        return counts;
    }
    counts.pending = all - counts.leased - counts.completed - counts.dead - counts.cancelled;
    last.jobId = jobId;
    last.dataVersion = state.dataVersion;
    last.changes = state.changes;
    last.counts = counts;
    return counts;
}

bool SqliteStore::jobTotals(qint64 jobId, Usage *usage, double *costUsd, qint64 *billedTasks)
{
    // The totals are the sum of the job's cost lines (job_cost_lines, kept by triggers on
    // tasks: migration 14), a few rows whatever the job's size. Asked again of a database
    // nobody changed since (no commit of another connection, no change of this one), the
    // last answer stands.
    Statements::Totals &last = m_statements->lastTotals;
    const DatabaseState state = databaseState();
    const qint64 dataVersion = state.dataVersion;
    const qint64 changes = state.changes;
    const auto answer = [&](const Statements::Totals &totals) {
        if (usage)
            *usage = totals.usage;
        if (costUsd)
            *costUsd = totals.costUsd;
        if (billedTasks)
            *billedTasks = totals.billedTasks;
        return true;
    };
    if (dataVersion >= 0 && last.jobId == jobId && last.dataVersion == dataVersion
        && last.changes == changes) {
        return answer(last);
    }

    QSqlQuery query(m_db);
    // Answers are billed when they complete; a tiering classifier's calls whatever became
    // of the task (a completed task's cost_usd already holds them; the line with lane ''
    // holds those of tasks not completed, refused answers included).
    query.prepare(u"SELECT TOTAL(input_tokens), TOTAL(output_tokens), TOTAL(cached_tokens), "
                  "TOTAL(cache_write_tokens), TOTAL(CASE WHEN lane <> '' THEN cost_usd "
                  "ELSE classify_cost_usd END), TOTAL(tasks - unpriced) FROM job_cost_lines "
                  "WHERE job_id = ?"_s);
    query.addBindValue(jobId);
    if (!query.exec() || !query.next())
        return fail(query.lastError().text());
    Statements::Totals totals;
    totals.jobId = jobId;
    totals.dataVersion = dataVersion;
    totals.changes = changes;
    totals.usage.inputTokens = qint64(query.value(0).toDouble());
    totals.usage.outputTokens = qint64(query.value(1).toDouble());
    totals.usage.cachedTokens = qint64(query.value(2).toDouble());
    totals.usage.cacheWriteTokens = qint64(query.value(3).toDouble());
    QString chargesError;
    totals.costUsd = query.value(4).toDouble() + sqlcharges::total(m_db, jobId, &chargesError);
    if (!chargesError.isEmpty())
        return fail(chargesError);
    totals.billedTasks = qint64(query.value(5).toDouble());
    last = totals;
    return answer(totals);
}

bool SqliteStore::forEachExportRow(qint64 jobId,
                                   const std::function<bool(const ExportRow &)> &sink)
{
    constexpr int kPageSize = 2000;
    SqliteStatement &page = m_statements->exportPage;
    // Pages walk the primary key up to the job's last id (each page one range of the key,
    // whatever the job's size); the last id is read again once the walk reaches it, so
    // rows added meanwhile are exported too.
    qint64 lastId = 0;
    qint64 maxId = 0;
    const auto readMaxId = [&](qint64 *id) {
        QSqlQuery query(m_db);
        query.prepare(u"SELECT MAX(id) FROM tasks WHERE job_id = ?"_s);
        query.addBindValue(jobId);
        if (!query.exec() || !query.next())
            return fail(u"export query failed: "_s + query.lastError().text());
        *id = query.value(0).toLongLong();
        return true;
    };
    if (!readMaxId(&maxId))
        return false;
    // One page of rows, reused page after page (their strings keep their buffers).
    QList<ExportRow> rows(kPageSize);
    QStringDecoder decoder(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
    QByteArray modelBytes; // the last row's model, usually every row's
    QString model;
    for (;;) {
        // Read a page, then hand it out, so no statement stays open while the sink writes.
        qsizetype count = 0;
        {
            ResetGuard guard(page);
            page.bind(1, jobId);
            page.bind(2, lastId);
            page.bind(3, maxId);
            page.bind(4, qint64(kPageSize));
            int rc;
            while ((rc = page.step()) == SQLITE_ROW) {
                ExportRow &row = rows[count++];
                row.taskId = page.int64(0);
                row.inputValues = json::decodeStringArray(page.bytes(1)).value_or(QStringList());
                const auto state = static_cast<TaskState>(page.int64(2));
                row.status = state == TaskState::Leased ? u"pending"_s : taskStateName(state);
                if (state == TaskState::Completed && !page.isNull(3))
                    assignUtf8(row.output, page.bytes(3), decoder);
                else
                    row.output = QString();
                if (page.isNull(4)) {
                    row.error = QString();
                } else {
                    const QString errorClass = page.text(4);
                    const QString errorMessage = page.text(5);
                    row.error = errorClass.isEmpty() ? QString()
                                : errorMessage.isEmpty() ? errorClass
                                                         : errorClass + u": "_s + errorMessage;
                }
                if (page.isNull(6)) {
                    row.model = QString();
                } else {
                    const QByteArrayView bytes = page.bytes(6);
                    if (model.isNull() || bytes != modelBytes) {
                        modelBytes = bytes.toByteArray();
                        model = QString::fromUtf8(bytes);
                    }
                    row.model = model;
                }
                row.inputTokens = page.int64(7);
                row.outputTokens = page.int64(8);
                row.cachedTokens = page.int64(9);
                row.costUsd = page.isNull(10) ? std::optional<double>() : page.real(10);
                if (state != TaskState::Completed)
                    row.costUsd = 0.0;
                row.attempts = int(page.int64(11));
                row.tier = page.text(12);
                lastId = row.taskId;
                if (count == kPageSize)
                    break;
            }
            if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                return failSql(u"export query failed"_s);
        }
        for (qsizetype i = 0; i < count; ++i) {
            if (!sink(std::as_const(rows)[i]))
                return true;
        }
        if (count < kPageSize) {
            const qint64 walked = maxId;
            if (!readMaxId(&maxId))
                return false;
            if (maxId <= walked)
                return true;
            lastId = walked;
        }
    }
}

} // namespace bd::store
