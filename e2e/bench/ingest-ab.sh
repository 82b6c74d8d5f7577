#!/usr/bin/env bash
# Durable ingest of two `weir` binaries side by side: rounds alternate which runs first (ingest
# speed on these machines drifts and is bimodal run to run), each run a fresh server fed by
# weir-load (4 clients, 5,000 events per request, or CLIENTS and BATCH), as in ingest.sh.
#   [CLIENTS=4] [BATCH=5000] e2e/bench/ingest-ab.sh OLD_WEIR NEW_WEIR FILE.ndjson [ROUNDS]
# Prints one JSON line per run, labelled old/new, with the server's CPU seconds for the load,
# then the medians of each (after one discarded warm-up run of each). Build first:
#   cargo build --release -p weir && cargo build --release -p e2e --bin weir-load
set -euo pipefail
old=$1; new=$2; file=$3; rounds=${4:-6}; clients=${CLIENTS:-4}; batch=${BATCH:-5000}
root=$(cd "$(dirname "$0")/../.." && pwd)
load=$root/target/release/weir-load
data=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
pid=
run() { # label binary
  rm -rf "$data/d"
  "$2" serve --data-dir "$data/d" --listen 127.0.0.1:18091 2>"$data/log" &
  pid=$!
  until grep -q "listening on" "$data/log"; do sleep 0.05; done
  # The server's CPU time (user + system, clock ticks) spent on the load.
  local before after result
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  result=$("$load" http://127.0.0.1:18091 demo_http "$file" --clients "$clients" --batch "$batch")
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local cpu
  cpu=$(awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
  echo "{\"bin\":\"$1\",\"server_cpu_s\":$cpu,\"run\":$result}" | tee -a "$data/runs"
  kill "$pid"; wait "$pid" || true
}
# One discarded run of each first: a binary's first run pays for cold caches.
run warmup "$old" >/dev/null; run warmup "$new" >/dev/null
for round in $(seq "$rounds"); do
  if (( round % 2 )); then run old "$old"; run new "$new"; else run new "$new"; run old "$old"; fi
done
python3 - "$data/runs" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
for label in ("old", "new"):
    mine = [r for r in runs if r["bin"] == label]
    rates = sorted(r["run"]["events_per_sec"] for r in mine)
    cpu = statistics.median(r["server_cpu_s"] for r in mine)
    print(json.dumps({"bin": label, "median_events_per_sec": statistics.median(rates),
                      "median_server_cpu_s": cpu, "runs": rates}))
PY
