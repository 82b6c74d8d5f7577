#!/usr/bin/env python3
"""Times the history queries of shared/bench on Weir (POST /api/v1/query) and on DuckDB over the
Parquet files of Weir's current lake snapshot, interleaved in one run.

  python3 e2e/bench/history.py --url http://127.0.0.1:8080 --lake DATA_DIR/lake/demo_http \
      --sql ../shared/bench/history.sql --runs 5 --out results.json

For each query: one warm-up per engine, then --runs rounds in which each engine runs once, in
rotated order. Reports min and median milliseconds, Weir/DuckDB ratios and their geometric mean,
and whether both engines returned the same number of rows.
"""
import argparse
import json
import math
import re
import statistics
import time
import urllib.request

import deltalake
import duckdb


def parse_sql(path):
    """-> {name: {'both'|'duckdb'|'datafusion': sql}} in file order (shared/bench's format)."""
    out, name, dialect, buf = {}, None, "both", []
    for line in open(path):
        s = line.strip()
        m = re.match(r"--\s*name:\s*(\S+)", s)
        if m:
            name, dialect = m.group(1), "both"
            out.setdefault(name, {})
            continue
        m = re.match(r"--\s*dialect:\s*(\S+)", s)
        if m:
            dialect = m.group(1)
            continue
        if s.startswith("--") or (not s and not buf):
            continue
        buf.append(line.rstrip("\n"))
        if s.endswith(";"):
            if name is not None:
                out[name][dialect] = "\n".join(buf).rstrip().rstrip(";")
            buf = []
    return out


def weir_query(url, sql):
    body = json.dumps({"sql": sql}).encode()
    req = urllib.request.Request(f"{url}/api/v1/query", data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        reply = json.loads(resp.read())
    return len(reply["rows"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--lake", required=True, help="the stream's Delta table directory")
    ap.add_argument("--sql", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default="")
    a = ap.parse_args()

    table = deltalake.DeltaTable(a.lake)
    files = table.file_uris()
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    paths = ", ".join("'" + f.removeprefix("file://").replace("'", "''") + "'" for f in files)
    con.execute(f"CREATE VIEW demo_http AS SELECT * FROM read_parquet([{paths}])")

    def duck(sql):
        return len(con.sql(sql).to_arrow_table())

    engines = {
        "weir": lambda q: weir_query(a.url, q.get("datafusion") or q["both"]),
        "duckdb": lambda q: duck(q.get("duckdb") or q["both"]),
    }
    results = {}
    for name, q in parse_sql(a.sql).items():
        times = {e: [] for e in engines}
        rows = {e: run(q) for e, run in engines.items()}  # warm-up
        for r in range(a.runs):
            order = list(engines)[r % 2:] + list(engines)[:r % 2]
            for e in order:
                t0 = time.perf_counter()
                engines[e](q)
                times[e].append((time.perf_counter() - t0) * 1000)
        res = {e: {"min_ms": round(min(t), 1), "median_ms": round(statistics.median(t), 1)}
               for e, t in times.items()}
        res["ratio_min"] = round(res["weir"]["min_ms"] / res["duckdb"]["min_ms"], 3)
        res["rows_agree"] = rows["weir"] == rows["duckdb"]
        results[name] = res
        print(f"{name:4} weir {res['weir']['min_ms']:>9.1f} ms  duckdb {res['duckdb']['min_ms']:>9.1f} ms"
              f"  ratio {res['ratio_min']:.3f}  rows {rows['weir']}/{rows['duckdb']}", flush=True)
    geo = math.exp(statistics.mean(math.log(r["ratio_min"]) for r in results.values()))
    summary = {"files": len(files), "lake_version": table.version(), "duckdb": duckdb.__version__,
               "runs": a.runs, "geomean_ratio_min": round(geo, 3), "queries": results}
    print(f"geometric mean of weir/duckdb (min): {geo:.3f}")
    if a.out:
        json.dump(summary, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
