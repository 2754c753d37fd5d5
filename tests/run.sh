#!/usr/bin/env bash
# Installs everything the test suite needs from Debian (Dovecot; chromium and its driver
# for the web desk's browser test; PostgreSQL) and the package with its test and postgres
# extras, then runs the whole suite on SQLite and the suites that touch the database
# engine (ingest, outbox, chaos, CLI, claims) a second time on PostgreSQL:
# tests/postgres.py starts an unprivileged cluster in a temp folder, as tests/dovecot.py
# does for Dovecot. TRIAJE_SKIP_POSTGRES=1 leaves the second pass out.
# The README's Quick start and .ci/run both call this.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  missing+=(dovecot-imapd dovecot-lmtpd openssl)
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  missing+=(chromium chromium-driver)
fi
if [ -z "${TRIAJE_SKIP_POSTGRES:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} from Debian for the IMAP, browser and PostgreSQL tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # keep the packages from starting a system-wide Dovecot or cluster: the tests run their own
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

# the files whose tests take `database_url`: they run on both engines
ENGINE_SUITES=(tests/test_ingest_imap.py tests/test_maildir_source.py tests/test_outbox.py
  tests/test_outbox_files.py tests/test_outbox_lease.py tests/test_deferred.py tests/test_cli_daemon.py
  tests/test_chaos_crash.py tests/test_chaos_outages.py tests/test_engines.py tests/test_claims.py
  tests/test_leases.py tests/test_runonce.py tests/test_batchwrite.py
  "tests/test_hostile_input.py::test_daemon_survives_every_hostile_message")

python3 -m pip install -q -e '.[test,postgres]'
python3 -m ruff check .
echo "== pass 1: SQLite"
TRIAJE_TEST_DATABASE=sqlite python3 -m pytest -q "$@"
if [ -z "${TRIAJE_SKIP_POSTGRES:-}" ]; then
  echo "== pass 2: PostgreSQL"
  if [ "$#" -eq 0 ]; then set -- "${ENGINE_SUITES[@]}"; fi
  TRIAJE_TEST_DATABASE=postgresql python3 -m pytest -q "$@"
fi
