"""The native realm through the official client: usage: native_users.py URL CA ELASTIC_PASSWORD.
Prints "ok" when every step behaved as Elasticsearch does."""
import sys

from elasticsearch import (AuthenticationException, BadRequestError, Elasticsearch,
                           NotFoundError)

url, ca, elastic_pw = sys.argv[1:4]


def client(user, password):
    return Elasticsearch(url, ca_certs=ca, basic_auth=(user, password))


admin = client("elastic", elastic_pw)
created = admin.security.put_user(username="app_optimize", password="optimize-pw1",
                                  roles=["superuser"], full_name="Optimize",
                                  metadata={"team": "bi"})
assert created["created"] is True, created
updated = admin.security.put_user(username="app_optimize", roles=["superuser"],
                                  full_name="Camunda Optimize", email="bi@example.com")
assert updated["created"] is False, updated

got = admin.security.get_user(username="app_optimize")["app_optimize"]
assert got["full_name"] == "Camunda Optimize" and got["enabled"] is True, got
everyone = admin.security.get_user()
assert "elastic" in everyone and everyone["elastic"]["metadata"]["_reserved"] is True

app = client("app_optimize", "optimize-pw1")
who = app.security.authenticate()
assert who["authentication_realm"] == {"name": "default_native", "type": "native"}, who
assert who["email"] == "bi@example.com", who

# Anyone may change their own password; the old one stops working at once.
app.security.change_password(password="optimize-pw2")
try:
    client("app_optimize", "optimize-pw1").info()
    raise SystemExit("the old password still works")
except AuthenticationException:
    pass
assert client("app_optimize", "optimize-pw2").info()["tagline"] == "You Know, for Search"

admin.security.disable_user(username="app_optimize")
try:
    client("app_optimize", "optimize-pw2").info()
    raise SystemExit("a disabled user still authenticates")
except AuthenticationException:
    pass
admin.security.enable_user(username="app_optimize")
assert client("app_optimize", "optimize-pw2").info()

for call in (lambda: admin.security.put_user(username="elastic", roles=["viewer"]),
             lambda: admin.security.delete_user(username="elastic"),
             lambda: admin.security.put_user(username="short_pw", password="12345", roles=[])):
    try:
        call()
        raise SystemExit("an invalid request was accepted")
    except BadRequestError:
        pass

assert admin.security.delete_user(username="app_optimize")["found"] is True
for call in (lambda: admin.security.get_user(username="app_optimize"),
             lambda: admin.security.delete_user(username="app_optimize")):
    try:
        call()
        raise SystemExit("a deleted user was found")
    except NotFoundError:
        pass
print("ok")
