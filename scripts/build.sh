#!/usr/bin/env bash
# Configures and builds BatchDesk into ./build (Ninja, two jobs, ccache when present).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
