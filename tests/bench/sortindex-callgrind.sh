#!/usr/bin/env bash
# What a job's sort index (issue #18) costs the drain's completions, in instructions:
# the sqlite3 shell under callgrind completes half of a job's N tasks in one UPDATE on a
# database of the engine's schema (its triggers included), with no sort index, with one on
# another job, and with one on this job.
#
#   tests/bench/sortindex-callgrind.sh [BUILD_DIR] [N]     (default build, 100000)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$here/build}"
n="${2:-100000}"
for tool in sqlite3 valgrind "$build/bin/batchctl"; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
printf 'id,text\n1,a\n2,b\n' > "$work/in.csv"
# Two jobs on the engine's schema: job 1 is drained, job 2 is "another job".
for t in 'x {{text}}' 'y {{text}}'; do
    "$build/bin/batchctl" submit "$work/in.csv" --template "$t" --db "$work/seed.sqlite" \
        --provider simulator >/dev/null
done
sqlite3 "$work/seed.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
index() { # job
    echo "CREATE INDEX tasks_sort_$1_cost ON tasks (job_id, (COALESCE(cost_usd, -1)), id) WHERE job_id = $1;"
}
for variant in none other same; do
    db="$work/$variant.sqlite"
    cp "$work/seed.sqlite" "$db"
    before="" after=""
    [[ $variant == other ]] && before="$(index 2)"
    [[ $variant == same ]] && after="$(index 1)"
    sqlite3 "$db" >/dev/null <<SQL
$before
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
INSERT INTO tasks (job_id, row_no, vals, priority, created_at)
SELECT 1, i + 2, '["R' || i || '","the espresso machine works exactly as described"]', 2, 1 FROM n;
$after
PRAGMA wal_checkpoint(TRUNCATE);
SQL
    count=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null sqlite3 "$db" \
        "PRAGMA cache_size=-65536; UPDATE tasks SET state = 2, attempts = 1, output = 'answer',
         model = 'sim-1', input_tokens = 40, output_tokens = 4, cost_usd = (id % 997) / 1e5,
         started_at = 10, finished_at = 20 WHERE job_id = 1 AND id <= $((n / 2 + 4));" 2>&1 |
        sed -n 's/.*Collected : //p')
    printf '%-6s sort index: %s instructions to complete %d of %d tasks\n' "$variant" "$count" $((n / 2)) "$n"
done
