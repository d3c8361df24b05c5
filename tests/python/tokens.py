"""Bearer tokens through the official client: usage: tokens.py URL CA ELASTIC_PASSWORD.
Prints "ok" when every step behaved as Elasticsearch does."""
import sys

from elasticsearch import (ApiError, AuthenticationException, AuthorizationException,
                           BadRequestError, Elasticsearch)

url, ca, elastic_pw = sys.argv[1:4]
admin = Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", elastic_pw))
admin.security.put_user(username="kim", password="kim-password", roles=["superuser"])

granted = admin.security.get_token(grant_type="password", username="kim",
                                   password="kim-password")
assert granted["type"] == "Bearer" and granted["expires_in"] == 1200, granted
assert granted["authentication"]["username"] == "kim", granted
assert granted["authentication"]["authentication_type"] == "token", granted
access, refresh = granted["access_token"], granted["refresh_token"]

as_kim = Elasticsearch(url, ca_certs=ca, bearer_auth=access)
who = as_kim.security.authenticate()
assert who["username"] == "kim" and who["authentication_type"] == "token", who
assert who["authentication_realm"] == {"name": "default_native", "type": "native"}, who

try:
    admin.security.get_token(grant_type="password", username="kim", password="wrong-pass")
    raise SystemExit("a wrong password got a token")
except AuthenticationException as e:
    assert "failed to authenticate user [kim]" in str(e.info), e.info

# A refresh token works once; the old pair stops working.
renewed = admin.security.get_token(grant_type="refresh_token", refresh_token=refresh)
assert renewed["access_token"] != access and renewed["refresh_token"] != refresh, renewed
try:
    as_kim.security.authenticate()
    raise SystemExit("the refreshed access token still works")
except AuthenticationException as e:
    assert e.meta.headers.get("www-authenticate") is not None
try:
    admin.security.get_token(grant_type="refresh_token", refresh_token=refresh)
    raise SystemExit("a refresh token worked twice")
except BadRequestError as e:
    assert e.error == "invalid_grant", e.info

# A token is not a password login: without a privilege to manage users, it may not change
# its own user's password (a stolen token must not take the account over for good).
admin.security.put_user(username="tina", password="tina-password", roles=[])
tina = admin.security.get_token(grant_type="password", username="tina", password="tina-password")
try:
    Elasticsearch(url, ca_certs=ca, bearer_auth=tina["access_token"]).security.change_password(
        password="taken-over")
    raise SystemExit("a bearer token changed its user's password")
except AuthorizationException:
    pass
as_tina = Elasticsearch(url, ca_certs=ca, basic_auth=("tina", "tina-password"))
as_tina.security.change_password(password="tina-password2")  # with the password itself: yes

# client_credentials: a token for the caller, without a refresh token.
own = admin.security.get_token(grant_type="client_credentials")
assert "refresh_token" not in own and own["authentication"]["username"] == "elastic", own

# Invalidation by token and by user.
fresh = Elasticsearch(url, ca_certs=ca, bearer_auth=renewed["access_token"])
assert fresh.security.authenticate()["username"] == "kim"
result = admin.security.invalidate_token(token=renewed["access_token"])
assert result["invalidated_tokens"] == 1 and result["error_count"] == 0, result
try:
    fresh.info()
    raise SystemExit("an invalidated token still works")
except AuthenticationException:
    pass
another = admin.security.get_token(grant_type="password", username="kim",
                                   password="kim-password")
assert admin.security.invalidate_token(username="kim")["invalidated_tokens"] == 1
try:
    Elasticsearch(url, ca_certs=ca, bearer_auth=another["access_token"]).info()
    raise SystemExit("a token of an invalidated user still works")
except AuthenticationException:
    pass

# A token acts for its user as the user is now: disabling the user stops it.
live = admin.security.get_token(grant_type="password", username="kim", password="kim-password")
admin.security.disable_user(username="kim")
try:
    Elasticsearch(url, ca_certs=ca, bearer_auth=live["access_token"]).info()
    raise SystemExit("a disabled user's token still works")
except AuthenticationException:
    pass

try:
    admin.security.get_token(grant_type="authorization_code")
    raise SystemExit("an unknown grant was accepted")
except ApiError as e:
    assert e.meta.status == 400, e.meta.status
# API keys granted for another user, proven by password or by an access token.
admin.security.put_user(username="app", password="app-password", roles=["superuser"])
granted = admin.security.grant_api_key(grant_type="password", username="app",
                                       password="app-password", api_key={"name": "for-app"})
who = Elasticsearch(url, ca_certs=ca, api_key=granted["encoded"]).security.authenticate()
assert who["username"] == "app" and who["api_key"]["name"] == "for-app", who
app_token = admin.security.get_token(grant_type="password", username="app",
                                     password="app-password")
by_token = admin.security.grant_api_key(grant_type="access_token",
                                        access_token=app_token["access_token"],
                                        api_key={"name": "via-token"})
who = Elasticsearch(url, ca_certs=ca, api_key=by_token["encoded"]).security.authenticate()
assert who["username"] == "app", who
try:
    admin.security.grant_api_key(grant_type="password", username="app", password="wrong-pass",
                                 api_key={"name": "nope"})
    raise SystemExit("a grant with a wrong password made a key")
except AuthenticationException:
    pass
print("ok")
