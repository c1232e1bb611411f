#!/usr/bin/env python3
"""Known-answer transcript for Sotto direct messages (protocol version 1).

Written from docs/PROTOCOL.md, proto/wire.proto and Signal's published
specifications ("The X3DH Key Agreement Protocol" and "The Double Ratchet
Algorithm", revision 1, 2016) alone, without reading the Rust sources, so that
the vectors it prints are an independent check of the Rust implementation.

Usage:  python3 gen_transcript.py > transcript.json

Fully deterministic: every secret and every random draw is
SHA-256(b"sotto-kat " + name)[:32] for a fixed name.
"""

import copy
import hashlib
import hmac
import json
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

# ---------------------------------------------------------------- constants
# PROTOCOL.md §1, §3, §4, §5, §7.
SIGNED_PREKEY_LABEL = b"Sotto signed prekey v1"
X3DH_INFO = b"Sotto X3DH v1"
ROOT_KDF_INFO = b"Sotto ratchet root v1"
MESSAGE_KEY_SEED = b"\x01"
CHAIN_KEY_SEED = b"\x02"
MESSAGE_KEYS_INFO = b"Sotto message keys v1"
WIRE_VERSION = 1
MAX_SKIP = 1000
MAX_SKIPPED_KEYS = 2000
MAX_RECEIVING_CHAINS = 5
FINGERPRINT_LABEL = b"Sotto safety number v1"
FINGERPRINT_ITERATIONS = 5200
SCANNABLE_VERSION = 0x01

assert len(SIGNED_PREKEY_LABEL) == 22
assert len(X3DH_INFO) == 13
assert len(ROOT_KDF_INFO) == 21
assert len(MESSAGE_KEYS_INFO) == 21
assert len(FINGERPRINT_LABEL) == 22

P = 2**255 - 19
RAW = serialization.Encoding.Raw
RAW_PUB = serialization.PublicFormat.Raw


def fixed(name):
    """A fixed 32-byte secret: SHA-256(b"sotto-kat " + name)[:32]."""
    return hashlib.sha256(b"sotto-kat " + name.encode()).digest()[:32]


# ---------------------------------------------------------------- primitives
def hkdf(salt, ikm, info, length):
    """RFC 5869 with SHA-256."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:length]


def hmac256(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def x25519_pub(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(RAW, RAW_PUB)


def dh(priv, pub):
    """PROTOCOL.md §1: X25519, refusing an all-zero output."""
    out = X25519PrivateKey.from_private_bytes(priv).exchange(
        X25519PublicKey.from_public_bytes(pub)
    )
    assert out != bytes(32), "all-zero DH output"
    return out


def ed25519_pub(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(RAW, RAW_PUB)


def ed25519_sign(seed, msg):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(msg)


def ed_pub_to_x25519(ed_pub):
    """PROTOCOL.md §1: u = (1 + y) / (1 - y) mod p."""
    y = int.from_bytes(ed_pub, "little") & ((1 << 255) - 1)
    assert y < P
    u = (1 + y) * pow((1 - y) % P, P - 2, P) % P
    return u.to_bytes(32, "little")


def ed_seed_to_x25519_priv(seed):
    """PROTOCOL.md §1: the first 32 bytes of SHA-512(seed), clamped by X25519."""
    return hashlib.sha512(seed).digest()[:32]


# ---------------------------------------------------------------- protobuf
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


def f_uint(num, value, always=False):
    """A uint32 field (wire type 0); proto3 omits 0 unless `optional` and present."""
    if value is None or (value == 0 and not always):
        return b""
    return varint(num << 3 | 0) + varint(value)


def f_bytes(num, value, always=False):
    """A bytes or message field (wire type 2); empty bytes omitted, messages always."""
    if value is None or (len(value) == 0 and not always):
        return b""
    return varint(num << 3 | 2) + varint(len(value)) + value


def read_varint(buf, i):
    n, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def parse(buf):
    """A minimal protobuf reader: {field number: [values]}."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v = bytes(buf[i : i + n])
            assert len(v) == n
            i += n
        else:
            raise ValueError("unexpected wire type")
        out.setdefault(num, []).append(v)
    return out


def enc_header(ratchet_key, pn, n):
    return f_bytes(1, ratchet_key) + f_uint(2, pn) + f_uint(3, n)


def enc_ratchet_message(header, ciphertext):
    return f_bytes(1, header) + f_bytes(2, ciphertext)


def enc_prekey_message(ik, base_key, spk_id, opk_id, message):
    return (
        f_bytes(1, ik)
        + f_bytes(2, base_key)
        + f_uint(3, spk_id)
        + f_uint(4, opk_id, always=True)  # proto3 optional: encoded whenever present
        + f_bytes(5, message, always=True)  # message field: encoded whenever present
    )


def enc_envelope(prekey_message=None, ratchet_message=None):
    return (
        f_uint(1, WIRE_VERSION)
        + f_bytes(2, prekey_message, always=True)
        + f_bytes(3, ratchet_message, always=True)
    )


def enc_bundle(ik, spk_id, spk, sig, opk_id, opk):
    otp = f_uint(1, opk_id) + f_bytes(2, opk)
    return (
        f_uint(1, WIRE_VERSION)
        + f_bytes(2, ik)
        + f_uint(3, spk_id)
        + f_bytes(4, spk)
        + f_bytes(5, sig)
        + f_bytes(6, otp, always=True)
    )


# ---------------------------------------------------------------- double ratchet
def kdf_rk(rk, dh_out):
    out = hkdf(rk, dh_out, ROOT_KDF_INFO, 64)
    return out[:32], out[32:]


def kdf_ck(ck):
    return hmac256(ck, CHAIN_KEY_SEED), hmac256(ck, MESSAGE_KEY_SEED)


def message_keys(mk):
    out = hkdf(bytes(32), mk, MESSAGE_KEYS_INFO, 44)
    return out[:32], out[32:]


def aead_encrypt(mk, pt, ad):
    key, nonce = message_keys(mk)
    return ChaCha20Poly1305(key).encrypt(nonce, pt, ad)


def aead_decrypt(mk, ct, ad):
    key, nonce = message_keys(mk)
    return ChaCha20Poly1305(key).decrypt(nonce, ct, ad)  # raises on a bad tag


class Session:
    """One Double Ratchet session (Signal DR §3, PROTOCOL.md §4)."""

    def __init__(self, ad, base_key):
        self.ad = ad
        self.base_key = base_key
        self.rk = None
        self.dhs = None  # our ratchet private key
        self.cks = None
        self.ns = 0
        self.pn = 0
        self.recv = []  # receiving chains, newest first: [ratchet_key, ck, nr]
        self.skipped = []  # oldest first: (ratchet_key, n, mk)
        self.pending = None  # (spk_id, opk_id) on the initiator until it hears back


class Party:
    def __init__(self, name, device, seed, draws):
        self.name = name
        self.device = device
        self.seed = seed
        self.ik = ed25519_pub(seed)
        self.ik_dh_priv = ed_seed_to_x25519_priv(seed)
        assert x25519_pub(self.ik_dh_priv) == ed_pub_to_x25519(self.ik)
        self.draws = list(draws)  # the 32-byte values this party's RNG hands out, in order
        self.used = 0
        self.sessions = []  # newest (current) first
        self.spk = {}
        self.opk = {}
        self.log = {}

    def draw(self):
        v = self.draws[self.used]
        self.used += 1
        return v

    # -- initiator --------------------------------------------------------
    def process_bundle(self, bundle_bytes):
        b = parse(bundle_bytes)
        assert b[1] == [WIRE_VERSION]
        ik_b, spk_id, spk_b, sig = b[2][0], b[3][0], b[4][0], b[5][0]
        Ed25519PublicKey.from_public_bytes(ik_b).verify(
            sig, SIGNED_PREKEY_LABEL + spk_id.to_bytes(4, "big") + spk_b
        )
        opk_id = opk_b = None
        if 6 in b:
            o = parse(b[6][0])
            opk_id, opk_b = o.get(1, [0])[0], o[2][0]

        ek = self.draw()
        ek_pub = x25519_pub(ek)
        dh1 = dh(self.ik_dh_priv, spk_b)
        dh2 = dh(ek, ed_pub_to_x25519(ik_b))
        dh3 = dh(ek, spk_b)
        ikm = b"\xff" * 32 + dh1 + dh2 + dh3
        if opk_b is not None:
            ikm += dh(ek, opk_b)
        sk = hkdf(bytes(32), ikm, X3DH_INFO, 32)
        ad = self.ik + ik_b

        s = Session(ad, ek_pub)
        s.pending = (spk_id, opk_id)
        s.ik_remote = ik_b
        # RatchetInitAlice(SK, SPK_B)
        s.dhs = self.draw()
        s.rk, s.cks = kdf_rk(sk, dh(s.dhs, spk_b))
        s.recv = [[spk_b, None, 0]]  # DHr = SPK_B, no receiving chain key yet
        self.sessions.insert(0, s)
        self.log.update(sk=sk, ad=ad, ek_pub=ek_pub)
        return s

    # -- sending ------------------------------------------------------------
    def encrypt(self, pt):
        s = self.sessions[0]
        s.cks, mk = kdf_ck(s.cks)
        n = s.ns
        s.ns += 1
        header = enc_header(x25519_pub(s.dhs), s.pn, n)
        ct = aead_encrypt(mk, pt, s.ad + header)
        rm = enc_ratchet_message(header, ct)
        if s.pending is not None:
            spk_id, opk_id = s.pending
            env = enc_envelope(
                prekey_message=enc_prekey_message(self.ik, s.base_key, spk_id, opk_id, rm)
            )
        else:
            env = enc_envelope(ratchet_message=rm)
        key, nonce = message_keys(mk)
        info = dict(header=header, mk=mk, aead_key=key, aead_nonce=nonce, n=n, pn=s.pn,
                    ciphertext=ct, kind="prekey" if s.pending else "ratchet")
        return env, info

    # -- receiving ----------------------------------------------------------
    def decrypt(self, env_bytes):
        e = parse(env_bytes)
        assert e[1] == [WIRE_VERSION]
        if 2 in e:
            pm = parse(e[2][0])
            ik_a, base_key, spk_id = pm[1][0], pm[2][0], pm.get(3, [0])[0]
            opk_id = pm[4][0] if 4 in pm else None
            rm = pm[5][0]
            found = [s for s in self.sessions if s.base_key == base_key]
            if found:
                return self._decrypt_in(found[0], rm, new=False)
            # X3DH as the responder (roles mirrored).
            spk_priv = self.spk[spk_id]
            dh1 = dh(spk_priv, ed_pub_to_x25519(ik_a))
            dh2 = dh(self.ik_dh_priv, base_key)
            dh3 = dh(spk_priv, base_key)
            ikm = b"\xff" * 32 + dh1 + dh2 + dh3
            if opk_id is not None:
                ikm += dh(self.opk[opk_id], base_key)
            sk = hkdf(bytes(32), ikm, X3DH_INFO, 32)
            s = Session(ik_a + self.ik, base_key)
            # RatchetInitBob(SK, SPK_B key pair)
            s.dhs = spk_priv
            s.rk = sk
            pt = self._decrypt_in(s, rm, new=True)
            if opk_id is not None:
                del self.opk[opk_id]  # deleted once the message authenticated
            return pt
        rm = e[3][0]
        for s in list(self.sessions):
            try:
                return self._decrypt_in(s, rm, new=False)
            except Exception:
                continue
        raise ValueError("no session decrypts")

    def _decrypt_in(self, s, rm_bytes, new):
        work = copy.deepcopy(s)  # try, then commit
        rm = parse(rm_bytes)
        header, ct = rm[1][0], rm[2][0]
        h = parse(header)
        rk_pub, pn, n = h[1][0], h.get(2, [0])[0], h.get(3, [0])[0]
        assert len(header) <= 46 and len(rk_pub) == 32 and len(ct) >= 16
        draws_before = self.used
        chain = next((c for c in work.recv if c[0] == rk_pub and c[1] is not None), None)
        skipped = next((k for k in work.skipped if k[0] == rk_pub and k[1] == n), None)
        if chain is not None and n >= chain[2]:
            mk = self._skip_to(work, chain, n)
        elif skipped is not None:
            work.skipped.remove(skipped)
            mk = skipped[2]
        elif chain is not None:
            raise ValueError("duplicate")
        else:
            # New ratchet key: skip the newest receiving chain up to PN, DH ratchet step.
            if work.recv and work.recv[0][1] is not None:
                self._skip_to(work, work.recv[0], pn, final=False)
            work.pn = work.ns
            work.ns = 0
            work.rk, ckr = kdf_rk(work.rk, dh(work.dhs, rk_pub))
            work.recv = [c for c in work.recv if c[1] is not None]
            work.recv.insert(0, [rk_pub, ckr, 0])
            del work.recv[MAX_RECEIVING_CHAINS:]
            work.dhs = self.draw()
            work.rk, work.cks = kdf_rk(work.rk, dh(work.dhs, rk_pub))
            mk = self._skip_to(work, work.recv[0], n)
        try:
            pt = aead_decrypt(mk, ct, work.ad + header)
        except Exception:
            self.used = draws_before
            raise
        del work.skipped[: max(0, len(work.skipped) - MAX_SKIPPED_KEYS)]
        work.pending = None  # the initiator has heard back
        # commit
        if new:
            self.sessions.insert(0, work)
        else:
            i = next(i for i, x in enumerate(self.sessions) if x is s)
            del self.sessions[i]
            self.sessions.insert(0, work)
        return pt

    @staticmethod
    def _skip_to(s, chain, n, final=True):
        """Advance `chain` to message n, storing the keys skipped over; return MK(n)."""
        assert n - chain[2] <= MAX_SKIP
        while chain[2] < n:
            chain[1], mk = kdf_ck(chain[1])
            s.skipped.append((chain[0], chain[2], mk))
            chain[2] += 1
        if not final:
            return None
        chain[1], mk = kdf_ck(chain[1])
        chain[2] += 1
        return mk


# ---------------------------------------------------------------- safety numbers
def fingerprint(account, device, ik):
    a = account.encode("utf-8")
    h = hashlib.sha512(
        FINGERPRINT_LABEL + len(a).to_bytes(2, "big") + a + device.to_bytes(4, "big") + ik
    ).digest()
    for _ in range(FINGERPRINT_ITERATIONS):
        h = hashlib.sha512(h + ik).digest()
    return h[:32]


def displayable(fp):
    return "".join(
        "%05d" % (int.from_bytes(fp[i : i + 5], "big") % 100000) for i in range(0, 30, 5)
    )


def safety_number(a, b):
    return safety_number_of((a.name, a.device, a.ik), (b.name, b.device, b.ik))


def safety_number_of(a, b):
    """a, b: (account, device, identity key)."""
    fa = fingerprint(*a)
    fb = fingerprint(*b)
    digits = "".join(sorted([displayable(fa), displayable(fb)]))
    scannable = bytes([SCANNABLE_VERSION]) + b"".join(sorted([fa, fb]))
    assert len(digits) == 60 and len(scannable) == 65
    return fa, fb, digits, scannable


# ---------------------------------------------------------------- the conversation
def main():
    alice_seed = fixed("alice identity seed")
    bob_seed = fixed("bob identity seed")
    spk_id, spk_priv = 1, fixed("bob signed prekey 1")
    opk_id, opk_priv = 100, fixed("bob one-time prekey 100")
    draws = {
        "alice": [fixed("alice draw %d" % i) for i in range(8)],
        "bob": [fixed("bob draw %d" % i) for i in range(8)],
    }

    alice = Party("alice", 1, alice_seed, draws["alice"])
    bob = Party("bob", 1, bob_seed, draws["bob"])
    bob.spk[spk_id] = spk_priv
    bob.opk[opk_id] = opk_priv

    spk_pub = x25519_pub(spk_priv)
    opk_pub = x25519_pub(opk_priv)
    spk_sig = ed25519_sign(bob_seed, SIGNED_PREKEY_LABEL + spk_id.to_bytes(4, "big") + spk_pub)
    bundle = enc_bundle(bob.ik, spk_id, spk_pub, spk_sig, opk_id, opk_pub)

    alice.process_bundle(bundle)
    parties = {"alice": alice, "bob": bob}
    other = {"alice": "bob", "bob": "alice"}
    sends, events = [], []
    first = {}

    def send(who, pt):
        env, info = parties[who].encrypt(pt)
        idx = len(sends)
        sends.append((who, pt, env, info))
        events.append({
            "send": idx,
            "from": who,
            "to": other[who],
            "kind": info["kind"],
            "n": info["n"],
            "pn": info["pn"],
            "plaintext": pt.hex(),
            "header": info["header"].hex(),
            "message_key": info["mk"].hex(),
            "envelope": env.hex(),
        })
        if idx == 0:
            first.update(info)

    def deliver(idx):
        who, pt, env, _ = sends[idx]
        to = other[who]
        got = parties[to].decrypt(env)
        assert got == pt, (idx, got, pt)
        events.append({"deliver": idx, "to": to})

    long_pt = bytes((i * 7 + 3) & 0xFF for i in range(300))

    # 1-3: Alice's three prekey messages, received by Bob in the order 1, 0, 2.
    send("alice", b"Hello Bob, this is message 0 from Alice.")
    send("alice", b"Message 1: the first to arrive.")
    send("alice", b"Message 2.")
    deliver(1)  # Bob: X3DH, DH ratchet step (draw 0), skips N=0
    deliver(0)  # skipped key
    deliver(2)  # current chain
    # 4: Bob answers with two ratchet messages.
    send("bob", b"Hi Alice! Bob here.")  # 3
    send("bob", long_pt)  # 4: 300 bytes, multi-byte protobuf lengths
    deliver(3)  # Alice: DH ratchet step (draw 2)
    deliver(4)
    # 5: more turns, with a message delivered after a later one across a turn.
    send("alice", b"Alice's first ratchet message.")  # 5: PN = 3
    send("alice", b"This one is delayed across a ratchet turn.")  # 6
    deliver(5)  # Bob: DH ratchet step (draw 1)
    send("bob", b"Bob again.")  # 7
    deliver(7)  # Alice: DH ratchet step (draw 3)
    send("alice", b"Alice, new chain, N = 0, PN = 2.")  # 8
    deliver(8)  # Bob: skips message 6 in the old chain up to PN, DH step (draw 2)
    deliver(6)  # the delayed message, through the skipped key
    send("bob", b"Two in a row,")  # 9
    send("bob", b"and a third.")  # 10
    send("bob", b"")  # 11: empty plaintext, ciphertext is just the tag
    deliver(11)  # Alice: DH ratchet step (draw 4), skips N=0,1
    deliver(9)
    deliver(10)
    send("alice", b"Bye.")  # 12
    deliver(12)  # Bob: DH ratchet step (draw 3)

    fa, fb, digits, scannable = safety_number(alice, bob)

    # More safety numbers: one where the digit strings and the fingerprints
    # sort in opposite orders (alice.3 / bob.1), one with a non-ASCII account
    # id, whose length prefix counts UTF-8 bytes (4 for "zo\u00eb").
    zoe_ik = ed25519_pub(fixed("zo\u00eb identity seed"))
    extra = []
    for x, y in [
        (("alice", 3, alice.ik), ("bob", 1, bob.ik)),
        (("zo\u00eb", 7, zoe_ik), ("alice", 1, alice.ik)),
    ]:
        fx, fy, d, sc = safety_number_of(x, y)
        extra.append({
            "a": {"account": x[0], "device": x[1], "identity_key": x[2].hex()},
            "b": {"account": y[0], "device": y[1], "identity_key": y[2].hex()},
            "a_fingerprint": fx.hex(),
            "b_fingerprint": fy.hex(),
            "displayable": d,
            "scannable": sc.hex(),
        })
    fx, fy = bytes.fromhex(extra[0]["a_fingerprint"]), bytes.fromhex(extra[0]["b_fingerprint"])
    assert (fx < fy) != (displayable(fx) < displayable(fy))

    key_dh = lambda s: x25519_pub(s)  # noqa: E731
    out = {
        "description": "Sotto protocol v1 direct-message known-answer transcript; see README.md",
        "protocol_version": 1,
        "alice": {
            "account": "alice",
            "device": 1,
            "identity_seed": alice_seed.hex(),
            "identity_key": alice.ik.hex(),
            "identity_key_x25519": ed_pub_to_x25519(alice.ik).hex(),
        },
        "bob": {
            "account": "bob",
            "device": 1,
            "identity_seed": bob_seed.hex(),
            "identity_key": bob.ik.hex(),
            "identity_key_x25519": ed_pub_to_x25519(bob.ik).hex(),
            "signed_prekey_id": spk_id,
            "signed_prekey_private": spk_priv.hex(),
            "signed_prekey_public": spk_pub.hex(),
            "signed_prekey_signature": spk_sig.hex(),
            "one_time_prekey_id": opk_id,
            "one_time_prekey_private": opk_priv.hex(),
            "one_time_prekey_public": opk_pub.hex(),
        },
        "bundle": bundle.hex(),
        "draws": {
            "alice": [d.hex() for d in draws["alice"][: alice.used]],
            "bob": [d.hex() for d in draws["bob"][: bob.used]],
        },
        "first_message": {
            "base_key": alice.log["ek_pub"].hex(),
            "alice_ratchet_key": key_dh(draws["alice"][1]).hex(),
            "sk": alice.log["sk"].hex(),
            "ad": alice.log["ad"].hex(),
            "header": first["header"].hex(),
            "message_key": first["mk"].hex(),
            "aead_key": first["aead_key"].hex(),
            "aead_nonce": first["aead_nonce"].hex(),
            "ciphertext": first["ciphertext"].hex(),
        },
        "events": events,
        "safety_number": {
            "alice_fingerprint": fa.hex(),
            "bob_fingerprint": fb.hex(),
            "displayable": digits,
            "scannable": scannable.hex(),
        },
        "more_safety_numbers": extra,
    }
    assert alice.used == 5 and bob.used == 4
    assert opk_id not in bob.opk
    sys.stdout.reconfigure(encoding="utf-8")
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
