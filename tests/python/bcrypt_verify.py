"""Verifies a password against a bcrypt hash with Python's bcrypt, an implementation independent
of Rampart's. usage: bcrypt_verify.py PASSWORD HASH; prints ok or mismatch."""
import sys

import bcrypt

password, hashed = sys.argv[1], sys.argv[2]
print("ok" if bcrypt.checkpw(password.encode(), hashed.encode()) else "mismatch")
