"""The least-privilege recipe run for real: usage: optimize_recipe.py URL CA.
The optimize user (role from examples/roles.yml) manages its templates and indices, writes,
reads and searches them, and is refused everywhere else. Prints "ok"."""
import sys

from elasticsearch import AuthorizationException, Elasticsearch, helpers

url, ca = sys.argv[1:3]
app = Elasticsearch(url, ca_certs=ca, basic_auth=("optimize", "optimize-password"))

assert app.cluster.health()["status"] in ("green", "yellow")
app.indices.put_index_template(name="optimize-template", index_patterns=["optimize-*"],
                               template={"settings": {"number_of_replicas": 0},
                                         "mappings": {"properties": {"state": {"type": "keyword"}}}})
app.indices.create(index="optimize-process-instance-v1", aliases={"optimize-process-instance": {}})
ok, errors = helpers.bulk(app, ({"_index": "optimize-process-instance", "_id": str(i),
                                  "state": "ACTIVE" if i % 3 else "COMPLETED", "n": i}
                                 for i in range(300)), refresh=True)
assert ok == 300 and not errors, errors
assert app.count(index="optimize-*", query={"term": {"state": "COMPLETED"}})["count"] == 100
assert app.get(index="optimize-process-instance", id="7")["_source"]["n"] == 7
app.update(index="optimize-process-instance", id="7", doc={"state": "COMPLETED"})
app.indices.put_mapping(index="optimize-process-instance-v1", properties={"extra": {"type": "long"}})
hits = app.search(index="*", size=1000)["hits"]["hits"]
assert {h["_index"] for h in hits} == {"optimize-process-instance-v1"}, "narrowed to its own"
app.index(index="optimize-auto", document={"made": "by auto-create"})


def refused(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except AuthorizationException as e:
        return e.info["error"]["reason"]
    raise AssertionError(f"{call} {args} {kwargs} was allowed")


refused(app.search, index="customers")
refused(app.index, index="customers", document={"a": 1})
refused(app.indices.create, index="other")
refused(app.indices.delete, index="customers")
refused(app.security.get_user)
refused(app.security.put_user, username="escalate", password="escalate-pw", roles=["superuser"])
refused(app.security.create_api_key, name="k")
refused(app.indices.put_alias, index="customers", name="optimize-steal")
print("ok")
