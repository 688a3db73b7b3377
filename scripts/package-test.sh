#!/usr/bin/env bash
# The Debian package as IT staff install it: builds the .deb from the debug binary the test run
# already built (no second, release build), installs it with dpkg, runs the installed binary,
# checks every file is where it belongs, verifies the kiosk's user unit and starts its ExecStart
# line under Xvfb until the window shows and covers the screen, verifies the sync unit and runs
# its ExecStart against the reference server until a sync has pulled the server's people, then
# removes the package so a rerun starts clean.
# Needs root (dpkg); scripts/test.sh calls it last. A missing tool fails, never skips.
#   KEEP_PACKAGE=1 scripts/package-test.sh   leave the package installed for a look
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
log() { echo "package-test: $*" >&2; }
fail() {
  log "FAIL: $*"
  exit 1
}

[[ $(id -u) -eq 0 ]] || fail "run as root: it installs and removes the package with dpkg"

# Tools (xvfb, xdotool, systemd, dpkg-dev, desktop-file-utils) and a running pcscd.
scripts/setup.sh --package
for tool in Xvfb xdotool systemd-analyze dpkg-deb dpkg-shlibdeps desktop-file-validate; do
  command -v "$tool" >/dev/null || fail "$tool is missing after scripts/setup.sh --package"
done

# cargo-deb, pinned: its options (--no-build with the dev profile) are what this script relies on.
cargo_deb_version=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qx "cargo-deb $cargo_deb_version"; then
  log "installing cargo-deb $cargo_deb_version"
  t=$SECONDS
  cargo install cargo-deb --locked --version "$cargo_deb_version"
  log "cargo-deb installed in $((SECONDS - t)) s"
fi

# The binary of the test run. `cargo test` builds it with the dev-dependencies' features unified
# in, so `cargo build` would rebuild the dependencies those features touch; `cargo test --no-run`
# is a no-op after scripts/test.sh's test run (and builds what is stale when run alone).
t=$SECONDS
cargo test --locked --workspace --no-run --quiet
target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
[[ -n "$target_dir" ]] || fail "cannot find cargo's target directory"
bin="$target_dir/debug/cardstation"
[[ -x "$bin" ]] || fail "cargo test --no-run left no $bin"
log "binary ready in $((SECONDS - t)) s: $bin"

# Man pages from the clap tree, where the asset "target/release/man/*.1.gz" resolves for --profile dev.
rm -rf "$target_dir/debug/man"
"$bin" manpages "$target_dir/debug/man"
gzip -9n "$target_dir"/debug/man/*.1

# --profile dev packages target/debug (cargo-deb warns that it is meant for release builds;
# `cargo deb` alone is the release package the README describes). --fast: gzip-like xz level,
# 3 s instead of 21 s for a package that is thrown away (11 MB instead of 8.6 MB).
t=$SECONDS
rm -rf "$target_dir/debian"
cargo deb --locked --no-build --profile dev --fast --quiet --output "$target_dir/debian/" >/dev/null
debs=("$target_dir"/debian/cardstation_*.deb)
deb=${debs[0]}
[[ -f "$deb" ]] || fail "cargo deb made no package in $target_dir/debian"
log "built $(basename "$deb") ($(du -h "$deb" | cut -f1)) in $((SECONDS - t)) s"

tmp=$(mktemp -d)
xvfb_pid=""
kiosk_pid=""
sync_pid=""
server_pid=""
cleanup() {
  [[ -n "$kiosk_pid" ]] && kill "$kiosk_pid" 2>/dev/null && wait "$kiosk_pid" 2>/dev/null
  [[ -n "$sync_pid" ]] && kill "$sync_pid" 2>/dev/null && wait "$sync_pid" 2>/dev/null
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [[ -n "$xvfb_pid" ]] && kill "$xvfb_pid" 2>/dev/null && wait "$xvfb_pid" 2>/dev/null
  if [[ "${KEEP_PACKAGE:-}" != 1 ]] && dpkg-query -W cardstation >/dev/null 2>&1; then
    dpkg --purge cardstation >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Install as IT staff would: dpkg, then apt for the dependencies dpkg could not satisfy.
dpkg-query -W cardstation >/dev/null 2>&1 && dpkg --purge cardstation >/dev/null
if ! dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1; then
  log "dpkg -i left dependencies to apt: $(grep -o 'depends on [^;]*' "$tmp/dpkg.log" | sort -u | tr '\n' ' ')"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -f -y -qq >/dev/null 2>&1 || { apt-get update -qq && apt-get install -f -y -qq >/dev/null; }
fi
[[ $(dpkg-query -W -f='${Status}' cardstation) == "install ok installed" ]] || fail "cardstation is not installed: $(cat "$tmp/dpkg.log")"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
[[ $(/usr/bin/cardstation --version) == "cardstation $version" ]] || fail "--version: $(/usr/bin/cardstation --version)"
readers=$(/usr/bin/cardstation readers) || fail "cardstation readers failed"
[[ "$readers" == *"Virtual PCD 00 00"* ]] || fail "cardstation readers lists no 'Virtual PCD 00 00': $readers"
log "installed: $(/usr/bin/cardstation --version); readers: $(echo "$readers" | head -1)"

files=$(dpkg -L cardstation)
for path in /usr/bin/cardstation \
  /usr/share/man/man1/cardstation.1.gz /usr/share/man/man1/cardstation-readers.1.gz \
  /usr/share/doc/cardstation/README.md /usr/share/doc/cardstation/copyright \
  /usr/share/cardstation/profiles/kiosk.toml /usr/share/cardstation/profiles/issuance-desk.toml \
  /usr/share/cardstation/profiles/print-station.toml /usr/share/cardstation/profiles/demo.toml \
  /usr/share/cardstation/profiles/layouts/els-student.toml /usr/share/cardstation/profiles/layouts/staff-badge.toml \
  /usr/share/cardstation/assets/fonts/DejaVuSans.ttf /usr/share/cardstation/assets/fonts/DejaVu-LICENSE.txt \
  /usr/share/cardstation/assets/layouts/emblem.png \
  /etc/cardstation/kiosk.toml /etc/cardstation/station.toml \
  /usr/share/applications/cardstation.desktop \
  /usr/share/icons/hicolor/scalable/apps/cardstation.svg \
  /usr/lib/systemd/user/cardstation-kiosk.service /usr/lib/systemd/user/cardstation-sync.service; do
  grep -qx "$path" <<<"$files" || fail "dpkg -L cardstation has no $path"
  [[ -f "$path" ]] || fail "$path is listed but not on disk"
done
conffiles=$(dpkg-query -W -f='${Conffiles}' cardstation)
for path in /etc/cardstation/kiosk.toml /etc/cardstation/station.toml; do
  [[ "$conffiles" == *"$path "* ]] || fail "$path is not a conffile"
done
depends=$(dpkg-query -W -f='${Depends}' cardstation)
for package in pcscd libpcsclite1 libc6 libxkbcommon-x11-0; do
  [[ "$depends" =~ (^|, )$package( |,|$) ]] || fail "Depends lacks $package: $depends"
done
zcat /usr/share/man/man1/cardstation.1.gz | grep -q '^\.TH cardstation 1' || fail "cardstation.1 is not a man page"
desktop-file-validate /usr/share/applications/cardstation.desktop || fail "the desktop entry is not valid"
grep -qx 'Exec=cardstation --profile /etc/cardstation/station.toml' /usr/share/applications/cardstation.desktop ||
  fail "the desktop entry does not open the installed station profile"
# The shipped layout finds its emblem relative to itself under /usr/share/cardstation.
/usr/bin/cardstation render --layout /usr/share/cardstation/profiles/layouts/staff-badge.toml \
  --data tests/fixtures/render/staff.json --out "$tmp/badge.png" >/dev/null || fail "the installed staff-badge layout does not render"
log "files, conffiles, Depends, man page, desktop entry and layouts are in place"

# The station package holds no card simulator and no test server: no such subcommands, no
# cardstation-sim or cardstation-refserver file, and none of their code linked into the binary
# (read from the unstripped binary that was packaged).
for command in sim serve; do
  if /usr/bin/cardstation "$command" --help >/dev/null 2>&1; then
    fail "/usr/bin/cardstation still has a '$command' subcommand"
  fi
done
grep -E 'cardstation-(sim|refserver)' <<<"$files" && fail "the package ships a test tool"
command -v nm >/dev/null || fail "nm (binutils) is missing"
# cargo deb strips the installed copy, so the symbols are read from the binary it packaged
# ($bin). The check means something only where they are there to read: the station's own
# card layer must show up, or a stripped binary would pass it unseen.
symbols=$(nm -C "$bin" 2>/dev/null || true)
station=$(grep -c 'cardstation::card::' <<<"$symbols" || true)
((station > 0)) || fail "nm lists no cardstation::card:: symbol in $bin (stripped?): the simulator check cannot be made"
# ...and the pattern must find the simulator where it is: in cardstation-sim, built beside.
in_sim=$(nm -C "$target_dir/debug/cardstation-sim" | grep -c 'cardstation::sim::' || true)
((in_sim > 0)) ||
  fail "the simulator check's pattern finds nothing even in $target_dir/debug/cardstation-sim"
linked=$(grep -cE 'cardstation::sim::|cardstation_refserver::|axum::' <<<"$symbols" || true)
((linked == 0)) || fail "$bin (packaged as /usr/bin/cardstation) links $linked simulator or server symbols, e.g. $(grep -E 'cardstation::sim::|cardstation_refserver::|axum::' <<<"$symbols" | head -3)"
log "no simulator or test server in the package ($station card-layer symbols read, 0 simulator or server ones)"

# The unit, checked by the user manager's rules (any warning fails). The man page was checked above.
unit=/usr/lib/systemd/user/cardstation-kiosk.service
mkdir -m 700 "$tmp/runtime"
verify=$(XDG_RUNTIME_DIR="$tmp/runtime" systemd-analyze --user --man=no verify "$unit" 2>&1) ||
  fail "systemd-analyze verify: $verify"
[[ -z "$verify" ]] || fail "systemd-analyze verify warns: $verify"
grep -qx 'WantedBy=graphical-session.target' "$unit" || fail "the unit is not wanted by graphical-session.target"
# It restarts the kiosk after every end but the administrator's exit, whose status the
# installed binary names in its --help.
grep -qx 'Restart=always' "$unit" || fail "the unit does not restart the kiosk after every end"
admin_exit=$(sed -n 's/^RestartPreventExitStatus=//p' "$unit")
[[ "$admin_exit" =~ ^[0-9]+$ ]] || fail "the unit has no single RestartPreventExitStatus: '$admin_exit'"
help=$(/usr/bin/cardstation --help)
[[ "$help" == *"$admin_exit the kiosk window was closed by an administrator"* ]] ||
  fail "RestartPreventExitStatus=$admin_exit is not the status cardstation --help gives the kiosk's administrator exit"
log "unit verified (restarts always, but not after status $admin_exit)"

# The kiosk as the unit starts it: its ExecStart and Environment lines, under Xvfb, as a user
# whose home is empty (the profile's relative store path must land in the user's data dir).
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ "$exec_start" == /usr/bin/cardstation* ]] || fail "unexpected ExecStart: $exec_start"
read -ra kiosk_cmd <<<"$exec_start"
environment=()
while read -r assignment; do environment+=("$assignment"); done < <(sed -n 's/^Environment=//p' "$unit")
[[ -e /tmp/.X11-unix/X95 ]] && fail "display :95 is taken (stale /tmp/.X11-unix/X95?)"
Xvfb :95 -screen 0 1280x800x24 -nolisten tcp >"$tmp/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 50); do [[ -e /tmp/.X11-unix/X95 ]] && break; sleep 0.1; done
[[ -e /tmp/.X11-unix/X95 ]] || fail "Xvfb :95 did not start: $(cat "$tmp/xvfb.log")"
mkdir "$tmp/home"
env -i PATH=/usr/bin:/bin HOME="$tmp/home" DISPLAY=:95 "${environment[@]}" "${kiosk_cmd[@]}" >"$tmp/kiosk.log" 2>&1 &
kiosk_pid=$!
t=$SECONDS
window=""
while ((SECONDS - t < 15)); do
  window=$(DISPLAY=:95 xdotool search --onlyvisible --name Cardstation 2>/dev/null | head -1 || true)
  [[ -n "$window" ]] && break
  kill -0 "$kiosk_pid" 2>/dev/null || fail "the kiosk exited: $(cat "$tmp/kiosk.log")"
  sleep 0.3
done
[[ -n "$window" ]] || fail "no visible Cardstation window within 15 s: $(cat "$tmp/kiosk.log")"
log "kiosk window '$(DISPLAY=:95 xdotool getwindowname "$window")' up after $((SECONDS - t)) s"
# Fullscreen: it is sized to the screen once it shows (tests/kiosk_window.rs checks the rest).
for _ in $(seq 30); do
  geometry=$(DISPLAY=:95 xdotool getwindowgeometry "$window" | sed -n 's/^ *Geometry: //p' || true)
  [[ "$geometry" == 1280x800 ]] && break
  sleep 0.2
done
[[ "$geometry" == 1280x800 ]] || fail "the kiosk window is $geometry, not the 1280x800 screen"
log "kiosk window covers the 1280x800 screen"
for _ in $(seq 30); do [[ -f "$tmp/home/.local/share/cardstation/kiosk.sqlite" ]] && break; sleep 0.2; done
[[ -f "$tmp/home/.local/share/cardstation/kiosk.sqlite" ]] || fail "the kiosk made no store in the user's data dir"
kill "$kiosk_pid"
wait "$kiosk_pid" 2>/dev/null || true
kiosk_pid=""

# The sync unit: verified like the kiosk's, then its ExecStart run as a print station's user
# would (the print station profile in a drop-in, the key in the environment) against the
# reference server, until the process has pulled the server's people into the user's store
# and keeps running for the next interval.
sync_unit=/usr/lib/systemd/user/cardstation-sync.service
verify=$(XDG_RUNTIME_DIR="$tmp/runtime" systemd-analyze --user --man=no verify "$sync_unit" 2>&1) ||
  fail "systemd-analyze verify $sync_unit: $verify"
[[ -z "$verify" ]] || fail "systemd-analyze verify warns about the sync unit: $verify"
grep -qx 'WantedBy=default.target' "$sync_unit" || fail "the sync unit is not wanted by default.target"
grep -qx 'Restart=on-failure' "$sync_unit" || fail "the sync unit does not restart after a failure"
sync_start=$(sed -n 's/^ExecStart=//p' "$sync_unit")
[[ "$sync_start" == "/usr/bin/cardstation --profile /etc/cardstation/station.toml sync --watch" ]] ||
  fail "unexpected sync ExecStart: $sync_start"
# The server's binary: `cargo test` builds a package's binaries only for its integration
# tests, and refserver/ has none, so build it here (the library is already built).
cargo build --locked --quiet -p cardstation-refserver
refserver="$target_dir/debug/cardstation-refserver"
[[ -x "$refserver" ]] || fail "cargo build left no $refserver"
"$refserver" --port 0 --seed-people 25 >"$tmp/refserver.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do grep -q '^listening on ' "$tmp/refserver.log" && break; sleep 0.1; done
server_url=$(sed -n 's/^listening on //p' "$tmp/refserver.log")
[[ -n "$server_url" ]] || fail "the reference server did not start: $(cat "$tmp/refserver.log")"
mkdir "$tmp/print-profile"
ln -s /usr/share/cardstation/profiles/layouts "$tmp/print-profile/layouts"
sed "s|^url = \"https://cardexchange.example.edu.pl\"|url = \"$server_url\"|" \
  /usr/share/cardstation/profiles/print-station.toml >"$tmp/print-profile/print.toml"
grep -q "^url = \"$server_url\"" "$tmp/print-profile/print.toml" || fail "the print station profile names no server url to replace"
read -ra sync_cmd <<<"${sync_start/\/etc\/cardstation\/station.toml/$tmp/print-profile/print.toml}"
mkdir "$tmp/sync-home"
env -i PATH=/usr/bin:/bin HOME="$tmp/sync-home" CARDSTATION_CARDEXCHANGE_KEY=sk_test_package \
  "${sync_cmd[@]}" >"$tmp/sync.log" 2>&1 &
sync_pid=$!
t=$SECONDS
while ((SECONDS - t < 30)); do
  grep -q $'^persons\t.*\tpulled 25 ' "$tmp/sync.log" && break
  kill -0 "$sync_pid" 2>/dev/null || fail "the sync unit's command exited: $(cat "$tmp/sync.log")"
  sleep 0.3
done
grep -q $'^persons\t.*\tpulled 25 ' "$tmp/sync.log" || fail "no sync pulled the server's 25 people within 30 s: $(cat "$tmp/sync.log")"
[[ -f "$tmp/sync-home/.local/share/cardstation/print.sqlite" ]] || fail "the sync made no store in the user's data dir"
sleep 1
kill -0 "$sync_pid" 2>/dev/null || fail "the sync unit's command ended after one sync: $(cat "$tmp/sync.log")"
kill "$sync_pid"
wait "$sync_pid" 2>/dev/null || true
sync_pid=""
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
log "sync unit verified; its command pulled 25 people from the reference server in $((SECONDS - t)) s and waits for the next round"

if [[ "${KEEP_PACKAGE:-}" == 1 ]]; then
  log "KEEP_PACKAGE=1: cardstation stays installed"
else
  dpkg -r cardstation >/dev/null
  [[ ! -e /usr/bin/cardstation ]] || fail "dpkg -r left /usr/bin/cardstation"
  dpkg --purge cardstation >/dev/null
  [[ ! -e /etc/cardstation/kiosk.toml ]] || fail "dpkg --purge left /etc/cardstation/kiosk.toml"
  log "removed and purged"
fi
log "ok in $((SECONDS - started)) s"
