#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan into their own build
# directory and runs each for a bounded time from the seed corpus in the tree
# (tests/fuzz/corpus/<target>). New inputs go to BUILD/corpus/<target>, crashes to
# BUILD/artifacts/. Exit 1 when any target found something.
#
#   scripts/fuzz.sh [BUILD_DIR]            default build-fuzz
#   FUZZ_SECONDS=105 (total run time, split evenly)  FUZZ_JOBS=2 (build jobs)
#   FUZZ_BUILD_SECONDS=N: give up (exit 3, nothing fuzzed) when the clang build takes longer
#   (CI sets it: a cold clang build of the engine takes tens of minutes on 2 cores)
#
# A finding prints the end of the fuzzer's log and the path of each input that made it
# fail; rerun one with `BUILD/fuzz/TARGET INPUT`, fix, and add the input to the target's
# seed corpus (tests/fuzz/corpus/TARGET/) so that every later run replays it first.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

build=${1:-build-fuzz}
total=${FUZZ_SECONDS:-105}
jobs=${FUZZ_JOBS:-2}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1

if ! command -v clang++ >/dev/null; then
    echo "fuzz: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 2
fi

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBATCHDESK_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
if [[ -n ${FUZZ_BUILD_SECONDS:-} ]]; then
    status=0
    timeout "$FUZZ_BUILD_SECONDS" cmake --build "$build" -j "$jobs" || status=$?
    if (( status == 124 )); then
        echo "fuzz: SKIPPED — the clang build did not finish in ${FUZZ_BUILD_SECONDS}s" \
            "(cold ccache); nothing was fuzzed. Run scripts/fuzz.sh by hand." >&2
        exit 3
    fi
    (( status == 0 )) || exit "$status"
else
    cmake --build "$build" -j "$jobs"
fi

targets=()
for source in tests/fuzz/fuzz_*.cpp; do
    targets+=("$(basename "$source" .cpp)")
done
seconds=$(( total / ${#targets[@]} ))
(( seconds >= 1 )) || seconds=1
mkdir -p "$build/artifacts"

failed=()
for target in "${targets[@]}"; do
    mkdir -p "$build/corpus/$target"
    rm -f "$build/artifacts/$target-"* # only this run's findings are reported
    echo "fuzz: $target for ${seconds}s"
    # The first corpus directory collects what is new; the seeds in the tree are only read.
    if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$target-" \
        "$build/corpus/$target" "tests/fuzz/corpus/$target" >"$build/$target.log" 2>&1; then
        failed+=("$target")
        tail -n 40 "$build/$target.log" >&2
        for input in "$build/artifacts/$target-"*; do
            [[ -e $input ]] && echo "fuzz: $target FAILED on input $input" >&2
        done
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/$target.log" |
        tr '\n' ' ' | sed "s/^/fuzz: $target: /"
    echo
done

if (( ${#failed[@]} )); then
    echo "fuzz: FOUND problems in: ${failed[*]} (inputs in $build/artifacts/)" >&2
    echo "fuzz: $(( SECONDS - started )) s with the build" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each, nothing found ($(( SECONDS - started )) s with the build)"
