#!/usr/bin/env python3
"""Explore's own speed: how long the server takes to render Explore's pages, data included.

Explore renders on the server and streams its panels as their queries answer, so the end of
the response is when a browser has every panel painted (before hydration, which needs no
data). Three pages, each fetched `--runs` times (the first run alone is reported as well: the
partial-aggregate cache holds nothing of its range yet):

- `hour`: the last hour of the stream's data (histogram, field list with top values and
  numbers, the newest events);
- `day`: the last 24 hours, the same panels (the field list's top values are the costly part);
- `later`: the `day` page a minute later (a "last 24 hours" view refreshed): a different range,
  whose files but the two at its ends are the `day` page's;
- `drill`: what a click on a dashboard panel opens: one minute of one service's server errors.

"Last" is relative to the newest event of the stream, so a generated history works as well as
a live one.

    python3 e2e/bench/explore.py --url http://127.0.0.1:8080 --stream demo_http --out out.json
"""

import argparse
import datetime
import json
import time
import urllib.parse
import urllib.request


def query(url, sql):
    body = json.dumps({"sql": sql}).encode()
    request = urllib.request.Request(f"{url}/api/v1/query", data=body,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request) as reply:
        return json.loads(reply.read())["rows"]


def rfc3339(micros):
    instant = datetime.datetime.fromtimestamp(micros / 1e6, datetime.timezone.utc)
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def page(url):
    """Milliseconds to the end of `url`'s response, and its body."""
    start = time.perf_counter()
    with urllib.request.urlopen(url) as reply:
        body = reply.read().decode()
        if reply.status != 200:
            raise SystemExit(f"{url}: HTTP {reply.status}")
    return (time.perf_counter() - start) * 1000, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--stream", default="demo_http")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    [[end]] = query(args.url, f"SELECT CAST(max(_time) AS BIGINT) FROM {args.stream}")
    end = (int(end) // 1_000_000 + 1) * 1_000_000
    hour, day, minute = 3_600_000_000, 86_400_000_000, 60_000_000
    # The minute of the last hour with the most server errors of one service: a spike.
    [[spike, service]] = query(
        args.url,
        f"SELECT CAST(date_trunc('minute', _time) AS BIGINT) AS m, service FROM {args.stream} "
        f"WHERE _time >= to_timestamp_micros({end - hour}) AND status >= 500 "
        "GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT 1")
    base = f"{args.url}/explore/{args.stream}"
    pages = {
        "hour": f"{base}?from={rfc3339(end - hour)}&to={rfc3339(end)}",
        "day": f"{base}?from={rfc3339(end - day)}&to={rfc3339(end)}",
        "later": f"{base}?from={rfc3339(end - day + minute)}&to={rfc3339(end + minute)}",
        "drill": f"{base}?from={rfc3339(spike)}&to={rfc3339(spike + minute - 1)}"
                 f"&f={urllib.parse.quote(f'service|=|{service}')}"
                 f"&f={urllib.parse.quote('status|>|499')}",
    }
    results = {}
    for name, url in pages.items():
        times = []
        for _ in range(args.runs):
            ms, body = page(url)
            # Every panel's data came: the histogram, a field's top values and an event.
            for panel in ('data-test="histogram"', 'data-test="field"', 'data-test="event"'):
                if panel not in body:
                    raise SystemExit(f"{url}: no {panel} in the page")
            times.append(ms)
        results[name] = {"url": url, "first_ms": round(times[0], 1),
                         "min_ms": round(min(times), 1),
                         "median_ms": round(sorted(times)[len(times) // 2], 1),
                         "bytes": len(body)}
        print(f"{name:6} first {times[0]:8.1f} ms  min {min(times):8.1f} ms  "
              f"{len(body) // 1024} KiB  {url}")
    if args.out:
        with open(args.out, "w") as out:
            json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
