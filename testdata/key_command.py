#!/usr/bin/env python3
"""A key command for annal: KEKs kept as files in a directory, standard library only.

    key_command.py KEYDIR wrap KEK   < base64 line   > base64 line
    key_command.py KEYDIR unwrap KEK < base64 line   > base64 line

annal runs its configured command with `wrap KEK` or `unwrap KEK` appended
and one line of base64 on standard input (docs/OPERATIONS.md, "Encryption
keys"). This program is what such a command looks like when the KEKs are
32-byte files `KEYDIR/<KEK>` (`/` in a KEK's name becomes `_`); a real
deployment calls its KMS instead (the documentation's Vault example).
engine/tests/it/keyring.rs drives it. Deleting a KEK's file is
crypto-shredding: nothing wrapped under it unwraps again.

The wrap is encrypt-then-MAC from the standard library's primitives:
keystream BLAKE2b(key = HMAC(K, "enc"), nonce ‖ counter), tag HMAC-SHA256
(HMAC(K, "mac"), KEK ‖ 0 ‖ nonce ‖ ciphertext) cut to 16 bytes.
"""

import base64
import binascii
import hashlib
import hmac
import os
import sys


def keystream(key, nonce, n):
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.blake2b(nonce + counter.to_bytes(8, "big"), key=key).digest()
        counter += 1
    return bytes(out[:n])


def fail(message, code):
    print(message, file=sys.stderr)
    sys.exit(code)


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("wrap", "unwrap"):
        fail("usage: key_command.py KEYDIR wrap|unwrap KEK", 2)
    keydir, verb, kek = sys.argv[1:]
    path = os.path.join(keydir, kek.replace("/", "_"))
    try:
        with open(path, "rb") as f:
            root = f.read()
    except FileNotFoundError:
        fail(f"no key {kek} (disabled or never created)", 3)
    if len(root) != 32:
        fail(f"key {kek} is not 32 bytes", 3)
    try:
        data = base64.b64decode(sys.stdin.readline().strip(), validate=True)
    except binascii.Error:
        fail("input is not base64", 2)
    enc = hmac.new(root, b"enc", hashlib.sha256).digest()
    mac = hmac.new(root, b"mac", hashlib.sha256).digest()
    if verb == "wrap":
        nonce = os.urandom(16)
        body = bytes(a ^ b for a, b in zip(data, keystream(enc, nonce, len(data))))
        tag = hmac.new(mac, kek.encode() + b"\0" + nonce + body, hashlib.sha256).digest()[:16]
        out = nonce + body + tag
    else:
        if len(data) < 32:
            fail("wrapped value too short", 4)
        nonce, body, tag = data[:16], data[16:-16], data[-16:]
        want = hmac.new(mac, kek.encode() + b"\0" + nonce + body, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(tag, want):
            fail(f"authentication failed under {kek}", 4)
        out = bytes(a ^ b for a, b in zip(body, keystream(enc, nonce, len(body))))
    print(base64.b64encode(out).decode())


main()
