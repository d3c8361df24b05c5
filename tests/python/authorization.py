"""Authorization through the official client: usage: authorization.py URL CA ELASTIC_PASSWORD.
Prints "ok" when every allowed request succeeds and every other one is refused as
Elasticsearch refuses it."""
import sys

from elasticsearch import AuthorizationException, BadRequestError, Elasticsearch, NotFoundError

url, ca, elastic_pw = sys.argv[1:4]
admin = Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", elastic_pw))


def as_user(name):
    return Elasticsearch(url, ca_certs=ca, basic_auth=(name, name + "-password"))


def denied(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except AuthorizationException as e:
        assert e.meta.status == 403, e.meta.status
        assert e.error == "security_exception", e.info
        return e.info["error"]["reason"]
    raise AssertionError(f"{call} {args} {kwargs} was allowed")


# --- the role API ------------------------------------------------------------------------
created = admin.security.put_role(name="logs_reader", cluster=["monitor"], indices=[
    {"names": ["logs-*"], "privileges": ["read", "view_index_metadata"]}])
assert created == {"role": {"created": True}}, created
assert admin.security.put_role(name="logs_reader", cluster=["monitor"], indices=[
    {"names": ["logs-*"], "privileges": ["read", "view_index_metadata"]}])["role"]["created"] is False
got = admin.security.get_role(name="logs_reader")["logs_reader"]
assert got["indices"][0]["names"] == ["logs-*"], got
assert admin.security.get_role(name="superuser")["superuser"]["metadata"]["_reserved"] is True
try:
    admin.security.put_role(name="bad", cluster=["frobnicate"])
    raise SystemExit("an unknown privilege was accepted")
except BadRequestError as e:
    assert "unknown cluster privilege [frobnicate]" in str(e.info), e.info
try:
    admin.security.put_role(name="superuser", cluster=["none"])
    raise SystemExit("a built-in role was replaced")
except BadRequestError:
    pass

for index, docs in [("logs-1", 3), ("logs-2", 2), ("metrics-1", 4), ("secret", 1)]:
    for i in range(docs):
        admin.index(index=index, id=str(i), document={"n": i, "tag": index})
    admin.indices.refresh(index=index)
admin.indices.put_alias(index="secret", name="logs-alias")

# --- one user per privilege: an allowed request and a denied one --------------------------
roles = {
    "r_read": {"indices": [{"names": ["logs-*"], "privileges": ["read"]}]},
    "r_write": {"indices": [{"names": ["logs-*"], "privileges": ["write"]}]},
    "r_index": {"indices": [{"names": ["logs-*"], "privileges": ["index"]}]},
    "r_create_doc": {"indices": [{"names": ["logs-*"], "privileges": ["create_doc"]}]},
    "r_delete": {"indices": [{"names": ["logs-*"], "privileges": ["delete"]}]},
    "r_create_index": {"indices": [{"names": ["new-*"], "privileges": ["create_index"]}]},
    "r_delete_index": {"indices": [{"names": ["doomed-*"], "privileges": ["delete_index"]}]},
    "r_view": {"indices": [{"names": ["logs-*"], "privileges": ["view_index_metadata"]}]},
    "r_maintenance": {"indices": [{"names": ["logs-*"], "privileges": ["maintenance"]}]},
    "r_manage": {"indices": [{"names": ["logs-*"], "privileges": ["manage"]}]},
    "r_all": {"indices": [{"names": ["logs-*"], "privileges": ["all"]}]},
    "r_monitor": {"cluster": ["monitor"]},
    "r_manage_security": {"cluster": ["manage_security"]},
    "r_read_security": {"cluster": ["read_security"]},
    "r_templates": {"cluster": ["manage_index_templates"]},
    "r_own_keys": {"cluster": ["manage_own_api_key"]},
    "r_none": {},
}
for role, body in roles.items():
    admin.security.put_role(name=role, **body)
    user = role.replace("r_", "u_")
    admin.security.put_user(username=user, password=user + "-password", roles=[role])

u = as_user("u_read")
assert u.get(index="logs-1", id="0")["found"] and u.count(index="logs-1")["count"] == 3
reason = denied(u.index, index="logs-1", id="x", document={"n": 9})
assert reason == ("action [indices:data/write/index] is unauthorized for user [u_read] with "
                  "effective roles [r_read] on indices [logs-1], this action is granted by the "
                  "index privileges [all,write,index,create]"), reason
denied(u.get, index="metrics-1", id="0")
# Naming a forbidden index that does not exist is the same 403: no existence leak.
denied(u.get, index="metrics-nope", id="0")
denied(u.indices.get_mapping, index="logs-1")

u = as_user("u_write")
u.index(index="logs-1", id="w", document={"n": 10})
u.delete(index="logs-1", id="w")
denied(u.get, index="logs-1", id="0")
u = as_user("u_index")
u.index(index="logs-1", id="i", document={"n": 11})
u.update(index="logs-1", id="i", doc={"n": 12})
denied(u.delete, index="logs-1", id="i")
u = as_user("u_create_doc")
u.create(index="logs-1", id="c", document={"n": 13})
u.index(index="logs-1", document={"n": 16})  # an auto-generated id always creates
denied(u.index, index="logs-1", id="c", document={"n": 14})  # an overwrite is not a create
u = as_user("u_delete")
u.delete(index="logs-1", id="c")
denied(u.index, index="logs-1", id="d", document={"n": 15})
u = as_user("u_create_index")
u.indices.create(index="new-1")
# Aliases in a create request are alias changes: create_index alone may not make them.
denied(u.indices.create, index="new-2", aliases={"audit": {"is_write_index": True}})
assert not admin.indices.exists(index="new-2")
denied(u.indices.create, index="other-1")
denied(u.index, index="new-1", id="1", document={"a": 1})
admin.indices.create(index="doomed-1")
admin.indices.create(index="kept-1")
u = as_user("u_delete_index")
u.indices.delete(index="doomed-1")
denied(u.indices.delete, index="kept-1")
u = as_user("u_view")
assert "logs-1" in u.indices.get_mapping(index="logs-1")
denied(u.search, index="logs-1")
u = as_user("u_maintenance")
u.indices.refresh(index="logs-1")
denied(u.search, index="logs-1")
u = as_user("u_manage")
u.indices.put_mapping(index="logs-1", properties={"extra": {"type": "keyword"}})
denied(u.indices.put_mapping, index="metrics-1", properties={"extra": {"type": "keyword"}})
u = as_user("u_all")
u.indices.create(index="logs-new")
u.index(index="logs-new", id="1", document={"a": 1}, refresh=True)
u.indices.delete(index="logs-new")
denied(u.indices.create, index="metrics-new")
u = as_user("u_monitor")
assert u.cluster.health()["status"] in ("green", "yellow")
denied(u.search, index="logs-1")
u = as_user("u_manage_security")
u.security.put_user(username="made_by_delegate", password="delegate-pw", roles=["r_none"])
denied(u.search, index="logs-1")
u = as_user("u_read_security")
assert "u_read" in u.security.get_user(username="u_read")
denied(u.security.put_user, username="nope_user", password="nope-password", roles=[])
u = as_user("u_templates")
u.indices.put_index_template(name="t1", index_patterns=["t1-*"])
denied(u.indices.create, index="t1-a")
u = as_user("u_own_keys")
mine = u.security.create_api_key(name="mine")
admin.security.create_api_key(name="not-theirs")
listed = u.security.get_api_key()["api_keys"]
assert [k["name"] for k in listed] == ["mine"], listed
u = as_user("u_none")
assert u.security.authenticate()["username"] == "u_none"
denied(u.info)
denied(u.search, index="*")

# --- attacks: wildcards, _all, aliases, mixes ----------------------------------------------
reader = as_user("u_read")
admin.indices.refresh(index="logs-*")
own = reader.count(index="logs-1,logs-2")["count"]
assert reader.count(index="_all")["count"] == own
# A wildcard reaches what the role names: logs-* indices, and the alias logs-alias, which an
# administrator pointed at secret (aliases are judged by their name, as in Elasticsearch).
hits = reader.search(index="*", size=100)["hits"]["hits"]
assert {h["_index"] for h in hits} == {"logs-1", "logs-2", "secret"}, {h["_index"] for h in hits}
# But a user may not alias a forbidden index into their own namespace.
manager = as_user("u_manage")
denied(manager.indices.put_alias, index="metrics-1", name="logs-stolen")
denied(manager.indices.update_aliases, actions=[{"add": {"index": "metrics-1", "alias": "logs-x"}}])
narrowed = reader.search(index="logs-1,logs-2,metrics-*", size=100)["hits"]["total"]["value"]
assert narrowed == own, narrowed
# An alias is judged by its name: logs-alias matches logs-* although it points at secret.
# Elasticsearch does the same; roles that name alias patterns grant them.
hits = reader.search(index="logs-alias")["hits"]["hits"]
assert {h["_index"] for h in hits} == {"secret"}, hits
denied(reader.search, index="secret")
denied(reader.search, index="logs-1,secret")
assert reader.search(index="secret*", ignore_unavailable=True)["hits"]["total"]["value"] == 0
denied(as_user("u_view").cat.indices, format="json")  # counts need `monitor`
cat = as_user("u_manage").cat.indices(format="json")
assert {row["index"] for row in cat} == {"logs-1", "logs-2"}, cat
denied(reader.cat.indices, format="json")

writer = as_user("u_write")
result = writer.bulk(operations=[
    {"index": {"_index": "logs-1", "_id": "b1"}}, {"n": 1},
    {"index": {"_index": "metrics-1", "_id": "b2"}}, {"n": 2},
    {"delete": {"_index": "secret", "_id": "0"}},
    {"index": {"_index": "logs-brand-new", "_id": "b3"}}, {"n": 3},
])
statuses = [list(i.values())[0]["status"] for i in result["items"]]
assert statuses == [201, 403, 403, 403], result["items"]
errors = [list(i.values())[0].get("error", {}).get("type") for i in result["items"]]
assert errors == [None, "security_exception", "security_exception", "security_exception"], errors
assert not admin.indices.exists(index="logs-brand-new"), "auto-create needs create_index"
assert admin.get(index="secret", id="0")["found"]

multi = reader.msearch(searches=[{"index": "logs-1"}, {}, {"index": "secret"}, {}])["responses"]
assert multi[0]["status"] == 200 and multi[1]["status"] == 403, multi
assert multi[1]["error"]["type"] == "security_exception", multi[1]

docs = reader.mget(docs=[{"_index": "logs-1", "_id": "0"}, {"_index": "secret", "_id": "0"}])["docs"]
assert docs[0]["found"] is True and docs[1]["error"]["type"] == "security_exception", docs

# --- has_privileges and _privileges --------------------------------------------------------
answer = reader.security.has_privileges(cluster=["monitor", "manage"], index=[
    {"names": ["logs-1", "secret"], "privileges": ["read", "write"]}])
assert answer["username"] == "u_read" and answer["has_all_requested"] is False, answer
assert answer["cluster"] == {"monitor": False, "manage": False}, answer
assert answer["index"]["logs-1"] == {"read": True, "write": False}, answer
assert answer["index"]["secret"] == {"read": False, "write": False}, answer
all_yes = admin.security.has_privileges(cluster=["all"], index=[{"names": ["x"], "privileges": ["all"]}])
assert all_yes["has_all_requested"] is True, all_yes
mine = reader.security.get_user_privileges()
assert mine["indices"][0]["names"] == ["logs-*"], mine

# --- run_as needs the privilege -------------------------------------------------------------
admin.security.put_role(name="impersonator", run_as=["u_read"])
admin.security.put_user(username="imp", password="imp-password", roles=["impersonator"])
imp = Elasticsearch(url, ca_certs=ca, basic_auth=("imp", "imp-password"),
                    headers={"es-security-runas-user": "u_read"})
assert imp.count(index="logs-1")["count"] >= 3
escalate = Elasticsearch(url, ca_certs=ca, basic_auth=("imp", "imp-password"),
                         headers={"es-security-runas-user": "elastic"})
denied(escalate.info)

# --- deleting a role takes its privileges away ---------------------------------------------
assert admin.security.delete_role(name="logs_reader")["found"] is True
try:
    admin.security.delete_role(name="logs_reader")
    raise SystemExit("deleted twice")
except NotFoundError:
    pass
admin.security.delete_role(name="r_read")
denied(reader.search, index="logs-1")
print("ok")
