#!/usr/bin/env bash
# The store's claim/complete hot path driven by pgbench over libpq (-M prepared: the
# extended protocol with server-side prepared statements, no Qt in between), to compare
# with bin/bench_store_postgres (QPSQL) on the same server and the same statements.
# Usage: pgbench-claim-complete.sh URL [TASKS=20000] [GROUP=100]
# URL names a database that bench_store_postgres (BD_BENCH_PG_URL=URL) has created.
set -euo pipefail
url=$1
tasks=${2:-20000}
group=${3:-100}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
script=$(mktemp)
trap 'rm -f "$script"' EXIT

psql -q "$url" -v ON_ERROR_STOP=1 <<SQL
INSERT INTO jobs (fingerprint, source_path, source_sha256, template, provider, model, priority,
                  mode, max_retries, max_output_tokens, state, created_at, updated_at)
VALUES ('pgbench', '/pgbench.csv', '', '{{a}}', 'simulator', 'sim', 2, 'auto', 3, 256, 1, 1, 1);
INSERT INTO tasks (job_id, row_no, vals, priority, created_at)
SELECT (SELECT max(id) FROM jobs), n, '["row ' || n || '"]', 2, 1 FROM generate_series(1, $tasks) n;
SQL
job=$(psql -qtA "$url" -c "SELECT max(id) FROM jobs")

{
    # One claim statement per group, as PostgresStore::claimTasks; the group's id range is
    # kept for the completions (ids of one claim are consecutive here: one client).
    echo "WITH c AS (UPDATE tasks SET state = 1, lease_owner = 'pgbench', lease_expires = 1000000, started_at = 10 WHERE id IN (SELECT id FROM tasks WHERE job_id = $job AND state = 0 AND not_before <= 10 ORDER BY priority, id LIMIT $group FOR UPDATE SKIP LOCKED) RETURNING id) SELECT COALESCE(min(id), 0) AS lo FROM c \\gset"
    echo "BEGIN;"
    for ((k = 0; k < group; ++k)); do
        echo "UPDATE tasks SET state = 2, output = 'answer', model = 'sim', input_tokens = 0, output_tokens = 0, cached_tokens = 0, cache_write_tokens = 0, cost_usd = 0.0001 + classify_cost_usd, cache_hit = 0, http_status = 200, attempts = attempts + 1, finished_at = 20, error_class = NULL, error_message = NULL, lease_owner = NULL, lease_expires = NULL WHERE id = :lo + $k AND state = 1 AND lease_owner = 'pgbench';"
    done
    echo "INSERT INTO spend_days (day, usd) VALUES (0, 0.01) ON CONFLICT (day) DO UPDATE SET usd = spend_days.usd + excluded.usd;"
    echo "COMMIT;"
} > "$script"

"$bin/pgbench" -n -M prepared -c 1 -t $((tasks / group)) -f "$script" "$url" | grep -E "tps|latency average"
echo "tasks/s = tps x $group"
