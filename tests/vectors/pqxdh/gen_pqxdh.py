#!/usr/bin/env python3
"""Known-answer vectors for Sotto's PQXDH key agreement (protocol version 1).

Written from docs/PROTOCOL.md (§1 keys, §2 bundles, §3 PQXDH, §4 Double Ratchet,
§5 wire format, §8 stored records), proto/wire.proto, proto/storage.proto,
Signal's "The PQXDH Key Agreement Protocol" (revision 3) and FIPS 203 (as
implemented by the pure-Python `kyber-py` package) alone, without reading the
Rust sources, so that the vectors it prints are an independent check of the
Rust implementation. The protobuf, X25519/Ed25519 and Double Ratchet code is
that of ../dm/gen_transcript.py, extended with the KEM prekey and ciphertext.

Usage:  python3 gen_pqxdh.py > pqxdh.json

Fully deterministic: every secret and every random draw is
SHA-256(b"sotto-kat " + name)[:32] for a fixed name, and ML-KEM runs through
FIPS 203's deterministic internal functions (ML-KEM.KeyGen_internal(d, z) and
ML-KEM.Encaps_internal(ek, m)).
"""

import copy
import hashlib
import hmac
import json
import sys

from cryptography.exceptions import InvalidTag
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
from kyber_py.ml_kem import ML_KEM_1024

# ---------------------------------------------------------------- constants
# PROTOCOL.md §1, §2, §3, §4, §5.
SIGNED_PREKEY_LABEL = b"Sotto signed prekey v1"
KEM_PREKEY_LABEL = b"Sotto KEM prekey v1"
KEM_ML_KEM_1024 = 0x01
PQXDH_INFO = b"Sotto PQXDH v1_CURVE25519_SHA-256_ML-KEM-1024"
ROOT_KDF_INFO = b"Sotto ratchet root v1"
MESSAGE_KEY_SEED = b"\x01"
CHAIN_KEY_SEED = b"\x02"
MESSAGE_KEYS_INFO = b"Sotto message keys v1"
WIRE_VERSION = 1
RECORD_VERSION = 1
MAX_SKIP = 1000
MAX_SKIPPED_KEYS = 2000
MAX_RECEIVING_CHAINS = 5
MAX_BUNDLE_LEN = 2048
MAX_ENVELOPE_LEN = 133120
MAX_PLAINTEXT_LEN = 131072
MAX_RATCHET_HEADER_LEN = 46

KEM_EK_LEN = 1568  # FIPS 203 ML-KEM-1024: 384k + 32
KEM_DK_LEN = 3168  # 768k + 96
KEM_CT_LEN = 1568  # 32 (du k + dv)
KEM_ENCODED_LEN = 1 + KEM_EK_LEN
Q = 3329

assert len(SIGNED_PREKEY_LABEL) == 22
assert len(KEM_PREKEY_LABEL) == 19
assert len(PQXDH_INFO) == 45
assert PQXDH_INFO == b"_".join([b"Sotto PQXDH v1", b"CURVE25519", b"SHA-256", b"ML-KEM-1024"])
assert len(ROOT_KDF_INFO) == 21
assert len(MESSAGE_KEYS_INFO) == 21

P = 2**255 - 19
RAW = serialization.Encoding.Raw
RAW_PUB = serialization.PublicFormat.Raw


def fixed(name):
    """A fixed 32-byte secret: SHA-256(b"sotto-kat " + name)[:32]."""
    return hashlib.sha256(b"sotto-kat " + name.encode()).digest()[:32]


def u32be(n):
    assert 0 <= n < 2**32
    return n.to_bytes(4, "big")


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


def check_x25519_public(pub):
    """PROTOCOL.md §1: 32 bytes, canonical (u below p, so the top bit is clear)."""
    assert len(pub) == 32 and int.from_bytes(pub, "little") < P


def dh(priv, pub):
    """PROTOCOL.md §1: X25519, refusing an all-zero output."""
    check_x25519_public(pub)
    out = X25519PrivateKey.from_private_bytes(priv).exchange(
        X25519PublicKey.from_public_bytes(pub)
    )
    assert out != bytes(32), "all-zero DH output"
    return out


def ed25519_pub(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(RAW, RAW_PUB)


def ed25519_sign(seed, msg):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(msg)


def ed25519_verify(pub, sig, msg):
    assert len(sig) == 64
    Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)  # raises on failure


def ed_pub_to_x25519(ed_pub):
    """PROTOCOL.md §1: u = (1 + y) / (1 - y) mod p."""
    y = int.from_bytes(ed_pub, "little") & ((1 << 255) - 1)
    assert y < P
    u = (1 + y) * pow((1 - y) % P, P - 2, P) % P
    return u.to_bytes(32, "little")


def ed_seed_to_x25519_priv(seed):
    """PROTOCOL.md §1: the first 32 bytes of SHA-512(seed), clamped by X25519."""
    return hashlib.sha512(seed).digest()[:32]


# ---------------------------------------------------------------- ML-KEM-1024 (FIPS 203)
def kem_keygen(d, z):
    """FIPS 203 Algorithm 16, ML-KEM.KeyGen_internal(d, z) -> (ek, dk)."""
    assert len(d) == 32 and len(z) == 32
    ek, dk = ML_KEM_1024._keygen_internal(d, z)
    assert len(ek) == KEM_EK_LEN and len(dk) == KEM_DK_LEN
    return ek, dk


def kem_encaps(ek, m):
    """FIPS 203 Algorithm 17, ML-KEM.Encaps_internal(ek, m) -> (K, c)."""
    assert len(m) == 32
    ss, ct = ML_KEM_1024._encaps_internal(ek, m)
    assert len(ss) == 32 and len(ct) == KEM_CT_LEN
    return ct, ss


def kem_decaps(dk, ct):
    """FIPS 203 Algorithm 21, ML-KEM.Decaps(dk, c) -> K (its input checks included)."""
    return ML_KEM_1024.decaps(dk, ct)


def kem_ek_of_dk(dk):
    """FIPS 203 §7.3: dk = dk_PKE (384k) ‖ ek (384k + 32) ‖ H(ek) (32) ‖ z (32)."""
    assert len(dk) == KEM_DK_LEN
    ek, h = dk[1536 : 1536 + KEM_EK_LEN], dk[1536 + KEM_EK_LEN : 1536 + KEM_EK_LEN + 32]
    assert hashlib.sha3_256(ek).digest() == h, "dk hash check"
    return ek


def encode_kem(ek):
    """PROTOCOL.md §1: EncodeKEM(PQPK) = 0x01 ‖ ek (1568 bytes)."""
    assert len(ek) == KEM_EK_LEN
    return bytes([KEM_ML_KEM_1024]) + ek


def decode_kem(encoded):
    """PROTOCOL.md §1: refuse another length, another first byte, and an ek failing the
    FIPS 203 §7.2 modulus check (every 12-bit coefficient of ByteDecode12 below q)."""
    assert len(encoded) == KEM_ENCODED_LEN, "KEM key length"
    assert encoded[0] == KEM_ML_KEM_1024, "KEM key type"
    ek = encoded[1:]
    t = ek[: 384 * 4]
    for i in range(0, len(t), 3):
        b0, b1, b2 = t[i], t[i + 1], t[i + 2]
        assert (b0 | (b1 & 0x0F) << 8) < Q and (b1 >> 4 | b2 << 4) < Q, "modulus check"
    return ek


# A self-test of kyber-py against NIST ACVP ML-KEM-1024 vectors, so that the
# vectors below are known to come from FIPS 203 final (not round-3 Kyber).
#
# keyGen: tcId 51 of ML-KEM-keyGen-FIPS203/internalProjection.json, the NIST
# ACVP-Server sample (vsId 42) as vendored in kyber-py's GitHub repository
# (assets/, commit 8979236); ek_head is the expected ek's first 32 bytes and
# the digests are SHA-256 of the expected ek and dk.
ACVP_KEYGEN = dict(
    d="49AC8B99BB1E6A8EA818261F8BE68BDEAA52897E7EC6C40B530BC760AB77DCE3",
    z="99E3246884181F8E1DD44E0C7629093330221FD67D9B7D6E1510B2DBAD8762F7",
    ek_head="A04184D4BC7B532A0F70A54D7757CDE6175A6843B861CB2BC4830C0012554CFC",
    ek_sha256="62fccf5fdf805b110670b39cd5e25b1811172961ea4047bfbd589e323ce7cfbc",
    dk_sha256="2f8af73000bd5247a74312ac70386444290bc4b80da6fae05aeb1196dbd8912e",
)
# encapDecap: tcId 51 of ML-KEM-encapDecap-FIPS203/internalProjection.json in
# usnistgov/ACVP-Server (function "encapsulation", AFT, ML-KEM-1024).
ACVP_ENCAPS = dict(
    ek=(
        "88C1C6AA1B4181531F17F2B3A0BC32E8E0B6F556C98BA9033BD21FA98743303A9F1404CB4144670C5C4833"
        "6313223603E709BF61473624684AC3453445D74C325545E0C1088828CE0720142D8B297A777813A5BCDBD98F"
        "28243EED825753729A29158DF4797958303AA980A7AE0CA0FD747DFBBAC1E450A9D4DBCB66C295E8BB5E5208"
        "6687C9BDD6D8C488C134DE8456D7C82BA388516939510368155E9BB28A395796CB9CF4F4019850B3DA463D4A"
        "085CAF3376B98CB8B88C4B7E154D50818F816114A95C1C0D1A943DC1AB38D75C987C393BC987CE235FAB528A"
        "1D9AC2CC5AAC6BC93349B0BDF1485D229BAC881808F3D97485C3AB147B8026B88AEAA14056DB544EFC7F7A95"
        "9652493B8F884F9361506ABC6559A46324A933A155045FB976C961563E4638983AC2E428A4E41978A5571F8F"
        "E7251A2C11C3DC14C1467F8621CCD71A041C6235211575A2B449750513C8A9363A380FBA171CE785A698726A"
        "9141CF2DCC3D4CE07CC804B69527520D92AB5FB2CB958200ECEA1977219B44F9A0843491A9B8642C95C64B8C"
        "8EF014955759C4B4E7A465D21CA30842645727D247608BB782974B1368B407C81C0F98ABA39129929C35814B"
        "09235E3120EDEA7930AA37BDD3598C260913C5BB56D7471D7B33247259CBB65EA99108AF1B68CD4ABB51435D"
        "0DE2CD10080BA7701935389B4573CC15165581C717F1E48B3F7935FB9A7657EC34BCC6334FEA1AAF921FD162"
        "AF5A433CE9E904AB567764146609B81D3D45515AA90D92547093142C971622750493A1FBBC1923567A96795A"
        "4C68F2B0C76AC728FEF52E30F36F134345D0E832CE29156CE23952E984F8954AF7C6A724A12ABEB858752859"
        "79220F04E824F7EA41EB707EF4B4BD03C953E0B9287031562782CB91F81C6FC8A2C20046772C900035456A84"
        "9BE248512B029D869025BD63970C0CCBFF210384E6753B2C5297A268C748911BB632C1071759D07C7B111EF1"
        "3C75D032B4DE29802E0B86C7C89E9CE25B6DEC2399650BA25C214FFCCC7F21AB5DD93E1B46A45DF14D68C37A"
        "3E039B02C1827ED40EE76AA0853A994E124D07E3952F339BDD35A9B8E915250C94C7148071B9323A095D6CD2"
        "AC05374BF726B5F5910964507978A3BDBEB351D0AA0AC0D111A33A37BB8A8DF6F9742B523F32B13A4D20B043"
        "D71F8402714B62B531E0A2865A8A2DA3B7ED275A26E9CFB1A4B4B5C2C64C3BBDB34334EA947B40D070989757"
        "05F4819C3531D7597AB9C670A3516BA371B65B034D1BA6BAB20AA0B60809986574FFA60FB17C32EEF7BAB595"
        "696F89AEEFF2CD7C62B7513844B86402A576947A3918D508808C1B4C39327A684981D4A30BAE91AE28C79A42"
        "A87473C9449F178F9027833E140BD0E55278210517B7BEDDEB79DD5C63DE964F3B7A733BA884A4E46038E57F"
        "04D32C72778C20249910065932B536296809734909515444A04C24A1A0C83C4A854730A76BDC78303C72E877"
        "95311B232A4B6D4BB96EA6276C0C45C0C63A6F93F7C5B49C897F9B13524B949E2904995528FA970D6DD52443"
        "E8B305C010D9E004D791466BFAC6D318BF95799F64C40F56079E72237D77850DC25351DD129A15F8962DB58B"
        "87B7235F180600CCBD3C66096B847097C3A3A625A2D530A83CEABD70B2138C699F6D73AD714A00CF04B24940"
        "2BD7A7124360A52AB74AC9D200B2C49B5E883744351D82F38052B6A5FAB83B30E28409E3A1B097195627A127"
        "7A44763ABB7394BC338AA9BEB26657B6B8BC67A49D3023B64429F5C4B9E66631E7810DA8963CC903B7952C4D"
        "6355024DE784469672011914B76196B742C0D194CFFB96041CBC24C1C595A7696C6938BCA6161762C352632B"
        "1286106DE4D028DB710F8E0745F3E50544BC25F3367C98E21D34B3A191173CCB4C32E16A45E1E48106025026"
        "16541E373EA62379C094C42D020D4665054CE39759A587A0663DF9028D5FC35BC7A258F77C9021896289A06B"
        "8B4B2C6E30C80DAC3E7CCA88FB6B8C2D27417FEA7793631146F32E7C76264F7737B46B6D57B74B3FD5097348"
        "698D64933AF484DE5008DB83C4A69950C351A25150594A747A890A6FBF07B845DB670841CB169CBF9EC3A483"
        "48C149DC421056ADB5B6406C37A7D6055E63D1CBCDE11F86A43B9AAA8E21F138F47A9922ABAF8E24CFDCF1E2"
        "CD2F3E082ACBBF9E4D5D94E0F32533DF4B2F50C32D91AF8517236A301A"
    ),
    # H(ek) as it stands in the test's dk (bytes 3104..3136): checks the ek above.
    h_ek="696AA6E6182A482555291CEDDD566CAAE9C1AD05C5BFDEA8ACCB165C2264DBB6",
    m="AFA0B0FBEC118EB4D52E5FCC8EBA24CF7FC6EF40E8367B55CA5A9A8A10062BA9",
    k="FF367363366DAC6B7DDD749C0536176F909BCA030C0CCA098C4F5B39661B2757",
    c_head="0FDB880BA76952B8D73BD0EC0574B1387F81DC7A1BA9D0F1B4D4F2A1609F8308",
    c_tail="63102BF41C57708EB972B7AC9C0E4C039E0381C7656ABD44C162D71453529D8D",
)


def acvp_self_test():
    kg = ACVP_KEYGEN
    ek, dk = kem_keygen(bytes.fromhex(kg["d"]), bytes.fromhex(kg["z"]))
    assert ek[:32].hex() == kg["ek_head"].lower()
    assert hashlib.sha256(ek).hexdigest() == kg["ek_sha256"]
    assert hashlib.sha256(dk).hexdigest() == kg["dk_sha256"]
    assert kem_decaps(dk, kem_encaps(ek, bytes(32))[0]) == kem_encaps(ek, bytes(32))[1]
    en = ACVP_ENCAPS
    ek = bytes.fromhex(en["ek"])
    assert len(ek) == KEM_EK_LEN
    assert hashlib.sha3_256(ek).hexdigest() == en["h_ek"].lower()
    ct, ss = kem_encaps(ek, bytes.fromhex(en["m"]))
    assert ss.hex() == en["k"].lower()
    assert ct[:32].hex() == en["c_head"].lower() and ct[-32:].hex() == en["c_tail"].lower()


def openssl_cross_check(d, z, ek, ct, ss):
    """A second, independent ML-KEM: OpenSSL's, through `cryptography` (47+), when the
    installed build has it. The seed form is d ‖ z (FIPS 203 §7.1). Prints nothing."""
    try:
        from cryptography.hazmat.primitives.asymmetric import mlkem

        sk = mlkem.MLKEM1024PrivateKey.from_seed_bytes(d + z)
    except Exception:  # noqa: BLE001 - not available in this build: skip
        return False
    assert sk.public_key().public_bytes_raw() == ek
    assert sk.decapsulate(ct) == ss
    return True


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
    """A varint field (wire type 0); proto3 omits 0 unless `optional` and present."""
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


# sotto.wire.v1 (proto/wire.proto, PROTOCOL.md §2, §5)
def enc_header(ratchet_key, pn, n):
    return f_bytes(1, ratchet_key) + f_uint(2, pn) + f_uint(3, n)


def enc_ratchet_message(header, ciphertext):
    return f_bytes(1, header) + f_bytes(2, ciphertext)


def enc_prekey_message(ik, base_key, spk_id, opk_id, message, kem_id, kem_ct):
    return (
        f_bytes(1, ik)
        + f_bytes(2, base_key)
        + f_uint(3, spk_id)
        + f_uint(4, opk_id, always=True)  # proto3 optional: encoded whenever present
        + f_bytes(5, message, always=True)  # message field: encoded whenever present
        + f_uint(6, kem_id, always=True)  # proto3 optional: encoded whenever present
        + f_bytes(7, kem_ct)
    )


def enc_envelope(prekey_message=None, ratchet_message=None):
    return (
        f_uint(1, WIRE_VERSION)
        + f_bytes(2, prekey_message, always=True)
        + f_bytes(3, ratchet_message, always=True)
    )


def enc_bundle(ik, spk_id, spk, spk_sig, opk, kem):
    """opk: (id, key) or None; kem: (id, EncodeKEM(PQPK), signature) or None."""
    otp = None if opk is None else f_uint(1, opk[0]) + f_bytes(2, opk[1])
    kpk = None if kem is None else f_uint(1, kem[0]) + f_bytes(2, kem[1]) + f_bytes(3, kem[2])
    return (
        f_uint(1, WIRE_VERSION)
        + f_bytes(2, ik)
        + f_uint(3, spk_id)
        + f_bytes(4, spk)
        + f_bytes(5, spk_sig)
        + f_bytes(6, otp, always=True)
        + f_bytes(7, kpk, always=True)
    )


# sotto.storage.v1 (proto/storage.proto, PROTOCOL.md §8)
def enc_identity_record(seed):
    return f_uint(1, RECORD_VERSION) + f_bytes(2, seed)


def enc_signed_prekey_record(spk_id, priv, sig):
    return f_uint(1, RECORD_VERSION) + f_uint(2, spk_id) + f_bytes(3, priv) + f_bytes(4, sig)


def enc_one_time_prekey_record(opk_id, priv):
    return f_uint(1, RECORD_VERSION) + f_uint(2, opk_id) + f_bytes(3, priv)


def enc_kem_prekey_record(kem_id, last_resort, dk, sig):
    return (
        f_uint(1, RECORD_VERSION)
        + f_uint(2, kem_id)
        + f_uint(3, 1 if last_resort else 0)  # bool: false omitted
        + f_bytes(4, dk)
        + f_bytes(5, sig)
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
        self.pending = None  # (spk_id, opk_id, kem_id, kem_ct) on the initiator until it hears back


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
        self.kem = {}  # id -> (dk, last_resort)
        self.log = {}

    def draw(self):
        v = self.draws[self.used]
        self.used += 1
        return v

    # -- initiator: PQXDH (PQXDH rev. 3 §3.3, PROTOCOL.md §2, §3) ----------------
    def process_bundle(self, bundle_bytes):
        assert len(bundle_bytes) <= MAX_BUNDLE_LEN
        b = parse(bundle_bytes)
        assert b[1] == [WIRE_VERSION]
        ik_b, spk_id, spk_b, spk_sig = b[2][0], b.get(3, [0])[0], b[4][0], b[5][0]
        assert len(ik_b) == 32
        check_x25519_public(spk_b)
        opk_id = opk_b = None
        if 6 in b:
            o = parse(b[6][0])
            opk_id, opk_b = o.get(1, [0])[0], o[2][0]
            check_x25519_public(opk_b)
        assert 7 in b, "no KEM prekey: classical X3DH, refused by default (§2)"
        k = parse(b[7][0])
        kem_id, kem_encoded, kem_sig = k.get(1, [0])[0], k[2][0], k[3][0]
        # Both signatures before any DH (§2).
        ed25519_verify(ik_b, spk_sig, SIGNED_PREKEY_LABEL + u32be(spk_id) + spk_b)
        ed25519_verify(ik_b, kem_sig, KEM_PREKEY_LABEL + u32be(kem_id) + kem_encoded)
        ek_b = decode_kem(kem_encoded)

        # Draw order (test-harness convention, not protocol): EK_A, then the first
        # ratchet key, then the ML-KEM encapsulation randomness m.
        ek = self.draw()
        dhs = self.draw()
        m = self.draw()
        ek_pub = x25519_pub(ek)
        ct, ss = kem_encaps(ek_b, m)
        dh1 = dh(self.ik_dh_priv, spk_b)
        dh2 = dh(ek, ed_pub_to_x25519(ik_b))
        dh3 = dh(ek, spk_b)
        dh4 = dh(ek, opk_b) if opk_b is not None else None
        ikm = b"\xff" * 32 + dh1 + dh2 + dh3 + (dh4 or b"") + ss
        sk = hkdf(bytes(32), ikm, PQXDH_INFO, 32)
        kem_binding = hashlib.sha256(kem_encoded).digest()
        ad = self.ik + ik_b + kem_binding
        assert len(ad) == 96

        s = Session(ad, ek_pub)
        s.pending = (spk_id, opk_id, kem_id, ct)
        s.ik_remote = ik_b
        # RatchetInitAlice(SK, SPK_B)
        s.dhs = dhs
        ratchet_dh = dh(s.dhs, spk_b)
        s.rk, s.cks = kdf_rk(sk, ratchet_dh)
        s.recv = [[spk_b, None, 0]]  # DHr = SPK_B, no receiving chain key yet
        self.sessions.insert(0, s)
        self.log.update(
            ephemeral_private=ek, ephemeral_public=ek_pub, dh1=dh1, dh2=dh2, dh3=dh3, dh4=dh4,
            kem_m=m, kem_ciphertext=ct, kem_shared_secret=ss, ikm=ikm, sk=sk,
            kem_binding=kem_binding, ad=ad, ratchet_dh=ratchet_dh, root_key=s.rk,
            chain_key=s.cks,
        )
        return s

    # -- sending ------------------------------------------------------------
    def encrypt(self, pt):
        s = self.sessions[0]
        ck = s.cks
        s.cks, mk = kdf_ck(s.cks)
        n = s.ns
        s.ns += 1
        header = enc_header(x25519_pub(s.dhs), s.pn, n)
        assert len(header) <= MAX_RATCHET_HEADER_LEN
        ct = aead_encrypt(mk, pt, s.ad + header)
        rm = enc_ratchet_message(header, ct)
        pm = None
        if s.pending is not None:
            spk_id, opk_id, kem_id, kem_ct = s.pending
            pm = enc_prekey_message(self.ik, s.base_key, spk_id, opk_id, rm, kem_id, kem_ct)
            env = enc_envelope(prekey_message=pm)
        else:
            env = enc_envelope(ratchet_message=rm)
        assert len(env) <= MAX_ENVELOPE_LEN
        key, nonce = message_keys(mk)
        info = dict(header=header, chain_key=ck, mk=mk, aead_key=key, aead_nonce=nonce, n=n,
                    pn=s.pn, ciphertext=ct, ratchet_message=rm, prekey_message=pm,
                    associated_data=s.ad + header, ratchet_public=x25519_pub(s.dhs),
                    root_key=s.rk)
        return env, info

    # -- receiving ----------------------------------------------------------
    def decrypt(self, env_bytes):
        assert len(env_bytes) <= MAX_ENVELOPE_LEN
        e = parse(env_bytes)
        assert e[1] == [WIRE_VERSION]
        if 2 in e:
            pm = parse(e[2][0])
            ik_a, base_key, spk_id = pm[1][0], pm[2][0], pm.get(3, [0])[0]
            opk_id = pm[4][0] if 4 in pm else None
            rm = pm[5][0]
            kem_id = pm[6][0] if 6 in pm else None
            kem_ct = pm[7][0] if 7 in pm else None
            # §5: both or neither, and a 1568-byte ciphertext.
            assert (kem_id is None) == (kem_ct is None), "MalformedMessage"
            assert kem_ct is None or len(kem_ct) == KEM_CT_LEN, "MalformedMessage"
            assert kem_id is not None, "classical X3DH first message: refused by default (§2)"
            assert len(ik_a) == 32
            check_x25519_public(base_key)
            found = [s for s in self.sessions if s.base_key == base_key]
            if found:
                return self._decrypt_in(found[0], rm, new=False)
            # PQXDH as the responder (PQXDH rev. 3 §3.4; roles mirrored).
            assert kem_id in self.kem, "UnknownKemPreKey"
            dk, last_resort = self.kem[kem_id]
            spk_priv = self.spk[spk_id]
            ss = kem_decaps(dk, kem_ct)
            dh1 = dh(spk_priv, ed_pub_to_x25519(ik_a))
            dh2 = dh(self.ik_dh_priv, base_key)
            dh3 = dh(spk_priv, base_key)
            dh4 = dh(self.opk[opk_id], base_key) if opk_id is not None else None
            ikm = b"\xff" * 32 + dh1 + dh2 + dh3 + (dh4 or b"") + ss
            sk = hkdf(bytes(32), ikm, PQXDH_INFO, 32)
            # KEM_BINDING from Bob's own key: the ek inside his stored dk.
            kem_binding = hashlib.sha256(encode_kem(kem_ek_of_dk(dk))).digest()
            ad = ik_a + self.ik + kem_binding
            s = Session(ad, base_key)
            # RatchetInitBob(SK, SPK_B key pair)
            s.dhs = spk_priv
            s.rk = sk
            self.log.update(dh1=dh1, dh2=dh2, dh3=dh3, dh4=dh4, kem_shared_secret=ss, ikm=ikm,
                            sk=sk, kem_binding=kem_binding, ad=ad)
            pt = self._decrypt_in(s, rm, new=True)
            # Deleted once the message authenticated (and committed, §5, §6).
            if opk_id is not None:
                del self.opk[opk_id]
            if last_resort:
                self.log["last_resort_use"] = (kem_id, base_key)
            else:
                del self.kem[kem_id]
            return pt
        rm = e[3][0]
        for s in list(self.sessions):
            try:
                return self._decrypt_in(s, rm, new=False)
            except Exception:  # noqa: BLE001
                continue
        raise ValueError("no session decrypts")

    def _decrypt_in(self, s, rm_bytes, new):
        work = copy.deepcopy(s)  # try, then commit
        rm = parse(rm_bytes)
        header, ct = rm[1][0], rm[2][0]
        h = parse(header)
        rk_pub, pn, n = h[1][0], h.get(2, [0])[0], h.get(3, [0])[0]
        assert len(header) <= MAX_RATCHET_HEADER_LEN and len(ct) >= 16
        check_x25519_public(rk_pub)
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
            self.log.update(receiving_root_key=work.rk, receiving_chain_key=ckr)
            work.recv = [c for c in work.recv if c[1] is not None]
            work.recv.insert(0, [rk_pub, ckr, 0])
            del work.recv[MAX_RECEIVING_CHAINS:]
            work.dhs = self.draw()
            sending_dh = dh(work.dhs, rk_pub)
            work.rk, work.cks = kdf_rk(work.rk, sending_dh)
            self.log.update(sending_dh=sending_dh)
            mk = self._skip_to(work, work.recv[0], n)
        try:
            pt = aead_decrypt(mk, ct, work.ad + header)
        except Exception:
            self.used = draws_before
            raise
        self.log["received_message_key"] = mk
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


# ---------------------------------------------------------------- the cases
CASES = [
    dict(
        n=1,
        name="one-time prekeys",
        opk_id=100,
        kem_id=200,
        last_resort=False,
        first_plaintext=b"Hello Bob! Alice here, over PQXDH with one-time prekeys.",
        reply_plaintext=b"Hi Alice, Bob here: got it.",
    ),
    dict(
        n=2,
        name="last-resort KEM prekey, no one-time prekey",
        opk_id=None,
        kem_id=1,
        last_resort=True,
        first_plaintext=b"Bob, this one used your last-resort KEM prekey.",
        reply_plaintext=b"Received. Fresh ratchet key from me.",
    ),
]
SPK_ID = 1


def run_case(c):
    tag = "pqxdh %d " % c["n"]  # every name below is unique to its case
    alice_seed = fixed(tag + "alice identity seed")
    bob_seed = fixed(tag + "bob identity seed")
    spk_priv = fixed(tag + "bob signed prekey %d" % SPK_ID)
    opk_id = c["opk_id"]
    opk_priv = fixed(tag + "bob one-time prekey %d" % opk_id) if opk_id is not None else None
    kem_id = c["kem_id"]
    kem_d = fixed(tag + "bob kem prekey %d d" % kem_id)
    kem_z = fixed(tag + "bob kem prekey %d z" % kem_id)
    alice_draws = [fixed(tag + "alice draw %d" % i) for i in range(4)]
    bob_draws = [fixed(tag + "bob draw %d" % i) for i in range(1)]

    alice = Party("alice", 1, alice_seed, alice_draws)
    bob = Party("bob", 1, bob_seed, bob_draws)

    # Bob's prekeys and bundle (§1, §2).
    spk_pub = x25519_pub(spk_priv)
    spk_sig = ed25519_sign(bob_seed, SIGNED_PREKEY_LABEL + u32be(SPK_ID) + spk_pub)
    opk_pub = x25519_pub(opk_priv) if opk_priv is not None else None
    kem_ek, kem_dk = kem_keygen(kem_d, kem_z)
    assert kem_ek_of_dk(kem_dk) == kem_ek
    kem_encoded = encode_kem(kem_ek)
    assert len(kem_encoded) == KEM_ENCODED_LEN and decode_kem(kem_encoded) == kem_ek
    kem_sig = ed25519_sign(bob_seed, KEM_PREKEY_LABEL + u32be(kem_id) + kem_encoded)
    bob.spk[SPK_ID] = spk_priv
    if opk_id is not None:
        bob.opk[opk_id] = opk_priv
    bob.kem[kem_id] = (kem_dk, c["last_resort"])
    bundle = enc_bundle(
        bob.ik, SPK_ID, spk_pub, spk_sig,
        (opk_id, opk_pub) if opk_id is not None else None,
        (kem_id, kem_encoded, kem_sig),
    )

    # Alice: PQXDH, RatchetInitAlice, first message.
    alice.process_bundle(bundle)
    assert alice.used == 3
    a = dict(alice.log)
    env1, m1 = alice.encrypt(c["first_plaintext"])
    assert m1["n"] == 0 and m1["pn"] == 0
    assert m1["root_key"] == a["root_key"] and m1["chain_key"] == a["chain_key"]

    # §3: a tampered KEM ciphertext decapsulates (implicit rejection) to an unrelated
    # secret, and the first message then fails to authenticate, drawing nothing.
    bad_ct = bytearray(a["kem_ciphertext"])
    bad_ct[0] ^= 1
    bad_ct = bytes(bad_ct)
    assert kem_decaps(kem_dk, bad_ct) != a["kem_shared_secret"]
    spk_id_, opk_id_, kem_id_, _ = alice.sessions[0].pending
    bad_env = enc_envelope(prekey_message=enc_prekey_message(
        alice.ik, a["ephemeral_public"], spk_id_, opk_id_, m1["ratchet_message"], kem_id_, bad_ct))
    assert len(bad_env) == len(env1)
    probe = copy.deepcopy(bob)
    try:
        probe.decrypt(bad_env)
        raise AssertionError("a tampered KEM ciphertext authenticated")
    except InvalidTag:
        pass
    assert probe.used == 0 and not probe.sessions

    # Bob, independently from his own secrets: decapsulate, PQXDH, decrypt, DH ratchet step.
    assert kem_decaps(kem_dk, a["kem_ciphertext"]) == a["kem_shared_secret"]
    got = bob.decrypt(env1)
    assert got == c["first_plaintext"]
    assert bob.used == 1
    bl = dict(bob.log)
    for k in ("dh1", "dh2", "dh3", "dh4", "kem_shared_secret", "ikm", "sk", "kem_binding", "ad"):
        assert bl[k] == a[k], k
    # Bob's receiving chain is Alice's sending chain.
    assert bl["receiving_root_key"] == a["root_key"]
    assert bl["receiving_chain_key"] == a["chain_key"]
    assert bl["received_message_key"] == m1["mk"]
    if c["last_resort"]:
        assert bl["last_resort_use"] == (kem_id, a["ephemeral_public"]) and kem_id in bob.kem
    else:
        assert kem_id not in bob.kem
    assert opk_id not in bob.opk

    # Bob replies with a ratchet message.
    env2, m2 = bob.encrypt(c["reply_plaintext"])
    assert m2["prekey_message"] is None and m2["n"] == 0 and m2["pn"] == 0
    assert m2["ratchet_public"] == x25519_pub(bob_draws[0])

    # Alice decrypts the reply (her DH ratchet step draws one more key).
    alice.log.clear()
    got = alice.decrypt(env2)
    assert got == c["reply_plaintext"]
    assert alice.used == 4
    assert alice.log["receiving_root_key"] == m2["root_key"]
    assert alice.log["receiving_chain_key"] == m2["chain_key"]
    assert alice.log["received_message_key"] == m2["mk"]
    assert alice.sessions[0].pending is None

    # Envelope structure, decoded again.
    e1 = parse(env1)
    pm = parse(e1[2][0])
    assert pm[1] == [alice.ik] and pm[2] == [a["ephemeral_public"]] and pm[3] == [SPK_ID]
    assert (4 in pm) == (opk_id is not None) and pm[6] == [kem_id]
    assert pm[7] == [a["kem_ciphertext"]] and pm[5] == [m1["ratchet_message"]]
    assert list(pm) == sorted(pm)  # fields in number order

    used_openssl = openssl_cross_check(kem_d, kem_z, kem_ek, a["kem_ciphertext"],
                                       a["kem_shared_secret"])

    bob_out = {
        "account": "bob",
        "device": 1,
        "identity_seed": bob_seed.hex(),
        "identity_key": bob.ik.hex(),
        "identity_key_x25519": ed_pub_to_x25519(bob.ik).hex(),
        "signed_prekey_id": SPK_ID,
        "signed_prekey_private": spk_priv.hex(),
        "signed_prekey_public": spk_pub.hex(),
        "signed_prekey_signature": spk_sig.hex(),
    }
    if opk_id is not None:
        bob_out.update({
            "one_time_prekey_id": opk_id,
            "one_time_prekey_private": opk_priv.hex(),
            "one_time_prekey_public": opk_pub.hex(),
        })
    bob_out.update({
        "kem_prekey_id": kem_id,
        "kem_prekey_last_resort": 1 if c["last_resort"] else 0,
        "kem_prekey_d": kem_d.hex(),
        "kem_prekey_z": kem_z.hex(),
        "kem_prekey_encoded": kem_encoded.hex(),
        "kem_prekey_dk": kem_dk.hex(),
        "kem_prekey_signature": kem_sig.hex(),
        # §8 stored records of Bob's keys, encoded canonically.
        "identity_record": enc_identity_record(bob_seed).hex(),
        "signed_prekey_record": enc_signed_prekey_record(SPK_ID, spk_priv, spk_sig).hex(),
    })
    if opk_id is not None:
        bob_out["one_time_prekey_record"] = enc_one_time_prekey_record(opk_id, opk_priv).hex()
    bob_out["kem_prekey_record"] = enc_kem_prekey_record(
        kem_id, c["last_resort"], kem_dk, kem_sig).hex()

    pq = {
        "ephemeral_public": a["ephemeral_public"].hex(),
        "dh1": a["dh1"].hex(),
        "dh2": a["dh2"].hex(),
        "dh3": a["dh3"].hex(),
    }
    if a["dh4"] is not None:
        pq["dh4"] = a["dh4"].hex()
    pq.update({
        "kem_ciphertext": a["kem_ciphertext"].hex(),
        "kem_shared_secret": a["kem_shared_secret"].hex(),
        "ikm": a["ikm"].hex(),
        "sk": a["sk"].hex(),
        "kem_binding": a["kem_binding"].hex(),
        "ad": a["ad"].hex(),
    })

    out = {
        "name": c["name"],
        "alice": {
            "account": "alice",
            "device": 1,
            "identity_seed": alice_seed.hex(),
            "identity_key": alice.ik.hex(),
            "identity_key_x25519": ed_pub_to_x25519(alice.ik).hex(),
        },
        "bob": bob_out,
        "bundle": bundle.hex(),
        "draws": {
            "alice": [d.hex() for d in alice_draws[:3]],
            "bob": [d.hex() for d in bob_draws],
            "alice_on_reply": [alice_draws[3].hex()],
        },
        "pqxdh": pq,
        "first_message": {
            "plaintext": c["first_plaintext"].hex(),
            "plaintext_ascii": c["first_plaintext"].decode("ascii"),
            "ratchet_public": m1["ratchet_public"].hex(),
            "ratchet_dh": a["ratchet_dh"].hex(),
            "root_key": a["root_key"].hex(),
            "chain_key": a["chain_key"].hex(),
            "message_key": m1["mk"].hex(),
            "aead_key": m1["aead_key"].hex(),
            "aead_nonce": m1["aead_nonce"].hex(),
            "header": m1["header"].hex(),
            "associated_data": m1["associated_data"].hex(),
            "ciphertext": m1["ciphertext"].hex(),
            "prekey_message": m1["prekey_message"].hex(),
            "envelope": env1.hex(),
        },
        "reply": {
            "plaintext": c["reply_plaintext"].hex(),
            "plaintext_ascii": c["reply_plaintext"].decode("ascii"),
            "ratchet_public": m2["ratchet_public"].hex(),
            "sending_dh": bl["sending_dh"].hex(),
            "root_key": m2["root_key"].hex(),
            "chain_key": m2["chain_key"].hex(),
            "message_key": m2["mk"].hex(),
            "aead_key": m2["aead_key"].hex(),
            "aead_nonce": m2["aead_nonce"].hex(),
            "header": m2["header"].hex(),
            "associated_data": m2["associated_data"].hex(),
            "ciphertext": m2["ciphertext"].hex(),
            "envelope": env2.hex(),
        },
    }
    secrets = [alice_seed, bob_seed, spk_priv, kem_d, kem_z] + alice_draws + bob_draws
    if opk_priv is not None:
        secrets.append(opk_priv)
    return out, secrets, used_openssl


def check_documented_lengths():
    """§2 and §4 state the longest canonical bundle (1831 bytes) and first message
    (MAX_PLAINTEXT_LEN + 1735 bytes); build both and compare."""
    u32max = 2**32 - 1
    bundle = enc_bundle(bytes(32), u32max, bytes(32), bytes(64), (u32max, bytes(32)),
                        (u32max, bytes(KEM_ENCODED_LEN), bytes(64)))
    assert len(bundle) == 1831
    header = enc_header(bytes(32), u32max, u32max - 1)
    assert len(header) == MAX_RATCHET_HEADER_LEN
    rm = enc_ratchet_message(header, bytes(MAX_PLAINTEXT_LEN + 16))
    pm = enc_prekey_message(bytes(32), bytes(32), u32max, u32max, rm, u32max, bytes(KEM_CT_LEN))
    assert len(enc_envelope(prekey_message=pm)) == MAX_PLAINTEXT_LEN + 1735


def main():
    acvp_self_test()
    check_documented_lengths()
    cases, all_secrets, openssl = [], [], []
    for c in CASES:
        out, secrets, used_openssl = run_case(c)
        cases.append(out)
        all_secrets += secrets
        openssl.append(used_openssl)
    assert len(set(all_secrets)) == len(all_secrets), "a secret repeats across cases"
    if not all(openssl):
        print("note: OpenSSL ML-KEM not available; cross-check skipped", file=sys.stderr)
    out = {
        "description": (
            "Sotto protocol v1 PQXDH known-answer vectors (X25519, SHA-256, ML-KEM-1024): "
            "bundle, key agreement, first message and reply; see README.md"
        ),
        "protocol_version": 1,
        "cases": cases,
    }
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
