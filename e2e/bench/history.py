#!/usr/bin/env python3
"""Times the history queries of shared/bench on Weir (POST /api/v1/query) and on DuckDB over the
Parquet files of Weir's current lake snapshot, interleaved in one run.

  python3 e2e/bench/history.py --url http://127.0.0.1:8080 --lake DATA_DIR/lake/demo_http \
      --sql ../shared/bench/history.sql --runs 5 --out results.json

For each query: one warm-up per engine (timed apart: Weir's first run, before its cache of lake
files' partial aggregates holds the query's), then --runs rounds in which each engine runs once, in
rotated order. Reports min and median milliseconds, Weir/DuckDB ratios and their geometric mean,
and whether both engines returned the same rows: the same number, and the same values in the
columns both have (floats within a relative 1e-9, but an exact percentile's within 1e-7: the
engines interpolate between the same two values with different arithmetic, 2e-8 apart at most on
the bench data; an approximate aggregate's floats are not compared, the two engines' sketches differ;
rows as a multiset, since ties in an ORDER BY may come in either order).
"""
import argparse
import datetime
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
    """-> (column names, rows) as Weir's JSON reply has them."""
    body = json.dumps({"sql": sql}).encode()
    req = urllib.request.Request(f"{url}/api/v1/query", data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        reply = json.loads(resp.read())
    return [c["name"] for c in reply["columns"]], reply["rows"]


def normal(value):
    """A value as both engines' results can be compared: timestamps as Weir writes them."""
    if isinstance(value, datetime.datetime):
        value = value.astimezone(datetime.timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def same_rows(weir, duck, approx, tolerance=1e-9):
    """Whether both results hold the same rows in the columns they share."""
    (wcols, wrows), (dcols, drows) = weir, duck
    if len(wrows) != len(drows):
        return False
    shared = [c for c in wcols if c in dcols]
    wi, di = [wcols.index(c) for c in shared], [dcols.index(c) for c in shared]

    def ordered(rows, idx):
        rows = [[normal(r[i]) for i in idx] for r in rows]
        return sorted(rows, key=lambda r: repr([None if isinstance(v, float) else v for v in r]))

    for a, b in zip(ordered(wrows, wi), ordered(drows, di)):
        for x, y in zip(a, b):
            if isinstance(x, float) or isinstance(y, float):
                if not approx and not (x is not None and y is not None
                                       and math.isclose(x, y, rel_tol=tolerance)):
                    return False
            elif x != y:
                return False
    return True


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
        cur = con.execute(sql)
        rows = cur.fetchall()
        return [d[0] for d in cur.description], rows

    engines = {
        "weir": lambda q: weir_query(a.url, q.get("datafusion") or q["both"]),
        "duckdb": lambda q: duck(q.get("duckdb") or q["both"]),
    }
    results = {}
    for name, q in parse_sql(a.sql).items():
        times = {e: [] for e in engines}
        rows, first = {}, {}
        for e, run in engines.items():  # warm-up, timed: the first run (Weir's caches cold)
            t0 = time.perf_counter()
            rows[e] = run(q)
            first[e] = round((time.perf_counter() - t0) * 1000, 1)
        for r in range(a.runs):
            order = list(engines)[r % 2:] + list(engines)[:r % 2]
            for e in order:
                t0 = time.perf_counter()
                engines[e](q)
                times[e].append((time.perf_counter() - t0) * 1000)
        res = {e: {"min_ms": round(min(t), 1), "median_ms": round(statistics.median(t), 1),
                   "first_ms": first[e]}
               for e, t in times.items()}
        res["ratio_min"] = round(res["weir"]["min_ms"] / res["duckdb"]["min_ms"], 3)
        approx = "approx" in (q.get("datafusion") or q["both"])
        sql = q.get("datafusion") or q["both"]
        tolerance = 1e-7 if "percentile_cont" in sql else 1e-9
        res["rows_agree"] = same_rows(rows["weir"], rows["duckdb"], approx, tolerance)
        results[name] = res
        print(f"{name:4} weir {res['weir']['min_ms']:>9.1f} ms  duckdb {res['duckdb']['min_ms']:>9.1f} ms"
              f"  ratio {res['ratio_min']:.3f}  rows {len(rows['weir'][1])}/{len(rows['duckdb'][1])}"
              f"  {'same' if res['rows_agree'] else 'DIFFERENT'}"
              f"  (first run: weir {first['weir']} ms, duckdb {first['duckdb']} ms)", flush=True)
    geo = math.exp(statistics.mean(math.log(r["ratio_min"]) for r in results.values()))
    summary = {"files": len(files), "lake_version": table.version(), "duckdb": duckdb.__version__,
               "runs": a.runs, "geomean_ratio_min": round(geo, 3), "queries": results}
    print(f"geometric mean of weir/duckdb (min): {geo:.3f}")
    if a.out:
        json.dump(summary, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
