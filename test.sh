#!/usr/bin/env bash
# Runs annal's whole test suite: formatting, lints, every test of every crate
# (unit, integration, property, crash), the benchmarks once in test mode, and
# an independent check of the golden vectors against docs/FORMAT.md.
# Everything builds with --release: one profile, so RocksDB's C++ is compiled once.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings
cargo test --release --locked --workspace --all-targets
cargo test --release --locked --workspace --doc
# The pinned bytes against docs/FORMAT.md, by a verifier that shares no code with annal.
python3 testdata/golden/check_golden.py
