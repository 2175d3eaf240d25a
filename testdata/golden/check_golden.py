#!/usr/bin/env python3
"""Independent check of testdata/golden/ (chain.json, chain-v2.json, retention.json, checkpoint.json, bundle-v1.bundle, floats.json) against docs/FORMAT.md.

Written from the document alone, sharing no code with annal: decodes every
canonical event field by field (bincode standard varints), recomputes every
leaf, link and genesis with BLAKE3, and checks every stored value's layout and
CRC32, and rebuilds every index key. If this and the Rust golden test both pass, the document, the code and
the pinned bytes agree.

Needs the `blake3` and `cryptography` (Ed25519) packages from PyPI. Exit 0 on success.
"""
import json
import struct
import sys
import zlib
from pathlib import Path

import blake3

LEAF, LINK, GENESIS = b"annal/v1/leaf\0", b"annal/v1/link\0", b"annal/v1/genesis\0"


def h(*parts):
    return blake3.blake3(b"".join(parts)).digest()


def unit_commitment(u, salt, unit_bytes):
    """c_u: BLAKE3 keyed by the unit's salt over the unit domain, u and the unit's bytes."""
    return blake3.blake3(UNIT + bytes([u]) + unit_bytes, key=salt).digest()


class Reader:
    def __init__(self, b):
        self.b, self.i = b, 0

    def byte(self):
        v = self.b[self.i]
        self.i += 1
        return v

    def take(self, n):
        assert self.i + n <= len(self.b), "truncated"
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def varint(self):
        first = self.byte()
        if first < 251:
            return first
        width = {251: 2, 252: 4, 253: 8}[first]
        return int.from_bytes(self.take(width), "little")

    def zigzag(self):
        u = self.varint()
        return (u >> 1) ^ -(u & 1)

    def string(self):
        return self.take(self.varint()).decode("utf-8")

    def option(self, read):
        tag = self.byte()
        assert tag in (0, 1), f"bad option tag {tag}"
        return read() if tag == 1 else None


ACTORS = ["user", "ai", "system", "api_key", "service"]
OUTCOMES = ["success", "failure", "denied"]


def decode_event(e):
    r = Reader(e)
    fmt = r.byte()
    assert fmt in (1, 2), "event format byte"
    out = {"action": r.string(), "actor_type": ACTORS[r.varint()], "actor_id": r.string()}
    for f in ["actor_name", "actor_email", "on_behalf_of"]:
        out[f] = r.option(r.string)
    out["occurred_at"] = r.option(r.zigzag)
    out["session_id"] = r.option(r.string)
    out["target"] = r.option(lambda: (r.string(), r.string(), r.option(r.string)))
    out["outcome"] = r.option(lambda: OUTCOMES[r.varint()])
    for f in ["ip", "user_agent", "input_hash", "output_hash", "key_ref", "diff", "metadata", "idempotency_key"]:
        out[f] = r.option(r.string)
    out["policy_version"], out["redactions"] = 0, []
    if fmt == 2:
        out["policy_version"] = r.varint()
        out["redactions"] = [(r.string(), r.string()) for _ in range(r.varint())]
    assert r.i == len(e), "trailing bytes"
    return out


STRUCTURED = {
    "actor.id": ("actor_id", ("actor", "id")),
    "actor.name": ("actor_name", ("actor", "name")),
    "actor.email": ("actor_email", ("actor", "email")),
    "actor.on_behalf_of": ("on_behalf_of", ("actor", "on_behalf_of")),
    "session_id": ("session_id", ("session_id",)),
    "target.id": ("target", ("target", "id")),
    "ip": ("ip", ("ip",)),
    "user_agent": ("user_agent", ("user_agent",)),
}


def at_path(value, segments):
    for seg in segments:
        if isinstance(value, dict):
            value = value.get(seg)
        elif isinstance(value, list) and seg.isdigit():
            value = value[int(seg)]
        else:
            return None
    return value


def pseudonyms(ev, src, secret):
    """Tokens of the row's pseudonymized values, checked against the raw
    input: each must be pii_ and the keyed BLAKE3 of the raw value."""
    tokens = []
    for path, how in ev["redactions"]:
        if how != "pseudonymize":
            continue
        segs = path.split(".")
        if segs[0] in ("diff", "metadata"):
            stored = at_path(json.loads(ev[segs[0]]), segs[1:])
            raw = src and at_path(src[segs[0]], segs[1:])
        else:
            field, src_path = STRUCTURED[path]
            stored = ev[field][1] if field == "target" else ev[field]
            raw = src and at_path(src, src_path)
        if raw is not None:
            want = "pii_" + blake3.blake3(b"annal/v1/pseudonym\0" + raw.encode(), key=secret).digest()[:16].hex()
            assert stored == want, f"pseudonym at {path}"
        if stored not in tokens:
            tokens.append(stored)
    return tokens


def check_sealed(value, expect_len=None):
    body, crc = value[:-4], struct.unpack(">I", value[-4:])[0]
    assert zlib.crc32(body) == crc, "crc32"
    assert body[0] == 1, "value format byte"
    if expect_len is not None:
        assert len(value) == expect_len, f"length {len(value)} != {expect_len}"
    return body[1:]


def index_keys(number, seq, recorded_at, ev, tokens=()):
    """Every index key of one row, per docs/FORMAT.md "Index keys"."""
    t = struct.pack(">Q", number)
    s = struct.pack(">Q", seq)
    keys = [t + b"\x01" + struct.pack(">QQ", recorded_at, seq)]

    def value(kind, *parts):
        keys.append(t + bytes([kind]) + b"".join(p.encode() + b"\0" for p in parts) + s)

    value(2, ev["actor_id"])
    if ev["on_behalf_of"] is not None:
        value(3, ev["on_behalf_of"])
    value(4, ev["action"])
    segments = ev["action"].split(".")
    for i in range(1, len(segments) + 1):
        value(5, ".".join(segments[:i]) + ".")
    if ev["target"] is not None:
        value(6, ev["target"][0], ev["target"][1])
    for kind, field in [(7, "session_id"), (8, "key_ref"), (9, "outcome")]:
        if ev[field] is not None:
            value(kind, ev[field])
    for token in tokens:
        value(10, token)
    return sorted(keys)


def check(name):
    g = json.loads((Path(__file__).parent / name).read_text())
    secret = bytes.fromhex(g["secret"]) if "secret" in g else None
    tenant = g["tenant"].encode()
    head = h(GENESIS, struct.pack(">I", len(tenant)), tenant)
    assert head.hex() == g["genesis"], "genesis"
    tenant_number = None
    for row in g["rows"]:
        e = bytes.fromhex(row["encoded_event"])
        ev = decode_event(e)
        src = row.get("event") or row["input"]
        tokens = pseudonyms(ev, src, secret) if secret is not None else []
        if src is not None:
            assert ev["action"] == src["action"], "decoded fields"
            assert ev["actor_type"] == src["actor"]["type"]
            assert secret is not None or ev["actor_id"] == src["actor"]["id"], "decoded actor id"
        leaf = h(LEAF, e)
        assert leaf.hex() == row["leaf"], "leaf"
        head = h(LINK, head, struct.pack(">QQ", row["seq"], row["recorded_at"]), leaf)
        assert head.hex() == row["head"], f"head of seq {row['seq']}"
        key = bytes.fromhex(row["record_key"])
        number, seq = struct.unpack(">QQ", key)
        tenant_number = tenant_number or number
        assert (number, seq) == (tenant_number, row["seq"]), "record key"
        body = check_sealed(bytes.fromhex(row["record_value"]), 81 + len(e))
        recorded_at, = struct.unpack(">Q", body[:8])
        assert recorded_at == row["recorded_at"]
        assert body[8:40] == leaf and body[40:72] == head, "stored leaf/head"
        n, = struct.unpack(">I", body[72:76])
        assert body[76:76 + n] == e and 76 + n == len(body), "stored event"
        want = [k.hex() for k in index_keys(number, seq, recorded_at, ev, tokens)]
        assert want == row["index_keys"], f"index keys of seq {seq}"
    hb = check_sealed(bytes.fromhex(g["head_value"]), 53)
    seq, _ = struct.unpack(">QQ", hb[:16])
    assert seq == g["rows"][-1]["seq"] and hb[16:48] == head, "head entry"
    assert bytes.fromhex(g["head_key"]) == struct.pack(">Q", tenant_number), "head key"
    print(f"golden vectors: {name}: {len(g['rows'])} rows agree with docs/FORMAT.md")


TIERS = {"custom": 0, "free": 1, "starter": 2, "default": 3, "business": 4, "enterprise": 5}
TIER_DAYS = {"free": 90, "starter": 365, "default": 400, "business": 1095, "enterprise": 2555}


def check_retention(name):
    """The values of docs/FORMAT.md "Retention": anchor, policies, hold, keys."""
    g = json.loads((Path(__file__).parent / name).read_text())
    a = g["anchor"]
    body = check_sealed(bytes.fromhex(a["bytes"]), 89)
    want = struct.pack(">QQ", a["seq"], a["recorded_at"]) + bytes.fromhex(a["head"]) + struct.pack(
        ">QIQQQ", a["rows_deleted"], a["retention_days"], a["cutoff"], a["deleted_at"], a["announced_seq"])
    assert body == want, "retention anchor"
    seen = set()
    for p in g["retention_policies"]:
        body = check_sealed(bytes.fromhex(p["bytes"]), 18)
        assert body == bytes([TIERS[p["tier"]]]) + struct.pack(">IQ", p["days"], p["set_at"]), p["tier"]
        assert p["tier"] == "custom" and 90 <= p["days"] <= 2555 or TIER_DAYS[p["tier"]] == p["days"], p["tier"]
        seen.add(p["tier"])
    assert seen == set(TIERS), "every tier pinned"
    hd = g["legal_hold"]
    reason = hd["reason"].encode()
    body = check_sealed(bytes.fromhex(hd["bytes"]), 17 + len(reason))
    assert body == struct.pack(">QI", hd["since"], len(reason)) + reason, "legal hold"
    for key, tag in [("retention_policy_of_tenant_7", b"r"), ("legal_hold_of_tenant_7", b"h"), ("anchor_of_tenant_7", b"a")]:
        assert bytes.fromhex(g["keys"][key]) == tag + struct.pack(">Q", 7), key
    print(f"golden vectors: {name}: anchor, {len(seen)} policies, hold and keys agree with docs/FORMAT.md")


def check_apikeys(name):
    """API key tokens, secret hashes, entries and lookups (docs/FORMAT.md, "API keys")."""
    g = json.loads((Path(__file__).parent / name).read_text())
    for k in g["keys"]:
        ident, secret = bytes.fromhex(k["id"]), bytes.fromhex(k["secret"])
        assert len(ident) == 8 and len(secret) == 32, "id and secret sizes"
        assert k["token"] == f"ak_{ident.hex()}_{secret.hex()}" and len(k["token"]) == 84, "token"
        digest = blake3.blake3(secret, derive_key_context=g["context"]).digest()
        assert digest.hex() == k["secret_hash"], "secret hash"
        assert bytes.fromhex(k["entry_key"]) == b"t" + struct.pack(">Q", k["tenant_number"]) + ident, "entry key"
        label = k["label"].encode("utf-8")
        body = check_sealed(bytes.fromhex(k["entry_value"]), 56 + len(label))
        want = digest + bytes([k["scopes"]]) + struct.pack(">QQH", k["created_at"], k["revoked_at"], len(label)) + label
        assert body == want, "entry value"
        assert bytes.fromhex(k["lookup_key"]) == b"i" + ident, "lookup key"
        assert check_sealed(bytes.fromhex(k["lookup_value"]), 13) == struct.pack(">Q", k["tenant_number"]), "lookup value"
    print(f"golden vectors: {name}: {len(g['keys'])} api keys agree with docs/FORMAT.md")


def check_checkpoints(name):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    g = json.loads((Path(__file__).parent / name).read_text())
    sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(g["seed"]))
    pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert pk.hex() == g["public_key"], "public key of the seed"
    kid = h(b"annal/v1/key-id\0", pk)[:8]
    assert kid.hex() == g["key_id"], "key id"
    tenant = g["tenant"].encode()
    prev = (0, h(GENESIS, struct.pack(">I", len(tenant)), tenant))
    for c in g["checkpoints"]:
        head, phead = bytes.fromhex(c["head"]), bytes.fromhex(c["prev_head"])
        assert (c["prev_seq"], phead) == prev, "each checkpoint links the one before (the first: genesis)"
        msg = (b"annal/v1/checkpoint\0" + b"\x01" + struct.pack(">I", len(tenant)) + tenant + struct.pack(">Q", c["seq"]) + head
               + struct.pack(">QQ", c["recorded_at"], c["prev_seq"]) + phead + kid)
        assert msg.hex() == c["message"], "signed message"
        sig = bytes.fromhex(c["signature"])
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        assert sk.sign(msg) == sig, "Ed25519 signatures are deterministic"
        body = check_sealed(bytes.fromhex(c["value"]), 197)
        assert body == struct.pack(">Q", c["recorded_at"]) + head + struct.pack(">Q", c["prev_seq"]) + phead + kid + pk + sig + struct.pack(">Q", c["made_at"]), "stored value"
        assert bytes.fromhex(c["key"]) == struct.pack(">QQ", g["tenant_number"], c["seq"]), "key"
        j = c["json"]
        assert j == {"format": "annal.checkpoint.v1", "tenant": g["tenant"], "seq": c["seq"], "head": c["head"], "recorded_at": c["recorded_at"],
                     "prev_seq": c["prev_seq"], "prev_head": c["prev_head"], "key_id": g["key_id"], "public_key": g["public_key"],
                     "signature": c["signature"]}, "JSON form"
        prev = (c["seq"], head)
    print(f"golden vectors: {name}: key id, {len(g['checkpoints'])} signed messages, signatures and values agree with docs/FORMAT.md")


def check_bundle(name):
    # The pinned bundle, by the verifier written from FORMAT.md's "Export bundles".
    sys.dont_write_bytecode = True
    sys.path.insert(0, str(Path(__file__).parent.parent))
    import verify_bundle

    data = (Path(__file__).parent / name).read_bytes()
    assert verify_bundle.verify(data) == ("t", 7, 9, 3, 12), "bundle window"
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 1
    try:
        verify_bundle.verify(bytes(flipped))
    except verify_bundle.Bad:
        pass
    else:
        raise AssertionError("a flipped bit went unnoticed")
    print(f"golden vectors: {name}: verifies as rows 7..=9 from the checkpoint at 5 to the one at 12")


def canonical_number(text):
    """The canonical JSON text of a JSON number (docs/FORMAT.md, "Canonical
    JSON"), from Python's correctly rounded float() and its shortest repr."""
    from decimal import Decimal
    if all(c in "-0123456789" for c in text) and -(2 ** 63) <= int(text) < 2 ** 64:
        return str(int(text))
    f = float(text)
    if f == int(f) and abs(f) <= 2 ** 53:
        return str(int(f))
    sign, digits, exp = Decimal(repr(f)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    e10 = exp + len(digits) - 1
    minus = "-" if sign else ""
    if abs(f) >= 1e21 or abs(f) < 1e-6:
        return minus + ds[0] + ("." + ds[1:] if len(ds) > 1 else "") + "e" + str(e10)
    plain = format(Decimal(repr(f)), "f")
    return plain.rstrip("0").rstrip(".") if "." in plain else plain


def check_floats(name):
    g = json.loads((Path(__file__).parent / name).read_text())
    for v in g["vectors"]:
        expect = '{"x":' + canonical_number(v["number"]) + "}"
        assert v["canonical_metadata"] == expect, f"{name}: {v['number']}: {v['canonical_metadata']} != {expect}"
        encoded = bytes.fromhex(v["encoded_event"])
        ev = decode_event(encoded)
        assert ev["metadata"] == expect, f"{name}: {v['number']}: encoded metadata"
        assert ev["action"] == "calc.run" and ev["actor_id"] == "job", f"{name}: {v['number']}: event"
        assert h(LEAF, encoded).hex() == v["leaf"], f"{name}: {v['number']}: leaf"
    print(f"golden vectors: {name}: {len(g['vectors'])} numbers parse, print and hash as specified")


UNIT, CONTENT, SALTS = b"annal/v3/unit\0", b"annal/v3/content\0", b"annal/v3/salts\0"
FINGERPRINT, VALUE_HASH, ROW_AAD = b"annal/v3/fingerprint\0", b"annal/v3/index-value\0", b"annal/v3/row\0"
DATA_KEY = b"annal/v1/data-key\0"


def span(r, read):
    """The bytes `read` consumes from Reader r."""
    start = r.i
    read()
    return r.b[start:r.i]


def unit_at(r, u):
    """Unit u of content at Reader r (docs/FORMAT.md, "Event format 3"), as its bytes."""
    opt = lambda: r.option(r.string)  # noqa: E731
    read = [
        lambda: (r.string(), opt(), opt()),
        opt,
        lambda: r.option(lambda: (r.string(), r.string(), opt())),
        lambda: (opt(), opt(), opt()),
        lambda: (opt(), opt()),
        lambda: (opt(), opt(), opt(), opt()),
    ][u]
    return span(r, read)


def check_content_v3(name):
    """Event format 3 and record value format 2, from the document alone: the
    clear part and the units are format 2's fields (the format 2 encoding is
    rebuilt from them), the salts, commitments, leaf, erasure, fingerprint,
    keyed index values, the sealed record (AES-256-GCM) and a data key's
    wrap payload."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    g = json.loads((Path(__file__).parent / name).read_text())
    vk = bytes.fromhex(g["value_key"])
    for row in g["rows"]:
        clear, content = bytes.fromhex(row["clear"]), bytes.fromhex(row["content"])
        r = Reader(clear)
        assert r.byte() == 3, "event format 3"
        action = span(r, r.string)
        actor_type = span(r, r.varint)
        occurred_at = span(r, lambda: r.option(r.zigzag))
        outcome = span(r, lambda: r.option(r.varint))
        tail = span(r, lambda: (r.varint(), [(r.string(), r.string()) for _ in range(r.varint())]))
        c = clear[r.i:]
        assert len(c) == 32 and c.hex() == row["commitment"], "C ends E3"
        r = Reader(content)
        assert r.byte() == 1 and r.take(32).hex() == row["row_salt"], "content as written"
        units = [unit_at(r, u) for u in range(6)]
        assert r.i == len(content), "content length"
        # Format 2's field order: action, actor type, actor (id, name, email),
        # on-behalf-of, occurred_at, session, target, outcome, ip, user agent,
        # input and output hashes, key_ref, diff, metadata, idempotency key,
        # policy version, redactions: the units, cut where format 2 puts
        # another field between their parts.
        ctx = Reader(units[3])
        session = span(ctx, lambda: ctx.option(ctx.string))
        refs = Reader(units[5])
        hashes_and_key = span(refs, lambda: [refs.option(refs.string) for _ in range(3)])
        e2 = (b"\x02" + action + actor_type + units[0] + units[1] + occurred_at + session + units[2] + outcome
              + units[3][ctx.i:] + hashes_and_key + units[4] + units[5][refs.i:] + tail)
        assert e2.hex() == row["encoded_event_format_2"], "format 3 holds exactly format 2's fields"
        decode_event(e2)
        salts = blake3.blake3(SALTS, key=bytes.fromhex(row["row_salt"])).digest(length=192)
        assert [salts[32 * u:32 * u + 32].hex() for u in range(6)] == row["unit_salts"], "unit salts"
        cs = [unit_commitment(u, salts[32 * u:32 * u + 32], units[u]) for u in range(6)]
        assert [x.hex() for x in cs] == row["unit_commitments"], "unit commitments"
        assert h(CONTENT, *cs) == c, "content commitment"
        leaf = h(LEAF, clear)
        assert leaf.hex() == row["leaf"], "leaf"
        er = Reader(bytes.fromhex(row["erased_content"]))
        assert er.byte() == 2, "erased layout"
        got = []
        for u in range(6):
            state = er.byte()
            if state == 0:
                assert u in row["erased_units"], f"unit {u} erased"
                got.append(er.take(32))
            else:
                salt = er.take(32)
                assert state == 1 and salt == salts[32 * u:32 * u + 32], f"unit {u} kept with its salt"
                got.append(unit_commitment(u, salt, unit_at(er, u)))
        assert er.i == len(er.b), "erased content length"
        assert got == cs, "erasure keeps every commitment"
        fp = blake3.blake3(FINGERPRINT + clear[:-32] + content[33:], key=vk).digest()
        assert fp.hex() == row["fingerprint"], "fingerprint"
        ev = row["event"]
        vh = lambda kind, *vals: blake3.blake3(VALUE_HASH + bytes([kind]) + b"".join(v.encode() + b"\0" for v in vals), key=vk).digest()[:16].hex()  # noqa: E731
        assert row["index_values"]["actor"] == vh(2, ev["actor"]["id"]), "keyed actor value"
        if "target" in ev:
            assert row["index_values"]["target"] == vh(6, ev["target"]["type"], ev["target"]["id"]), "keyed target value"
        if "idempotency_key" in ev:
            assert row["idempotency_key"] == vh(0, ev["idempotency_key"]), "keyed idempotency key"
        v = bytes.fromhex(row["record_value"])
        assert zlib.crc32(v[:-4]) == struct.unpack(">I", v[-4:])[0] and v[0] == 2, "record value format 2"
        assert struct.unpack(">Q", v[1:9])[0] == g["recorded_at"] and v[9:41] == leaf and v[41:73].hex() == g["head"]
        n = struct.unpack(">I", v[73:77])[0]
        assert v[77:77 + n] == clear, "E3 in the record"
        rest = v[77 + n:-4]
        assert rest[0] == 1 and struct.unpack(">I", rest[1:5])[0] == g["content_key_number"], "sealed, key number"
        sealed = rest[9:]
        assert struct.unpack(">I", rest[5:9])[0] == len(sealed) and sealed[0] == 1 and sealed[1:13].hex() == g["nonce"]
        opened = AESGCM(bytes.fromhex(g["content_key"])).decrypt(sealed[1:13], sealed[13:], ROW_AAD + leaf)
        assert opened == content, "the sealed content opens to the content"
    d = g["data_key"]
    t = d["tenant"].encode()
    context = struct.pack(">H", len(t)) + t + struct.pack(">I", d["key_number"])
    assert context.hex() == d["context"], "data key context"
    payload = DATA_KEY + struct.pack(">H", len(context)) + context + bytes.fromhex(d["key"])
    assert payload.hex() == d["payload"], "data key payload"
    print(f"golden vectors: {name}: {len(g['rows'])} rows agree with docs/FORMAT.md")


def main():
    check("chain.json")
    check("chain-v2.json")
    check_retention("retention.json")
    check_apikeys("apikeys.json")
    check_checkpoints("checkpoint.json")
    check_bundle("bundle-v1.bundle")
    check_floats("floats.json")
    check_content_v3("content-v3.json")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"golden vectors disagree with docs/FORMAT.md: {e}", file=sys.stderr)
        sys.exit(1)
