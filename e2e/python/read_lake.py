#!/usr/bin/env python3
"""Reads a Weir stream's lake table without Weir, with the `deltalake` package and with DuckDB.

Usage: read_lake.py TABLE_DIR COLUMN [COLUMN ...]

Prints one JSON object: {"deltalake": rows, "duckdb": rows, "txn": version, "files": n}, where rows
are lists of the given columns ordered by `_offset`, with `_time` as microseconds since the epoch.
"""
import json
import sys

import deltalake
import duckdb
import pyarrow as pa


def main():
    path, columns = sys.argv[1], sys.argv[2:]
    table = deltalake.DeltaTable(path)
    arrow = table.to_pyarrow_table(columns=columns).sort_by("_offset")
    if "_time" in columns:
        idx = arrow.schema.get_field_index("_time")
        arrow = arrow.set_column(idx, "_time", arrow["_time"].cast(pa.int64()))
    data = arrow.to_pydict()
    rows_delta = [[data[c][i] for c in columns] for i in range(arrow.num_rows)]
    select = ", ".join("epoch_us(_time)" if c == "_time" else f'"{c}"' for c in columns)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    query = f"SELECT {select} FROM read_parquet(?) ORDER BY _offset"
    rows_duck = [list(r) for r in con.execute(query, [table.file_uris()]).fetchall()]
    print(json.dumps({
        "deltalake": rows_delta,
        "duckdb": rows_duck,
        "txn": table.transaction_version("weir"),
        "files": len(table.file_uris()),
    }))


if __name__ == "__main__":
    main()
