#!/usr/bin/env bash
# Installs what building annal needs beyond the Rust toolchain, if missing.
# Idempotent and quiet when everything is already there.
set -euo pipefail

need_apt=()
# The rocksdb crate generates its bindings with bindgen, which needs libclang
# itself (libclang.so / libclang-N.so). Debian images often ship only
# libclang-cpp, which bindgen cannot use: don't let it count.
if ! ldconfig -p 2>/dev/null | grep -qE 'libclang(-[0-9.]+)?\.so' && ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then
  need_apt+=(libclang-dev)
fi
# RocksDB itself is C++.
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
# run.sh talks to `annal serve` over HTTP with curl.
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# The peer benchmark (benches/benches/peer/) starts a real PostgreSQL server of
# its own: Debian's package puts initdb and postgres in
# /usr/lib/postgresql/<version>/bin, whatever the version. It stops the server
# with kill (procps) and, as root, runs it as the postgres user with setpriv
# (util-linux, always there).
pg_found=no
for bin in /usr/lib/postgresql/*/bin; do
  [ -x "$bin/initdb" ] && [ -x "$bin/postgres" ] && pg_found=yes
done
command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && pg_found=yes
[ "$pg_found" = yes ] || need_apt+=(postgresql)
command -v kill >/dev/null 2>&1 || need_apt+=(procps)
# The console's browser tests (server/tests/it/console.rs) drive a real
# headless Chromium through WebDriver: Debian's chromium and its chromedriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The independent golden-vector check (testdata/golden/check_golden.py) uses
# BLAKE3 and Ed25519 from PyPI, so that it shares no code with annal.
if ! python3 -c 'import blake3' >/dev/null 2>&1; then
  echo "setup: installing the blake3 Python package" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore blake3 >/dev/null
fi
# Ed25519 for the checkpoint vectors and the independent bundle verifier.
if ! python3 -c 'from cryptography.hazmat.primitives.asymmetric import ed25519' >/dev/null 2>&1; then
  echo "setup: installing the cryptography Python package" >&2
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore cryptography >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install the Rust toolchain (https://rustup.rs) first" >&2
  exit 1
fi
