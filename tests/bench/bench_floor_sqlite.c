/* The floor of `batchctl run` for bench_hotpaths: what SQLite itself needs to do the same
 * work with nothing around it. Reads the CSV, inserts every row as the store keeps it (a
 * JSON array of strings) into the tasks table of a database whose schema the caller
 * created (so the same indexes are maintained), then drains the job: claims 100 pending
 * tasks at a time (one transaction) and completes them (one transaction per group, each
 * update checked against the lease owner), and, on our schema, one cost-line upsert per
 * group. WAL, synchronous=NORMAL, as the engine.
 *
 *   bench_floor_sqlite DB CSV JOB_ID
 */

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "bench_floor_sqlite: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die(db, sql);
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK)
        die(db, sql);
    return statement;
}

static long long nowMs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct Buffer
{
    char *data;
    size_t size, capacity;
};

static void put(struct Buffer *b, char c)
{
    if (b->size + 1 >= b->capacity) {
        b->capacity = b->capacity ? b->capacity * 2 : 4096;
        b->data = realloc(b->data, b->capacity);
        if (!b->data)
            die(NULL, "out of memory");
    }
    b->data[b->size++] = c;
}

/* One CSV record (RFC 4180, quoted fields may hold commas, quotes and line breaks) as a
 * JSON array of strings. Returns 0 at the end of the file. */
static int readRecord(FILE *in, struct Buffer *json)
{
    int c = getc(in);
    if (c == EOF)
        return 0;
    json->size = 0;
    put(json, '[');
    put(json, '"');
    int quoted = 0;
    for (;; c = getc(in)) {
        if (quoted) {
            if (c == EOF)
                break;
            if (c == '"') {
                const int next = getc(in);
                if (next != '"') {
                    quoted = 0;
                    ungetc(next, in);
                    continue;
                }
            }
        } else if (c == '"') {
            quoted = 1;
            continue;
        } else if (c == ',') {
            put(json, '"');
            put(json, ',');
            put(json, '"');
            continue;
        } else if (c == '\n' || c == EOF) {
            break;
        } else if (c == '\r') {
            continue;
        }
        if (c == '"' || c == '\\') {
            put(json, '\\');
            put(json, (char)c);
        } else if ((unsigned char)c < 0x20) {
            char escape[8];
            snprintf(escape, sizeof escape, "\\u%04x", c);
            for (const char *e = escape; *e; ++e)
                put(json, *e);
        } else {
            put(json, (char)c);
        }
    }
    put(json, '"');
    put(json, ']');
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_floor_sqlite DB CSV JOB_ID\n");
        return 2;
    }
    const long long jobId = atoll(argv[3]);
    sqlite3 *db = NULL;
    if (sqlite3_open(argv[1], &db) != SQLITE_OK)
        die(db, "open");
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");

    FILE *in = fopen(argv[2], "rb");
    if (!in)
        die(NULL, "cannot open the CSV");
    struct Buffer json = {0};
    if (!readRecord(in, &json)) /* the header */
        die(NULL, "empty CSV");

    sqlite3_stmt *insert = prepare(db, "INSERT INTO tasks (job_id, row_no, vals, priority, "
                                       "created_at) VALUES (?1, ?2, ?3, 2, ?4)");
    long long rows = 0;
    exec(db, "BEGIN");
    while (readRecord(in, &json)) {
        ++rows;
        sqlite3_bind_int64(insert, 1, jobId);
        sqlite3_bind_int64(insert, 2, rows);
        sqlite3_bind_text(insert, 3, json.data, (int)json.size, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 4, nowMs());
        if (sqlite3_step(insert) != SQLITE_DONE)
            die(db, "insert");
        sqlite3_reset(insert);
        if (rows % 10000 == 0) {
            exec(db, "COMMIT");
            exec(db, "BEGIN");
        }
    }
    exec(db, "COMMIT");
    fclose(in);

    sqlite3_stmt *claim = prepare(
        db, "UPDATE tasks SET state = 1, lease_owner = 'floor', lease_expires = ?2, "
            "started_at = ?3 WHERE id IN (SELECT id FROM tasks WHERE job_id = ?1 AND state = 0 "
            "ORDER BY priority, id LIMIT 100) RETURNING id");
    sqlite3_stmt *complete = prepare(
        db, "UPDATE tasks SET state = 2, attempts = attempts + 1, output = ?2, model = ?3, "
            "input_tokens = ?4, output_tokens = ?5, cost_usd = ?6, finished_at = ?7, "
            "lease_owner = NULL, lease_expires = NULL WHERE id = ?1 AND state = 1 AND "
            "lease_owner = 'floor'");
    /* Since schema 17 a running task's completion is added to its cost line by the writer,
     * once per line and group (SqliteStore::applyTransitions): here one line per group,
     * when the schema keeps lines (a bare table, without their trigger, does not). */
    sqlite3_stmt *lines = prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'trigger' "
                                      "AND name = 'tasks_lines_update'");
    const int linesByWriter = sqlite3_step(lines) == SQLITE_ROW;
    sqlite3_finalize(lines);
    sqlite3_stmt *addLine =
        linesByWriter
            ? prepare(
                  db,
                  "INSERT INTO job_cost_lines (job_id, lane, model, day, tier, tasks, unpriced, "
                  "cost_usd, input_tokens, output_tokens) VALUES (?1, 'sync', 'sim-1', ?2, '', ?3, "
                  "0, "
                  "?4, ?5, ?6) ON CONFLICT (job_id, lane, model, day, tier) DO UPDATE SET "
                  "tasks = tasks + excluded.tasks, cost_usd = cost_usd + excluded.cost_usd, "
                  "input_tokens = input_tokens + excluded.input_tokens, "
                  "output_tokens = output_tokens + excluded.output_tokens")
            : NULL;
    static const char answer[] = "Sentiment: positive. The review praises the product and "
                                 "mentions no defect.";
    long long ids[100];
    long long completed = 0;
    for (;;) {
        const long long now = nowMs();
        exec(db, "BEGIN IMMEDIATE");
        sqlite3_bind_int64(claim, 1, jobId);
        sqlite3_bind_int64(claim, 2, now + 60000);
        sqlite3_bind_int64(claim, 3, now);
        int claimed = 0;
        while (sqlite3_step(claim) == SQLITE_ROW)
            ids[claimed++] = sqlite3_column_int64(claim, 0);
        if (sqlite3_reset(claim) != SQLITE_OK)
            die(db, "claim");
        exec(db, "COMMIT");
        if (claimed == 0)
            break;
        exec(db, "BEGIN IMMEDIATE");
        for (int i = 0; i < claimed; ++i) {
            sqlite3_bind_int64(complete, 1, ids[i]);
            sqlite3_bind_text(complete, 2, answer, (int)sizeof answer - 1, SQLITE_STATIC);
            sqlite3_bind_text(complete, 3, "sim-1", 5, SQLITE_STATIC);
            sqlite3_bind_int64(complete, 4, 40);
            sqlite3_bind_int64(complete, 5, 12);
            sqlite3_bind_double(complete, 6, 0.000026);
            sqlite3_bind_int64(complete, 7, nowMs());
            if (sqlite3_step(complete) != SQLITE_DONE || sqlite3_changes(db) != 1)
                die(db, "complete");
            sqlite3_reset(complete);
        }
        if (addLine) {
            sqlite3_bind_int64(addLine, 1, jobId);
            sqlite3_bind_int64(addLine, 2, nowMs() / 86400000);
            sqlite3_bind_int64(addLine, 3, claimed);
            sqlite3_bind_double(addLine, 4, 0.000026 * claimed);
            sqlite3_bind_int64(addLine, 5, 40LL * claimed);
            sqlite3_bind_int64(addLine, 6, 12LL * claimed);
            if (sqlite3_step(addLine) != SQLITE_DONE)
                die(db, "cost line");
            sqlite3_reset(addLine);
        }
        exec(db, "COMMIT");
        completed += claimed;
    }
    if (completed != rows) {
        fprintf(stderr, "bench_floor_sqlite: %lld rows, %lld completed\n", rows, completed);
        return 1;
    }
    sqlite3_finalize(insert);
    sqlite3_finalize(claim);
    sqlite3_finalize(complete);
    sqlite3_finalize(addLine);
    free(json.data);
    sqlite3_close(db);
    printf("%lld rows inserted, claimed and completed\n", rows);
    return 0;
}
