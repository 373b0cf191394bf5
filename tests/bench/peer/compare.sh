#!/usr/bin/env bash
# The README's headline comparison: the same CSV against the same loopback server, once by
# batchctl (--rpm given, and headers alone) and once by the peer script (OpenAI Node SDK,
# p-limit(32), default retries). The server admits LIMIT requests per WINDOW_MS sliding
# window, answers in 20 ms and states its limits per minute in x-ratelimit headers.
#
#   tests/bench/peer/compare.sh BUILD_DIR [ROWS] [LIMIT] [WINDOW_MS] [RESET]
#
# RESET: next-slot (the reset header names the next free slot, default) or until-full (it
# names when the window is whole again, as OpenAI and Anthropic do). Needs node and
# `npm ci` run once in tests/bench/peer. Prints wall time, 429 share and rows lost per run.
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd)
rows=${2:-3000}
limit=${3:-60}
window=${4:-2000}
reset=${5:-next-slot}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill "${server_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

rpm=$((limit * 60000 / window))
extra=()
[[ $reset == until-full ]] && extra+=(--reset-until-full)
"$build/bin/batchdesk-fakeprovider" --latency-ms 20 --rate-limit "$limit" --window-ms "$window" \
    --sliding "${extra[@]}" > "$work/server.out" &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/listening on/ {print $3}' "$work/server.out")
base="http://127.0.0.1:$port"

{
    echo "id,text"
    for i in $(seq "$rows"); do echo "$i,rate row $i about order $((7000 + i))"; done
} > "$work/rows.csv"

stats() { curl -s "$base/fake/stats"; }
reset_server() { curl -s -X POST "$base/fake/reset" > /dev/null; sleep $(( (window + 999) / 1000 + 1 )); }
share() { # successes refused
    python3 -c "import sys; ok, refused = int(sys.argv[1]), int(sys.argv[2]); print(f'{100.0 * refused / max(1, ok + refused):.2f} %')" "$1" "$2"
}
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

printf '%s\n' "server: $limit requests per $window ms sliding window (= $rpm rpm), reset header $reset, 20 ms a request; $rows rows; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %8s %10s %6s\n' client "wall s" "429 share" lost

run_batchctl() { # label, extra args...
    local label=$1; shift
    reset_server
    local home="$work/home-$RANDOM"
    mkdir -p "$home"
    local start end out
    start=$(date +%s.%N)
    out=$(HOME=$home XDG_CONFIG_HOME=$home/config XDG_DATA_HOME=$home/data \
        OPENAI_API_KEY=sk-bench-0000000000000000 \
        "$build/bin/batchctl" run "$work/rows.csv" --template 'Classify: {{text}}' \
        --provider openai-compatible --base-url "$base/v1" --model fake-model-1 --priority 2 \
        --max-output-tokens 64 --db "$home/jobs.sqlite" --json "$@")
    end=$(date +%s.%N)
    local s; s=$(stats)
    local completed; completed=$(field "$out" completed)
    printf '%-44s %8.1f %10s %6d\n' "$label" "$(echo "$end - $start" | bc)" \
        "$(share "$(field "$s" chat_successes)" "$(field "$s" enforced_refusals)")" $((rows - completed))
}

run_batchctl "batchctl --rpm $rpm --concurrency 32" --rpm "$rpm" --concurrency 32
run_batchctl "batchctl --concurrency 32 (headers only)" --concurrency 32
reset_server
out=$(node "$here/peer.mjs" "$base/v1" "$work/rows.csv" 32)
s=$(stats)
printf '%-44s %8.1f %10s %6d\n' "Node: openai SDK + p-limit(32)" "$(field "$out" wall_s)" \
    "$(share "$(field "$s" chat_successes)" "$(field "$s" enforced_refusals)")" "$(field "$out" lost)"
