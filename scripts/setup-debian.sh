#!/usr/bin/env bash
# Installs what BatchDesk needs to build, test and package on Debian 12 (run as root,
# or with sudo). Installs nothing that is already there.
set -euo pipefail

packages=(
    # toolchain
    cmake ninja-build g++ ccache pkg-config git file dpkg-dev
    # Qt 6 (Charts needs the OpenGL dev package on Debian; HttpServer needs WebSockets)
    qt6-base-dev qt6-charts-dev libqt6opengl6-dev qt6-httpserver-dev qt6-websockets-dev
    libqt6sql6-sqlite libqt6sql6-psql
    # provider keys in the OS keychain; the keychain tests run a private GNOME Keyring
    qtkeychain-qt6-dev gnome-keyring dbus libsecret-tools
    # storage and export (XLSX is written by our own code over zlib)
    libsqlite3-dev zlib1g-dev libpq-dev
    # SHA-256 with the CPU's instructions (libcrypto's headers and pkg-config)
    libssl-dev
    # benchmarks: the sqlite3 shell is the export floor (tests/bench/bench_hotpaths)
    sqlite3
    # structured answers: JSON Schema validation, and reading a schema's field order
    libvalijson-dev nlohmann-json3-dev
    # the PostgreSQL backend's tests start a private server of their own (initdb, pg_ctl
    # from /usr/lib/postgresql/<v>/bin); the cluster the package may start is never used
    postgresql
    # GUI tests and screenshots without a display
    xvfb xauth imagemagick
    # package checks
    desktop-file-utils appstream
    # fuzzing (scripts/fuzz.sh: libFuzzer, ASan, UBSan)
    clang libclang-rt-14-dev
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-debian: all ${#packages[@]} packages already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "setup-debian: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
