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
# Sorting: multiple keys, directions, missing values, paging, and the sort values returned.
def order(sort, size=1000, from_=0, query=None):
    hits = es.search(index="logs", query=query or {"match_all": {}}, sort=sort, size=size,
                     from_=from_)["hits"]["hits"]
    return hits


by_status_bytes = order([{"status": "desc"}, {"bytes": "asc"}])
want = sorted(docs, key=lambda d: (-d["status"], d["bytes"]))
assert [int(h["_id"]) for h in by_status_bytes] == [int(d["_id"]) for d in want]
assert by_status_bytes[0]["sort"] == [want[0]["status"], want[0]["bytes"]], by_status_bytes[0]
assert by_status_bytes[0]["_score"] is None
page = order([{"@timestamp": {"order": "asc"}}], size=5, from_=10)
by_time = sorted(docs, key=lambda d: d["@timestamp"])
assert [int(h["_id"]) for h in page] == [int(d["_id"]) for d in by_time[10:15]]
hosts = order(["host", {"status": "asc"}], query={"range": {"status": {"lt": 300}}})
want = sorted((d for d in docs if d["status"] < 300), key=lambda d: (d["host"], d["status"]))
assert [h["sort"] for h in hosts] == [[d["host"], d["status"]] for d in want]
tagged_first = order([{"tag": {"order": "asc", "missing": "_first"}}, {"bytes": "asc"}])
assert [h["sort"][0] for h in tagged_first[:196]] == [None] * 196, tagged_first[:3]
assert [h["sort"][0] for h in tagged_first[196:]] == ["rare"] * 4
tagged_last = order([{"tag": "desc"}])
assert tagged_last[0]["sort"] == ["rare"] and tagged_last[-1]["sort"] == [None]
for bad in [[{"message": "asc"}], [{"nope": "asc"}], [{"status": "sideways"}]]:
    try:
        es.search(index="logs", sort=bad)
        raise SystemExit(f"sort {bad} was accepted")
    except BadRequestError:
        pass

scored = es.search(index="logs", query={"constant_score": {"filter": {"term": {"host": "host-2"}}, "boost": 3}})
assert all(h["_score"] == 3.0 for h in scored["hits"]["hits"]), scored["hits"]["hits"][:2]
assert scored["hits"]["total"]["value"] == len(expected(lambda d: d["host"] == "host-2"))

# _msearch: answers in order, a failure in its place.
multi = es.msearch(searches=[
    {"index": "logs"}, {"query": {"term": {"status": 404}}, "size": 0},
    {"index": "missing"}, {"query": {"match_all": {}}},
    {}, {"query": {"range": {"bytes": {"gte": 1000}}}, "size": 0},
])["responses"]
assert multi[0]["hits"]["total"]["value"] == len(expected(lambda d: d["status"] == 404)), multi[0]
assert multi[0]["status"] == 200
assert multi[1]["status"] == 404 and multi[1]["error"]["type"] == "index_not_found_exception", multi[1]
assert multi[2]["hits"]["total"]["value"] == len(expected(lambda d: d["bytes"] >= 1000)), multi[2]
assert es.msearch(index="logs", searches=[{}, {"size": 0}])["responses"][0]["hits"]["total"]["value"] == 200

try:
    es.search(index="logs", query={"range": {"@timestamp": {"gte": "yesterday"}}})
    raise SystemExit("a bad date bound was accepted")
except BadRequestError as e:
    assert e.error == "query_shard_exception", e.info
print("ok")
