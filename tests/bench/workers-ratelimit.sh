#!/usr/bin/env bash
# Three (or WORKERS) `batchctl worker` processes under one shared --rpm limit (issue #14):
# a loopback server (batchdesk-fakeprovider) enforces RPM requests per sliding 60 s and
# answers in LATENCY ms; the job is submitted with --rpm RPM and ROWS rows; every worker
# has --concurrency 8 (together they could send far more). Prints the requests answered
# and refused (429), the pace at the server (requests, refused ones included, from the first
# arrival to the last) in requests a minute and as a share of the limit, and the verdict
# against issue #14's goal: PASS with >= 95 % of the limit and <= 1 % refused (exit 0),
# else FAIL (exit 1). The pace from the first answer until `batchctl wait` returned is
# printed too: it also counts wait's polling (500 ms) and start, so it reads a little lower.
# Usage: workers-ratelimit.sh BUILD_BIN DB [ROWS=3600] [WORKERS=3] [RPM=1800] [LATENCY=200]
# DB is an SQLite file that does not exist yet, or a postgresql:// URL of an unused database.
set -euo pipefail
bin=$1
db=$2
rows=${3:-3600}
workers=${4:-3}
rpm=${5:-1800}
latency=${6:-200}
source "$(dirname "$0")/workers-common.sh"

"$bin/batchdesk-fakeprovider" --latency-ms "$latency" --rate-limit "$rpm" --window-ms 60000 \
    --sliding --key sk-bench-0123456789 >"$dir/server.out" &
pids+=($!)
until grep -q listening "$dir/server.out"; do sleep 0.1; done
port=$(awk '/listening/ {print $3}' "$dir/server.out")
export OPENAI_API_KEY=sk-bench-0123456789
{ echo "id,text"; for ((i = 1; i <= rows; ++i)); do echo "$i,row $i"; done; } >"$dir/in.csv"
job=$("$bin/batchctl" submit "$dir/in.csv" --template 'Say {{text}}' --provider openai \
      --model gpt-4.1-mini --mode realtime --base-url "http://127.0.0.1:$port/v1" --rpm "$rpm" \
      --db "$db" --json 2>/dev/null | jq .job)
for ((w = 0; w < workers; ++w)); do
    "$bin/batchctl" worker --db "$db" --concurrency 8 2>"$dir/worker$w.log" &
    pids+=($!)
done
until (($(curl -s "http://127.0.0.1:$port/fake/stats" | jq .chat_successes) > 0)); do sleep 0.05; done
start=$(date +%s.%N)
first=$(curl -s "http://127.0.0.1:$port/fake/stats" | jq .chat_successes)
"$bin/batchctl" wait "$job" --db "$db" --timeout 3600 >/dev/null 2>&1
end=$(date +%s.%N)
stats=$(curl -s "http://127.0.0.1:$port/fake/stats")
ok=$(jq .chat_successes <<<"$stats")
refused=$(jq .rate_limited <<<"$stats")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rows $rows, workers $workers x concurrency 8, limit $rpm a minute (sliding 60 s), answers after ${latency} ms"
echo "answered $ok, refused with 429: $refused ($(echo "scale=2; 100 * $refused / ($ok + $refused)" | bc) %)"
arrivals=$(jq .chat_arrivals <<<"$stats")
span_ms=$(( $(jq .last_chat_at_ms <<<"$stats") - $(jq .first_chat_at_ms <<<"$stats") ))
pace=$(echo "scale=1; ($arrivals - 1) * 60000 / $span_ms" | bc)
share=$(echo "scale=1; 100 * $pace / $rpm" | bc)
refused_share=$(echo "scale=2; 100 * $refused / ($ok + $refused)" | bc)
echo "pace at the server, first request to last: $pace a minute = $share % of the limit ($arrivals requests in $span_ms ms)"
client=$(echo "scale=1; ($ok - $first) * 60 / ($end - $start)" | bc)
echo "pace from the first answer until wait returned: $client a minute = $(echo "scale=1; 100 * $client / $rpm" | bc) % of the limit"
if (( $(echo "$share >= 95 && $refused_share <= 1" | bc) )); then
    echo "PASS: >= 95 % of the limit with <= 1 % refused (issue #14)"
else
    echo "FAIL: the goal is >= 95 % of the limit with <= 1 % refused (issue #14)"
    exit 1
fi
