"""The index and document APIs through the official client: usage: documents.py URL CA PASSWORD.
Prints "ok" when every step behaved as Elasticsearch does."""
import sys

from elasticsearch import (BadRequestError, ConflictError, Elasticsearch, NotFoundError,
                           helpers)

url, ca, password = sys.argv[1:4]
es = Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", password))


def fails(status, error_type, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except (BadRequestError, NotFoundError, ConflictError) as e:
        assert e.meta.status == status, (e.meta.status, e.info)
        assert e.error == error_type, (e.error, e.info)
        return e.info
    raise AssertionError(f"{call} {args} {kwargs} did not fail")


# --- indices -------------------------------------------------------------------------------
created = es.indices.create(
    index="orders",
    settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "-1"},
    mappings={"properties": {"customer": {"type": "keyword"}, "total": {"type": "double"},
                             "placed": {"type": "date", "format": "yyyy-MM-dd HH:mm:ss"},
                             "note": {"type": "text"}}},
    aliases={"orders-read": {}},
)
assert created == {"acknowledged": True, "shards_acknowledged": True, "index": "orders"}, created
assert es.indices.exists(index="orders")
assert not es.indices.exists(index="nothing-here")
info = fails(400, "resource_already_exists_exception", es.indices.create, index="orders")
assert "already exists" in info["error"]["reason"], info
for bad in ["Orders", "_orders", "or*ders", "a,b"]:
    fails(400, "invalid_index_name_exception", es.indices.create, index=bad)
fails(400, "illegal_argument_exception", es.indices.create, index="x1",
      settings={"index": {"frobnicate": 1}})
fails(400, "mapper_parsing_exception", es.indices.create, index="x2",
      mappings={"properties": {"a": {"type": "nonsense"}}})

got = es.indices.get(index="orders")["orders"]
assert got["aliases"] == {"orders-read": {}}, got
assert got["mappings"]["properties"]["customer"] == {"type": "keyword"}, got
assert got["settings"]["index"]["number_of_replicas"] == "0", got
assert got["settings"]["index"]["provided_name"] == "orders", got

es.indices.put_mapping(index="orders", properties={"status": {"type": "keyword"}})
mapping = es.indices.get_mapping(index="orders")["orders"]["mappings"]["properties"]
assert mapping["status"] == {"type": "keyword"}, mapping
info = fails(400, "illegal_argument_exception", es.indices.put_mapping, index="orders",
             properties={"total": {"type": "keyword"}})
assert "cannot be changed from type [double] to [keyword]" in info["error"]["reason"], info

es.indices.put_settings(index="orders", settings={"index": {"number_of_replicas": 1}})
settings = es.indices.get_settings(index="orders")["orders"]["settings"]["index"]
assert settings["number_of_replicas"] == "1", settings
fails(400, "illegal_argument_exception", es.indices.put_settings, index="orders",
      settings={"index": {"number_of_shards": 3}})
health = es.cluster.health(index="orders")
assert health["status"] == "yellow" and health["unassigned_shards"] == 1, health
es.indices.put_settings(index="orders", settings={"index": {"number_of_replicas": 0}})
assert es.cluster.health(index="orders", wait_for_status="green")["status"] == "green"

# --- documents -----------------------------------------------------------------------------
r = es.index(index="orders", id="1", document={"customer": "acme", "total": 12.5,
                                                "placed": "2024-03-01 10:00:00", "note": "first"})
assert r["result"] == "created" and r["_version"] == 1 and r["_seq_no"] == 0, r
assert r.meta.status == 201
r = es.index(index="orders", id="1", document={"customer": "acme", "total": 13.0,
                                                "placed": "2024-03-01 10:00:00", "note": "again"})
assert r["result"] == "updated" and r["_version"] == 2 and r["_seq_no"] == 1, r
doc = es.get(index="orders", id="1")
assert doc["found"] and doc["_source"]["total"] == 13.0 and doc["_version"] == 2, doc
assert es.get(index="orders-read", id="1")["_id"] == "1"
assert es.exists(index="orders", id="1") and not es.exists(index="orders", id="2")
assert es.get_source(index="orders", id="1")["note"] == "again"
partial = es.get(index="orders", id="1", source_includes=["customer"])
assert partial["_source"] == {"customer": "acme"}, partial
fails(404, "index_not_found_exception", es.get, index="missing", id="1")
try:
    es.get(index="orders", id="nope")
    raise AssertionError("missing document found")
except NotFoundError as e:
    assert e.body == {"_index": "orders", "_id": "nope", "found": False}, e.body

info = fails(409, "version_conflict_engine_exception", es.create, index="orders", id="1",
             document={"customer": "dup"})
assert "document already exists" in info["error"]["reason"], info
fails(409, "version_conflict_engine_exception", es.index, index="orders", id="1",
      document={"customer": "late"}, if_seq_no=0, if_primary_term=1)
r = es.index(index="orders", id="1", document={"customer": "acme", "total": 14.0,
                                                "placed": "2024-03-01 10:00:00"},
             if_seq_no=1, if_primary_term=doc["_primary_term"])
assert r["_seq_no"] == 2, r
info = fails(400, "mapper_parsing_exception", es.index, index="orders", id="bad",
             document={"total": "lots"})
assert "failed to parse field [total] of type [double]" in info["error"]["reason"], info
fails(400, "mapper_parsing_exception", es.index, index="orders", id="bad",
      document={"placed": "yesterday"})
assert not es.exists(index="orders", id="bad")

deep = {"leaf": 1}
for _ in range(25):
    deep = {"level": deep}
info = fails(400, "illegal_argument_exception", es.index, index="deep", id="1", document=deep)
assert "Limit of mapping depth [20]" in info["error"]["reason"], info

r = es.index(index="orders", document={"customer": "auto"})
assert r["result"] == "created" and len(r["_id"]) == 20, r

es.index(index="ext", id="e", document={"v": 1}, version=5, version_type="external")
assert es.get(index="ext", id="e")["_version"] == 5
fails(409, "version_conflict_engine_exception", es.index, index="ext", id="e",
      document={"v": 2}, version=5, version_type="external")

u = es.update(index="orders", id="1", doc={"status": "shipped"}, source=True)
assert u["result"] == "updated" and u["get"]["_source"]["status"] == "shipped", u
assert u["get"]["_source"]["customer"] == "acme", u
u = es.update(index="orders", id="1", doc={"status": "shipped"})
assert u["result"] == "noop", u
u = es.update(index="orders", id="2", doc={"customer": "new"}, doc_as_upsert=True)
assert u["result"] == "created", u
u = es.update(index="orders", id="3", doc={"customer": "x"}, upsert={"customer": "upserted"})
assert es.get_source(index="orders", id="3") == {"customer": "upserted"}
fails(404, "document_missing_exception", es.update, index="orders", id="4", doc={"a": 1})
info = fails(400, "action_request_validation_exception", es.update, index="orders", id="1",
             script={"source": "ctx._source.total += 1"})
assert "scripts are not supported" in info["error"]["reason"], info

d = es.delete(index="orders", id="3")
assert d["result"] == "deleted", d
try:
    es.delete(index="orders", id="3")
    raise AssertionError("deleted twice")
except NotFoundError as e:
    assert e.body["result"] == "not_found", e.body

# --- bulk and mget -------------------------------------------------------------------------
bulk = es.bulk(operations=[
    {"index": {"_index": "orders", "_id": "b1"}}, {"customer": "bulk1", "total": 1},
    {"create": {"_index": "orders", "_id": "1"}}, {"customer": "conflict"},
    {"index": {"_index": "orders", "_id": "b2"}}, {"total": "not a number"},
    {"update": {"_index": "orders", "_id": "b1"}}, {"doc": {"total": 2}},
    {"delete": {"_index": "orders", "_id": "nope"}},
    {"index": {"_index": "bulk-made", "_id": "z"}}, {"made": True},
])
assert bulk["errors"] is True
statuses = [list(item.values())[0]["status"] for item in bulk["items"]]
assert statuses == [201, 409, 400, 200, 404, 201], bulk["items"]
assert list(bulk["items"][1]) == ["create"]
assert es.get_source(index="orders", id="b1")["total"] == 2
assert es.indices.exists(index="bulk-made")

ok, errors = helpers.bulk(es, ({"_index": "helpers", "_id": str(i), "n": i} for i in range(500)))
assert ok == 500 and errors == [], (ok, errors)

m = es.mget(docs=[{"_index": "orders", "_id": "1"}, {"_index": "orders", "_id": "none"},
                  {"_index": "missing", "_id": "1"}])["docs"]
assert m[0]["found"] is True and m[1]["found"] is False, m
assert m[2]["error"]["type"] == "index_not_found_exception", m
m = es.mget(index="helpers", ids=["1", "2", "999"])["docs"]
assert [d["found"] for d in m] == [True, True, False], m

# --- refresh and search --------------------------------------------------------------------
assert es.count(index="orders")["count"] == 0  # refresh_interval -1: nothing searchable yet
es.indices.refresh(index="orders")
count = es.count(index="orders")["count"]
assert count == 4, count  # 1, the auto id, the doc_as_upsert 2, and b1
hits = es.search(index="orders", query={"term": {"customer": "acme"}})["hits"]
assert hits["total"]["value"] == 1 and hits["hits"][0]["_id"] == "1", hits
r = es.index(index="orders", id="w", document={"customer": "waiter"}, refresh="wait_for")
assert es.count(index="orders", query={"term": {"customer": "waiter"}})["count"] == 1
r = es.index(index="orders", id="t", document={"customer": "forced"}, refresh=True)
assert r["forced_refresh"] is True, r
assert es.count(index="orders", query={"match": {"customer": "forced"}})["count"] == 1
fails(400, "parsing_exception", es.search, index="orders", query={"frobnicate": {}})
es.indices.refresh(index="helpers")
assert es.count(index="helpers")["count"] == 500
aggs = es.search(index="helpers", size=0, aggs={
    "n_stats": {"stats": {"field": "n"}},
    "by_hundred": {"histogram": {"field": "n", "interval": 100}},
})["aggregations"]
expected = list(range(500))
assert aggs["n_stats"]["count"] == 500 and aggs["n_stats"]["sum"] == sum(expected), aggs
assert aggs["n_stats"]["min"] == 0 and aggs["n_stats"]["max"] == 499, aggs
assert [b["doc_count"] for b in aggs["by_hundred"]["buckets"]] == [100] * 5, aggs
fails(400, "illegal_argument_exception", es.search, index="orders", size=0,
      aggs={"t": {"terms": {"field": "note"}}})  # a text field
page = es.search(index="helpers", from_=490, size=20)["hits"]["hits"]
assert len(page) == 10, len(page)
fails(400, "illegal_argument_exception", es.search, index="helpers", from_=9995, size=10)

# --- _cat/indices --------------------------------------------------------------------------
cat = es.cat.indices(index="helpers", format="json")
assert cat[0]["index"] == "helpers" and cat[0]["docs.count"] == "500", cat
assert cat[0]["health"] == "yellow" and cat[0]["pri"] == "1", cat
ranked = es.cat.indices(format="json", s="docs.count:desc", h="index,docs.count")
assert ranked[0] == {"index": "helpers", "docs.count": "500"}, ranked
counts = [int(row["docs.count"]) for row in ranked]
assert counts == sorted(counts, reverse=True), ranked
green = es.cat.indices(format="json", health="green", h="index")
assert {"index": "orders"} in green and {"index": "helpers"} not in green, green
fails(400, "illegal_argument_exception", es.cat.indices, h="index,bogus")
text = es.cat.indices(v=True)
assert text.splitlines()[0].split()[:3] == ["health", "status", "index"], text
assert any(line.split()[2] == "orders" for line in text.splitlines()[1:]), text

# --- aliases -------------------------------------------------------------------------------
es.indices.put_alias(index="helpers", name="numbers")
assert es.indices.exists_alias(name="numbers")
assert es.indices.get_alias(name="numbers") == {"helpers": {"aliases": {"numbers": {}}}}
es.index(index="numbers", id="via-alias", document={"n": -1})
assert es.get(index="helpers", id="via-alias")["found"]
es.indices.update_aliases(actions=[
    {"add": {"index": "bulk-made", "alias": "numbers"}},
    {"remove": {"index": "helpers", "alias": "numbers"}},
])
assert list(es.indices.get_alias(name="numbers")) == ["bulk-made"]
es.indices.delete_alias(index="bulk-made", name="numbers")
assert not es.indices.exists_alias(name="numbers")
es.indices.put_alias(index="helpers", name="numbers")
es.indices.put_alias(index="bulk-made", name="numbers")
info = fails(400, "illegal_argument_exception", es.index, index="numbers", document={"n": 0})
assert "no write index is defined for alias [numbers]" in info["error"]["reason"], info
fails(400, "illegal_argument_exception", es.indices.delete, index="numbers")

# --- index templates -----------------------------------------------------------------------
es.indices.put_index_template(name="logs", index_patterns=["logs-*"], priority=10, template={
    "settings": {"number_of_replicas": 0},
    "mappings": {"properties": {"status": {"type": "integer"}}},
    "aliases": {"all-logs": {}},
})
assert es.indices.exists_index_template(name="logs")
es.index(index="logs-2024", document={"status": "404", "message": "not found"})
made = es.indices.get(index="logs-2024")["logs-2024"]
assert made["mappings"]["properties"]["status"] == {"type": "integer"}, made
assert made["settings"]["index"]["number_of_replicas"] == "0", made
assert made["aliases"] == {"all-logs": {}}, made
templates = es.indices.get_index_template(name="logs")["index_templates"]
assert templates[0]["name"] == "logs", templates
es.indices.delete_index_template(name="logs")
assert not es.indices.exists_index_template(name="logs")

# --- async durability: acknowledged at once, synced on an interval and before a refresh ----
es.indices.create(index="fast", settings={"translog": {"durability": "async",
                                                       "sync_interval": "1s"}})
for i in range(20):
    es.index(index="fast", id=str(i), document={"i": i})
es.indices.refresh(index="fast")
assert es.count(index="fast")["count"] == 20
fails(400, "illegal_argument_exception", es.indices.put_settings, index="fast",
      settings={"index": {"translog": {"durability": "sometimes"}}})

# --- deletion ------------------------------------------------------------------------------
info = fails(400, "illegal_argument_exception", es.indices.delete, index="logs-*")
assert "Wildcard expressions" in info["error"]["reason"], info
assert es.indices.delete(index="logs-2024") == {"acknowledged": True}
assert not es.indices.exists(index="logs-2024")
fails(404, "index_not_found_exception", es.indices.delete, index="logs-2024")

print("ok")
