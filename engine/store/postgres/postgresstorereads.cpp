#include "postgresstoreprivate.h"

#include "core/jsonutil.h"
#include "store/sql/sqlcharges.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSqlError>
#include <QSqlQuery>

#include <algorithm>
#include <array>

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

namespace {

// A field of a row of COPY's text format with its escapes undone (\N, NULL, is the caller's).
QByteArray copyFieldText(QByteArrayView raw)
{
    if (!raw.contains('\\'))
        return raw.toByteArray();
    QByteArray text;
    text.reserve(raw.size());
    const auto digitsAt = [&](qsizetype at, int base, int most) {
        int value = 0;
        int used = 0;
        for (; used < most && at + used < raw.size(); ++used) {
            const char c = raw[at + used];
            const int digit = c >= '0' && c <= '9'             ? c - '0'
                              : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10
                              : base == 16 && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                   : base;
            if (digit >= base)
                break;
            value = value * base + digit;
        }
        return std::pair{value, used};
    };
    for (qsizetype i = 0; i < raw.size(); ++i) {
        if (raw[i] != '\\' || i + 1 == raw.size()) {
            text.append(raw[i]);
            continue;
        }
        const char c = raw[++i];
        switch (c) {
        case 'b': text.append('\b'); break;
        case 'f': text.append('\f'); break;
        case 'n': text.append('\n'); break;
        case 'r': text.append('\r'); break;
        case 't': text.append('\t'); break;
        case 'v': text.append('\v'); break;
        case 'x': {
            const auto [value, used] = digitsAt(i + 1, 16, 2);
            if (used == 0) {
                text.append(c);
                break;
            }
            text.append(char(value));
            i += used;
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                const auto [value, used] = digitsAt(i, 8, 3);
                text.append(char(value));
                i += used - 1;
            } else {
                text.append(c); // \\ and any other escaped character stand for themselves
            }
        }
    }
    return text;
}

enum ExportColumn
{
    IdColumn,
    ValsColumn,
    StateColumn,
    OutputColumn,
    ErrorClassColumn,
    ErrorMessageColumn,
    ModelColumn,
    InputTokensColumn,
    OutputTokensColumn,
    CachedTokensColumn,
    CostColumn,
    AttemptsColumn,
    TierColumn,
    ExportColumnCount
};

// One export row from a row of COPY's text output; false when it is not one.
bool parseExportRow(QByteArrayView line, ExportRow *row)
{
    std::array<QByteArrayView, ExportColumnCount> fields;
    qsizetype from = 0;
    for (int column = 0; column < ExportColumnCount; ++column) {
        const qsizetype tab = column + 1 < ExportColumnCount ? line.indexOf('\t', from)
                                                             : line.size();
        if (tab < 0)
            return false;
        fields[column] = line.sliced(from, tab - from);
        from = tab + 1;
    }
    const auto isNull = [&](int column) { return fields[column] == "\\N"; };
    const auto text = [&](int column) {
        return isNull(column) ? QString() : QString::fromUtf8(copyFieldText(fields[column]));
    };
    const auto integer = [&](int column) {
        return isNull(column) ? 0 : fields[column].toLongLong();
    };
    row->taskId = integer(IdColumn);
    row->inputValues = isNull(ValsColumn)
                           ? QStringList()
                           : json::decodeStringArray(copyFieldText(fields[ValsColumn]))
                                 .value_or(QStringList());
    const auto state = static_cast<TaskState>(integer(StateColumn));
    row->status = state == TaskState::Leased ? u"pending"_s : taskStateName(state);
    row->output = state == TaskState::Completed ? text(OutputColumn) : QString();
    const QString errorClass = text(ErrorClassColumn);
    const QString errorMessage = text(ErrorMessageColumn);
    row->error = errorClass.isEmpty()     ? QString()
                 : errorMessage.isEmpty() ? errorClass
                                          : errorClass + u": "_s + errorMessage;
    row->model = text(ModelColumn);
    row->inputTokens = integer(InputTokensColumn);
    row->outputTokens = integer(OutputTokensColumn);
    row->cachedTokens = integer(CachedTokensColumn);
    if (state != TaskState::Completed)
        row->costUsd = 0.0;
    else if (isNull(CostColumn))
        row->costUsd.reset();
    else
        row->costUsd = fields[CostColumn].toDouble();
    row->attempts = int(integer(AttemptsColumn));
    row->tier = text(TierColumn);
    return true;
}

} // namespace

bool PostgresStore::forEachExportRow(qint64 jobId,
                                   const std::function<bool(const ExportRow &)> &sink)
{
    // COPY streams the job's rows while the server reads them, where pages of ids cost a
    // query and a wait each (the walk's old way: 1.75x psql's own COPY, issue 19). The job's
    // id range keeps the read on the primary key in id order, with no sort. Rows added while
    // it ran come out in a second pass.
    qint64 lastId = 0;
    for (;;) {
        QSqlQuery range(m_db);
        range.prepare(u"SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM tasks "
                      "WHERE job_id = ? AND id > ?"_s);
        range.addBindValue(jobId);
        range.addBindValue(lastId);
        if (!range.exec() || !range.next())
            return fail(u"export query failed: "_s + range.lastError().text());
        const qint64 firstId = range.value(0).toLongLong();
        const qint64 maxId = range.value(1).toLongLong();
        range.finish();
        if (maxId == 0)
            return true;
        const QByteArray sql =
            "COPY (SELECT id, vals, state, output, error_class, error_message, model, "
            "input_tokens, output_tokens, cached_tokens, cost_usd, attempts, tier FROM tasks "
            "WHERE id >= " + QByteArray::number(firstId) + " AND id <= " +
            QByteArray::number(maxId) + " AND job_id + 0 = " + QByteArray::number(jobId) +
            " ORDER BY id) TO STDOUT";
        ExportRow row;
        bool stopped = false;
        QString badRow;
        QString error;
        const bool copied = m_connection->copyOut(
            sql,
            [&](QByteArrayView line) {
                if (!parseExportRow(line, &row)) {
                    badRow = QString::fromUtf8(line.first(qMin<qsizetype>(line.size(), 80)));
                    return false;
                }
                if (!sink(row)) {
                    stopped = true;
                    return false;
                }
                return true;
            },
            &error);
        if (!badRow.isEmpty())
            return fail(u"export query failed: an unreadable row from the server: "_s + badRow);
        if (!copied)
            return failSql(u"export query failed: "_s + error);
        if (stopped)
            return true;
        lastId = maxId;
    }
}

} // namespace bd::store
