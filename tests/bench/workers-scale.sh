#!/usr/bin/env bash
# 1, 2 and 4 `batchctl worker` processes draining one job on a private PostgreSQL server on
# this machine (issue #14): against the simulator at 0 ms (ROWS0 rows) and at 200 ms
# (ROWS200 rows), every worker with --concurrency CONC. Prints per run: tasks/s over the
# drain (first task started to last finished, from the tasks table), its ratio to one
# worker's, the server's CPU seconds over the run (postmaster and backends, from /proc), and
# the connections of the job's database seen mid-run (pg_stat_activity).
# With STATEMENTS=1 in the environment the server loads pg_stat_statements and each run
# also prints its statements: calls per task and server time, most called first.
# Usage: workers-scale.sh BUILD_BIN [ROWS0=20000] [ROWS200=4000] [CONC=16] [WORKERS="1 2 4"]
#        [LATENCIES="0 200"]
set -euo pipefail
bin=$1
rows0=${2:-20000}
rows200=${3:-4000}
conc=${4:-16}
counts=${5:-"1 2 4"}
latencies=${6:-"0 200"}
statements=${STATEMENTS:-0}
preload=""
[[ $statements == 1 ]] && preload="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d)
chown postgres:postgres "$dir"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
runuser -u postgres -- "$pgbin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=100 $preload" \
    start >/dev/null
postmaster=$(head -1 "$dir/data/postmaster.pid")
tck=$(getconf CLK_TCK)
# CPU of the server in seconds: the postmaster and its live children, plus children gone.
pgcpu() {
    local total=0 pid
    read -r -a st < <(cut -d' ' -f14-17 "/proc/$postmaster/stat")
    total=$((st[0] + st[1] + st[2] + st[3]))
    for pid in $(pgrep -P "$postmaster"); do
        read -r -a st < <(cut -d' ' -f14-15 "/proc/$pid/stat" 2>/dev/null || echo "0 0")
        total=$((total + st[0] + st[1]))
    done
    echo "scale=2; $total / $tck" | bc
}
psqlq() { runuser -u postgres -- "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -qtA "$@"; }

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on this machine"
printf '%-8s %-8s %-7s %10s %8s %14s %12s\n' latency workers rows "tasks/s" "× one" "server CPU s" connections
for latency in $latencies; do
    rows=$([[ $latency == 0 ]] && echo "$rows0" || echo "$rows200")
    { echo "id,text"; for ((i = 1; i <= rows; ++i)); do echo "$i,row $i"; done; } >"$dir/in$latency.csv"
    one=""
    for n in $counts; do
        name="scale_${latency}_$n"
        db="postgresql://postgres@127.0.0.1:$port/$name"
        job=$("$bin/batchctl" submit "$dir/in$latency.csv" --template 'Say {{text}}' --provider simulator \
              --sim-latency-ms "$latency" --db "$db" --json 2>/dev/null | jq .job)
        if [[ $statements == 1 ]]; then
            psqlq -d "$name" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
            psqlq -d "$name" -c "SELECT pg_stat_statements_reset()" >/dev/null
        fi
        cpu0=$(pgcpu)
        wpids=()
        for ((w = 0; w < n; ++w)); do
            "$bin/batchctl" worker --db "$db" --concurrency "$conc" 2>"$dir/worker-$name-$w.log" &
            wpids+=($!)
            pids+=($!)
        done
        until (($(psqlq -d "$name" -c "SELECT COUNT(*) FROM tasks WHERE state = 2") >= rows / 3)); do sleep 0.2; done
        conns=$(psqlq -d "$name" -c "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '$name' AND pid <> pg_backend_pid()")
        "$bin/batchctl" wait "$job" --db "$db" --timeout 3600 >/dev/null 2>&1
        cpu1=$(pgcpu)
        for pid in "${wpids[@]}"; do kill -TERM "$pid"; done
        wait "${wpids[@]}" 2>/dev/null || true
        span=$(psqlq -d "$name" -c "SELECT MAX(finished_at) - MIN(started_at) FROM tasks")
        rate=$(echo "scale=1; $rows * 1000 / $span" | bc)
        [[ -z $one ]] && one=$rate
        printf '%-8s %-8s %-7s %10s %8s %14s %12s\n' "${latency} ms" "$n" "$rows" "$rate" \
            "$(echo "scale=2; $rate / $one" | bc)" "$(echo "$cpu1 - $cpu0" | bc)" "$conns"
        if [[ $statements == 1 ]]; then
            psqlq -d "$name" -F ' | ' -c "SELECT round(s.calls::numeric / $rows, 3) AS per_task, s.calls,
                round(s.total_exec_time::numeric) AS ms, left(regexp_replace(s.query, '\s+', ' ', 'g'), 110)
                FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                WHERE d.datname = '$name' ORDER BY s.calls DESC LIMIT 14" | sed 's/^/    /'
        fi
    done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
