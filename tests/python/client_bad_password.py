"""The official client must surface a wrong password as an AuthenticationException (401)."""
import sys

from elasticsearch import AuthenticationException, Elasticsearch

url, ca = sys.argv[1:3]
client = Elasticsearch(url, ca_certs=ca, basic_auth=("elastic", "definitely-wrong"))
try:
    client.info()
except AuthenticationException as e:
    print(f"401 {e.body['error']['type']}")
    sys.exit(0)
print("no error raised")
sys.exit(1)
