#include "migrations.h"

#include <QFile>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QTemporaryFile>

namespace bd::store {

using namespace Qt::StringLiterals;

namespace {

// Migration 14: the totals of every job's completed tasks by model, lane, day (UTC days
// since the epoch, -1 for none) and tier (what store::CostLine reports), kept by triggers
// on tasks so that `status`, the job list and cost reports read a few rows instead of
// scanning the job (6-8 s for 300,000 tasks on a loaded 2-core machine). The triggers fire
// on every path that writes a task (claims and completions, replays, hand-backs, batch
// assignment, deletes) and move a task's figures from the line of its old row to the line
// of its new one, so the lines equal a scan by construction. (A task's lane is read from
// its provider batch, which belongs to the task's job and goes only with it.) The line
// with lane '' holds the classifier spend of tasks not completed (a completed task's
// cost_usd already includes it), which the job's cost counts too.
// Since migration 17 one trigger per event does it all, and a running task's completion
// (state 1 to 2, only ever SqliteStore::applyTransitions) is added to its line by the
// store, once per line and group (see costLineUpsertSql).
// An AFTER trigger on tasks.
QString tasksTrigger(const QString &name, const QString &event, const QString &when,
                     const QString &body)
{
    return u"CREATE TRIGGER %1 AFTER %2 ON tasks WHEN %3 BEGIN %4 END"_s.arg(name, event, when, body);
}

// The SQL of the cost lines for a task row r (new or old). A statement with a guard runs
// only when the guard holds (the one trigger of an event carries several of them).
struct CostLineSql
{
    // What the open line (lane '') holds of a task not completed, bare column names.
    QString openCost;

    static QString lane(const QString &r)
    {
        return u"CASE WHEN %1.cache_hit = 1 THEN 'response-cache' WHEN %1.batch_id IS NULL "
               "THEN 'sync' WHEN (SELECT lane FROM provider_batches WHERE id = %1.batch_id) = "
               "'batch-api' THEN 'batch-api' ELSE 'sync' END"_s.arg(r);
    }
    static QString key(const QString &r)
    {
        return u"%1.job_id, %2, COALESCE(%1.model, ''), COALESCE(%1.finished_at / 86400000, -1), "
               "COALESCE(%1.tier, '')"_s.arg(r, lane(r));
    }
    static QString keyMatches(const QString &r)
    {
        return u"job_id = %1.job_id AND lane = %2 AND model = COALESCE(%1.model, '') AND "
               "day = COALESCE(%1.finished_at / 86400000, -1) AND tier = COALESCE(%1.tier, '')"_s
                   .arg(r, lane(r));
    }
    static const QStringList &figures()
    {
        static const QStringList list{u"input_tokens"_s,          u"output_tokens"_s,
                                      u"cached_tokens"_s,         u"cache_write_tokens"_s,
                                      u"classify_input_tokens"_s, u"classify_output_tokens"_s,
                                      u"classify_cost_usd"_s};
        return list;
    }
    static QString columns()
    {
        return u"job_id, lane, model, day, tier, tasks, unpriced, cost_usd, "_s +
               figures().join(u", "_s);
    }
    static QString conflict()
    {
        QStringList sums{u"tasks = tasks + excluded.tasks"_s,
                         u"unpriced = unpriced + excluded.unpriced"_s,
                         u"cost_usd = cost_usd + excluded.cost_usd"_s};
        for (const QString &figure : figures())
            sums.append(u"%1 = %1 + excluded.%1"_s.arg(figure));
        return u" ON CONFLICT (job_id, lane, model, day, tier) DO UPDATE SET "_s +
               sums.join(u", "_s);
    }
    static QString values(const QString &r)
    {
        QStringList list{key(r), u"1"_s, r + u".cost_usd IS NULL"_s,
                         u"COALESCE(%1.cost_usd, 0)"_s.arg(r)};
        for (const QString &figure : figures())
            list.append(r + u'.' + figure);
        return list.join(u", "_s);
    }
    // A WHERE before ON CONFLICT also keeps the parser from reading ON as a join's.
    static QString rowSource(const QString &values, const QString &guard)
    {
        return guard.isEmpty() ? u"VALUES (%1)"_s.arg(values)
                               : u"SELECT %1 WHERE %2"_s.arg(values, guard);
    }
    static QString andGuard(const QString &guard)
    {
        return guard.isEmpty() ? QString() : u" AND "_s + guard;
    }
    // Adds the completed row r to its line; takes it off (a line of no task goes).
    static QString add(const QString &r, const QString &guard = {})
    {
        return u"INSERT INTO job_cost_lines (%1) %2%3;"_s.arg(
            columns(), rowSource(values(r), guard), conflict());
    }
    static QString remove(const QString &r, const QString &guard = {})
    {
        QStringList minus{u"tasks = tasks - 1"_s, u"unpriced = unpriced - (%1.cost_usd IS NULL)"_s,
                          u"cost_usd = cost_usd - COALESCE(%1.cost_usd, 0)"_s};
        for (const QString &figure : figures())
            minus.append(u"%1 = %1 - %2.%1"_s.arg(figure, u"%1"_s));
        QString set = minus.join(u", "_s);
        set.replace(u"%1"_s, r);
        return u"UPDATE job_cost_lines SET %1 WHERE %2%3; DELETE FROM job_cost_lines WHERE %2 "
               "AND tasks <= 0%3;"_s.arg(set, keyMatches(r), andGuard(guard));
    }
    // A change of anything a line holds of a completed task, or of where it is counted.
    static QString changed()
    {
        QStringList changedList{
            u"new.job_id IS NOT old.job_id"_s,           u"new.model IS NOT old.model"_s,
            u"new.cache_hit IS NOT old.cache_hit"_s,     u"new.batch_id IS NOT old.batch_id"_s,
            u"new.finished_at IS NOT old.finished_at"_s, u"new.tier IS NOT old.tier"_s,
            u"new.cost_usd IS NOT old.cost_usd"_s};
        for (const QString &figure : figures())
            changedList.append(u"new.%1 IS NOT old.%1"_s.arg(figure));
        return u"("_s + changedList.join(u" OR "_s) + u")"_s;
    }

    // The open line's figure of row r.
    QString open(const QString &r) const
    {
        QString figure = openCost;
        figure.replace(u"classify_cost_usd"_s, r + u".classify_cost_usd"_s);
        figure.replace(u"rejected_cost_usd"_s, r + u".rejected_cost_usd"_s);
        return figure;
    }
    QString addOpen(const QString &r, const QString &guard = {}) const
    {
        const QString values = u"%1.job_id, '', '', -1, '', 1, %2"_s.arg(r, open(r));
        return u"INSERT INTO job_cost_lines (job_id, lane, model, day, tier, tasks, "
               "classify_cost_usd) %1 "
               "ON CONFLICT (job_id, lane, model, day, tier) DO UPDATE SET tasks = tasks + 1, "
               "classify_cost_usd = classify_cost_usd + excluded.classify_cost_usd;"_s.arg(
                   rowSource(values, guard));
    }
    QString removeOpen(const QString &r, const QString &guard = {}) const
    {
        return u"UPDATE job_cost_lines SET tasks = tasks - 1, classify_cost_usd = "
               "classify_cost_usd - %2 WHERE job_id = %1.job_id AND lane = '' "
               "AND model = '' AND day = -1 AND tier = ''%3; DELETE FROM job_cost_lines WHERE "
               "job_id = %1.job_id AND lane = '' AND tasks <= 0%3;"_s.arg(r, open(r),
                                                                          andGuard(guard));
    }
    QString openChanged() const
    {
        return u"(new.job_id IS NOT old.job_id OR %1 IS NOT %2)"_s.arg(open(u"new"_s),
                                                                       open(u"old"_s));
    }
    // When each trigger of migrations 14 and 15 fires.
    static QString insertWhen() { return u"new.state = 2"_s; }
    static QString deleteWhen() { return u"old.state = 2"_s; }
    static QString updateOldWhen()
    {
        return u"old.state = 2 AND (new.state IS NOT 2 OR %1)"_s.arg(changed());
    }
    static QString updateNewWhen()
    {
        return u"new.state = 2 AND (old.state IS NOT 2 OR %1)"_s.arg(changed());
    }
    QString openInsertWhen() const { return u"new.state <> 2 AND %1 <> 0"_s.arg(open(u"new"_s)); }
    QString openDeleteWhen() const { return u"old.state <> 2 AND %1 <> 0"_s.arg(open(u"old"_s)); }
    QString openUpdateOldWhen() const
    {
        return u"old.state <> 2 AND %1 <> 0 AND (new.state = 2 OR %2)"_s.arg(open(u"old"_s),
                                                                             openChanged());
    }
    QString openUpdateNewWhen() const
    {
        return u"new.state <> 2 AND %1 <> 0 AND (old.state = 2 OR %2)"_s.arg(open(u"new"_s),
                                                                             openChanged());
    }
};

// The line with lane '' of each job: what tasks not completed cost (a tiering classifier's
// calls, and refused answers since migration 15). `cost` is that figure of a task row,
// written with bare column names; each use prefixes the row (new., old.).
QStringList openCostLineStatements(const QString &cost)
{
    const CostLineSql sql{cost};
    return {
        u"INSERT INTO job_cost_lines (job_id, lane, model, day, tier, tasks, classify_cost_usd) "
        "SELECT job_id, '', '', -1, '', COUNT(*), TOTAL(%1) FROM tasks "
        "WHERE state <> 2 AND %1 <> 0 GROUP BY job_id"_s.arg(cost),
        tasksTrigger(u"tasks_open_insert"_s, u"INSERT"_s, sql.openInsertWhen(),
                     sql.addOpen(u"new"_s)),
        tasksTrigger(u"tasks_open_delete"_s, u"DELETE"_s, sql.openDeleteWhen(),
                     sql.removeOpen(u"old"_s)),
        tasksTrigger(u"tasks_open_update_old"_s, u"UPDATE"_s, sql.openUpdateOldWhen(),
                     sql.removeOpen(u"old"_s)),
        tasksTrigger(u"tasks_open_update_new"_s, u"UPDATE"_s, sql.openUpdateNewWhen(),
                     sql.addOpen(u"new"_s)),
    };
}

QStringList costLineStatements()
{
    using S = CostLineSql;
    QStringList statements{
        uR"(CREATE TABLE job_cost_lines (
            job_id INTEGER NOT NULL,
            lane TEXT NOT NULL,
            model TEXT NOT NULL,
            day INTEGER NOT NULL,
            tier TEXT NOT NULL,
            tasks INTEGER NOT NULL DEFAULT 0,
            unpriced INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            classify_input_tokens INTEGER NOT NULL DEFAULT 0,
            classify_output_tokens INTEGER NOT NULL DEFAULT 0,
            classify_cost_usd REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (job_id, lane, model, day, tier)) WITHOUT ROWID)"_s,
        // What the tasks already hold.
        u"INSERT INTO job_cost_lines (%1) SELECT %2, COUNT(*), SUM(t.cost_usd IS NULL), "
        "TOTAL(t.cost_usd), SUM(t.input_tokens), SUM(t.output_tokens), SUM(t.cached_tokens), "
        "SUM(t.cache_write_tokens), SUM(t.classify_input_tokens), SUM(t.classify_output_tokens), "
        "TOTAL(t.classify_cost_usd) FROM tasks t WHERE t.state = 2 GROUP BY 1, 2, 3, 4, 5"_s.arg(
            S::columns(), S::key(u"t"_s)),
        tasksTrigger(u"tasks_cost_insert"_s, u"INSERT"_s, S::insertWhen(), S::add(u"new"_s)),
        tasksTrigger(u"tasks_cost_delete"_s, u"DELETE"_s, S::deleteWhen(), S::remove(u"old"_s)),
        tasksTrigger(u"tasks_cost_update_old"_s, u"UPDATE"_s, S::updateOldWhen(),
                     S::remove(u"old"_s)),
        tasksTrigger(u"tasks_cost_update_new"_s, u"UPDATE"_s, S::updateNewWhen(), S::add(u"new"_s)),
        // A job's lines go with it, whichever order its rows are deleted in.
        u"CREATE TRIGGER jobs_cost_delete AFTER DELETE ON jobs BEGIN DELETE FROM job_cost_lines "
        "WHERE job_id = old.id; END"_s,
    };
    return statements + openCostLineStatements(u"classify_cost_usd"_s);
}

// Since migration 15 the open line also holds what refused answers (invalid_output) of tasks
// not completed cost: its triggers are made again over the wider sum, and the line refilled.
QStringList rejectedAnswersInOpenLine()
{
    return QStringList{u"DROP TRIGGER tasks_open_insert"_s, u"DROP TRIGGER tasks_open_delete"_s,
                       u"DROP TRIGGER tasks_open_update_old"_s,
                       u"DROP TRIGGER tasks_open_update_new"_s,
                       u"DELETE FROM job_cost_lines WHERE lane = ''"_s}
           + openCostLineStatements(u"(classify_cost_usd + rejected_cost_usd)"_s);
}

// Migration 17: each trigger of tasks costs its statement a sub-program call even when its
// WHEN is false (callgrind, 30,000 rows drained: ~6,000 instructions a call, ten calls a
// task with the eight triggers of migrations 14-15). One trigger per event now holds every
// statement, each under its old trigger's condition, and a running task's completion
// (state 1 to 2) leaves the trigger to the store, which adds a group's completions to their
// lines once per line in the same transaction. The lines themselves do not change.
QStringList oneTriggerPerEvent()
{
    using S = CostLineSql;
    const CostLineSql sql{u"(classify_cost_usd + rejected_cost_usd)"_s};
    // A running task's completion is the store's to count (SqliteStore::applyTransitions).
    const QString updateNewWhen = u"(%1 AND old.state IS NOT 1)"_s.arg(S::updateNewWhen());
    const auto when = [](const QStringList &guards) {
        QStringList wrapped;
        for (const QString &guard : guards)
            wrapped.append(u"("_s + guard + u")"_s);
        return wrapped.join(u" OR "_s);
    };
    return {
        u"DROP TRIGGER tasks_cost_insert"_s,
        u"DROP TRIGGER tasks_cost_delete"_s,
        u"DROP TRIGGER tasks_cost_update_old"_s,
        u"DROP TRIGGER tasks_cost_update_new"_s,
        u"DROP TRIGGER tasks_open_insert"_s,
        u"DROP TRIGGER tasks_open_delete"_s,
        u"DROP TRIGGER tasks_open_update_old"_s,
        u"DROP TRIGGER tasks_open_update_new"_s,
        tasksTrigger(
            u"tasks_lines_insert"_s, u"INSERT"_s, when({S::insertWhen(), sql.openInsertWhen()}),
            S::add(u"new"_s, S::insertWhen()) + sql.addOpen(u"new"_s, sql.openInsertWhen())),
        tasksTrigger(
            u"tasks_lines_delete"_s, u"DELETE"_s, when({S::deleteWhen(), sql.openDeleteWhen()}),
            S::remove(u"old"_s, S::deleteWhen()) + sql.removeOpen(u"old"_s, sql.openDeleteWhen())),
        // Off the old row's lines first, then onto the new row's.
        tasksTrigger(u"tasks_lines_update"_s, u"UPDATE"_s,
                     when({S::updateOldWhen(), updateNewWhen, sql.openUpdateOldWhen(),
                           sql.openUpdateNewWhen()}),
                     S::remove(u"old"_s, S::updateOldWhen()) +
                         sql.removeOpen(u"old"_s, sql.openUpdateOldWhen()) +
                         S::add(u"new"_s, updateNewWhen) +
                         sql.addOpen(u"new"_s, sql.openUpdateNewWhen())),
    };
}

// Migration 19: a trigger's program costs every row its statement writes, even under a false
// WHEN, and more the larger the program (callgrind, 30,000 tasks claimed 100 at a time
// through one prepared statement: 911 M instructions with migration 17's update trigger,
// whose WHEN is false for every claim, 893 M with these, 849 M with none). Each trigger on
// tasks now only hands the rows of a write that may move a line, under a WHEN of a few
// comparisons (a claim, an import and the store's completions move none), to the view
// task_line_moves, whose INSTEAD OF trigger holds the statements of migration 17 (each under
// its old guard) for inserts, updates and deletes alike: an inserted row comes with a NULL
// old row, a deleted one with a NULL new row, and every guard reads those as "no row".
QStringList linesThroughOneProgram()
{
    using S = CostLineSql;
    const CostLineSql sql{u"(classify_cost_usd + rejected_cost_usd)"_s};
    const QStringList columns =
        QStringList{u"job_id"_s,   u"state"_s,       u"model"_s, u"cache_hit"_s,
                    u"batch_id"_s, u"finished_at"_s, u"tier"_s,  u"cost_usd"_s} +
        S::figures() + QStringList{u"rejected_cost_usd"_s};
    QStringList viewColumns;
    for (const QString &row : {u"old"_s, u"new"_s}) {
        for (const QString &column : columns)
            viewColumns.append(row + u'_' + column);
    }
    const auto rowOf = [&](const QString &row) {
        QStringList values;
        for (const QString &column : columns)
            values.append(row.isEmpty() ? u"NULL"_s : row + u'.' + column);
        return values.join(u", "_s);
    };
    const auto hand = [&](const QString &oldRow, const QString &newRow) {
        return u"INSERT INTO task_line_moves VALUES (%1, %2);"_s.arg(rowOf(oldRow), rowOf(newRow));
    };
    // Migration 17's statements, each under its guard; a running task's completion is still
    // the store's to count. old.x and new.x become the view row's old_x and new_x.
    const QString updateNewWhen = u"(%1 AND old.state IS NOT 1)"_s.arg(S::updateNewWhen());
    QString body = S::remove(u"old"_s, S::updateOldWhen()) +
                   sql.removeOpen(u"old"_s, sql.openUpdateOldWhen()) +
                   S::add(u"new"_s, updateNewWhen) + sql.addOpen(u"new"_s, sql.openUpdateNewWhen());
    static const QRegularExpression rowColumn(u"\\b(old|new)\\.([a-z_]+)"_s);
    body.replace(rowColumn, u"new.\\1_\\2"_s);
    // What a write must have for a line to move: a completed row, or a row not completed
    // with a cost on the open line (every statement's guard above implies one of these).
    const auto linesMay = [&](const QString &row) {
        return u"%1.state = 2 OR %2 <> 0"_s.arg(row, sql.open(row));
    };
    return {
        u"DROP TRIGGER tasks_lines_insert"_s,
        u"DROP TRIGGER tasks_lines_delete"_s,
        u"DROP TRIGGER tasks_lines_update"_s,
        u"CREATE VIEW task_line_moves (%1) AS SELECT %2 WHERE 0"_s.arg(
            viewColumns.join(u", "_s), QStringList(viewColumns.size(), u"NULL"_s).join(u", "_s)),
        u"CREATE TRIGGER task_line_moves_apply INSTEAD OF INSERT ON task_line_moves BEGIN %1 END"_s
            .arg(body),
        tasksTrigger(u"tasks_lines_insert"_s, u"INSERT"_s, linesMay(u"new"_s),
                     hand(QString(), u"new"_s)),
        tasksTrigger(u"tasks_lines_delete"_s, u"DELETE"_s, linesMay(u"old"_s),
                     hand(u"old"_s, QString())),
        tasksTrigger(u"tasks_lines_update"_s, u"UPDATE"_s,
                     u"old.state = 2 OR (new.state = 2 AND old.state IS NOT 1) OR %1 <> 0 OR "
                     "%2 <> 0"_s.arg(sql.open(u"old"_s), sql.open(u"new"_s)),
                     hand(u"old"_s, u"new"_s)),
    };
}

} // namespace

const QList<Migration> &sqliteMigrations()
{
    // Times are milliseconds since the epoch; states are small integers (see core/types.h).
    static const QList<Migration> migrations = {
        {1,
         "jobs, tasks, attempts, provider batches, alerts",
         {
             uR"(CREATE TABLE jobs (
                id INTEGER PRIMARY KEY,
                fingerprint TEXT NOT NULL,
                source_path TEXT NOT NULL,
                source_sha256 TEXT NOT NULL,
                template TEXT NOT NULL,
                system_prompt TEXT NOT NULL DEFAULT '',
                provider TEXT NOT NULL,
                model TEXT NOT NULL,
                base_url TEXT NOT NULL DEFAULT '',
                priority INTEGER NOT NULL,
                mode TEXT NOT NULL,
                max_retries INTEGER NOT NULL,
                max_output_tokens INTEGER NOT NULL,
                settings TEXT NOT NULL DEFAULT '{}',
                columns TEXT NOT NULL DEFAULT '[]',
                state INTEGER NOT NULL,
                state_reason TEXT NOT NULL DEFAULT '',
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL))"_s,
             u"CREATE INDEX jobs_fingerprint ON jobs (fingerprint)"_s,
             uR"(CREATE TABLE provider_batches (
                id INTEGER PRIMARY KEY,
                job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                provider TEXT NOT NULL,
                provider_batch_id TEXT,
                lane TEXT NOT NULL,
                size INTEGER NOT NULL,
                max_size INTEGER NOT NULL,
                state TEXT NOT NULL,
                input_file_id TEXT,
                output_file_id TEXT,
                error_file_id TEXT,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL))"_s,
             uR"(CREATE TABLE tasks (
                id INTEGER PRIMARY KEY,
                job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                row_no INTEGER NOT NULL,
                vals TEXT NOT NULL,
                priority INTEGER NOT NULL,
                state INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0,
                not_before INTEGER NOT NULL DEFAULT 0,
                lease_owner TEXT,
                lease_expires INTEGER,
                batch_id INTEGER REFERENCES provider_batches (id) ON DELETE SET NULL,
                output TEXT,
                error_class TEXT,
                error_message TEXT,
                http_status INTEGER,
                model TEXT,
                input_tokens INTEGER NOT NULL DEFAULT 0,
                output_tokens INTEGER NOT NULL DEFAULT 0,
                cached_tokens INTEGER NOT NULL DEFAULT 0,
                cache_write_tokens INTEGER NOT NULL DEFAULT 0,
                cost_usd REAL,
                cache_hit INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL,
                started_at INTEGER,
                finished_at INTEGER))"_s,
             // Counts and exports walk (job, state); claims walk only what is pending.
             u"CREATE INDEX tasks_job_state ON tasks (job_id, state)"_s,
             u"CREATE INDEX tasks_claim ON tasks (job_id, priority, id) WHERE state = 0"_s,
             u"CREATE INDEX tasks_lease ON tasks (lease_expires) WHERE state = 1"_s,
             uR"(CREATE TABLE attempts (
                id INTEGER PRIMARY KEY,
                task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
                attempt_no INTEGER NOT NULL,
                at INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                http_status INTEGER,
                message TEXT,
                charged INTEGER NOT NULL))"_s,
             u"CREATE INDEX attempts_task ON attempts (task_id)"_s,
             uR"(CREATE TABLE alerts (
                id INTEGER PRIMARY KEY,
                job_id INTEGER,
                kind TEXT NOT NULL,
                message TEXT NOT NULL,
                raised_at INTEGER NOT NULL,
                cleared_at INTEGER))"_s,
             u"CREATE INDEX alerts_open ON alerts (kind, job_id) WHERE cleared_at IS NULL"_s,
         }},
        {2,
         "metric series and samples (engine/metrics)",
         {
             // One row per (metric, labels); kind is bd::metrics::MetricKind.
             uR"(CREATE TABLE metric_series (
                id INTEGER PRIMARY KEY,
                metric TEXT NOT NULL,
                labels TEXT NOT NULL DEFAULT '',
                kind INTEGER NOT NULL,
                UNIQUE (metric, labels)))"_s,
             // One row per series, resolution and interval start: value plus what merges it
             // (n, total) and the extremes (lo, hi). Clustered by series for chart reads.
             uR"(CREATE TABLE metric_samples (
                series_id INTEGER NOT NULL REFERENCES metric_series (id) ON DELETE CASCADE,
                resolution_ms INTEGER NOT NULL,
                at_ms INTEGER NOT NULL,
                value REAL NOT NULL,
                n INTEGER NOT NULL,
                total REAL NOT NULL,
                lo REAL NOT NULL,
                hi REAL NOT NULL,
                PRIMARY KEY (series_id, resolution_ms, at_ms)) WITHOUT ROWID)"_s,
             // Retention deletes and time-range reads across series walk this.
             u"CREATE INDEX metric_samples_age ON metric_samples (resolution_ms, at_ms)"_s,
         }},
        {3,
         "tasks by provider batch",
         {
             // Results of a provider batch are joined back to its tasks by this.
             u"CREATE INDEX tasks_batch ON tasks (batch_id) WHERE batch_id IS NOT NULL"_s,
         }},
        {4,
         "response cache (engine/cost)",
         {
             // One answer per distinct request: key is the SHA-256 (hex) of the canonical
             // request (cost/responsecache.h); usage is what the provider billed when it
             // was first answered (a hit itself costs nothing).
             uR"(CREATE TABLE response_cache (
                key TEXT PRIMARY KEY,
                output TEXT NOT NULL,
                model TEXT NOT NULL,
                input_tokens INTEGER NOT NULL DEFAULT 0,
                output_tokens INTEGER NOT NULL DEFAULT 0,
                cached_tokens INTEGER NOT NULL DEFAULT 0,
                cache_write_tokens INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL) WITHOUT ROWID)"_s,
         }},
        {5,
         "slim response cache: request key to the task that holds the answer",
         {
             // A copy of every answer keyed by a random hash made each write group dirty
             // most of a large tree; 16 key bytes and a task id keep it a tenth the size.
             // The cache is disposable, so the old table is simply replaced.
             u"DROP TABLE response_cache"_s,
             uR"(CREATE TABLE response_cache (
                key BLOB PRIMARY KEY,
                task_id INTEGER NOT NULL,
                created_at INTEGER NOT NULL) WITHOUT ROWID)"_s,
         }},
        {6,
         "template revisions for replays; provider cancellations per task",
         {
             // Dead-lettered tasks can be replayed with an edited template: each edit is a
             // revision of the job's template, and a task renders with its own revision
             // (0 is the job's original in jobs.template / jobs.system_prompt).
             uR"(CREATE TABLE job_templates (
                job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                revision INTEGER NOT NULL,
                template TEXT NOT NULL,
                system_prompt TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                PRIMARY KEY (job_id, revision)) WITHOUT ROWID)"_s,
             u"ALTER TABLE tasks ADD COLUMN template_rev INTEGER NOT NULL DEFAULT 0"_s,
             // A provider that cancels the same line again and again must not keep it
             // pending forever: the first few cancellations are free, later ones count.
             u"ALTER TABLE tasks ADD COLUMN provider_cancels INTEGER NOT NULL DEFAULT 0"_s,
         }},
        {7,
         "model tiering: each task's tier and the model it was routed to",
         {
             // NULL for jobs on one model; cost reports group by them.
             u"ALTER TABLE tasks ADD COLUMN tier TEXT"_s,
             u"ALTER TABLE tasks ADD COLUMN routed_model TEXT"_s,
             // A tiering classifier's calls for the task, summed over its attempts; a
             // completed task's cost_usd includes them, and the job's cost counts them for
             // every task.
             u"ALTER TABLE tasks ADD COLUMN classify_input_tokens INTEGER NOT NULL DEFAULT 0"_s,
             u"ALTER TABLE tasks ADD COLUMN classify_output_tokens INTEGER NOT NULL DEFAULT 0"_s,
             u"ALTER TABLE tasks ADD COLUMN classify_cost_usd REAL NOT NULL DEFAULT 0"_s,
         }},
        {8,
         "alert figures, one open alert per kind and job, settings, spend ledger",
         {
             u"ALTER TABLE alerts ADD COLUMN figures TEXT NOT NULL DEFAULT '{}'"_s,
             // Several workers on one database raise the same alert once: close duplicates
             // left by older versions, then let the index refuse a second open one.
             uR"(UPDATE alerts SET cleared_at = raised_at WHERE cleared_at IS NULL AND id NOT IN
                (SELECT MIN(id) FROM alerts WHERE cleared_at IS NULL
                 GROUP BY kind, IFNULL(job_id, 0)))"_s,
             u"DROP INDEX alerts_open"_s,
             u"CREATE UNIQUE INDEX alerts_open ON alerts (kind, IFNULL(job_id, 0)) "
             "WHERE cleared_at IS NULL"_s,
             // Small shared settings (the global budget), read by every process.
             u"CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"_s,
             // Spend per UTC day (day = ms / 86,400,000) across every job, added to by each
             // group of completions in its own transaction (SqliteStore::applyTransitions),
             // so a global budget reads a few rows instead of summing the task table. A
             // trigger per row did the same at ~40 % more cost per completion.
             uR"(CREATE TABLE spend_days (
                day INTEGER PRIMARY KEY,
                usd REAL NOT NULL))"_s,
             uR"(INSERT INTO spend_days (day, usd)
                SELECT finished_at / 86400000, SUM(cost_usd) FROM tasks
                WHERE state = 2 AND cost_usd > 0 AND finished_at IS NOT NULL
                GROUP BY finished_at / 86400000)"_s,
         }},
        {9,
         "standing queues of the intake API: queues, task keys, webhook outbox",
         {
             // A queue is a job fed by `batchctl serve`; next_row numbers its tasks.
             uR"(CREATE TABLE intake_queues (
                name TEXT PRIMARY KEY,
                job_id INTEGER NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
                definition TEXT NOT NULL,
                max_pending INTEGER NOT NULL,
                webhook TEXT NOT NULL DEFAULT '',
                schema_json TEXT NOT NULL DEFAULT '',
                next_row INTEGER NOT NULL DEFAULT 1,
                created_at INTEGER NOT NULL))"_s,
             // Only tasks with a key or a webhook to call have a row here.
             uR"(CREATE TABLE intake_tasks (
                task_id INTEGER PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
                job_id INTEGER NOT NULL,
                key TEXT,
                delivered INTEGER NOT NULL DEFAULT 1))"_s,
             u"CREATE UNIQUE INDEX intake_tasks_key ON intake_tasks (job_id, key) WHERE key IS NOT NULL"_s,
             u"CREATE INDEX intake_tasks_outbox ON intake_tasks (job_id, task_id) WHERE delivered = 0"_s,
         }},
        {10,
         "who runs each job",
         {
             // The worker id (host:pid:nonce) of the process running the job; '' for none.
             u"ALTER TABLE jobs ADD COLUMN runner TEXT NOT NULL DEFAULT ''"_s,
         }},
        {11,
         "job controls for every engine on the database; waiting tasks by when they became pending",
         {
             // batchctl job and the consoles record each control here; every engine reads
             // those after the last id it saw (store/taskactions.h).
             uR"(CREATE TABLE IF NOT EXISTS job_controls (
                id INTEGER PRIMARY KEY,
                job_id INTEGER NOT NULL,
                action INTEGER NOT NULL,
                argument INTEGER NOT NULL DEFAULT 0,
                detail TEXT NOT NULL DEFAULT '',
                issuer TEXT NOT NULL,
                requested_at INTEGER NOT NULL))"_s,
             // A pending task waits since MAX(created_at, not_before): every way back to
             // pending (a retry, a hand-back, a replay) sets not_before to when it may go.
             // The oldest wait per job and priority is one seek here (metrics/queueprobe.h).
             u"CREATE INDEX IF NOT EXISTS tasks_waiting ON tasks (job_id, priority, "
             u"MAX(created_at, not_before)) "
             "WHERE state = 0"_s,
         }},
        {12,
         "charges of a job beyond its answers (a Gemini explicit cache)",
         {
             // One row per job and key (the cache's name); usd is counted in the job's cost
             // and, on the day of created_at, in spend_days (store/sql/sqlcharges.cpp).
             uR"(CREATE TABLE job_charges (
                id INTEGER PRIMARY KEY,
                job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                key TEXT NOT NULL,
                kind TEXT NOT NULL,
                model TEXT NOT NULL DEFAULT '',
                usd REAL NOT NULL,
                detail TEXT NOT NULL DEFAULT '',
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                UNIQUE (job_id, key)))"_s,
         }},
        {13,
         "workers on the database and their heartbeats; which worker polls each provider batch",
         {
             // Every writing engine upserts its row every few seconds (store/workerregistry.h).
             uR"(CREATE TABLE workers (
                id TEXT PRIMARY KEY,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                lanes TEXT NOT NULL DEFAULT '',
                started_at INTEGER NOT NULL,
                last_seen INTEGER NOT NULL,
                completed INTEGER NOT NULL DEFAULT 0,
                in_flight INTEGER NOT NULL DEFAULT 0,
                rate REAL NOT NULL DEFAULT 0,
                rescued INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID)"_s,
             // The worker that polls the batch; '' for none (adopted by any live worker).
             u"ALTER TABLE provider_batches ADD COLUMN owner TEXT NOT NULL DEFAULT ''"_s,
         }},
        {14, "job totals by model, lane, day and tier, kept by triggers", costLineStatements()},
        {15,
         "structured answers the schema refused (invalid_output) are billed: their tokens and cost",
         QStringList{
             // Added to by every refused answer; a completed task's cost_usd includes them, a
             // failed one's job cost counts them (jobTotals).
             u"ALTER TABLE tasks ADD COLUMN rejected_input_tokens INTEGER NOT NULL DEFAULT 0"_s,
             u"ALTER TABLE tasks ADD COLUMN rejected_output_tokens INTEGER NOT NULL DEFAULT 0"_s,
             u"ALTER TABLE tasks ADD COLUMN rejected_cost_usd REAL NOT NULL DEFAULT 0"_s,
         } + rejectedAnswersInOpenLine()},
        {16,
         "limits shared by the workers of a database: rate schedules, breakers, each worker's "
         "requests in flight and budget reservations",
         {
             // store/sharedlimits.h. The next free slot of each provider endpoint's
             // rate, in microseconds.
             uR"(CREATE TABLE rate_schedules (
                key TEXT PRIMARY KEY,
                next_free INTEGER NOT NULL) WITHOUT ROWID)"_s,
             uR"(CREATE TABLE breakers (
                key TEXT PRIMARY KEY,
                open_until INTEGER NOT NULL DEFAULT 0,
                open_ms INTEGER NOT NULL DEFAULT 0,
                probe_owner TEXT NOT NULL DEFAULT '',
                probe_until INTEGER NOT NULL DEFAULT 0,
                times_opened INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID)"_s,
             uR"(CREATE TABLE worker_shares (
                key TEXT NOT NULL,
                worker_id TEXT NOT NULL,
                amount INTEGER NOT NULL,
                updated_at INTEGER NOT NULL,
                PRIMARY KEY (key, worker_id)) WITHOUT ROWID)"_s,
         }},
        {17,
         "cost lines: one trigger per event, a running task's completion counted by the store "
         "per group; tasks by job without their state, tasks neither pending nor completed by "
         "state",
         oneTriggerPerEvent() +
             QStringList{
                 // tasks_job_state (job_id, state) moved an entry at every claim and completion,
                 // and tasks_lease at both too: a job's tasks are now found by job_id alone (no
                 // transition touches it), and the few that are neither pending (tasks_claim) nor
                 // completed (the cost lines count those) by state and job, in id order. A query
                 // of the leased, dead or cancelled states names `state NOT IN (0, 2)` so that
                 // SQLite may take the partial index.
                 u"DROP INDEX tasks_job_state"_s,
                 u"CREATE INDEX tasks_job ON tasks (job_id)"_s,
                 u"DROP INDEX tasks_lease"_s,
                 u"CREATE INDEX tasks_active ON tasks (state, job_id) WHERE state NOT IN (0, 2)"_s,
             }},
        {18,
         "an engine that stops says so in its last heartbeat (workers.stopped_at), so lists "
         "tell a stopped worker from a live one",
         {
             u"ALTER TABLE workers ADD COLUMN stopped_at INTEGER NOT NULL DEFAULT 0"_s,
         }},
        {19,
         "one index of pending tasks: tasks_waiting gives way to tasks_requeued, which holds only "
         "tasks back from a retry, a hand-back or a replay; the cost-line triggers hand a write "
         "that may move a line to one program",
         linesThroughOneProgram() +
             QStringList{
                 // tasks_waiting held every pending task a second time: an entry in at every
                 // import and out at every claim. A task pending since its import (not_before 0)
                 // waits since created_at, which grows with id, so its job's oldest per priority
                 // is the first such task of tasks_claim; the others (not_before set when they
                 // became pending again: few) are here, by when they became pending.
                 u"DROP INDEX IF EXISTS tasks_waiting"_s,
                 u"CREATE INDEX tasks_requeued ON tasks (job_id, priority, MAX(created_at, "
                 "not_before)) WHERE state = 0 AND not_before > 0"_s,
                 // The claim picks its tasks by not_before and state too: with both in the index
                 // (state always 0 here, and not_before mostly: no bytes but the record header's)
                 // the pick reads no table row; the update then reads each picked one once.
                 u"DROP INDEX tasks_claim"_s,
                 u"CREATE INDEX tasks_claim ON tasks (job_id, priority, id, not_before, state) "
                 "WHERE state = 0"_s,
             }},
    };
    return migrations;
}

QString costLineUpsertSql()
{
    QStringList marks;
    for (int i = 1; i <= 15; ++i)
        marks.append(u"?"_s + QString::number(i));
    return u"INSERT INTO job_cost_lines (%1) VALUES (%2)%3"_s.arg(
        CostLineSql::columns(), marks.join(u", "_s), CostLineSql::conflict());
}

int latestSchemaVersion()
{
    return sqliteMigrations().constLast().version;
}

namespace {

int storedVersion(QSqlDatabase &db)
{
    QSqlQuery query(db);
    if (!query.exec(u"PRAGMA user_version"_s) || !query.next())
        return -1;
    return query.value(0).toInt();
}

QString backupFileName(const QString &databasePath, int fromVersion)
{
    return databasePath + u".pre-v"_s + QString::number(fromVersion + 1) + u".bak"_s;
}

} // namespace

namespace {

// A consistent copy of the database as it is before an upgrade, made under a name of its
// own so that two processes upgrading at once never write one file together.
bool backUpBeforeUpgrade(QSqlDatabase &db, const QString &databasePath, QString *copyPath,
                         QString *error)
{
    QTemporaryFile reserved(databasePath + u".upgrade-XXXXXX"_s);
    if (!reserved.open()) {
        *error = u"cannot back up %1 before upgrading it: %2"_s.arg(databasePath,
                                                                    reserved.errorString());
        return false;
    }
    *copyPath = reserved.fileName();
    reserved.setAutoRemove(false); // the copy must outlive the reservation
    reserved.close();
    QFile::remove(*copyPath); // VACUUM INTO wants to create the file itself
    // VACUUM INTO writes a consistent copy even while WAL frames are outstanding; it cannot
    // run inside a transaction, so it comes before the migration lock.
    QSqlQuery query(db);
    const QString escaped = QString(*copyPath).replace(u"'"_s, u"''"_s);
    if (!query.exec(u"VACUUM INTO '"_s + escaped + u"'"_s)) {
        *error = u"cannot back up %1 before upgrading it: %2"_s.arg(databasePath,
                                                                    query.lastError().text());
        QFile::remove(*copyPath);
        return false;
    }
    return true;
}

} // namespace

bool migrateSqlite(QSqlDatabase &db, const QString &databasePath, QString *error,
                   QString *backupPath)
{
    const auto tooNew = [&](int version) {
        *error = u"%1 was written by a newer BatchDesk (schema %2, this build knows %3); "
                 "use that version or restore its .bak copy"_s.arg(databasePath)
                     .arg(version)
                     .arg(latestSchemaVersion());
        return false;
    };
    const int seen = storedVersion(db);
    if (seen < 0) {
        *error =
            u"cannot read the schema version of %1: %2"_s.arg(databasePath, db.lastError().text());
        return false;
    }
    if (seen > latestSchemaVersion())
        return tooNew(seen);
    if (seen == latestSchemaVersion())
        return true;

    QString copy;
    if (seen > 0 && databasePath != u":memory:"_s &&
        !backUpBeforeUpgrade(db, databasePath, &copy, error))
        return false;
    const auto dropCopy = qScopeGuard([&] {
        if (!copy.isEmpty())
            QFile::remove(copy);
    });

    // Every step in one write transaction: a second process opening the same new database
    // waits here (busy timeout) and then finds the schema already up to date, instead of
    // creating the same tables again. The version is read again once the lock is held.
    QSqlQuery query(db);
    if (!query.exec(u"BEGIN IMMEDIATE"_s)) {
        *error = u"cannot lock %1 for its schema migration: %2"_s.arg(databasePath,
                                                                      query.lastError().text());
        return false;
    }
    const auto fail = [&](const QString &what) {
        *error = what;
        query.exec(u"ROLLBACK"_s);
        return false;
    };
    const int current = storedVersion(db);
    if (current < 0)
        return fail(
            u"cannot read the schema version of %1: %2"_s.arg(databasePath, db.lastError().text()));
    if (current > latestSchemaVersion()) {
        query.exec(u"ROLLBACK"_s);
        return tooNew(current);
    }
    for (const Migration &migration : sqliteMigrations()) {
        if (migration.version <= current)
            continue;
        for (const QString &statement : migration.statements) {
            if (!query.exec(statement))
                return fail(u"schema migration %1 (%2) of %3 failed: %4"_s.arg(migration.version)
                                .arg(QString::fromLatin1(migration.description), databasePath,
                                     query.lastError().text()));
        }
        if (!query.exec(u"PRAGMA user_version = "_s + QString::number(migration.version)))
            return fail(query.lastError().text());
    }
    if (!query.exec(u"COMMIT"_s))
        return fail(u"cannot commit the schema migration of %1: %2"_s.arg(
            databasePath, query.lastError().text()));
    // The copy is kept only when this process did the upgrade it was made for.
    if (!copy.isEmpty() && current == seen) {
        const QString backup = backupFileName(databasePath, current);
        QFile::remove(backup);
        if (QFile::rename(copy, backup)) {
            copy.clear();
            if (backupPath)
                *backupPath = backup;
        }
    }
    return true;
}

} // namespace bd::store
