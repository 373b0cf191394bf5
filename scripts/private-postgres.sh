#!/usr/bin/env bash
# A private PostgreSQL server for the tests (issue #14): initdb in a temporary folder (as the
# postgres user when run as root: the server refuses to run as root), listening on 127.0.0.1
# only at a port of its own, its socket in that folder, trust authentication, no fsync. Never
# the cluster Debian's package may have started.
#
#   dir=$(scripts/private-postgres.sh start)     # prints the folder; $dir/url holds the URL
#   export BD_TEST_POSTGRES_URL=$(cat "$dir/url") # postgresql://postgres@127.0.0.1:PORT/postgres
#   trap 'scripts/private-postgres.sh stop "$dir"' EXIT
#   scripts/private-postgres.sh stop "$dir"      # stops the server and removes the folder
#
# With BD_TEST_POSTGRES_URL set, tests/store/privatepostgres.* make a fresh database per test
# on this server instead of an initdb of their own. BD_PG_BINDIR overrides where initdb and
# pg_ctl are (else the newest /usr/lib/postgresql/<v>/bin).
set -euo pipefail

bindir() {
    if [[ -n ${BD_PG_BINDIR:-} ]]; then
        echo "$BD_PG_BINDIR"
        return
    fi
    local v
    v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
    [[ -n $v && -x /usr/lib/postgresql/$v/bin/initdb ]] ||
        { echo "private-postgres: PostgreSQL's server is not installed (Debian: postgresql)" >&2; exit 1; }
    echo "/usr/lib/postgresql/$v/bin"
}

# As the postgres user when root, else as ourselves.
as_owner() {
    if (( EUID == 0 )); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

stop() {
    local dir=$1
    [[ -n $dir && -f $dir/private-postgres ]] ||
        { echo "private-postgres: $dir is not a folder this script made" >&2; exit 1; }
    if [[ -f $dir/data/postmaster.pid ]]; then
        as_owner "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf -- "$dir"
}

start() {
    local bin dir port
    bin=$(bindir)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/bd-ci-pg-XXXXXX")
    touch "$dir/private-postgres"
    # Half made is removed; a started server is the caller's to stop.
    trap 'stop "$dir"' EXIT
    (( EUID == 0 )) && chown postgres:postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync \
        --no-instructions >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    # A port can be taken between the pick and the start: try a few.
    for _ in 1 2 3 4 5; do
        port=$(( 20000 + RANDOM % 30000 ))
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir \
                -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                -c max_connections=200" start >/dev/null 2>&1; then
            echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/url"
            trap - EXIT
            echo "$dir"
            return
        fi
    done
    tail -n 20 "$dir/server.log" >&2 || true
    exit 1
}

case ${1:-} in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: $0 start | stop FOLDER" >&2; exit 2 ;;
esac
