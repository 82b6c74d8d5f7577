#!/usr/bin/env bash
# Dashboard benchmarks on a fresh release server (docs/benchmarks.md):
#   ingest  durable ingest throughput of FILE with the demo dashboard open in 0, 1 and 10 clients
#           (`weir-live dashboard`: each resolves the variables and subscribes every panel, as a
#           browser does); rounds rotate the order, compare the medians.
#   paint   time to the server-rendered HTML (with every panel's data) of the demo dashboard, on
#           a server already running at $URL (e.g. with 50M events of history, see the docs).
#   e2e/bench/dashboard.sh ingest FILE.ndjson      (ROUNDS=3 by default)
#   e2e/bench/dashboard.sh paint URL [RANGE...]    (ranges like now-15m; 10 runs each)
# Build first: cargo build --release -p weir -p e2e --bins (WEIR=path runs another weir binary,
# LIVE=path another weir-live)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/target/release
part=$1

if [[ $part == paint ]]; then
  url=$2
  shift 2
  for range in "${@:-now-15m}"; do
    page="$url/dashboards/web-services?from=$range&to=now"
    curl -sf -o /dev/null "$page"   # warm-up
    times=$(for _ in $(seq 10); do curl -sf -o /dev/null -w '%{time_starttransfer} %{time_total}\n' "$page"; done)
    # The first byte comes when the whole page is rendered (async SSR): both are shown.
    echo "$times" | sort -n -k2 | awk -v r="$range" '{t[NR]=$2; f[NR]=$1} END {printf "{\"range\":\"%s\",\"median_ms\":%.1f,\"min_ms\":%.1f,\"max_ms\":%.1f,\"first_byte_median_ms\":%.1f}\n", r, t[int((NR+1)/2)]*1000, t[1]*1000, t[NR]*1000, f[int((NR+1)/2)]*1000}'
  done
  curl -sf "$url/dashboards/web-services" | grep -c 'data-test="chart"\|data-test="stat-value"' | sed 's/^/{"panels_drawn_in_html":/; s/$/}/'
  exit 0
fi

file=$2
data=$(mktemp -d)
url=http://127.0.0.1:18092
pid=
trap 'kill $pid 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$data"' EXIT
start() {
  rm -rf "$data/d"
  "${WEIR:-$bin/weir}" serve --data-dir "$data/d" --listen 127.0.0.1:18092 2>"$data/log" &
  pid=$!
  until grep -q "listening on" "$data/log"; do sleep 0.05; done
  # The stream and its columns exist before the panels are compiled; the dashboard is stored.
  head -n 1000 "$file" | "$bin/weir-load" "$url" demo_http - --clients 1 --batch 1000 >/dev/null
  curl -sf -X POST -H 'content-type: application/json' \
    --data-binary @"$root/docs/examples/web-services.json" "$url/api/v1/dashboards" >/dev/null
}
stop() { kill "$pid"; wait "$pid" || true; }
run() {
  local n=$1
  start
  if [ "$n" -gt 0 ]; then
    : >"$data/live.err"
    "${LIVE:-$bin/weir-live}" dashboard "$url" web-services --clients "$n" --secs 3600 >"$data/live.json" 2>"$data/live.err" &
    live=$!
    until grep -q ready "$data/live.err"; do
      kill -0 "$live" 2>/dev/null || { cat "$data/live.err"; exit 1; }
      sleep 0.1
    done
  fi
  r=$("$bin/weir-load" "$url" demo_http "$file" --clients 4 --batch 5000)
  echo "{\"clients\":$n,\"load\":$r}"
  if [ "$n" -gt 0 ]; then kill "$live"; wait "$live" 2>/dev/null || true; grep -h ready "$data/live.err"; fi
  stop
}
for round in $(seq "${ROUNDS:-3}"); do
  case $((round % 3)) in
    1) order="0 1 10" ;;
    2) order="1 10 0" ;;
    0) order="10 0 1" ;;
  esac
  for n in $order; do run "$n"; done
done
