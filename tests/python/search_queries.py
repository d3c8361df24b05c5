"""Queries on a fixed data set, each expected result computed in Python from the same
documents: usage: search_queries.py URL CA ELASTIC_PASSWORD. Prints "ok"."""
import sys
from datetime import datetime, timedelta, timezone

from elasticsearch import BadRequestError, Elasticsearch, helpers

url, ca, password = sys.argv[1:4]
es = Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", password))

now = datetime.now(timezone.utc)
words = ["error", "warning", "info", "disk full", "login failed", "user logged in"]
docs = []
for i in range(200):
    docs.append({
        "_id": str(i),
        "status": [200, 201, 404, 500][i % 4],
        "bytes": i * 10 + 0.5,
        "host": f"host-{i % 7}",
        "message": f"{words[i % len(words)]} number {i}",
        "@timestamp": (now - timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        **({"tag": "rare"} if i % 50 == 0 else {}),
    })
es.indices.create(index="logs", mappings={"properties": {
    "status": {"type": "integer"}, "bytes": {"type": "double"}, "host": {"type": "keyword"},
    "message": {"type": "text"}, "@timestamp": {"type": "date"}, "tag": {"type": "keyword"}}})
helpers.bulk(es, ({"_index": "logs", **d} for d in docs), refresh=True)


def ids(query):
    hits = es.search(index="logs", query=query, size=1000)["hits"]
    assert hits["total"]["value"] == len(hits["hits"])
    return sorted(int(h["_id"]) for h in hits["hits"])


def expected(pred):
    return sorted(int(d["_id"]) for d in docs if pred(d))


def ts(d):
    return datetime.strptime(d["@timestamp"], "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=timezone.utc)


assert ids({"range": {"status": {"gte": 400}}}) == expected(lambda d: d["status"] >= 400)
assert ids({"range": {"status": {"gt": 200, "lt": 500}}}) == expected(lambda d: 200 < d["status"] < 500)
assert ids({"range": {"bytes": {"lte": 100.5}}}) == expected(lambda d: d["bytes"] <= 100.5)
assert ids({"range": {"host": {"gte": "host-5"}}}) == expected(lambda d: d["host"] >= "host-5")
day_ago = now - timedelta(days=1)
got = ids({"range": {"@timestamp": {"gte": "now-1d"}}})
want = expected(lambda d: ts(d) >= day_ago)
# The boundary document may fall either side of "now" moving between the two evaluations.
assert set(got) ^ set(want) <= {24, 25}, (got, want)
start_of_today = now.replace(hour=0, minute=0, second=0, microsecond=0)
assert ids({"range": {"@timestamp": {"gte": "now/d"}}}) == expected(lambda d: ts(d) >= start_of_today)
assert ids({"exists": {"field": "tag"}}) == expected(lambda d: "tag" in d)
assert ids({"bool": {"must_not": [{"exists": {"field": "tag"}}]}}) == expected(lambda d: "tag" not in d)
assert ids({"match_phrase": {"message": "disk full"}}) == expected(lambda d: "disk full" in d["message"])
assert ids({"match_phrase": {"message": "full disk"}}) == []
# best_fields: the keyword field takes the whole query as one term, the text field its words.
assert ids({"multi_match": {"query": "host-3 warning", "fields": ["host", "message"]}}) == \
    expected(lambda d: d["host"] == "host-3 warning"
             or {"host", "3", "warning"} & set(d["message"].lower().split()))
assert ids({"multi_match": {"query": "host-3", "fields": ["host", "message^2"]}}) == \
    expected(lambda d: d["host"] == "host-3" or {"host", "3"} & set(d["message"].lower().split()))
assert ids({"bool": {"filter": [{"term": {"status": 404}}, {"range": {"@timestamp": {"gte": "now-3d"}}}],
                     "should": [{"term": {"host": "host-1"}}, {"term": {"host": "host-2"}}],
                     "minimum_should_match": 1}}) == \
    expected(lambda d: d["status"] == 404 and ts(d) >= now - timedelta(days=3)
             and d["host"] in ("host-1", "host-2"))
try:
    es.search(index="logs", query={"range": {"@timestamp": {"gte": "yesterday"}}})
    raise SystemExit("a bad date bound was accepted")
except BadRequestError as e:
    assert e.error == "query_shard_exception", e.info
print("ok")
