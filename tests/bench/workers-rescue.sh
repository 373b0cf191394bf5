#!/usr/bin/env bash
# How fast a SIGKILLed worker's tasks come back: submits ROWS simulator rows (200 ms an
# answer), starts WORKERS `batchctl worker` processes (default lease and heartbeat), kills the
# first with SIGKILL once a fifth of the rows are done, and prints the seconds until none of
# its leases are left, the seconds until `batchctl wait` returns, the tasks rescued, and each
# survivor's completed count.
# Usage: workers-rescue.sh BATCHCTL DB [ROWS=3000] [WORKERS=3] [CONCURRENCY=8]
# DB is an SQLite file that does not exist yet, or a postgresql:// URL of an unused database.
set -euo pipefail
batchctl=$1
db=$2
rows=${3:-3000}
workers=${4:-3}
concurrency=${5:-8}
source "$(dirname "$0")/workers-common.sh"
sql() {
    if [[ $db == postgres* ]]; then psql -qtA "$db" -c "$1"; else sqlite3 "$db" "$1"; fi
}

{ echo "id,text"; for ((i = 1; i <= rows; ++i)); do echo "$i,row $i"; done; } >"$dir/in.csv"
job=$("$batchctl" submit "$dir/in.csv" --template 'Say {{text}}' --provider simulator \
      --sim-latency-ms 200 --db "$db" --json 2>/dev/null | jq .job)
for ((w = 0; w < workers; ++w)); do
    "$batchctl" worker --db "$db" --concurrency "$concurrency" 2>"$dir/worker$w.log" &
    pids+=($!)
done
start=$(date +%s.%N)
until (($(sql "SELECT COUNT(*) FROM tasks WHERE job_id = $job AND state = 2") >= rows / 5)); do
    sleep 0.2
done
dead=$(sql "SELECT id FROM workers WHERE pid = ${pids[0]}")
kill -9 "${pids[0]}"
killed=$(date +%s.%N)
held=$(sql "SELECT COUNT(*) FROM tasks WHERE state = 1 AND lease_owner = '$dead'")
until (($(sql "SELECT COUNT(*) FROM tasks WHERE state = 1 AND lease_owner = '$dead'") == 0)); do
    sleep 0.2
done
back=$(date +%s.%N)
"$batchctl" wait "$job" --db "$db" --timeout 600 >/dev/null 2>&1
done_at=$(date +%s.%N)
echo "rows $rows, workers $workers x concurrency $concurrency, killed at $(echo "$killed - $start" | bc) s holding $held leases"
echo "dead worker's leases back to pending after $(echo "$back - $killed" | bc) s"
echo "job finished $(echo "$done_at - $killed" | bc) s after the kill ($(echo "$done_at - $start" | bc) s in all)"
echo "rescued (sum over workers): $(sql "SELECT SUM(rescued) FROM workers")"
echo "completed by state: $(sql "SELECT COUNT(*) FROM tasks WHERE job_id = $job AND state = 2") of $rows"
for pid in "${pids[@]:1}"; do
    kill -TERM "$pid"
done
wait "${pids[@]:1}" 2>/dev/null || true
pids=()
sql "SELECT pid, completed FROM workers WHERE completed > 0 ORDER BY pid"
