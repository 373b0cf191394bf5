#!/usr/bin/env bash
# Runs the console's keychain test against a real Secret Service: a private D-Bus session
# with a throwaway, unlocked GNOME Keyring (nothing of the user's keyring is touched).
# ctest skips that test on machines without a session bus.
#
#   scripts/keychain-test.sh [BUILD_DIR]
set -euo pipefail
if [[ "${1:-}" == "--inside" ]]; then
    home="$(mktemp -d)"
    trap 'rm -rf "$home"' EXIT
    export HOME="$home" XDG_DATA_HOME="$home/data" XDG_CONFIG_HOME="$home/config"
    printf 'throwaway' | gnome-keyring-daemon --unlock --components=secrets >/dev/null
    BATCHDESK_KEYCHAIN_TEST=throwaway QT_QPA_PLATFORM=offscreen "$2" keysLiveInTheKeychain
    exit
fi
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build}"
[[ "$build" = /* ]] || build="$here/$build"
test="$build/tests/test_gui_settings"
[[ -x "$test" ]] || { echo "missing $test: build it first" >&2; exit 1; }
command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null \
    || { echo "dbus-run-session and gnome-keyring-daemon are needed" >&2; exit 1; }

exec dbus-run-session -- "$0" --inside "$test"
