#!/usr/bin/env python3
"""Measures what query limits cost and buy, on two `weir` binaries side by side in one run:

  python3 e2e/bench/query_limits.py --before OLD/weir --after NEW/weir

1. Fixed cost: `SELECT 1` and a count by service over 100k hot events, 60 rounds alternating
   between the binaries; median after 10 warm-up rounds, and min.
2. Responsiveness: while three endless queries run (a sum over range(10^15) and two 4-way cross
   joins of 400 events), GET /healthz every 50 ms for 10 s; p50, p99 and max (a request that
   gets no answer in 12 s counts as 12 s). Each server then stops.
"""
import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

ENDLESS = [
    "SELECT sum(value) FROM range(1000000000000000)",
    "SELECT count(DISTINCT a.n + b.n * c.n - d.n) FROM t a, t b, t c, t d",
    "SELECT count(DISTINCT a.n * b.n * c.n - d.n) FROM t a, t b, t c, t d",
]


def request(port, path, body=None, content_type="application/json", timeout=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                 headers={"content-type": content_type})
    try:
        return urllib.request.urlopen(req, timeout=timeout).read()
    except urllib.error.HTTPError as e:
        return e.read()


def start(binary, port, events, args=()):
    data = tempfile.mkdtemp(prefix="weir-limits-")
    proc = subprocess.Popen([binary, "serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            request(port, "/healthz")
            break
        except OSError:
            time.sleep(0.1)
    body = "".join('{"_time":"2026-01-05T10:%02d:00Z","service":"s%d","n":%d}\n' % (i % 60, i % 12, i)
                   for i in range(events))
    request(port, "/api/v1/streams/t/events", body.encode(), "application/x-ndjson")
    return proc, data


def query(port, sql, timeout=None):
    t = time.perf_counter()
    try:
        request(port, "/api/v1/query", json.dumps({"sql": sql}).encode(), timeout=timeout)
    except OSError:
        pass  # an endless query's server was stopped under it
    return (time.perf_counter() - t) * 1000


def fixed_cost(binaries):
    servers = {name: start(binary, 9400 + i, 100_000) for i, (name, binary) in enumerate(binaries.items())}
    ports = {name: 9400 + i for i, name in enumerate(binaries)}
    for sql in ["SELECT 1", "SELECT service, count(*) FROM t GROUP BY service"]:
        times = {name: [] for name in binaries}
        for r in range(60):
            order = list(binaries) if r % 2 else list(binaries)[::-1]
            for name in order:
                times[name].append(query(ports[name], sql))
        print(f"{sql}: " + ", ".join(
            f"{name} median {statistics.median(t[10:]):.2f} ms, min {min(t):.2f} ms" for name, t in times.items()))
    for proc, data in servers.values():
        proc.kill()
        shutil.rmtree(data, ignore_errors=True)


def responsiveness(name, binary):
    port = 9410
    proc, data = start(binary, port, 400)
    for sql in ENDLESS:
        threading.Thread(target=query, args=(port, sql, 30), daemon=True).start()
    time.sleep(0.5)
    latencies, end = [], time.time() + 10
    while time.time() < end:
        t = time.perf_counter()
        try:
            request(port, "/healthz", timeout=12)
            latencies.append((time.perf_counter() - t) * 1000)
        except OSError:
            latencies.append(12_000.0)
        time.sleep(0.05)
    latencies.sort()
    print(f"{name}: /healthz n={len(latencies)} p50 {latencies[len(latencies) // 2]:.1f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99)]:.1f} ms, max {latencies[-1]:.1f} ms")
    proc.kill()
    proc.wait()
    shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    args = parser.parse_args()
    binaries = {"before": args.before, "after": args.after}
    fixed_cost(binaries)
    for name, binary in binaries.items():
        responsiveness(name, binary)


if __name__ == "__main__":
    main()
