#!/usr/bin/env bash
# Builds the Debian package and checks it: control fields, contents, desktop and AppStream
# metadata, and that the binaries run from the unpacked package.
#
#   bash .ci/package-test.sh [BUILD_DIR]      (default: build-package, relative to the repo)
#
# BUILD_DIR may be an existing configured build tree; an unconfigured one is configured with
# Ninja and BUILD_TESTING=OFF. Missing tools are installed with apt-get when running as root:
# dpkg-dev (dpkg-shlibdeps, required), desktop-file-utils and appstream (validators, skipped
# when they cannot be installed). Exits non-zero on any failed check and prints
# "package-test: N passed, M failed" last.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build-package}
case "$build" in /*) ;; *) build="$repo/$build" ;; esac

app_id=io.github.batchdesk.BatchDesk
passed=0
failed=0

say() { printf 'package-test: %s\n' "$*"; }
pass() { passed=$((passed + 1)); say "ok   $*"; }
fail() { failed=$((failed + 1)); say "FAIL $*" >&2; }
die() { say "FAIL $*" >&2; say "$passed passed, $((failed + 1)) failed"; exit 1; }
check() { # check DESCRIPTION COMMAND...: one pass or fail from a command's status
    local what=$1; shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# --- tools --------------------------------------------------------------------------------

apt_updated=0
apt_install() { # apt_install PACKAGE...: true when all got installed
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
    export DEBIAN_FRONTEND=noninteractive
    say "installing $* with apt-get"
    if apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then return 0; fi
    if [ "$apt_updated" = 0 ]; then
        apt_updated=1
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 && return 0
    fi
    return 1
}
need_tool() { # need_tool COMMAND PACKAGE: true when COMMAND is (or was made) available
    command -v "$1" >/dev/null || apt_install "$2" || true
    command -v "$1" >/dev/null
}

command -v dpkg-deb >/dev/null || die "dpkg-deb missing: this test needs a Debian-based system"
need_tool dpkg-shlibdeps dpkg-dev || die "dpkg-shlibdeps missing (apt-get install dpkg-dev)"
have_desktop_validate=0; need_tool desktop-file-validate desktop-file-utils && have_desktop_validate=1
have_appstream=0; need_tool appstreamcli appstream && have_appstream=1

# --- expected values, from the sources -----------------------------------------------------

version=$(sed -n '/^project(/,/)/s/.*VERSION[[:space:]]\{1,\}\([0-9][0-9.]*\).*/\1/p' "$repo/CMakeLists.txt" | head -n 1)
release_date=$(sed -n 's/^set(BATCHDESK_RELEASE_DATE "\([^"]*\)").*/\1/p' "$repo/CMakeLists.txt")
arch=$(dpkg --print-architecture)
[ -n "$version" ] || die "cannot read the project version from CMakeLists.txt"
[ -n "$release_date" ] || die "cannot read BATCHDESK_RELEASE_DATE from CMakeLists.txt"
say "expecting batchdesk $version ($release_date) for $arch, build dir $build"

# --- build the package ----------------------------------------------------------------------

if [ ! -f "$build/CMakeCache.txt" ]; then
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    cmake -S "$repo" -B "$build" "${generator[@]}" -DBUILD_TESTING=OFF \
        || die "cmake could not configure $build"
fi
rm -f "$build"/batchdesk_*.deb "$build"/batchdesk_*.deb.sha256
cmake --build "$build" --target package || die "building the package failed (cmake --build $build --target package)"

shopt -s nullglob
debs=("$build"/batchdesk_*.deb)
shopt -u nullglob
[ "${#debs[@]}" = 1 ] || die "expected exactly one batchdesk_*.deb in $build, found ${#debs[@]}"
deb=${debs[0]}
check "file name is batchdesk_${version}_${arch}.deb" test "$(basename "$deb")" = "batchdesk_${version}_${arch}.deb"

# --- control fields -----------------------------------------------------------------------

info=$(dpkg-deb --info "$deb") || die "dpkg-deb --info cannot read $deb"
printf '%s\n' "$info" | sed -n '/^ Package:/,$p'
field() { dpkg-deb --field "$deb" "$1"; }
check "Package is batchdesk" test "$(field Package)" = batchdesk
check "Version is $version" test "$(field Version)" = "$version"
check "Architecture is $arch" test "$(field Architecture)" = "$arch"
check "Maintainer is set" test -n "$(field Maintainer)"
check "Section is set" test -n "$(field Section)"
check "Description is set" test -n "$(field Description)"
depends=$(field Depends)
# Depends entries are "name", "name (>= v)" or alternatives "a | b": take the names.
dep_names=" $(printf '%s\n' "$depends" | sed 's/[,|]/\n/g' | sed 's/(.*)//; s/[[:space:]]//g' | grep -v '^$' | tr '\n' ' ')"
for dep in libc6 libstdc++6 libqt6core6 libqt6gui6 libqt6widgets6 libqt6sql6 libqt6network6 libqt6sql6-sqlite libqt6sql6-psql; do
    case "$dep_names" in
        *" $dep "*) pass "Depends includes $dep" ;;
        *) fail "Depends lacks $dep (Depends: $depends)" ;;
    esac
done

# --- contents -----------------------------------------------------------------------------

contents=$(dpkg-deb --contents "$deb") || die "dpkg-deb --contents cannot read $deb"
paths=$(printf '%s\n' "$contents" | awk '{ print $6 }')
has_path() { printf '%s\n' "$paths" | grep -qxF "$1"; }
expected=(
    ./usr/bin/batchctl
    ./usr/bin/batchdesk
    "./usr/share/applications/$app_id.desktop"
    "./usr/share/metainfo/$app_id.metainfo.xml"
    "./usr/share/icons/hicolor/scalable/apps/$app_id.svg"
    ./usr/share/batchdesk/prices.json
    ./usr/share/batchdesk/samples/reviews.csv
    "./usr/lib/systemd/system/batchdesk-worker@.service"
    ./usr/share/doc/batchdesk/examples/worker.env
)
for size in 16 24 32 48 64 128 256; do
    expected+=("./usr/share/icons/hicolor/${size}x${size}/apps/$app_id.png")
done
for path in "${expected[@]}"; do
    if has_path "$path"; then pass "contains ${path#.}"; else fail "missing ${path#.}"; fi
done
stray=$(printf '%s\n' "$paths" | grep -E '^\./usr/local/|^\./usr/include/|\.a$|^\./(etc|opt|home|root|tmp)/' || true)
if [ -z "$stray" ]; then pass "no headers, static libraries or files outside /usr"; else fail "unexpected files: $stray"; fi
owners=$(printf '%s\n' "$contents" | awk '$2 != "root/root"' | head -n 3)
if [ -z "$owners" ]; then pass "all files owned by root/root"; else fail "files not owned by root: $owners"; fi
for bin in batchctl batchdesk; do
    mode=$(printf '%s\n' "$contents" | awk -v p="./usr/bin/$bin" '$6 == p { print $1 }')
    case "$mode" in -rwxr-xr-x) pass "/usr/bin/$bin is executable (0755)" ;; *) fail "/usr/bin/$bin has mode '$mode'" ;; esac
done

# --- unpack into a scratch root -----------------------------------------------------------

scratch=$(mktemp -d "${TMPDIR:-/tmp}/batchdesk-pkg.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$scratch"' EXIT
root="$scratch/root"
mkdir -p "$root" "$scratch/home"
dpkg-deb -x "$deb" "$root" || die "dpkg-deb -x failed"

desktop="$root/usr/share/applications/$app_id.desktop"
metainfo="$root/usr/share/metainfo/$app_id.metainfo.xml"
if [ "$have_desktop_validate" = 1 ]; then
    check "desktop-file-validate $app_id.desktop" desktop-file-validate "$desktop"
else
    say "skip desktop-file-validate (desktop-file-utils not available)"
fi
check "desktop file: Exec=batchdesk %f" grep -qx 'Exec=batchdesk %f' "$desktop"
check "desktop file: Icon=$app_id" grep -qx "Icon=$app_id" "$desktop"
if [ "$have_appstream" = 1 ]; then
    check "appstreamcli validate --no-net $app_id.metainfo.xml" appstreamcli validate --no-net "$metainfo"
    check "appstreamcli validate-tree --no-net (installed tree)" appstreamcli validate-tree --no-net "$root"
else
    say "skip appstreamcli (appstream not available)"
fi
check "metainfo has release $version dated $release_date" \
    grep -q "<release version=\"$version\" date=\"$release_date\"" "$metainfo"
no_placeholders() { ! grep -q '@[A-Z_]*@' "$1"; }
check "metainfo has no unconfigured @VARIABLES@" no_placeholders "$metainfo"

png_size() { # width x height from the IHDR chunk
    od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%dx%d", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'
}
for size in 16 24 32 48 64 128 256; do
    png="$root/usr/share/icons/hicolor/${size}x${size}/apps/$app_id.png"
    [ -f "$png" ] || continue
    got=$(png_size "$png")
    if [ "$got" = "${size}x${size}" ]; then pass "icon ${size}x${size} is a ${got} PNG"; else fail "icon ${size}x${size} is '$got'"; fi
done

for bin in batchctl batchdesk; do
    missing=$(ldd "$root/usr/bin/$bin" 2>&1 | grep 'not found' || true)
    if [ -z "$missing" ]; then pass "$bin: every shared library resolves"; else fail "$bin: $missing"; fi
done

# No LD_LIBRARY_PATH: the libraries are the system's. A scratch HOME keeps the user's alone.
# XDG_*_HOME are unset so the default locations under $HOME are used, as on a user's desktop.
mkdir -m 0700 "$scratch/runtime"
run_env=(env -u LD_LIBRARY_PATH -u XDG_CONFIG_HOME -u XDG_DATA_HOME -u XDG_CACHE_HOME
         HOME="$scratch/home" XDG_RUNTIME_DIR="$scratch/runtime")
out=$("${run_env[@]}" "$root/usr/bin/batchctl" --version 2>&1)
rc=$?
if [ "$rc" = 0 ] && [ "$out" = "batchctl $version" ]; then
    pass "unpacked batchctl --version prints '$out'"
else
    fail "unpacked batchctl --version: exit $rc, printed '$out' (expected 'batchctl $version')"
fi
out=$("${run_env[@]}" QT_QPA_PLATFORM=offscreen "$root/usr/bin/batchdesk" --version 2>&1)
rc=$?
case "$rc:$out" in
    "0:"*"$version"*) pass "unpacked batchdesk --version prints '$out'" ;;
    *) fail "unpacked batchdesk --version: exit $rc, printed '$out'" ;;
esac
# A real job on the packaged sample CSV with the simulator: the system's Qt SQLite driver
# (libqt6sql6-sqlite), the default database location documented in installer/README-install.md,
# and an export.
sample="$root/usr/share/batchdesk/samples/reviews.csv"
out=$("${run_env[@]}" "$root/usr/bin/batchctl" run "$sample" --template 'Classify: {{review}}' \
        --priority 1 --sim-latency-ms 0 --export "$scratch/results.csv" 2>&1)
rc=$?
if [ "$rc" = 0 ] && printf '%s\n' "$out" | grep -q 'finished'; then
    pass "unpacked batchctl run on the packaged sample finishes: $(printf '%s\n' "$out" | grep finished | tr -s ' ')"
else
    fail "unpacked batchctl run on the packaged sample: exit $rc: $out"
fi
default_db="$scratch/home/.local/share/BatchDesk/batchdesk.sqlite"
if [ -s "$default_db" ]; then
    pass "default database is ~/.local/share/BatchDesk/batchdesk.sqlite"
else
    fail "no database at ~/.local/share/BatchDesk/batchdesk.sqlite (found: $(cd "$scratch/home" && find . -name '*.sqlite' | tr '\n' ' ')); update installer/README-install.md if it moved"
fi
check "export written" test -s "$scratch/results.csv"
out=$("${run_env[@]}" "$root/usr/bin/batchctl" status 2>&1)
rc=$?
if [ "$rc" = 0 ]; then pass "unpacked batchctl status reads the database back"; else fail "unpacked batchctl status: exit $rc: $out"; fi

say "package $deb ($(du -h "$deb" | cut -f1))"
say "$passed passed, $failed failed"
[ "$failed" = 0 ]
