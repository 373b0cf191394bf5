#!/usr/bin/env bash
# How soon an idle `batchctl worker` sends the first request of a job just submitted (issue
# #14): on PostgreSQL the submit wakes it through LISTEN/NOTIFY, on SQLite it finds the job
# at its next look (every 2 s). Starts a loopback server and one worker, then REPEAT times:
# submits a one-row job and measures from submit's return to the request's arrival (the
# server's counter, read every 5 ms). Prints each figure and the median.
# Usage: workers-wakeup.sh BUILD_BIN DB [REPEAT=7]
# DB is an SQLite file that does not exist yet, or a postgresql:// URL of an unused database.
set -euo pipefail
bin=$1
db=$2
repeat=${3:-7}
source "$(dirname "$0")/workers-common.sh"
"$bin/batchdesk-fakeprovider" --key sk-bench-0123456789 >"$dir/server.out" &
pids+=($!)
until grep -q listening "$dir/server.out"; do sleep 0.1; done
port=$(awk '/listening/ {print $3}' "$dir/server.out")
export OPENAI_API_KEY=sk-bench-0123456789
# The database exists before the worker starts.
"$bin/batchctl" status --db "$db" >/dev/null 2>&1 || true
"$bin/batchctl" worker --db "$db" 2>"$dir/worker.log" &
pids+=($!)
sleep 3
figures=()
for ((i = 1; i <= repeat; ++i)); do
    printf 'id,text\n1,wake %d %s\n' "$i" "$RANDOM" >"$dir/in$i.csv"
    before=$(curl -s "http://127.0.0.1:$port/fake/stats" | jq .chat_successes)
    "$bin/batchctl" submit "$dir/in$i.csv" --template 'Say {{text}}' --provider openai \
        --model gpt-4.1-mini --mode realtime --base-url "http://127.0.0.1:$port/v1" \
        --db "$db" --json >/dev/null 2>&1
    submitted=$(date +%s%N)
    until (($(curl -s "http://127.0.0.1:$port/fake/stats" | jq .chat_successes) > before)); do
        sleep 0.005
    done
    arrived=$(date +%s%N)
    ms=$(((arrived - submitted) / 1000000))
    figures+=("$ms")
    echo "job $i: first request $ms ms after submit returned"
    sleep $((RANDOM % 2)).$((RANDOM % 10))
done
sorted=$(printf '%s\n' "${figures[@]}" | sort -n)
echo "median $(sed -n "$(((repeat + 1) / 2))p" <<<"$sorted") ms over $repeat submits; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
