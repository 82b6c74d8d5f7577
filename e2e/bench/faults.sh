#!/usr/bin/env bash
# Page faults and the user/system CPU split of one durable ingest run: a fresh server given as
# WEIR_BIN, fed by weir-load (4 clients × 5,000 events), counted by `perf stat -e page-faults`
# attached to the server for the length of the load. Each fault is fresh memory the kernel
# zeroes (4 KiB, or 2 MiB where it backs memory with a huge page): issue 16, point 5.
#   e2e/bench/faults.sh WEIR_BIN LABEL FILE.ndjson
# Prints one JSON line. Needs `perf` (Debian: linux-perf). Build first:
#   cargo build --release -p weir && cargo build --release -p e2e --bin weir-load
set -euo pipefail
bin=$1; label=$2; file=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
load=$root/target/release/weir-load
data=$(mktemp -d)
trap 'kill $pid 2>/dev/null && wait $pid; rm -rf "$data"' EXIT
"$bin" serve --data-dir "$data/d" --listen 127.0.0.1:18092 2>"$data/log" &
pid=$!
until grep -q "listening on" "$data/log"; do sleep 0.05; done
hz=$(getconf CLK_TCK)
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
# perf counts the server's faults for as long as the load command runs.
result=$(perf stat -e page-faults -p "$pid" -o "$data/perf" -- \
  "$load" http://127.0.0.1:18092 demo_http "$file" --clients 4 --batch 5000)
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
faults=$(awk '/page-faults/ {gsub(",", "", $1); print $1}' "$data/perf")
rate=$(echo "$result" | python3 -c 'import json, sys; print(round(json.load(sys.stdin)["events_per_sec"]))')
awk -v l="$label" -v r="$rate" -v f="$faults" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" \
  'BEGIN { printf "{\"bin\":\"%s\",\"events_per_sec\":%s,\"page_faults\":%s,\"user_s\":%.2f,\"sys_s\":%.2f}\n", l, r, f, u / hz, s / hz }'
