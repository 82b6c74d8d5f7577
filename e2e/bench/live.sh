#!/usr/bin/env bash
# Live benchmarks on a fresh release server (docs/benchmarks.md):
#   1. ingest → WebSocket delta latency of a panel, under a 50k events/s background load;
#   2. durable ingest throughput with 0, 1, 100 and 1,000 distinct continuous queries running;
#   3. durable ingest throughput with 1,000 WebSocket viewers of one panel (or VIEWERS);
#   4. (herd, asked for by name) 1,000 viewers subscribing at once to a panel no one runs yet, over
#      HERD_EVENTS events of HERD_FILE (default: FILE) ingested first.
#   e2e/bench/live.sh FILE.ndjson [latency|queries|viewers|herd]   (the first three by default)
# MIX=--dashboard makes part 2's queries dashboard panels (weir-live queries --dashboard);
# LATENCY_QUERIES=N runs part 1 with N such queries running beside the panel.
# FILE's events should have no `_time`, so that they arrive now (see docs/benchmarks.md).
# Build first: cargo build --release -p weir -p e2e --bins (WEIR=path runs another weir binary)
set -euo pipefail
# 1,000 sockets on each side.
ulimit -n "$(ulimit -Hn)"
file=$1
parts=${2:-latency queries viewers}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
data=$(mktemp -d)
url=http://127.0.0.1:18091
pid=
trap 'kill $pid 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
start() {
  rm -rf "$data/d"
  "${WEIR:-$bin/weir}" serve --data-dir "$data/d" --listen 127.0.0.1:18091 2>"$data/log" &
  pid=$!
  until grep -q "listening on" "$data/log"; do sleep 0.05; done
  # The stream and its columns exist before queries are compiled.
  head -n 1000 "$file" | "$bin/weir-load" "$url" demo_http - --clients 1 --batch 1000 >/dev/null
}
stop() { kill "$pid"; wait "$pid" || true; }
wait_ready() { until grep -q ready "$data/live.err"; do sleep 0.1; done; }

if [[ $parts == *latency* ]]; then
echo "# latency at 50k events/s"
start
"$bin/weir-load" "$url" demo_http "$file" --clients 2 --batch 1000 --rate 50000 >"$data/load.json" &
load=$!
if [ "${LATENCY_QUERIES:-0}" -gt 0 ]; then
  : >"$data/live.err"
  "$bin/weir-live" queries "$url" demo_http --queries "$LATENCY_QUERIES" --secs 3600 --dashboard >/dev/null 2>"$data/live.err" &
  live=$!
  wait_ready
fi
sleep 2
"$bin/weir-live" latency "$url" demo_http --probes 1000 --every-ms 10
wait "$load"; cat "$data/load.json"
if [ "${LATENCY_QUERIES:-0}" -gt 0 ]; then kill "$live"; fi
stop
fi

if [[ $parts == *queries* ]]; then
echo "# ingest with N distinct continuous queries"
for n in 0 1 100 1000; do
  start
  if [ "$n" -gt 0 ]; then
    : >"$data/live.err"
    "$bin/weir-live" queries "$url" demo_http --queries "$n" --secs 3600 ${MIX:-} >"$data/live.json" 2>"$data/live.err" &
    live=$!
    wait_ready
  fi
  r=$("$bin/weir-load" "$url" demo_http "$file" --clients 4 --batch 5000)
  echo "{\"queries\":$n,\"load\":$r}"
  # How far behind the furthest query was when ingest ended (the engine runs below ingest).
  curl -s "$url/api/v1/engine" | python3 -c 'import json,sys; q=json.load(sys.stdin)["queries"]; print(json.dumps({"lag_events_max": max([x.get("lag_events", 0) for x in q] or [0]), "lag_ms_max": max([x.get("lag_ms", 0) for x in q] or [0])}))'
  if [ "$n" -gt 0 ]; then kill "$live"; fi
  stop
done
fi

if [[ $parts == *viewers* ]]; then
# Ingest speed on these machines varies run to run (page zeroing): rounds alternate the order of
# the run without viewers and the run with them; compare the medians.
viewers=${VIEWERS:-1000}
echo "# ingest with $viewers viewers of one panel, alternating with none"
panel="SELECT date_bin(INTERVAL '1 second', _time) AS t, count(*) AS events, sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS errors FROM demo_http WHERE _time >= now() - INTERVAL '300 seconds' GROUP BY 1 ORDER BY 1"
with_viewers() {
  start
  : >"$data/live.err"
  rss0=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  # The viewers stand in for browsers on other machines: at nice 19 (VIEWERS_NICE) their own
  # reading of 1,000 sockets takes the CPU that ingest leaves, not ingest's share of it. The
  # server's side of every frame (its writes, the TCP stack) is still charged to the run.
  nice -n "${VIEWERS_NICE:-19}" "$bin/weir-live" viewers "$url" "$panel" --clients "$viewers" --secs 10 >"$data/viewers.json" 2>"$data/live.err" &
  live=$!
  wait_ready
  # The server's memory per viewer: resident set with the viewers' sockets open, less before.
  rss1=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  echo "{\"rss_kib_before\":$rss0,\"rss_kib_with_viewers\":$rss1,\"kib_per_viewer\":$(awk "BEGIN{print ($rss1 - $rss0) / $viewers}")}"
  r=$("$bin/weir-load" "$url" demo_http "$file" --clients 4 --batch 5000)
  echo "{\"viewers\":$viewers,\"load\":$r}"
  wait "$live"; cat "$data/viewers.json"
  stop
}
without() {
  start
  r=$("$bin/weir-load" "$url" demo_http "$file" --clients 4 --batch 5000)
  echo "{\"viewers\":0,\"load\":$r}"
  stop
}
for round in $(seq "${ROUNDS:-5}"); do
  if (( round % 2 )); then without; with_viewers; else with_viewers; without; fi
done
fi

if [[ $parts == *herd* ]]; then
echo "# ${HERD_CLIENTS:-1000} viewers subscribing at once to a panel over ${HERD_EVENTS:-all} events"
start
herd_file=${HERD_FILE:-$file}
if [ -n "${HERD_EVENTS:-}" ]; then
  head -n "$HERD_EVENTS" "$herd_file" | "$bin/weir-load" "$url" demo_http - --clients 4 --batch 5000
else
  "$bin/weir-load" "$url" demo_http "$herd_file" --clients 4 --batch 5000
fi
panel="SELECT service, count(*) AS requests, avg(latency_ms) AS mean FROM demo_http GROUP BY service"
"$bin/weir-live" herd "$url" "$panel" --clients "${HERD_CLIENTS:-1000}"
curl -s "$url/api/v1/engine" | python3 -c 'import json,sys; e=json.load(sys.stdin); print(json.dumps({"started": e["started"], "queries": len(e["queries"])}))'
stop
fi
