#!/usr/bin/env bash
# Durable ingest of two `weir` binaries side by side: rounds alternate which runs first (ingest
# speed on these machines drifts and is bimodal run to run), each run a fresh server fed by
# weir-load (4 clients, 5,000 events per request, or CLIENTS and BATCH), as in ingest.sh.
#   [CLIENTS=4] [BATCH=5000] e2e/bench/ingest-ab.sh OLD_WEIR NEW_WEIR FILE.ndjson [ROUNDS]
# Prints one JSON line per run, labelled old/new, with the server's CPU seconds for the load and
# the share of the machine's CPU time the hypervisor stole during it (`steal` in /proc/stat: on a
# shared host, slow runs are the ones with CPU taken away), then the medians and max/min of each
# (after one discarded warm-up run of each), over all runs, over those with steal ≤ 8%, and over
# those whose probe (below) ran within 10% of the fastest.
# Each run is preceded by a probe of the machine's own speed: the seconds one core takes to hash
# the same 64 MiB (sha256sum, from the page cache), work that does not change from run to run.
# Build first:
#   cargo build --release -p weir && cargo build --release -p e2e --bin weir-load
set -euo pipefail
old=$1; new=$2; file=$3; rounds=${4:-6}; clients=${CLIENTS:-4}; batch=${BATCH:-5000}
root=$(cd "$(dirname "$0")/../.." && pwd)
load=$root/target/release/weir-load
data=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
pid=
# The seconds sha256sum takes over the same 64 MiB: the machine's speed just before a run.
probe() { local TIMEFORMAT=%R; { time sha256sum "$data/probe" >/dev/null; } 2>&1; }
# The machine's stolen and total CPU ticks so far.
cpu_ticks() { awk '/^cpu / { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
run() { # label binary
  rm -rf "$data/d"
  local speed; speed=$(probe)
  "$2" serve --data-dir "$data/d" --listen 127.0.0.1:18091 2>"$data/log" &
  pid=$!
  until grep -q "listening on" "$data/log"; do sleep 0.05; done
  # The server's CPU time (user + system, clock ticks) spent on the load.
  local before after result steal0 steal1
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  steal0=$(cpu_ticks)
  result=$("$load" http://127.0.0.1:18091 demo_http "$file" --clients "$clients" --batch "$batch")
  steal1=$(cpu_ticks)
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  local cpu steal
  cpu=$(awk -v t="$((after - before))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
  steal=$(echo "$steal0 $steal1" | awk '{ printf "%.1f", 100 * ($3 - $1) / ($4 - $2) }')
  echo "{\"bin\":\"$1\",\"server_cpu_s\":$cpu,\"steal_pct\":$steal,\"probe_s\":$speed,\"run\":$result}" | tee -a "$data/runs"
  kill "$pid"; wait "$pid" || true
}
head -c 64M "$file" >"$data/probe"
# One discarded run of each first: a binary's first run pays for cold caches.
run warmup "$old" >/dev/null; run warmup "$new" >/dev/null
for round in $(seq "$rounds"); do
  if (( round % 2 )); then run old "$old"; run new "$new"; else run new "$new"; run old "$old"; fi
done
python3 - "$data/runs" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
def summary(label, mine, **extra):
    rates = sorted(r["run"]["events_per_sec"] for r in mine)
    if not rates:
        return
    cpu = statistics.median(r["server_cpu_s"] for r in mine)
    probes = sorted(r["probe_s"] for r in mine)
    print(json.dumps({"bin": label, **extra, "median_events_per_sec": statistics.median(rates),
                      "max_over_min": round(rates[-1] / rates[0], 2),
                      "median_server_cpu_s": cpu, "runs": rates,
                      "probe_s_max_over_min": round(probes[-1] / probes[0], 2)}))
# The runs where the machine ran the probe at full speed: within 10% of the fastest probe of
# all runs (both binaries), the machine's own variation left out.
fastest = min(r["probe_s"] for r in runs)
for label in ("old", "new"):
    mine = [r for r in runs if r["bin"] == label]
    summary(label, mine)
    summary(label, [r for r in mine if r["steal_pct"] <= 8.0], steal_at_most_pct=8.0)
    summary(label, [r for r in mine if r["probe_s"] <= 1.1 * fastest],
            probe_within_pct_of_fastest=10)
PY
