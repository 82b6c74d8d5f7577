#!/usr/bin/env bash
# Durable ingest over HTTP: weir-load posts an NDJSON file from N concurrent clients to a fresh
# release server; each request is acknowledged (fsync'd) before that client sends the next.
#   e2e/bench/ingest.sh FILE.ndjson [RUNS]
# Prints one JSON line per (clients, batch) case and run. Build first:
#   cargo build --release -p weir && cargo build --release -p e2e --bin weir-load
set -euo pipefail
file=$1; runs=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
data=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for case in "1 5000" "2 5000" "4 5000" "8 5000" "8 500" "32 100"; do
  set -- $case
  for run in $(seq "$runs"); do
    rm -rf "$data/d"
    "$bin/weir" serve --data-dir "$data/d" --listen 127.0.0.1:18090 2>"$data/log" &
    pid=$!
    until grep -q "listening on" "$data/log"; do sleep 0.05; done
    "$bin/weir-load" http://127.0.0.1:18090 demo_http "$file" --clients "$1" --batch "$2"
    kill "$pid"; wait "$pid" || true
  done
done
