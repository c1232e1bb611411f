#!/usr/bin/env python3
"""Known-answer vectors for Sotto 1:1 call key agreement (PROTOCOL.md §9.1) and
the SFrame frames it keys (PROTOCOL.md §10, RFC 9605).

Written from docs/PROTOCOL.md (§1, §5, §9.1, §10) and proto/wire.proto
(CallOffer, CallAnswer) alone, without reading the Rust sources, so that the
vectors it prints are an independent check of the Rust implementation.

Usage:  python3 gen_call_vectors.py > call_vectors.json

Fully deterministic: every secret is SHA-256(b"sotto-kat " + name)[:32] for a
fixed name. Standard library plus `cryptography` (Ed25519, X25519, AES-GCM,
ChaCha20-Poly1305); X25519 is also computed by a pure-Python RFC 7748 ladder and
the two must agree.
"""

import hashlib
import hmac
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

# ---------------------------------------------------------------- constants
# PROTOCOL.md §5, §9, §9.1.
WIRE_VERSION = 1
MAX_CALL_ID_LEN = 255
MAX_CALL_SIGNAL_LEN = 512
CALL_KEYS_LABEL = b"Sotto 1:1 call keys v2"
ONE_TO_ONE_KID_CALLER = 0
ONE_TO_ONE_KID_CALLEE = 1
assert len(CALL_KEYS_LABEL) == 22

# PROTOCOL.md §10.3.
SFRAME_KEY_LABEL = b"SFrame 1.0 Secret key "
SFRAME_SALT_LABEL = b"SFrame 1.0 Secret salt "
assert SFRAME_KEY_LABEL.hex() == "534672616d6520312e3020536563726574206b657920"
assert SFRAME_SALT_LABEL.hex() == "534672616d6520312e30205365637265742073616c7420"

# PROTOCOL.md §10.5: the suites a call may name ("an unknown suite" is any other id).
KNOWN_SUITES = {0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007, 0x0008, 0xF001}
# The two suites these vectors exercise: id -> (name, Nk, Nn, Nt).
SUITES = {
    0x0004: ("AES_128_GCM_SHA256_128", 16, 12, 16),
    0xF001: ("CHACHA20_POLY1305_SHA256_128", 32, 12, 16),
}

P = 2**255 - 19
RAW = serialization.Encoding.Raw
RAW_PUB = serialization.PublicFormat.Raw


def fixed(name):
    """A fixed 32-byte secret: SHA-256(b"sotto-kat " + name)[:32]."""
    return hashlib.sha256(b"sotto-kat " + name.encode()).digest()[:32]


# ---------------------------------------------------------------- primitives
def hkdf_extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk, info, length):
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def hkdf(salt, ikm, info, length):
    """RFC 5869 with SHA-256."""
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


def x25519_ladder(k, u):
    """RFC 7748 §5 X25519, pure Python (for the small-order cases, where
    `cryptography` refuses to return the all-zero output)."""
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    x1 = (int.from_bytes(u, "little") & ((1 << 255) - 1)) % P
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        kt = (k >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + 121665 * e) % P
    if swap:
        x2, x3, z2, z3 = x3, x2, z3, z2
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


def x25519_pub(priv):
    pub = X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(RAW, RAW_PUB)
    assert pub == x25519_ladder(priv, (9).to_bytes(32, "little"))
    return pub


def x25519(priv, pub):
    """X25519(priv, pub); the all-zero output is returned, not refused (the caller checks)."""
    out = x25519_ladder(priv, pub)
    if out != bytes(32):
        lib = X25519PrivateKey.from_private_bytes(priv).exchange(
            X25519PublicKey.from_public_bytes(pub)
        )
        assert lib == out
    return out


def ed25519_pub(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(RAW, RAW_PUB)


# ---------------------------------------------------------------- protobuf (§5)
def varint(n):
    assert 0 <= n < 2**64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_uint(num, value):
    """A proto3 uint32 field (wire type 0), omitted when 0."""
    return b"" if value == 0 else varint(num << 3 | 0) + varint(value)


def f_bytes(num, value):
    """A proto3 bytes field (wire type 2), omitted when empty."""
    return b"" if len(value) == 0 else varint(num << 3 | 2) + varint(len(value)) + value


def read_varint(buf, i):
    n, shift = 0, 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def parse(buf):
    """Field number -> value (int for varints, bytes for length-delimited)."""
    fields, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            if i + n > len(buf):
                raise ValueError("truncated")
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type")
        fields[num] = v
    return fields


# CallOffer fields 1..6; CallAnswer fields 1..6 the same, and 7.
OFFER_FIELDS = [
    ("version", 1, "u"),
    ("call_id", 2, "b"),
    ("cipher_suite", 3, "u"),
    ("caller_identity", 4, "b"),
    ("callee_identity", 5, "b"),
    ("caller_ephemeral", 6, "b"),
]
ANSWER_FIELDS = OFFER_FIELDS + [("callee_ephemeral", 7, "b")]


def encode(fields, msg):
    out = b""
    for name, num, kind in fields:  # already in field-number order
        out += (f_uint if kind == "u" else f_bytes)(num, msg[name])
    return out


def encode_offer(offer):
    return encode(OFFER_FIELDS, offer)


def encode_answer(answer):
    return encode(ANSWER_FIELDS, answer)


def decode(fields, buf):
    """Parse and check a CallOffer/CallAnswer (§9.1 Rules): raises SignalError."""
    if len(buf) > MAX_CALL_SIGNAL_LEN:
        raise SignalError("MalformedCallSignal")
    try:
        raw = parse(buf)
    except ValueError:
        raise SignalError("MalformedCallSignal")
    msg = {}
    for name, num, kind in fields:
        v = raw.get(num, 0 if kind == "u" else b"")
        if (kind == "u") != isinstance(v, int):
            raise SignalError("MalformedCallSignal")
        msg[name] = v
    if msg["version"] != WIRE_VERSION:
        raise SignalError("UnsupportedSignalVersion")
    if msg["cipher_suite"] not in KNOWN_SUITES:
        raise SignalError("MalformedCallSignal")
    if not 1 <= len(msg["call_id"]) <= MAX_CALL_ID_LEN:
        raise SignalError("MalformedCallSignal")
    for name, _, kind in fields[3:]:
        if len(msg[name]) != 32:
            raise SignalError("MalformedCallSignal")
    return msg


class SignalError(Exception):
    pass


# ---------------------------------------------------------------- keys (§9.1)
def call_info(call_id, ik_caller, ik_callee, e_caller, e_callee):
    assert 1 <= len(call_id) <= MAX_CALL_ID_LEN
    return (CALL_KEYS_LABEL + bytes([len(call_id)]) + call_id
            + ik_caller + ik_callee + e_caller + e_callee)


def call_keys(shared, info):
    if shared == bytes(32):
        raise SignalError("WeakEphemeralKey")
    okm = hkdf(bytes(32), shared, info, 64)
    return okm, okm[:32], okm[32:]


def callee_accept(offer_bytes, recorded_caller_identity, own_identity, e_callee):
    """The callee's side: parse the offer, check it, answer it. Returns
    (answer bytes, shared, info, okm) or raises SignalError."""
    offer = decode(OFFER_FIELDS, offer_bytes)
    if offer["caller_identity"] != recorded_caller_identity or offer["callee_identity"] != own_identity:
        raise SignalError("IdentityMismatch")
    shared = x25519(e_callee, offer["caller_ephemeral"])
    e_callee_pub = x25519_pub(e_callee)
    info = call_info(offer["call_id"], offer["caller_identity"], offer["callee_identity"],
                     offer["caller_ephemeral"], e_callee_pub)
    okm, _, _ = call_keys(shared, info)
    answer = encode_answer(dict(offer, callee_ephemeral=e_callee_pub))
    return answer, shared, info, okm


def caller_accept(offer_bytes, e_caller, answer_bytes):
    """The caller's side: check the answer against its pending offer. Returns
    (shared, info, okm) or raises SignalError."""
    offer = decode(OFFER_FIELDS, offer_bytes)
    answer = decode(ANSWER_FIELDS, answer_bytes)
    if any(answer[name] != offer[name] for name, num, _ in OFFER_FIELDS if num >= 2):
        raise SignalError("AnswerMismatch")
    shared = x25519(e_caller, answer["callee_ephemeral"])
    info = call_info(offer["call_id"], offer["caller_identity"], offer["callee_identity"],
                     offer["caller_ephemeral"], answer["callee_ephemeral"])
    okm, _, _ = call_keys(shared, info)
    return shared, info, okm


# ---------------------------------------------------------------- SFrame (§10)
def sframe_header(kid, ctr):
    """§10.2 / RFC 9605 §4.3."""
    def part(v):
        if v < 8:
            return 0, v, b""
        n = (v.bit_length() + 7) // 8
        return 1, n - 1, v.to_bytes(n, "big")
    x, k, kb = part(kid)
    y, c, cb = part(ctr)
    return bytes([x << 7 | k << 4 | y << 3 | c]) + kb + cb


assert sframe_header(291, 17767).hex() == "9901234567"  # §10.2 example


def sframe_key_salt(base_key, kid, suite):
    """§10.3 / RFC 9605 §4.4.2 (both suites here use SHA-256)."""
    _, nk, nn, _ = SUITES[suite]
    secret = hkdf_extract(b"", base_key)
    tail = kid.to_bytes(8, "big") + suite.to_bytes(2, "big")
    key = hkdf_expand(secret, SFRAME_KEY_LABEL + tail, nk)
    salt = hkdf_expand(secret, SFRAME_SALT_LABEL + tail, nn)
    return key, salt


def sframe_encrypt(suite, key, salt, kid, ctr, metadata, plaintext):
    """§10.1, §10.4: frame = header ‖ ciphertext ‖ tag."""
    header = sframe_header(kid, ctr)
    nonce = bytes(a ^ b for a, b in zip(salt, bytes(4) + ctr.to_bytes(8, "big")))
    aad = header + metadata
    aead = AESGCM(key) if suite == 0x0004 else ChaCha20Poly1305(key)
    return header, nonce, header + aead.encrypt(nonce, plaintext, aad)


def self_test_rfc9605():
    """Check the SFrame code against RFC 9605 Appendix C (suite 4), when the
    working group's vectors are next door. Prints nothing."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sframe",
                        "sframe-test-vectors.json")
    if not os.path.exists(path):
        return
    with open(path) as f:
        tv = json.load(f)
    for h in tv["header"]:
        assert sframe_header(h["kid"], h["ctr"]).hex() == h["encoded"]
    for v in tv["sframe"]:
        if v["cipher_suite"] != 4:
            continue
        key, salt = sframe_key_salt(bytes.fromhex(v["base_key"]), v["kid"], 4)
        assert key.hex() == v["sframe_key"] and salt.hex() == v["sframe_salt"]
        _, nonce, frame = sframe_encrypt(4, key, salt, v["kid"], v["ctr"],
                                         bytes.fromhex(v["metadata"]), bytes.fromhex(v["pt"]))
        assert nonce.hex() == v["nonce"] and frame.hex() == v["ct"]


# ---------------------------------------------------------------- vectors
def party(name):
    seed = fixed(name + " identity seed")
    return {"seed": seed, "public": ed25519_pub(seed)}


CALLER = party("caller")
CALLEE = party("callee")
OTHER = party("other callee")  # an identity that is neither party's

DIRECTIONS = [
    ("caller_to_callee", ONE_TO_ONE_KID_CALLER, slice(0, 32)),
    ("callee_to_caller", ONE_TO_ONE_KID_CALLEE, slice(32, 64)),
]
FRAME_METADATA = [b"", b"sotto-kat frame metadata"]  # CTR 0 with empty metadata, CTR 1 with some


def ephemeral(name):
    priv = fixed(name)
    return {"private": priv, "public": x25519_pub(priv)}


def make_offer(call_id, suite, e_caller_pub, callee_identity=None, version=WIRE_VERSION):
    return encode_offer({
        "version": version,
        "call_id": call_id,
        "cipher_suite": suite,
        "caller_identity": CALLER["public"],
        "callee_identity": CALLEE["public"] if callee_identity is None else callee_identity,
        "caller_ephemeral": e_caller_pub,
    })


def run_case(name, description, call_id, suite, e_caller_name, e_callee_name):
    e_caller = ephemeral(e_caller_name)
    e_callee = ephemeral(e_callee_name)
    offer = make_offer(call_id, suite, e_caller["public"])
    answer, shared_b, info_b, okm_b = callee_accept(offer, CALLER["public"], CALLEE["public"],
                                                    e_callee["private"])
    shared_a, info_a, okm_a = caller_accept(offer, e_caller["private"], answer)
    assert (shared_a, info_a, okm_a) == (shared_b, info_b, okm_b)
    okm = okm_a
    assert len(info_a) == 22 + 1 + len(call_id) + 4 * 32

    directions = {}
    for dname, kid, part_ in DIRECTIONS:
        base = okm[part_]
        per_suite = []
        for s in sorted(SUITES):
            key, salt = sframe_key_salt(base, kid, s)
            frames = []
            for ctr in (0, 1):
                metadata = FRAME_METADATA[ctr]
                pt = f"{name} {dname} frame {ctr}".encode()
                header, nonce, frame = sframe_encrypt(s, key, salt, kid, ctr, metadata, pt)
                frames.append({
                    "counter": ctr,
                    "metadata": metadata.hex(),
                    "plaintext": pt.hex(),
                    "header": header.hex(),
                    "nonce": nonce.hex(),
                    "frame": frame.hex(),
                })
            per_suite.append({
                "cipher_suite": s,
                "suite_name": SUITES[s][0],
                "offered": s == suite,
                "sframe_key": key.hex(),
                "sframe_salt": salt.hex(),
                "frames": frames,
            })
        directions[dname] = {"kid": kid, "base_key": base.hex(), "sframe": per_suite}

    return {
        "name": name,
        "description": description,
        "call_id": call_id.hex(),
        "cipher_suite": suite,
        "caller_identity": {"seed": CALLER["seed"].hex(), "public": CALLER["public"].hex()},
        "callee_identity": {"seed": CALLEE["seed"].hex(), "public": CALLEE["public"].hex()},
        "caller_ephemeral": {"name": e_caller_name, "private": e_caller["private"].hex(),
                             "public": e_caller["public"].hex()},
        "callee_ephemeral": {"name": e_callee_name, "private": e_callee["private"].hex(),
                             "public": e_callee["public"].hex()},
        "offer": offer.hex(),
        "offer_len": len(offer),
        "answer": answer.hex(),
        "answer_len": len(answer),
        "shared": shared_a.hex(),
        "info": info_a.hex(),
        "okm": okm.hex(),
        "directions": directions,
    }, {"offer": offer, "e_caller": e_caller, "e_callee": e_callee, "answer": answer}


def expect_error(err, fn, *args):
    try:
        fn(*args)
    except SignalError as e:
        assert str(e) == err, (str(e), err)
        return
    raise AssertionError(f"expected {err}")


def main():
    self_test_rfc9605()

    short_id = b"call-1"
    long_id = bytes(i % 256 for i in range(255))
    cases, raw = [], {}
    for args in [
        ("a", "short ASCII call id, AES_128_GCM_SHA256_128", short_id, 0x0004,
         "call a caller ephemeral", "call a callee ephemeral"),
        ("b", "255-byte call id (bytes 00..fe), CHACHA20_POLY1305_SHA256_128: the longest offer "
              "and answer", long_id, 0xF001,
         "call b caller ephemeral", "call b callee ephemeral"),
        ("c1", "case a's offer, answered with another callee ephemeral", short_id, 0x0004,
         "call a caller ephemeral", "call c1 callee ephemeral"),
        ("c2", "a new offer for case a's call id (new caller ephemeral), and its answer",
         short_id, 0x0004, "call c2 caller ephemeral", "call c2 callee ephemeral"),
    ]:
        case, r = run_case(*args)
        cases.append(case)
        raw[case["name"]] = r

    # Case b is the longest valid offer and answer (255-byte call id, 3-byte suite varint).
    assert raw["b"]["offer"] == make_offer(long_id, 0xF001, raw["b"]["e_caller"]["public"])
    # c1 shares case a's offer bytes; every agreement has keys of its own.
    assert raw["c1"]["offer"] == raw["a"]["offer"] and raw["c2"]["offer"] != raw["a"]["offer"]
    all_keys = [c["directions"][d]["base_key"] for c in cases for d in ("caller_to_callee",
                                                                        "callee_to_caller")]
    assert len(set(all_keys)) == len(all_keys)

    # ------------------------------------------------------------ invalid inputs
    a = raw["a"]
    e_caller_a, e_callee_a = a["e_caller"], a["e_callee"]
    invalid = []

    def callee_vector(name, description, offer, error, callee_draw=e_callee_a):
        expect_error(error, callee_accept, offer, CALLER["public"], CALLEE["public"],
                     callee_draw["private"])
        invalid.append({
            "name": name,
            "description": description,
            "receiver": "callee",
            "recorded_caller_identity": CALLER["public"].hex(),
            "own_identity": CALLEE["public"].hex(),
            "callee_ephemeral_private": callee_draw["private"].hex(),
            "offer": offer.hex(),
            "error": error,
        })

    def caller_vector(name, description, offer, e_caller, answer, error):
        expect_error(error, caller_accept, offer, e_caller["private"], answer)
        invalid.append({
            "name": name,
            "description": description,
            "receiver": "caller",
            "pending_offer": offer.hex(),
            "caller_ephemeral_private": e_caller["private"].hex(),
            "answer": answer.hex(),
            "error": error,
        })

    # An answer to an earlier offer: the caller holds c2's offer and gets c1's answer (to a's
    # offer): only caller_ephemeral (field 6) differs from the pending offer's fields 2 to 6.
    caller_vector("answer_to_earlier_offer",
                  "caller holds case c2's offer; the answer is case c1's (to case a's offer): "
                  "its caller_ephemeral is not the pending offer's",
                  raw["c2"]["offer"], raw["c2"]["e_caller"], raw["c1"]["answer"],
                  "AnswerMismatch")
    callee_vector("offer_version_2", "case a's offer with version = 2",
                  make_offer(short_id, 0x0004, e_caller_a["public"], version=2),
                  "UnsupportedSignalVersion")
    callee_vector("offer_ephemeral_31_bytes",
                  "case a's offer with caller_ephemeral cut to its first 31 bytes",
                  make_offer(short_id, 0x0004, e_caller_a["public"][:31]),
                  "MalformedCallSignal")
    callee_vector("offer_call_id_256_bytes", "a 256-byte call id (bytes 00..ff)",
                  make_offer(bytes(range(256)), 0x0004, e_caller_a["public"]),
                  "MalformedCallSignal")
    callee_vector("offer_unknown_suite", "case a's offer with cipher_suite = 0x0009",
                  make_offer(short_id, 0x0009, e_caller_a["public"]),
                  "MalformedCallSignal")
    callee_vector("offer_other_callee",
                  "case a's offer naming another callee identity (Ed25519 key of seed "
                  "'other callee identity seed')",
                  make_offer(short_id, 0x0004, e_caller_a["public"],
                             callee_identity=OTHER["public"]),
                  "IdentityMismatch")
    small_order = [
        ("zero", bytes(32)),
        ("one", (1).to_bytes(32, "little")),
        ("order_8", bytes.fromhex(
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")),
    ]
    for label, point in small_order:
        callee_vector(f"offer_small_order_ephemeral_{label}",
                      f"case a's offer with caller_ephemeral = {point.hex()} (small order): "
                      "X25519 gives 0x00 x 32",
                      make_offer(short_id, 0x0004, point), "WeakEphemeralKey")
    weak_answer = encode_answer(dict(decode(OFFER_FIELDS, a["offer"]), callee_ephemeral=bytes(32)))
    caller_vector("answer_small_order_ephemeral",
                  "case a's offer answered with callee_ephemeral = 0x00 x 32",
                  a["offer"], e_caller_a, weak_answer, "WeakEphemeralKey")

    out = {
        "description": "Sotto 1:1 call key agreement (PROTOCOL.md §9.1) and SFrame frames "
                       "(§10) known-answer vectors; see README.md",
        "protocol_version": WIRE_VERSION,
        "call_keys_label": CALL_KEYS_LABEL.hex(),
        "other_callee_identity": {"seed": OTHER["seed"].hex(), "public": OTHER["public"].hex()},
        "cases": cases,
        "invalid": invalid,
    }
    sys.stdout.reconfigure(encoding="utf-8")
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
