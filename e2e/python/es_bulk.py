"""Sends documents to Weir's Elasticsearch bulk API with Elastic's own Python client, as a
shipper would: the client's version probe, then `helpers.bulk` with gzip-compressed requests.

Usage: es_bulk.py BASE_URL
Prints one JSON line: {"version": ..., "stored": N, "errors": [per-item errors]}.
"""

import json
import sys

from elasticsearch import Elasticsearch, helpers


def main(base):
    client = Elasticsearch(f"{base}/api/v1/es", http_compress=True, request_timeout=10)
    info = client.info()
    actions = [
        {
            "_index": "shop-logs",
            "_source": {
                "@timestamp": f"2026-12-01T10:00:0{i}Z",
                "message": f"order {i} placed",
                "http": {"status": 200 + i},
                "service": "shop",
            },
        }
        for i in range(3)
    ]
    # `count` is a number in the stream already: a text value is refused, alone.
    actions.append({"_index": "shop-logs", "_source": {"count": "many", "service": "shop"}})
    actions.append({"_op_type": "delete", "_index": "shop-logs", "_id": "x"})
    stored, errors = helpers.bulk(client, actions, raise_on_error=False, stats_only=False)
    print(json.dumps({"version": info["version"]["number"], "stored": stored, "errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1])
