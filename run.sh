#!/usr/bin/env bash
# annal's main job on the embedded default: generate the seeded corpus of
# realistic audit events, append it into the RocksDB store in ./annal-data
# (one chain per workspace), verify every chain, and show one indexed query.
# Usage: ./run.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
DATA_DIR="${1:-./annal-data}"
cargo build --release --locked -p annal-server -p annal-testdata
./target/release/gen-corpus --out testdata/corpus
for f in testdata/corpus/*.ndjson; do
  ./target/release/annal ingest --data-dir "$DATA_DIR" --tenant "$(basename "$f" .ndjson)" "$f"
done
./target/release/annal verify --data-dir "$DATA_DIR"
# The query path: the first three `iam.*` rows of one workspace, with the
# plan (which index answered, rows examined) and the next cursor on stderr.
./target/release/annal query --data-dir "$DATA_DIR" --tenant ws_acme --action-prefix iam --limit 3 --explain
