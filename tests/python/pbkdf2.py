"""Elasticsearch's PBKDF2 password hashes with Python's hashlib, independently of Rampart.
usage: pbkdf2.py hash PASSWORD plain|stretch ITERATIONS  (prints the hash)
       pbkdf2.py verify PASSWORD HASH                    (prints ok or mismatch)"""
import base64
import hashlib
import hmac
import os
import sys


def derive(password, salt, iterations, stretch, length=32):
    data = hashlib.sha512(password.encode()).hexdigest() if stretch else password
    return hashlib.pbkdf2_hmac("sha512", data.encode(), salt, iterations, length)


if sys.argv[1] == "hash":
    password, kind, iterations = sys.argv[2], sys.argv[3], int(sys.argv[4])
    salt = os.urandom(32)
    prefix = "{PBKDF2_STRETCH}" if kind == "stretch" else "{PBKDF2}"
    key = derive(password, salt, iterations, kind == "stretch")
    print(f"{prefix}{iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}")
else:
    password, hashed = sys.argv[2], sys.argv[3]
    stretch = hashed.startswith("{PBKDF2_STRETCH}")
    body = hashed.split("}", 1)[1]
    iterations, salt, key = body.split("$")
    expected = base64.b64decode(key)
    actual = derive(password, base64.b64decode(salt), int(iterations), stretch, len(expected))
    print("ok" if hmac.compare_digest(actual, expected) else "mismatch")
