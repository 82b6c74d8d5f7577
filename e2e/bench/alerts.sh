#!/usr/bin/env bash
# Alerting benchmarks on a fresh release server (docs/benchmarks.md):
#   1. offending event POSTed → webhook received (group_wait 0), 200 trials, under a 50k
#      events/s background load into the same stream;
#   2. durable ingest with and without a rule of 10,000 firing instances, and how fast the rules
#      list and the instances answer meanwhile.
#   e2e/bench/alerts.sh FILE.ndjson [latency|instances]   (both by default)
# FILE's events should have no `_time` (see docs/benchmarks.md).
# Build first: cargo build --release -p weir -p e2e --bins
set -euo pipefail
file=$1
parts=${2:-latency instances}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
data=$(mktemp -d)
url=http://127.0.0.1:18093
pid=
trap 'kill $pid 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
start() {
  rm -rf "$data/d" "$data/log"
  "${WEIR:-$bin/weir}" serve --data-dir "$data/d" --listen 127.0.0.1:18093 2>"$data/log" &
  pid=$!
  until grep -q "listening on" "$data/log"; do sleep 0.05; done
  head -n 1000 "$file" | "$bin/weir-load" "$url" demo_http - --clients 1 --batch 1000 >/dev/null
}
stop() { kill "$pid"; wait "$pid" || true; }

if [[ $parts == *latency* ]]; then
  echo "# event → webhook at 50k events/s"
  start
  "$bin/weir-load" "$url" demo_http "$file" --clients 2 --batch 1000 --rate 50000 >"$data/load.json" &
  load=$!
  sleep 2
  "$bin/weir-alerts" latency "$url" demo_http --trials "${TRIALS:-200}" --every-ms 50
  wait "$load"; cat "$data/load.json"
  stop
fi

if [[ $parts == *instances* ]]; then
  # Ingest speed on these machines is bimodal run to run (docs/benchmarks.md): rounds alternate
  # the order of the two runs, and the medians are compared.
  echo "# ingest without, then with, a rule of 10,000 instances; ROUNDS=${ROUNDS:-4}"
  without() {
    start
    echo "{\"rule\":false,\"load\":$("$bin/weir-load" "$url" demo_http "$file" --clients 4 --batch 5000)}"
    stop
  }
  with() {
    start
    rm -f "$data/stop"
    "$bin/weir-alerts" instances "$url" demo_http --stop-file "$data/stop" >"$data/inst.json" 2>"$data/inst.err" &
    inst=$!
    until grep -q ready "$data/inst.err"; do sleep 0.1; done
    echo "{\"rule\":true,\"load\":$("$bin/weir-load" "$url" demo_http "$file" --clients 4 --batch 5000)}"
    touch "$data/stop"; wait "$inst"; cat "$data/inst.json"
    stop
  }
  for round in $(seq 1 "${ROUNDS:-4}"); do
    if (( round % 2 )); then without; with; else with; without; fi
  done
fi
