#!/usr/bin/env bash
# Durable ingest of two `weir` binaries side by side: rounds alternate which runs first (ingest
# speed on these machines drifts and is bimodal run to run), each run a fresh server fed by
# weir-load (4 clients, 5,000 events per request), as in ingest.sh.
#   e2e/bench/ingest-ab.sh OLD_WEIR NEW_WEIR FILE.ndjson [ROUNDS]
# Prints one JSON line per run, labelled old/new, then the median events/s of each. Build first:
#   cargo build --release -p weir && cargo build --release -p e2e --bin weir-load
set -euo pipefail
old=$1; new=$2; file=$3; rounds=${4:-6}
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
  echo "{\"bin\":\"$1\",\"run\":$("$load" http://127.0.0.1:18091 demo_http "$file" --clients 4 --batch 5000)}" | tee -a "$data/runs"
  kill "$pid"; wait "$pid" || true
}
for round in $(seq "$rounds"); do
  if (( round % 2 )); then run old "$old"; run new "$new"; else run new "$new"; run old "$old"; fi
done
python3 - "$data/runs" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
for label in ("old", "new"):
    rates = sorted(r["run"]["events_per_sec"] for r in runs if r["bin"] == label)
    print(json.dumps({"bin": label, "median_events_per_sec": statistics.median(rates), "runs": rates}))
PY
