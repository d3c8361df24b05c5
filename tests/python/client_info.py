"""Calls info() and cluster.health() through an official Python client; prints them as JSON.

usage: client_info.py {elasticsearch|opensearch} URL CA_CERT USER PASSWORD
"""
import json
import sys

flavour, url, ca, user, password = sys.argv[1:6]
if flavour == "elasticsearch":
    from elasticsearch import Elasticsearch

    client = Elasticsearch(url, ca_certs=ca, basic_auth=(user, password))
    info = client.info().body
    health = client.cluster.health().body
    ping = client.ping()
else:
    from opensearchpy import OpenSearch

    client = OpenSearch([url], ca_certs=ca, http_auth=(user, password), use_ssl=True, verify_certs=True)
    info = client.info()
    health = client.cluster.health()
    ping = client.ping()
print(json.dumps({"info": info, "health": health, "ping": ping}))
