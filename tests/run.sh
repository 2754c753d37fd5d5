#!/usr/bin/env bash
# Installs everything the test suite needs (Dovecot, and chromium with its driver for the
# web desk's browser test, all from Debian; the package with its test extras) and runs the
# whole suite. The README's Quick start and .ci/run both call this.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  missing+=(dovecot-imapd dovecot-lmtpd openssl)
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  missing+=(chromium chromium-driver)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} from Debian for the IMAP and browser tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # keep the package from starting a system-wide Dovecot: the tests run their own
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

python3 -m pip install -q -e '.[test]'
python3 -m ruff check .
python3 -m pytest -q "$@"
