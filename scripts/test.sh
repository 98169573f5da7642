#!/usr/bin/env bash
# The whole test suite: Swift tests (optimized: the numeric parity tests are tens of times
# slower in a debug build) and the Python tests (tensor formats with real torch, training toolkit).
# Sets up what it needs first (scripts/setup.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup.sh
export AE_PYTHON="${AE_VENV:-$root/.venv}/bin/python"

swift build -c release -Xswiftc -enable-testing
swift test -c release -Xswiftc -enable-testing

"$AE_PYTHON" -m pytest -q Tests/python training/tests
