#!/usr/bin/env bash
# The same demo_http events through each ingest protocol (JSON, OTLP logs, OTLP traces,
# Prometheus remote write, Elasticsearch bulk), pre-encoded by weir-otlp-load and posted by 4
# clients to a fresh release server, each request acknowledged (fsync'd) before the next.
# json-logs and json-spans post, as NDJSON, the very rows OTLP logs and spans become (JSON of
# comparable rows). PROTOCOLS="json otlp-logs" runs some only. Rounds alternate their order.
# The server's CPU time per run (user + system, from /proc) gives events per CPU-second, the
# rate per core.
#   e2e/bench/protocols.sh FILE.ndjson [ROUNDS] [EVENTS] [BATCH]
# Prints one JSON line per run, then the medians per protocol. Build first:
#   cargo build --release -p weir && cargo build --release -p e2e --bin weir-otlp-load
set -euo pipefail
file=$1; rounds=${2:-3}; events=${3:-500000}; batch=${4:-512}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${BIN:-$root/target/release}
data=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
read -r -a protocols <<< "${PROTOCOLS:-json json-logs json-spans otlp-logs otlp-traces remote-write es-bulk}"
for round in $(seq "$rounds"); do
  order=("${protocols[@]}")
  if (( round % 2 == 0 )); then order=($(printf '%s\n' "${protocols[@]}" | tac)); fi
  for protocol in "${order[@]}"; do
    rm -rf "$data/d"
    "$bin/weir" serve --data-dir "$data/d" --listen 127.0.0.1:18091 2>"$data/log" &
    pid=$!
    until grep -q "listening on" "$data/log"; do sleep 0.05; done
    before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    result=$("$bin/weir-otlp-load" http://127.0.0.1:18091 "$file" --protocol "$protocol" \
      --events "$events" --clients 4 --batch "$batch")
    after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    cpu=$(awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
    echo "{\"server_cpu_s\":$cpu,\"run\":$result}" | tee -a "$data/runs"
    kill "$pid"; wait "$pid" || true
  done
done
python3 - "$data/runs" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
for protocol in dict.fromkeys(r["run"]["protocol"] for r in runs):
    mine = [r for r in runs if r["run"]["protocol"] == protocol]
    rate = statistics.median(r["run"]["events_per_sec"] for r in mine)
    per_cpu = statistics.median(r["run"]["events"] / max(r["server_cpu_s"], 0.01) for r in mine)
    size = mine[0]["run"]["body_bytes_per_event"]
    print(json.dumps({"protocol": protocol, "median_events_per_sec": rate,
                      "median_events_per_server_cpu_s": round(per_cpu),
                      "body_bytes_per_event": size, "rates": [r["run"]["events_per_sec"] for r in mine]}))
PY
