#!/usr/bin/env bash
# annal's main job on the embedded default, end to end through the server:
# generate the seeded corpus of realistic audit events; bootstrap each
# workspace (tenant) and an admin key for it if there is none yet; start
# `annal serve` on the store in ./annal-data; ingest the corpus over HTTP in
# NDJSON requests of 1,000 events; query a page, export a CSV, verify every
# chain over HTTP; then stop the server with SIGTERM (a graceful shutdown)
# and verify the store offline once more. Tokens are kept, readable by the
# owner only, in DATA_DIR.keys/ (a token is shown only when it is created);
# the checkpoint signing key in DATA_DIR.signing.key.
# Usage: ./run.sh [DATA_DIR]     Environment: ANNAL_LISTEN (default 127.0.0.1:7878)
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
DATA_DIR="${1:-./annal-data}"
DATA_DIR="${DATA_DIR%/}"
KEYS_DIR="$DATA_DIR.keys"
LISTEN="${ANNAL_LISTEN:-127.0.0.1:7878}"
ANNAL=./target/release/annal
cargo build --release --locked -p annal-server -p annal-testdata
./target/release/gen-corpus --out testdata/corpus

# The checkpoint signing key, made once, kept beside the data directory and
# never inside it (every copy and backup of the store would hold it there;
# an older run.sh left it inside: it is moved out).
SIGNING_KEY="$DATA_DIR.signing.key"
if [ ! -e "$SIGNING_KEY" ]; then
  if [ -e "$DATA_DIR/checkpoint-signing.key" ]; then
    mv "$DATA_DIR/checkpoint-signing.key" "$SIGNING_KEY"
  else
    "$ANNAL" checkpoint init-key "$SIGNING_KEY" >/dev/null
  fi
fi
export ANNAL_SIGNING_KEY_FILE="$SIGNING_KEY"

# Bootstrap, offline (the server is not running yet, so it may open the store).
mkdir -p "$KEYS_DIR" && chmod 700 "$KEYS_DIR"
existing="$([ -e "$DATA_DIR/CURRENT" ] && "$ANNAL" tenants list --data-dir "$DATA_DIR" || true)"
for f in testdata/corpus/*.ndjson; do
  t="$(basename "$f" .ndjson)"
  grep -qx "$t" <<<"$existing" || "$ANNAL" tenants create --data-dir "$DATA_DIR" "$t"
  if [ ! -s "$KEYS_DIR/$t" ]; then
    (umask 077; "$ANNAL" keys create --data-dir "$DATA_DIR" --tenant "$t" --scope admin,ingest,read --label run.sh > "$KEYS_DIR/$t")
  fi
done

# Serve; stop it on any exit of this script.
log="$(mktemp)"; chunks="$(mktemp -d)"
"$ANNAL" serve --data-dir "$DATA_DIR" --listen "$LISTEN" >"$log" 2>"$log.err" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; rm -rf "$chunks"' EXIT
for _ in $(seq 100); do
  grep -q "listening on" "$log" && break
  kill -0 $server 2>/dev/null || { cat "$log.err" >&2; exit 1; }
  sleep 0.1
done
base="$(sed -n 's/^annal listening on //p' "$log")"
[ -n "$base" ] || { echo "run.sh: the server did not start" >&2; cat "$log.err" >&2; exit 1; }
echo "annal serve is up at $base"

for f in testdata/corpus/*.ndjson; do
  t="$(basename "$f" .ndjson)"
  token="$(cat "$KEYS_DIR/$t")"
  rm -f "$chunks"/*; split -l 1000 "$f" "$chunks/part."
  n=0
  for part in "$chunks"/part.*; do
    code="$(curl -s -o "$chunks/answer" -w '%{http_code}' -X POST "$base/v1/events" \
      -H "Authorization: Bearer $token" -H 'Content-Type: application/x-ndjson' --data-binary @"$part")"
    case "$code" in
      200|201) n=$((n + $(wc -l <"$part"))) ;;
      *) echo "run.sh: $t: HTTP $code: $(cat "$chunks/answer")" >&2; exit 1 ;;
    esac
  done
  echo "$t: $n events ingested over HTTP"
done

token="$(cat "$KEYS_DIR/ws_acme")"
echo "--- GET /v1/events?action_prefix=iam&limit=3 (ws_acme)"
curl -sf "$base/v1/events?action_prefix=iam&limit=3&explain=true" -H "Authorization: Bearer $token"; echo
echo "--- GET /v1/export?format=csv&outcome=denied (ws_acme)"
curl -sf "$base/v1/export?format=csv&outcome=denied" -H "Authorization: Bearer $token" -o "$chunks/denied.csv"
echo "$(($(wc -l <"$chunks/denied.csv") - 1)) rows; header: $(head -1 "$chunks/denied.csv")"
echo "--- GET /v1/verify, every workspace"
for f in testdata/corpus/*.ndjson; do
  t="$(basename "$f" .ndjson)"
  echo "$t: $(curl -sf "$base/v1/verify" -H "Authorization: Bearer $(cat "$KEYS_DIR/$t")")"
done

echo "--- stopping the server (SIGTERM: finish in-flight requests, flush, exit 0)"
kill -TERM $server
wait $server
trap 'rm -rf "$chunks"' EXIT
rm -f "$log" "$log.err"
"$ANNAL" verify --data-dir "$DATA_DIR"
