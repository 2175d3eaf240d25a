#!/usr/bin/env python3
"""A minimal, independent verifier of annal export bundles.

Written from docs/FORMAT.md ("Export bundles", "Checkpoints", "Hashes",
"Values") alone, sharing no code with annal. Usage:

    verify_bundle.py FILE [PUBLIC_KEY_HEX]

Prints `ok TENANT FROM TO ROWS END_SEQ` and exits 0 when the bundle verifies;
prints `bad frame N: WHY` and exits 2 at the first bad frame.
Needs the `blake3` and `cryptography` packages from PyPI.
"""
import struct
import sys
import zlib

import blake3
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MAGIC = b"annal-bundle\0\x01"
LEAF, LINK, GENESIS = b"annal/v1/leaf\0", b"annal/v1/link\0", b"annal/v1/genesis\0"
UNIT, CONTENT, SALTS = b"annal/v3/unit\0", b"annal/v3/content\0", b"annal/v3/salts\0"


class Bad(Exception):
    pass


def h(*parts):
    return blake3.blake3(b"".join(parts)).digest()


def unit_commitment(u, salt, unit_bytes):
    """c_u: BLAKE3 keyed by the unit's salt over the unit domain, u and the unit's bytes."""
    return blake3.blake3(UNIT + bytes([u]) + unit_bytes, key=salt).digest()


def frames(data):
    if data[:len(MAGIC)] != MAGIC:
        raise Bad("frame 0: bad magic")
    i, n = len(MAGIC), 0
    while i < len(data):
        if i + 5 > len(data):
            raise Bad(f"frame {n}: truncated header")
        kind, length = data[i], struct.unpack(">I", data[i + 1:i + 5])[0]
        if length > 16 << 20 or i + 9 + length > len(data):
            raise Bad(f"frame {n}: bad length")
        payload = data[i + 5:i + 5 + length]
        if zlib.crc32(data[i:i + 5 + length]) != struct.unpack(">I", data[i + 5 + length:i + 9 + length])[0]:
            raise Bad(f"frame {n}: crc32")
        yield n, kind, payload
        i, n = i + 9 + length, n + 1


class Body:
    """bincode (standard: varints) of the content's units, read for their lengths."""

    def __init__(self, b, i):
        self.b, self.i = b, i

    def take(self, n):
        if self.i + n > len(self.b):
            raise Bad("content truncated")
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def varint(self):
        first = self.take(1)[0]
        if first < 251:
            return first
        if first > 253:
            raise Bad("content: bad varint")
        return int.from_bytes(self.take({251: 2, 252: 4, 253: 8}[first]), "little")

    def string(self):
        self.take(self.varint()).decode("utf-8")

    def option(self, read):
        tag = self.take(1)[0]
        if tag not in (0, 1):
            raise Bad("content: bad option")
        if tag == 1:
            read()


def unit(body, u):
    """Reads unit u (docs/FORMAT.md, "Event format 3"); returns its bytes."""
    start = body.i
    opt = lambda: body.option(body.string)  # noqa: E731
    if u == 0:
        body.string(), opt(), opt()
    elif u == 1:
        opt()
    elif u == 2:
        body.option(lambda: (body.string(), body.string(), opt()))
    else:
        for _ in range({3: 3, 4: 2, 5: 4}[u]):
            opt()
    return body.b[start:body.i]


def content_commitment(c):
    """C of content c, whole (0x01, row salt, units) or with units erased (0x02)."""
    body, commitments = Body(c, 1), []
    if c[:1] == b"\x01":
        salts = blake3.blake3(SALTS, key=body.take(32)).digest(length=192)
        for u in range(6):
            commitments.append(unit_commitment(u, salts[32 * u:32 * u + 32], unit(body, u)))
    elif c[:1] == b"\x02":
        for u in range(6):
            state = body.take(1)
            if state == b"\x00":
                commitments.append(body.take(32))
            elif state == b"\x01":
                salt = body.take(32)
                commitments.append(unit_commitment(u, salt, unit(body, u)))
            else:
                raise Bad("content: bad unit state")
    else:
        raise Bad("content: unknown layout")
    if body.i != len(c):
        raise Bad("content: trailing bytes")
    return h(CONTENT, *commitments)


def record_v2(v, n):
    """A row of event format 3 (record value 0x02): its E3, checked against its content in the clear."""
    if zlib.crc32(v[:-4]) != struct.unpack(">I", v[-4:])[0]:
        raise Bad(f"frame {n}: record value")
    elen = struct.unpack(">I", v[73:77])[0]
    e = v[77:77 + elen]
    rest = v[77 + elen:-4]
    if len(e) != elen or e[:1] != b"\x03" or len(e) < 33 or rest[:1] != b"\x00":
        raise Bad(f"frame {n}: event (a bundle's content is in the clear)")
    clen = struct.unpack(">I", rest[1:5])[0]
    c = rest[5:]
    if len(c) != clen or content_commitment(c) != e[-32:]:
        raise Bad(f"frame {n}: content does not match its commitment")
    return e


def checkpoint(p, tenant, pk, kid, n):
    if len(p) != 8 + 8 + 32 + 8 + 32 + 64:
        raise Bad(f"frame {n}: checkpoint length")
    seq, ra = struct.unpack(">QQ", p[:16])
    head, prev_seq, prev_head, sig = p[16:48], struct.unpack(">Q", p[48:56])[0], p[56:88], p[88:]
    t = tenant.encode()
    msg = (b"annal/v1/checkpoint\0\x01" + struct.pack(">I", len(t)) + t + struct.pack(">Q", seq) + head
           + struct.pack(">QQ", ra, prev_seq) + prev_head + kid)
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
    except (InvalidSignature, ValueError):
        raise Bad(f"frame {n}: signature")
    return seq, ra, head


def verify(data, required_key=None):
    it = frames(data)
    n, kind, p = next(it, (0, None, b""))
    if kind != 0x01 or p[:1] != b"\x01":
        raise Bad("frame 0: header")
    tlen = struct.unpack(">I", p[1:5])[0]
    tenant = p[5:5 + tlen].decode("ascii")
    rest = p[5 + tlen:]
    if len(rest) != 8 + 8 + 32 + 8 + 8:
        raise Bad("frame 0: header length")
    lo, hi = struct.unpack(">QQ", rest[:16])
    pk, kid = rest[16:48], rest[48:56]
    if h(b"annal/v1/key-id\0", pk)[:8] != kid or not 1 <= lo <= hi:
        raise Bad("frame 0: key id or window")
    if required_key is not None and pk != required_key:
        raise Bad("frame 0: another key")
    seq, ra, head = 0, 0, h(GENESIS, struct.pack(">I", tlen), tenant.encode())
    rows, count = 0, 1
    for n, kind, p in it:
        count += 1
        if kind == 0x02 and n == 1:
            seq, ra, head = checkpoint(p, tenant, pk, kid, n)
        elif kind == 0x03 and n == 1 and len(p) == 48:
            seq, ra = struct.unpack(">QQ", p[:16])
            head = p[16:]
        elif kind in (0x04, 0x05):
            s = struct.unpack(">Q", p[:8])[0]
            if s != seq + 1 or (kind == 0x05) != (lo <= s <= hi):
                raise Bad(f"frame {n}: seq {s}")
            v = p[8:]
            if kind == 0x05:
                if len(v) < 81 or zlib.crc32(v[:-4]) != struct.unpack(">I", v[-4:])[0] or v[0] not in (1, 2):
                    raise Bad(f"frame {n}: record value")
                r_ra, leaf, stored_head = struct.unpack(">Q", v[1:9])[0], v[9:41], v[41:73]
                if v[0] == 2:
                    e = record_v2(v, n)
                else:
                    e = v[77:-4]
                    if struct.unpack(">I", v[73:77])[0] != len(e) or e[:1] not in (b"\x01", b"\x02"):
                        raise Bad(f"frame {n}: event")
                if h(LEAF, e) != leaf:
                    raise Bad(f"frame {n}: leaf")
                rows += 1
            else:
                if len(v) != 40:
                    raise Bad(f"frame {n}: link length")
                r_ra, leaf, stored_head = struct.unpack(">Q", v[:8])[0], v[8:], None
            if r_ra < ra:
                raise Bad(f"frame {n}: time")
            head = h(LINK, head, struct.pack(">QQ", s, r_ra), leaf)
            if stored_head is not None and stored_head != head:
                raise Bad(f"frame {n}: link")
            seq, ra = s, r_ra
        elif kind == 0x06:
            end_seq, _, end_head = checkpoint(p, tenant, pk, kid, n)
            if seq < hi or end_seq != seq or end_head != head:
                raise Bad(f"frame {n}: end checkpoint")
            n, kind, p = next(it, (n + 1, None, b""))
            if kind != 0x7F or p != struct.pack(">Q", count) or next(it, None) is not None:
                raise Bad(f"frame {n}: end")
            return tenant, lo, hi, rows, end_seq
        else:
            raise Bad(f"frame {n}: unexpected kind {kind}")
    raise Bad(f"frame {count}: no end checkpoint")


def main():
    data = open(sys.argv[1], "rb").read()
    key = bytes.fromhex(sys.argv[2]) if len(sys.argv) > 2 else None
    try:
        tenant, lo, hi, rows, end = verify(data, key)
    except (Bad, IndexError, KeyError, struct.error, UnicodeDecodeError) as e:
        print(f"bad {e}")
        sys.exit(2)
    print(f"ok {tenant} {lo} {hi} {rows} {end}")


if __name__ == "__main__":
    main()
