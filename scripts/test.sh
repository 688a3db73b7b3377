#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what is missing, starts pcscd with
# the virtual readers, and runs every test of the workspace (unit, pcscd + vpcd integration, UI
# simulator, the reference servers in refserver/), then
# builds, installs, checks and removes the Debian package (scripts/package-test.sh, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export ICED_TEST_BACKEND=tiny-skia
cargo test --locked --workspace "$@"
# The Debian package from the binary the tests built: install, run, kiosk unit, remove.
scripts/package-test.sh
