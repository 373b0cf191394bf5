#!/usr/bin/env bash
# Renders resources/icons/batchdesk.svg into the hicolor PNGs that are committed next to it.
# Only needed after the SVG changes; the build and the package use the committed PNGs.
# Needs rsvg-convert (Debian package: librsvg2-bin).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
svg="$root/resources/icons/batchdesk.svg"
command -v rsvg-convert >/dev/null || { echo "render-icons: rsvg-convert missing (apt-get install librsvg2-bin)" >&2; exit 1; }
for size in 16 24 32 48 64 128 256; do
    dir="$root/resources/icons/hicolor/${size}x${size}/apps"
    mkdir -p "$dir"
    rsvg-convert --width "$size" --height "$size" --format png \
        --output "$dir/io.github.batchdesk.BatchDesk.png" "$svg"
    echo "rendered $dir/io.github.batchdesk.BatchDesk.png"
done
