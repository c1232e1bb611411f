#!/usr/bin/env python3
"""Known-answer vectors for the RFC 9605 section 5.1 sender-key ratchet.

Independent of the Rust code: only the Python standard library (hmac, hashlib).

    base_key[i+1] = HKDF-Expand(HKDF-Extract("", base_key[i]), "SFrame 1.0 Ratchet", CipherSuite.Nh)
    KID[i]        = (generation << R) | i

and, for each step, the RFC 9605 section 4.4.2 sframe_key / sframe_salt of KID[i].

Run from this folder:  python3 gen_ratchet.py > ratchet.json
"""

import hashlib
import hmac
import json

# id: (name, hash, Nk, Nn)
SUITES = {
    0x0001: ("AES_128_CTR_HMAC_SHA256_80", hashlib.sha256, 48, 12),
    0x0004: ("AES_128_GCM_SHA256_128", hashlib.sha256, 16, 12),
    0x0005: ("AES_256_GCM_SHA512_128", hashlib.sha512, 32, 12),
    0x0006: ("AES_256_CTR_HMAC_SHA512_80", hashlib.sha512, 96, 12),
    0xF001: ("CHACHA20_POLY1305_SHA256_128", hashlib.sha256, 32, 12),
}

RATCHET_LABEL = b"SFrame 1.0 Ratchet"


def hkdf_extract(hash_fn, salt, ikm):
    return hmac.new(salt, ikm, hash_fn).digest()


def hkdf_expand(hash_fn, prk, info, length):
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hash_fn).digest()
        out += block
        i += 1
    return out[:length]


def main():
    cases = []
    for suite, (name, hash_fn, nk, nn) in SUITES.items():
        nh = hash_fn().digest_size
        for generation, bits, base_hex in [
            (0, 8, "000102030405060708090a0b0c0d0e0f"),
            (0x1234, 4, "101112131415161718191a1b1c1d1e1f"),
        ]:
            base = bytes.fromhex(base_hex)
            steps = []
            for step in range(4):
                kid = (generation << bits) | step
                secret = hkdf_extract(hash_fn, b"", base)
                kid_suite = kid.to_bytes(8, "big") + suite.to_bytes(2, "big")
                steps.append({
                    "step": step,
                    "kid": kid,
                    "base_key": base.hex(),
                    "sframe_key": hkdf_expand(hash_fn, secret, b"SFrame 1.0 Secret key " + kid_suite, nk).hex(),
                    "sframe_salt": hkdf_expand(hash_fn, secret, b"SFrame 1.0 Secret salt " + kid_suite, nn).hex(),
                })
                base = hkdf_expand(hash_fn, hkdf_extract(hash_fn, b"", base), RATCHET_LABEL, nh)
            cases.append({
                "cipher_suite": suite,
                "suite_name": name,
                "nh": nh,
                "generation": generation,
                "ratchet_bits": bits,
                "steps": steps,
            })
    print(json.dumps({
        "source": "tests/vectors/sframe/gen_ratchet.py (Python stdlib hmac/hashlib)",
        "ratchet_label": RATCHET_LABEL.hex(),
        "ratchet": cases,
    }, indent=2))


if __name__ == "__main__":
    main()
