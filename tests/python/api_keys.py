"""API keys through the official client: usage: api_keys.py URL CA ELASTIC_PASSWORD; prints ok."""
import sys
import time

from elasticsearch import AuthenticationException, AuthorizationException, Elasticsearch

url, ca, elastic_pw = sys.argv[1:4]
admin = Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", elastic_pw))

created = admin.security.create_api_key(name="optimize", expiration="1d", metadata={"app": "bi"})
assert {"id", "name", "api_key", "encoded", "expiration"} <= set(created), created
keyed = Elasticsearch(url, ca_certs=ca, api_key=created["encoded"])
assert keyed.info()["tagline"] == "You Know, for Search"
who = keyed.security.authenticate()
assert who["authentication_type"] == "api_key", who
assert who["api_key"] == {"id": created["id"], "name": "optimize"}, who
assert who["username"] == "elastic", who

# A key with role descriptors has the intersection of them and its owner's privileges.
limited = admin.security.create_api_key(name="limited", role_descriptors={
    "reader": {"cluster": ["monitor"], "indices": [{"names": ["optimize-*"], "privileges": ["read"]}]}})
limited_client = Elasticsearch(url, ca_certs=ca, api_key=limited["encoded"])
assert limited_client.security.authenticate()["roles"] == []
assert limited_client.info()["tagline"] == "You Know, for Search"  # monitor
admin.index(index="optimize-1", id="1", document={"a": 1}, refresh=True)
admin.index(index="secret", id="1", document={"a": 1}, refresh=True)
assert limited_client.get(index="optimize-1", id="1")["found"]
for forbidden in [
    lambda: limited_client.get(index="secret", id="1"),
    lambda: limited_client.index(index="optimize-1", id="2", document={"a": 2}),
    lambda: limited_client.security.put_user(username="x", password="xxxxxx", roles=[]),
]:
    try:
        forbidden()
        raise SystemExit("a key did more than its role descriptors allow")
    except AuthorizationException:
        pass
hits = limited_client.search(index="*", query={"match_all": {}})["hits"]["hits"]
assert {h["_index"] for h in hits} == {"optimize-1"}, hits
# Nor may it take over its owner by changing the owner's password.
try:
    limited_client.security.change_password(password="taken-over")
    raise SystemExit("an API key changed its owner's password")
except AuthorizationException:
    pass
assert admin.info()["tagline"] == "You Know, for Search", "the owner's password is unchanged"

listed = admin.security.get_api_key(name="optimize")["api_keys"]
assert len(listed) == 1 and listed[0]["invalidated"] is False and listed[0]["metadata"] == {"app": "bi"}
result = admin.security.invalidate_api_key(ids=[created["id"]])
assert result["invalidated_api_keys"] == [created["id"]], result
try:
    keyed.info()
    raise SystemExit("an invalidated key still works")
except AuthenticationException:
    pass

short = admin.security.create_api_key(name="short", expiration="1ms")
time.sleep(0.05)
try:
    Elasticsearch(url, ca_certs=ca, api_key=short["encoded"]).info()
    raise SystemExit("an expired key still works")
except AuthenticationException:
    pass

# A key acts for its owner as the owner is now: deleting the owner ends the key.
admin.security.put_user(username="keyowner", password="keyowner-pw", roles=["superuser"])
owner = Elasticsearch(url, ca_certs=ca, basic_auth=("keyowner", "keyowner-pw"))
owned = owner.security.create_api_key(name="owned")
owned_client = Elasticsearch(url, ca_certs=ca, api_key=owned["encoded"])
assert owned_client.info()
mine = owner.security.get_api_key(owner=True)["api_keys"]
assert [k["name"] for k in mine] == ["owned"], mine
admin.security.delete_user(username="keyowner")
try:
    owned_client.info()
    raise SystemExit("a deleted owner's key still works")
except AuthenticationException:
    pass
print("ok")
