#!/usr/bin/env bash
# The demo: sets everything up, builds acoustic-edge, and shows what it does today.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
swift build -c release
bin="$(swift build -c release --show-bin-path)/acoustic-edge"
"$bin" --help
