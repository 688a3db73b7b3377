#!/usr/bin/env bash
# Builds and runs the demo station: local store, a simulated dual-interface card in the virtual readers,
# no server. Without a display it runs under Xvfb and saves a screenshot instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --desktop
# `sim` builds cardstation-sim beside the station: the station binary holds no simulator.
cargo build --locked --features sim
export ICED_BACKEND="${ICED_BACKEND:-tiny-skia}"
# The demo profile's DESFire key masters (write, read): public demo values, never real ones.
export CARDSTATION_DEMO_DESFIRE_KEY="${CARDSTATION_DEMO_DESFIRE_KEY:-00112233445566778899AABBCCDDEEFF}"
export CARDSTATION_DEMO_DESFIRE_READ_KEY="${CARDSTATION_DEMO_DESFIRE_READ_KEY:-F0E1D2C3B4A5968778695A4B3C2D1E0F}"
# The demo desk's ELS card key master: public, for the simulated card only.
export CARDSTATION_DEMO_CARD_KEY="${CARDSTATION_DEMO_CARD_KEY:-404142434445464748494A4B4C4D4E4F}"
# The demo profile's card (profiles/demo.toml [demo]): a dual-interface card, as the desk
# issues them. Its contact side is a blank ELS chip personalised with the write key the demo
# desk derives, as a manufacturer's blank would be, in "Virtual PCD 00 00"; its contactless
# side a blank DESFire EV1 in "Virtual PCD 00 01", the profile's contactless reader, where
# the desk writes the university application.
target/debug/cardstation-sim --card els --uid "${DEMO_CARD_UID:-04A1B2C3D4E5F6}" \
  --card-key-env CARDSTATION_DEMO_CARD_KEY &
sim=$!
target/debug/cardstation-sim --card desfire --uid "${DEMO_CARD_UID:-04A1B2C3D4E5F6}" \
  --reader-port 35964 &
sim_contactless=$!
trap 'kill $sim $sim_contactless 2>/dev/null || true' EXIT
if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  target/debug/cardstation "$@"
  exit
fi
echo "demo: no display found; running under Xvfb on :99 and saving a screenshot" >&2
Xvfb :99 -screen 0 1280x800x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $app $xvfb $sim $sim_contactless 2>/dev/null || true' EXIT
export DISPLAY=:99
sleep 1
target/debug/cardstation "$@" &
app=$!
sleep "${DEMO_SECONDS:-6}"
xwd -root -silent | convert xwd:- png:target/demo-screenshot.png
echo "demo: screenshot saved to target/demo-screenshot.png" >&2
