"""Crash test helper: usage: bulk_crash.py stream|check URL CA PASSWORD LOG.

stream: sends bulk requests of deterministic documents until the node dies, appending to LOG
(fsynced) the ids it is about to send ("try ID") and those acknowledged ("ack ID").
check: verifies every acknowledged document is there with exactly its content, that every
stored document is whole, and that search agrees with the store after a refresh."""
import os
import sys

from elasticsearch import Elasticsearch

mode, url, ca, password, log_path = sys.argv[1:6]
es = Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", password), request_timeout=30,
                   max_retries=0)
INDEX = "crash"


def content(doc_id):
    n = sum(doc_id.encode())
    return {"id": doc_id, "n": n, "payload": (doc_id + "-") * (1 + n % 40),
            "nested": {"a": n % 7, "b": [n, n + 1]}}


def record(log, lines):
    log.write("".join(line + "\n" for line in lines))
    log.flush()
    os.fsync(log.fileno())


if mode == "stream":
    run = os.environ.get("TRIAL", "0")
    batch = 0
    with open(log_path, "a") as log:
        while True:
            ids = [f"t{run}-b{batch}-{i}" for i in range(50)]
            record(log, ["try " + i for i in ids])
            operations = []
            for doc_id in ids:
                operations.append({"index": {"_index": INDEX, "_id": doc_id}})
                operations.append(content(doc_id))
            try:
                response = es.bulk(operations=operations)
            except Exception:
                break  # the node died: what was not acknowledged may or may not be there
            acked = [list(item.values())[0] for item in response["items"]]
            record(log, ["ack " + item["_id"] for item in acked if item["status"] in (200, 201)])
            batch += 1
    sys.exit(0)

tried, acked = set(), set()
with open(log_path) as log:
    for line in log:
        kind, _, doc_id = line.strip().partition(" ")
        (acked if kind == "ack" else tried).add(doc_id)
assert acked, "nothing was acknowledged: the trials killed the node too early"
present = set()
ids = sorted(tried | acked)
for start in range(0, len(ids), 500):
    chunk = ids[start:start + 500]
    for doc in es.mget(index=INDEX, ids=chunk)["docs"]:
        if doc.get("found"):
            assert doc["_source"] == content(doc["_id"]), f"damaged document {doc}"
            present.add(doc["_id"])
lost = acked - present
assert not lost, f"{len(lost)} acknowledged documents lost, e.g. {sorted(lost)[:5]}"
es.indices.refresh(index=INDEX)
count = es.count(index=INDEX)["count"]
assert count == len(present), f"search sees {count} documents, the store {len(present)}"
print(f"ok {len(acked)} acknowledged, {len(present)} present of {len(tried)} tried")
