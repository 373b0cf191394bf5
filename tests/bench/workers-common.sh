# Sourced by the workers-*.sh benchmarks: a scratch folder ($dir) and the background
# processes they start ($pids), both gone when the script exits however it ends.
dir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
