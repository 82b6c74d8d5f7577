#!/usr/bin/env bash
# What tiering costs: a fresh server (WEIR_BIN) takes FILE with tiering held off (4 clients ×
# 5,000 events), then moves its whole hot tier to the lake; prints the CPU seconds of the
# tiering thread (`weir-maintain`), the transparent huge pages the machine faulted in meanwhile
# (`thp_fault_alloc` in /proc/vmstat) and the server's peak resident memory.
#   e2e/bench/tiering.sh WEIR_BIN FILE.ndjson
# Build first: cargo build --release -p weir -p e2e --bins
set -euo pipefail
bin=$1; file=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
url=http://127.0.0.1:18095
data=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
"$bin" serve --data-dir "$data/d" --listen 127.0.0.1:18095 \
  --tier-max-bytes 4000000000 --tier-max-age-secs 3 2>"$data/log" &
pid=$!
until grep -q "listening on" "$data/log"; do sleep 0.05; done
"$root/target/release/weir-load" "$url" demo_http "$file" --clients 4 --batch 5000 >/dev/null
thp0=$(awk '/^thp_fault_alloc / {print $2}' /proc/vmstat)
# Tiering starts once the oldest event is 3 s old; done when the hot tier is empty.
hot() { curl -s "$url/api/v1/streams" |
  python3 -c 'import json, sys; print(next(s["hot_bytes"] for s in json.load(sys.stdin)["streams"] if s["name"] == "demo_http"))'; }
deadline=$((SECONDS + 120))
until [ "$(hot)" = 0 ]; do
  if ((SECONDS > deadline)); then echo "not tiered after 120 s" >&2; exit 1; fi
  sleep 0.2
done
thp1=$(awk '/^thp_fault_alloc / {print $2}' /proc/vmstat)
ticks=0
for task in /proc/"$pid"/task/*; do
  if [ "$(cat "$task/comm")" = weir-maintain ]; then
    ticks=$((ticks + $(awk '{print $14 + $15}' "$task/stat")))
  fi
done
peak=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
awk -v b="$(basename "$bin")" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v h=$((thp1 - thp0)) -v p="$peak" \
  'BEGIN { printf "{\"bin\":\"%s\",\"tiering_cpu_s\":%.2f,\"huge_page_faults\":%d,\"peak_rss_mib\":%d}\n", b, t / hz, h, p / 1024 }'
