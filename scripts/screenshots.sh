#!/usr/bin/env bash
# Screenshots of every BatchDesk screen with a realistic job running on the simulator.
# Builds nothing: uses the binaries in $BUILD_DIR/bin (default: build). Needs Xvfb
# (xvfb-run or Xvfb) and ImageMagick's `import`. Writes docs/screenshots/*.png; with
# ONLY="tasks dead-letters", only those. SCREEN (default 1024x700, the smallest the
# console fits) is the Xvfb screen; the window fills it. SUFFIX is appended to each name
# (SCREEN=1440x900 SUFFIX=-wide ONLY=dashboard: the README's larger dashboard).
#
#   scripts/screenshots.sh [BUILD_DIR]
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-${BUILD_DIR:-$here/build}}"
[[ "$build" = /* ]] || build="$here/$build"
out="$here/docs/screenshots"
batchctl="$build/bin/batchctl"
batchdesk="$build/bin/batchdesk"
for tool in "$batchctl" "$batchdesk"; do
    [[ -x "$tool" ]] || { echo "missing $tool: build it first" >&2; exit 1; }
done
command -v import >/dev/null || { echo "ImageMagick 'import' is needed" >&2; exit 1; }
command -v Xvfb >/dev/null || { echo "Xvfb is needed" >&2; exit 1; }

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

db="$work/batchdesk.sqlite"
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" XDG_RUNTIME_DIR="$work/runtime"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
mkdir -p "$out"

display=":$((90 + RANDOM % 9))"
Xvfb "$display" -screen 0 "${SCREEN:-1024x700}x24" -nolisten tcp >/dev/null 2>&1 &
pids+=($!)
export DISPLAY="$display"
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done 2>/dev/null || sleep 1
export QT_QPA_PLATFORM=xcb

samples="$here/resources/samples/reviews.csv"
# A bigger input so the job is still running while the screens are taken (its template
# names the row id, so the copies are distinct prompts, not response-cache hits).
big="$work/reviews-large.csv"
head -1 "$samples" > "$big"
for i in $(seq 12); do tail -n +2 "$samples" | sed "s/^R/R${i}-/" >> "$big"; done

# A finished job with dead letters (some prompts the simulator refuses or always fails).
flaky="$work/support-tickets.csv"
{
    echo "ticket,channel,text"
    for i in $(seq 1 400); do
        case $((i % 23)) in
            0) echo "T$i,email,\"Please refund order $i [[sim:invalid]]\"" ;;
            7) echo "T$i,chat,\"App crashes at start, build $i [[sim:fail]]\"" ;;
            *) echo "T$i,phone,\"Customer $i asks about delivery times and invoices\"" ;;
        esac
    done
} > "$flaky"
timeout 25 "$batchctl" run "$flaky" --db "$db" --priority 1 --max-retries 1 \
    --template 'Route this support ticket to a team: {{text}} (channel {{channel}})' \
    --sim-latency-ms 5 >/dev/null 2>&1 || true

# A job that hits its budget (alerts at 80 % and at the cap, then pauses) and one the
# provider refuses for quota (the job pauses with an alert).
timeout 60 "$batchctl" run "$samples" --db "$db" --priority 2 --budget 0.03 --max-output-tokens 512 \
    --template 'Translate this review to French: {{review}}' --sim-latency-ms 2 >/dev/null 2>&1 || true
quota="$work/quota-check.csv"
{ echo "id,text"; for i in $(seq 1 120); do
    if [[ $i == 90 ]]; then echo "Q$i,\"over quota [[sim:quota]]\""; else echo "Q$i,question $i"; fi
  done; } > "$quota"
timeout 60 "$batchctl" run "$quota" --db "$db" --priority 1 --template 'Answer briefly: {{text}}' \
    --sim-latency-ms 2 >/dev/null 2>&1 || true

# A global budget across every job of the database (the dashboard's "Global budget").
"$batchctl" budget --set 50 --db "$db" >/dev/null 2>&1

# The running jobs: a standard one, slowed down to look live, and a batch lane job whose
# off-peak window opens in two hours (UTC), so the Jobs screen shows what it waits for.
h=$((10#$(date -u +%H)))
offpeak="$(printf '%02d:00-%02d:00@UTC' $(((h + 2) % 24)) $(((h + 4) % 24)))"
"$batchctl" run "$big" --db "$db" --priority 2 --concurrency 8 \
    --template 'Classify the sentiment of review {{review_id}} of a {{product}} as positive, neutral or negative: {{review}}' \
    --system 'You are a careful analyst. Answer in one short sentence.' \
    --sim-latency-ms 250 --sim-failure-rate 0.03 >/dev/null 2>&1 &
pids+=($!)
"$batchctl" run "$samples" --db "$db" --priority 3 --concurrency 4 --offpeak "$offpeak" \
    --template 'Write a one-line reply to {{customer}} about their {{product}}: {{review}}' \
    --sim-latency-ms 400 >/dev/null 2>&1 &
pids+=($!)
# Both imported and running first: on a loaded machine an import outlasts a few seconds,
# and a job killed while importing is not taken over (the dashboard then showed nothing
# running).
for _ in $(seq 120); do
    running=$("$batchctl" status --db "$db" 2>/dev/null | grep -cE '^job [0-9]+ +running' || true)
    [[ "$running" -ge 2 ]] && break
    sleep 0.5
done
sleep 2
# Pull the plug on batchctl: the jobs stay "running" with leases of a dead worker, and the
# console takes them over when it opens (the crash-recovery path), so every screen shows
# jobs that this process is running.
for pid in "${pids[@]:1}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
sleep 0.5

shoot() { # name page [extra args...]
    local name="$1" page="$2"; shift 2
    [[ -z "${ONLY:-}" || " $ONLY " == *" $name "* ]] || return 0
    "$batchdesk" --db "${db}" --page "$page" "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep "${SHOT_WAIT:-9}"
    import -window root "$out/$name${SUFFIX:-}.png"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "wrote docs/screenshots/$name${SUFFIX:-}.png"
}

# A first run: an empty database opens on the welcome panel.
SHOT_WAIT=5 db="$work/empty.sqlite" shoot welcome dashboard

# The dashboard first and longest, so its charts have a few minutes of history.
SHOT_WAIT=${DASHBOARD_WAIT:-150} shoot dashboard dashboard
shoot jobs jobs
shoot tasks tasks
shoot dead-letters dead-letters
shoot alerts alerts
SHOT_WAIT=5 shoot import-wizard jobs "$samples"
# Settings: a key from the environment for OpenAI (a placeholder, never a real one); the
# keychain has no Secret Service under Xvfb, which the Anthropic row says.
SHOT_WAIT=6 OPENAI_API_KEY=sk-placeholder-for-screenshots shoot settings dashboard --settings providers
SHOT_WAIT=6 shoot settings-prices dashboard --settings prices

# Another process on the same database: a `batchctl run` the console does not run (the
# Jobs view says "running · pid N"), and the Workers page listing both workers.
other="$work/other-process.csv"
head -1 "$samples" > "$other"
for i in $(seq 6); do tail -n +2 "$samples" | sed "s/^R/O${i}-/" >> "$other"; done
"$batchctl" run "$other" --db "$db" --priority 1 --concurrency 2 \
    --template 'Summarise review {{review_id}} in five words: {{review}}' \
    --sim-latency-ms 300 >/dev/null 2>&1 &
pids+=($!)
sleep 3
SHOT_WAIT=6 shoot console-other-process jobs --no-resume
# The Workers page on a database of its own with two `batchctl run`s and this window (on
# the main one, the runs that ended seconds before stay listed until their heartbeat is
# 30 s old).
wdb="$work/workers.sqlite"
if [[ -z "${ONLY:-}" || " $ONLY " == *" workers "* ]]; then
    for n in 1 2; do
        "$batchctl" run "$other" --db "$wdb" --priority 1 --concurrency 2 \
            --template "Summarise review {{review_id}} in $((n + 4)) words: {{review}}" \
            --sim-latency-ms 300 >/dev/null 2>&1 &
        pids+=($!)
    done
    sleep 4
fi
SHOT_WAIT=8 db="$wdb" shoot workers workers --no-resume
