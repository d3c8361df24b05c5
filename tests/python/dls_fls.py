"""Document- and field-level security through the official client:
usage: dls_fls.py URL CA ELASTIC_PASSWORD. Prints "ok"."""
import sys

from elasticsearch import AuthorizationException, BadRequestError, Elasticsearch, NotFoundError

url, ca, elastic_pw = sys.argv[1:4]
admin = Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", elastic_pw))

docs = [
    ("1", {"owner": "alice", "title": "alpha", "salary": 100, "public": {"name": "a", "secret": "s1"}}),
    ("2", {"owner": "alice", "title": "beta", "salary": 200, "public": {"name": "b", "secret": "s2"}}),
    ("3", {"owner": "bob", "title": "gamma", "salary": 300, "public": {"name": "c", "secret": "s3"}}),
]
admin.indices.create(index="hr", mappings={"properties": {
    "owner": {"type": "keyword"}, "title": {"type": "text"}, "salary": {"type": "long"},
    "public": {"properties": {"name": {"type": "keyword"}, "secret": {"type": "keyword"}}}}})
for doc_id, doc in docs:
    admin.index(index="hr", id=doc_id, document=doc)
admin.indices.refresh(index="hr")

admin.security.put_role(name="own_records", indices=[{
    "names": ["hr"], "privileges": ["read", "write"],
    "query": {"term": {"owner": "{{_user.username}}"}},
    "field_security": {"grant": ["owner", "title", "public.*"], "except": ["public.secret"]}}])
admin.security.put_role(name="hr_reader", indices=[{"names": ["hr"], "privileges": ["read"]}])
for name, roles in [("alice", ["own_records"]), ("bob", ["own_records"]),
                    ("carol", ["own_records", "hr_reader"])]:
    admin.security.put_user(username=name, password=name + "-password", roles=roles)


def client(name):
    return Elasticsearch(url, ca_certs=ca, basic_auth=(name, name + "-password"))


alice = client("alice")
hits = alice.search(index="hr", query={"match_all": {}})["hits"]
assert sorted(h["_id"] for h in hits["hits"]) == ["1", "2"], hits
assert hits["total"]["value"] == 2
for h in hits["hits"]:
    assert set(h["_source"]) == {"owner", "title", "public"}, h["_source"]
    assert set(h["_source"]["public"]) == {"name"}, h["_source"]
assert alice.count(index="hr")["count"] == 2
# Aggregations see only her documents, and hidden fields aggregate as if absent.
aggs = alice.search(index="hr", size=0, aggs={
    "owners": {"terms": {"field": "owner"}},
    "pay": {"sum": {"field": "salary"}},
    "secrets": {"terms": {"field": "public.secret"}},
})["aggregations"]
assert aggs["owners"]["buckets"] == [{"key": "alice", "doc_count": 2}], aggs
assert aggs["pay"]["value"] in (None, 0, 0.0), aggs
assert aggs["secrets"]["buckets"] == [], aggs
try:
    alice.search(index="hr", sort=[{"salary": "desc"}])
    raise SystemExit("alice sorted by a hidden field")
except BadRequestError:
    pass
ordered = alice.search(index="hr", sort=[{"owner": "asc"}])["hits"]["hits"]
assert sorted(h["_id"] for h in ordered) == ["1", "2"], ordered
assert all(h["sort"] == ["alice"] for h in ordered), ordered
try:
    alice.search(index="hr", size=0, aggs={"peek": {"top_hits": {"docvalue_fields": ["kw.salary"]}}})
    raise SystemExit("top_hits could name a hidden column")
except BadRequestError:
    pass
# Hidden fields cannot be searched: the salary of her own record stays hidden too.
assert alice.count(index="hr", query={"term": {"salary": 100}})["count"] == 0
assert alice.count(index="hr", query={"range": {"salary": {"gte": 0}}})["count"] == 0
assert alice.count(index="hr", query={"exists": {"field": "salary"}})["count"] == 0
assert alice.count(index="hr", query={"multi_match": {"query": "s1", "fields": ["public.*", "public.secret"]}})["count"] == 0
assert alice.count(index="hr", query={"term": {"public.secret": "s1"}})["count"] == 0
assert alice.count(index="hr", query={"term": {"owner": "bob"}})["count"] == 0
assert alice.count(index="hr", query={"match": {"title": "gamma"}})["count"] == 0

got = alice.get(index="hr", id="1")
assert got["_source"] == {"owner": "alice", "title": "alpha", "public": {"name": "a"}}, got
try:
    alice.get(index="hr", id="3")
    raise SystemExit("alice read bob's record")
except NotFoundError:
    pass
mget = alice.mget(index="hr", ids=["1", "3"])["docs"]
assert [d["found"] for d in mget] == [True, False], mget
assert "salary" not in mget[0]["_source"], mget
# A document written now is judged realtime too.
admin.index(index="hr", id="4", document={"owner": "bob", "title": "delta", "salary": 1})
try:
    alice.get(index="hr", id="4")
    raise SystemExit("alice read a fresh record of bob")
except NotFoundError:
    pass
try:
    alice.update(index="hr", id="1", doc={"title": "changed"})
    raise SystemExit("an update under document level security was allowed")
except BadRequestError as e:
    assert "not supported" in str(e.info), e.info

admin.security.put_role(name="hr_meta", indices=[{
    "names": ["hr"], "privileges": ["view_index_metadata"],
    "field_security": {"grant": ["owner", "public.name"]}}])
admin.security.put_user(username="dave", password="dave-password", roles=["hr_meta"])
mapping = client("dave").indices.get_mapping(index="hr")["hr"]["mappings"]["properties"]
assert set(mapping) == {"owner", "public"} and set(mapping["public"]["properties"]) == {"name"}, mapping

# A record given to bob after the last refresh: alice's search matches the old version,
# but must not show the new one.
admin.index(index="hr", id="2", document={"owner": "bob", "title": "beta", "salary": 999})
seen = alice.search(index="hr")["hits"]["hits"]
assert all(h["_source"]["owner"] == "alice" for h in seen), seen
assert "2" not in [h["_id"] for h in seen], seen

# Restrictions on an alias apply when the data is reached through it.
admin.indices.put_alias(index="hr", name="hr-view")
admin.security.put_role(name="via_alias", indices=[{
    "names": ["hr-view"], "privileges": ["read"],
    "query": {"bool": {"filter": [{"term": {"owner": "bob"}}],
                       "should": [{"term": {"title": "gamma"}}, {"term": {"title": "nothing"}}],
                       "minimum_should_match": 1}},
    "field_security": {"grant": ["title"]}}])
admin.security.put_user(username="erin", password="erin-password", roles=["via_alias"])
admin.indices.refresh(index="hr")
viewed = client("erin").search(index="hr-view")["hits"]["hits"]
assert [h["_id"] for h in viewed] == ["3"], viewed
assert viewed[0]["_source"] == {"title": "gamma"}, viewed
try:
    client("erin").get(index="hr-view", id="1")
    raise SystemExit("erin read a record her alias role hides")
except NotFoundError:
    pass

bob = client("bob")
assert sorted(h["_id"] for h in bob.search(index="hr")["hits"]["hits"]) == ["2", "3", "4"]

# Roles combine as a union: carol's second role sees every record and field.
carol = client("carol")
admin.indices.refresh(index="hr")
assert carol.count(index="hr")["count"] == 4
assert carol.get(index="hr", id="3")["_source"]["salary"] == 300

# An API key restricted by DLS never exceeds it, even when its owner could.
key = admin.security.create_api_key(name="bob-only", role_descriptors={"r": {"indices": [{
    "names": ["hr"], "privileges": ["read"], "query": {"term": {"owner": "bob"}},
    "field_security": {"grant": ["owner", "title"]}}]}})
keyed = Elasticsearch(url, ca_certs=ca, api_key=key["encoded"])
hits = keyed.search(index="hr")["hits"]["hits"]
assert sorted(h["_id"] for h in hits) == ["2", "3", "4"], hits
assert all(set(h["_source"]) <= {"owner", "title"} for h in hits), hits
# The read paths of the search issue leak nothing either (state now: only record 1 is
# alice's; 2, 3 and 4 are bob's).
admin.indices.refresh(index="hr")
for query in [
    {"prefix": {"public.secret": "s"}}, {"wildcard": {"public.secret": "s*"}},
    {"regexp": {"public.secret": "s.*"}}, {"fuzzy": {"public.secret": "s1"}},
    {"query_string": {"query": "public.secret:s1 OR salary:100 OR s1"}},
    {"simple_query_string": {"query": "s1 | gamma"}},
    {"match_phrase_prefix": {"title": "gam"}},
]:
    assert alice.count(index="hr", query=query)["count"] == 0, query
hit = alice.search(index="hr", query={"match": {"title": "alpha"}},
                   highlight={"fields": {"*": {}}}, fields=["*"])["hits"]["hits"]
assert [h["_id"] for h in hit] == ["1"], hit
assert set(hit[0]["highlight"]) == {"title"}, hit
assert set(hit[0]["fields"]) <= {"owner", "title", "public.name"}, hit
caps = alice.field_caps(index="hr", fields="*")["fields"]
assert "salary" not in caps and "public.secret" not in caps and "owner" in caps, caps
aggs = alice.search(index="hr", size=0, aggs={
    "latest": {"top_hits": {"size": 10, "sort": [{"salary": "desc"}]}},
    "secret": {"filter": {"term": {"public.secret": "s1"}}},
    "by": {"composite": {"sources": [{"s": {"terms": {"field": "public.secret"}}}]}},
    "others": {"filters": {"filters": {"bob": {"term": {"owner": "bob"}}}}},
    "nopay": {"missing": {"field": "salary"}},
})["aggregations"]
top = aggs["latest"]["hits"]["hits"]
assert [h["_id"] for h in top] == ["1"] and "salary" not in top[0]["_source"], top
assert aggs["secret"]["doc_count"] == 0, aggs
assert aggs["by"]["buckets"] == [], aggs
assert aggs["others"]["buckets"]["bob"]["doc_count"] == 0, aggs
assert aggs["nopay"]["doc_count"] == 1, aggs
page = alice.search(index="hr", scroll="1m", size=1)
assert [h["_id"] for h in page["hits"]["hits"]] == ["1"], page
try:
    bob.scroll(scroll_id=page["_scroll_id"], scroll="1m")
    raise SystemExit("bob continued alice's scroll")
except NotFoundError:
    pass
assert alice.scroll(scroll_id=page["_scroll_id"], scroll="1m")["hits"]["hits"] == []
pit = alice.open_point_in_time(index="hr", keep_alive="1m")["id"]
try:
    bob.search(pit={"id": pit}, query={"match_all": {}})
    raise SystemExit("bob searched alice's point in time")
except NotFoundError:
    pass
seen = alice.search(pit={"id": pit}, query={"match_all": {}})["hits"]["hits"]
assert [h["_id"] for h in seen] == ["1"], seen
alice.close_point_in_time(id=pit)
# A hidden field fails (or not) exactly as an unmapped one: a value that is no long is no
# error for her, as it would be none for a field that does not exist.
quiet = alice.search(index="hr", size=0, aggs={
    "f": {"filter": {"term": {"salary": "not-a-number"}}},
    "c": {"composite": {"sources": [{"s": {"terms": {"field": "salary"}}}], "after": {"s": "x"}}},
})["aggregations"]
assert quiet["f"]["doc_count"] == 0 and quiet["c"]["buckets"] == [], quiet
# A scroll answers only while its reader may still read: each page is authorized anew.
admin.security.put_role(name="tmp_reader", indices=[{"names": ["hr"], "privileges": ["read"]}])
admin.security.put_user(username="frank", password="frank-password", roles=["tmp_reader"])
frank = client("frank")
opened = frank.search(index="hr", scroll="1m", size=1)
admin.security.put_role(name="tmp_reader", indices=[{"names": ["other"], "privileges": ["read"]}])
try:
    frank.scroll(scroll_id=opened["_scroll_id"], scroll="1m")
    raise SystemExit("a scroll outlived its reader's privileges")
except AuthorizationException:
    pass
# Deleting an index closes the points in time on it.
admin.indices.create(index="doomed")
admin.index(index="doomed", id="1", document={"x": 1}, refresh=True)
doomed_pit = admin.open_point_in_time(index="doomed", keep_alive="1m")["id"]
admin.indices.delete(index="doomed")
try:
    admin.search(pit={"id": doomed_pit})
    raise SystemExit("a point in time served a deleted index")
except NotFoundError:
    pass
# A delete-by-query only reaches what its author can see.
gone = alice.delete_by_query(index="hr", query={"term": {"title": "gamma"}}, refresh=True)
assert gone["deleted"] == 0 and gone["total"] == 0, gone
assert carol.count(index="hr")["count"] == 4
print("ok")
