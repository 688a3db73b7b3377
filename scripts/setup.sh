#!/usr/bin/env bash
# Installs what Cardstation needs on a Debian machine and makes sure pcscd runs with the
# vsmartcard virtual readers. Safe to run again: it only installs what is missing.
#   scripts/setup.sh            card stack, build dependencies, and what tests/kiosk_window.rs
#                               needs to run the real window under Xvfb and drive it
#   scripts/setup.sh --desktop  also what the demo and its screenshots need
#   scripts/setup.sh --package  also what scripts/package-test.sh needs to build, install and
#                               check the .deb (the window's libraries come from its Depends)
# It also starts CUPS with a PDF queue (cups-pdf) the print tests and benchmark print to.
set -euo pipefail

# vsmartcard-vpicc + python3-pycryptodome: the vicc card emulator the independent-card test
# runs (tests/vicc_vpcd.rs); python3-pyscard: the DESFire EV1 client in tests/peers/ (the PyPI
# pyscard project, packaged by Debian for the system Python, which PEP 668 keeps pip out of).
packages=(pkg-config libpcsclite-dev pcscd vsmartcard-vpcd pcsc-tools procps openssl
  cups cups-client cups-ipp-utils printer-driver-cups-pdf zbar-tools poppler-utils
  xvfb xdotool x11-utils python3-xlib libxkbcommon-x11-0 libx11-xcb1 libxcursor1 libxrandr2 libxi6
  vsmartcard-vpicc python3-pycryptodome python3-pyscard)
for option in "$@"; do
  case "$option" in
    --desktop) packages+=(x11-apps imagemagick) ;;
    --package) packages+=(dpkg-dev systemd desktop-file-utils) ;;
    *)
      echo "setup: unknown option $option (--desktop, --package)" >&2
      exit 2
      ;;
  esac
done

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo is not installed; install Rust (rustup or the distribution's cargo) first" >&2
  exit 1
fi

# CUPS: the system service where systemd runs it, else started by hand (containers, CI).
# The queue prints through cups-pdf into /var/spool/cups-pdf/<user>/, one file per job named
# <title>-job_<id>.pdf, so a test finds the PDF of the job it submitted.
cups_queue="${CARDSTATION_PRINT_QUEUE:-cardstation-pdf}"
cups_pdf_conf=/etc/cups/cups-pdf.conf
if [[ -f "$cups_pdf_conf" ]] && ! grep -q '^Label 1' "$cups_pdf_conf"; then
  sed -i -e 's|^Out .*|Out /var/spool/cups-pdf/${USER}|' \
         -e 's|^#\?Label .*|Label 1|' "$cups_pdf_conf"
fi
if ! pgrep -x cupsd >/dev/null; then
  echo "setup: starting cupsd" >&2
  cupsd
fi
for _ in $(seq 50); do
  lpstat -r 2>/dev/null | grep -q "is running" && break
  sleep 0.2
done
if ! lpstat -v "$cups_queue" >/dev/null 2>&1; then
  echo "setup: creating the CUPS queue $cups_queue (cups-pdf)" >&2
  lpadmin -p "$cups_queue" -E -v cups-pdf:/ -m lsb/usr/cups-pdf/CUPS-PDF_noopt.ppd \
    -D "Cardstation card printer (PDF files)"
fi
cupsenable "$cups_queue"
cupsaccept "$cups_queue"

# pcscd: the system service where systemd runs it, else started by hand (containers, CI).
if ! pgrep -x pcscd >/dev/null; then
  echo "setup: starting pcscd" >&2
  pcscd
fi
for _ in $(seq 50); do
  pcsc_readers=$(timeout 2 pcsc_scan -r 2>/dev/null || true)
  [[ "$pcsc_readers" == *"Virtual PCD 00 00"* ]] && exit 0
  sleep 0.2
done
echo "setup: pcscd runs but offers no 'Virtual PCD 00 00' reader; check /etc/reader.conf.d/vpcd and restart pcscd" >&2
exit 1
