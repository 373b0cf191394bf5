#!/usr/bin/env bash
# Sanitizer runs, each in a build directory of its own (a full rebuild each: minutes).
#
#   scripts/sanitizers.sh [asan|tsan|all]     default all
#
# asan: ASan + UBSan over the whole build and every test ctest runs (build-asan/).
# tsan: TSan over the engine's threading tests: the engine thread, the store writer, the
#       import parser thread and the reader worker (build-tsan/).
# SAN_JOBS=1 build jobs (the machine is shared); exit 1 when a sanitizer or a test failed.
# SAN_TESTS="test_a test_b" builds and runs only those tests under ASan (default: the whole
# build and every test).
# SAN_BUILD_SECONDS=N: give up on a part whose build takes longer (exit 3, that part not
# run; .ci/run sets it so that a cold ccache cannot push CI past its time budget).
# Each part prints how long its build and its tests took.
# Exit: 0 clean, 1 a sanitizer report or a failed test, 3 a build over SAN_BUILD_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
jobs=${SAN_JOBS:-1}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1
export QT_QPA_PLATFORM=offscreen
status=0
# -O1 with line tables only: what the sanitizers' reports need, and a build that compiles and
# links much faster than RelWithDebInfo (full debug info makes each test binary ~100 MB).
san_flags=(-DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1" "-DCMAKE_C_FLAGS=-O1 -g1")

# Tests whose engine runs threads (QThread workers, QtConcurrent import, store writer).
tsan_tests=(test_dispatcher test_preemption test_replay test_global_budget test_offpeak
            test_store test_resilience test_jobio_hardening test_sqlitecheckpoint test_writebehind)

# cmake --build, cut off after SAN_BUILD_SECONDS when set: exit 3 with a loud line.
build() {
    local dir=$1 rc=0
    shift
    if [[ -z ${SAN_BUILD_SECONDS:-} ]]; then
        cmake --build "$dir" -j "$jobs" "$@"
        return
    fi
    timeout "$SAN_BUILD_SECONDS" cmake --build "$dir" -j "$jobs" "$@" || rc=$?
    if (( rc == 124 )); then
        echo "sanitizers: SKIPPED $dir — its build did not finish in ${SAN_BUILD_SECONDS}s" \
            "(cold ccache?); nothing was run there. Run scripts/sanitizers.sh by hand." >&2
        exit 3
    fi
    return "$rc"
}

run_asan() {
    cmake -S . -B build-asan -G Ninja "${san_flags[@]}" \
        -DBATCHDESK_SANITIZE=address,undefined >/dev/null
    local started=$SECONDS regex=.
    if [[ -n ${SAN_TESTS:-} ]]; then
        read -r -a only <<<"$SAN_TESTS"
        build build-asan --target "${only[@]}"
        regex="^($(IFS='|'; echo "${only[*]}"))\$"
    else
        build build-asan
    fi
    echo "sanitizers: asan build $(( SECONDS - started )) s"
    started=$SECONDS
    # Leaks inside system libraries Qt loads (fontconfig, D-Bus, GLib) are not ours.
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
    export LSAN_OPTIONS=suppressions=$PWD/scripts/lsan.supp:print_suppressions=0
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # The keychain test needs a private D-Bus session (scripts/keychain-test.sh); a
    # sanitizer build is slower, so the timeouts are scaled.
    ctest --test-dir build-asan -E 'test_gui_keychain' -R "$regex" --timeout 900 \
        --output-on-failure -j "$jobs" || status=1
    echo "sanitizers: asan tests $(( SECONDS - started )) s"
}

run_tsan() {
    cmake -S . -B build-tsan -G Ninja "${san_flags[@]}" \
        -DBATCHDESK_SANITIZE=thread >/dev/null
    local started=$SECONDS
    build build-tsan --target "${tsan_tests[@]}" batchctl
    echo "sanitizers: tsan build $(( SECONDS - started )) s"
    started=$SECONDS
    # Qt and GLib are not built with TSan and hand work between threads through futexes and
    # atomics TSan cannot see. ignore_noninstrumented_modules: the memory accesses TSan's
    # interceptors (free, memcpy, pthread_cond_destroy...) make on behalf of those libraries
    # are not checked (their own loads and stores never are); their locking still counts,
    # and every access in our code (and Qt's inline headers) is checked. What remains of
    # that kind is in scripts/tsan.supp, each line with its reason.
    export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:report_signal_unsafe=0:die_after_fork=0:ignore_noninstrumented_modules=1:suppressions=$PWD/scripts/tsan.supp"
    local regex
    regex="^($(IFS='|'; echo "${tsan_tests[*]}"))\$"
    ctest --test-dir build-tsan -R "$regex" --timeout 900 --output-on-failure -j 1 || status=1
    echo "sanitizers: tsan tests $(( SECONDS - started )) s"
}

case "$what" in
asan) run_asan ;;
tsan) run_tsan ;;
all)
    run_asan
    run_tsan
    ;;
*)
    echo "usage: $0 [asan|tsan|all]" >&2
    exit 2
    ;;
esac
exit $status
