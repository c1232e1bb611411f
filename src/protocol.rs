//! Every constant of the protocol: labels, versions and limits.
//!
//! docs/PROTOCOL.md states each of them with its meaning; the tests and an
//! independent implementation use these values, so changing one changes the
//! protocol.

/// The version carried by every [`Envelope`](crate::session) and prekey bundle.
pub const WIRE_VERSION: u32 = 1;

/// The version carried by every stored record.
pub const RECORD_VERSION: u32 = 1;

/// Domain separation for the signed prekey signature: the identity key signs
/// `SIGNED_PREKEY_LABEL ‖ id (u32, big-endian) ‖ public key (32 bytes)`.
pub const SIGNED_PREKEY_LABEL: &[u8] = b"Sotto signed prekey v1";

/// HKDF `info` of X3DH: `SK = HKDF-SHA256(salt = 0³², IKM = 0xFF³² ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], info)`.
pub const X3DH_INFO: &[u8] = b"Sotto X3DH v1";

/// HKDF `info` of PQXDH (revision 3, §2.2: `info_curve_hash_pqkem`, with
/// `info` = "Sotto PQXDH v1", at least 8 bytes as §2.1 asks):
/// `SK = HKDF-SHA256(salt = 0³², IKM = 0xFF³² ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS, info)`.
pub const PQXDH_INFO: &[u8] = b"Sotto PQXDH v1_CURVE25519_SHA-256_ML-KEM-1024";

/// Domain separation for the KEM prekey signature: the identity key signs
/// `KEM_PREKEY_LABEL ‖ id (u32, big-endian) ‖ EncodeKEM(key)`.
pub const KEM_PREKEY_LABEL: &[u8] = b"Sotto KEM prekey v1";

/// The first byte of `EncodeKEM`: the key is ML-KEM-1024 (FIPS 203).
pub const KEM_ML_KEM_1024: u8 = 0x01;

/// HKDF `info` prefix of a 1:1 call's two SFrame base keys:
/// `HKDF-SHA256(salt = 0³², IKM = DH(E_caller, E_callee), info = CALL_KEYS_LABEL ‖
/// len(call id) (u8) ‖ call id ‖ IK_caller ‖ IK_callee ‖ E_caller ‖ E_callee)`,
/// 64 bytes: the caller's base key, then the callee's.
pub const CALL_KEYS_LABEL: &[u8] = b"Sotto 1:1 call keys v2";

/// The KID of the caller's frames in a 1:1 call.
pub const ONE_TO_ONE_KID_CALLER: u64 = 0;

/// The KID of the callee's frames in a 1:1 call.
pub const ONE_TO_ONE_KID_CALLEE: u64 = 1;

/// The longest call id, in bytes.
pub const MAX_CALL_ID_LEN: usize = 255;

/// The largest 1:1 call offer or answer a receiver parses, in bytes (a valid
/// one is at most 400).
pub const MAX_CALL_SIGNAL_LEN: usize = 512;

/// How many accepted call offers a [`SessionManager`](crate::session::SessionManager)
/// remembers, to refuse a replayed one.
pub const MAX_ACCEPTED_CALL_OFFERS: usize = 256;

/// How many times a [`SessionManager`](crate::session::SessionManager)
/// writing a session (an encryption, a new session, a trust decision) loads
/// it again and retries after another writer (another process on the same
/// store) changed it first.
pub const MAX_COMMIT_ATTEMPTS: u32 = 32;

/// HKDF `info` of the Double Ratchet's `KDF_RK`:
/// `RK' ‖ CK = HKDF-SHA256(salt = RK, IKM = DH output, info)`, 64 bytes.
pub const ROOT_KDF_INFO: &[u8] = b"Sotto ratchet root v1";

/// HMAC-SHA256 input that turns a chain key into a message key: `MK = HMAC(CK, 0x01)`.
pub const MESSAGE_KEY_SEED: u8 = 0x01;

/// HMAC-SHA256 input that turns a chain key into the next: `CK' = HMAC(CK, 0x02)`.
pub const CHAIN_KEY_SEED: u8 = 0x02;

/// HKDF `info` that expands a message key into the AEAD key and nonce:
/// `key (32) ‖ nonce (12) = HKDF-SHA256(salt = 0³², IKM = MK, info)`.
pub const MESSAGE_KEYS_INFO: &[u8] = b"Sotto message keys v1";

/// The most message keys one received message may make the receiver derive
/// and store in one chain (the specification's `MAX_SKIP`).
pub const MAX_SKIP: u32 = 1000;

/// How many chain steps a new ratchet key counts as in a received message's
/// work budget: what the DH ratchet step costs before the tag is checked,
/// its receiving half (one X25519; our new key and the sending chain are
/// computed only once the message authenticated). About what it costs:
/// `benches/session.rs` measures one X25519 at about 250 chain steps.
pub const DH_RATCHET_WORK: u32 = 250;

/// The most work one received message may cost before its tag is checked,
/// in chain steps (one HMAC each), across every session it is tried in: one
/// new ratchet key and `MAX_SKIP + 1` chain steps, what the costliest honest
/// message needs. A forged message therefore costs no more than that.
pub const MAX_DECRYPT_WORK: u32 = DH_RATCHET_WORK + MAX_SKIP + 1;

/// The most skipped message keys one session keeps; past it the oldest are
/// dropped (and their messages can no longer be decrypted).
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// The most receiving chains one session keeps, newest first; older chains
/// are forgotten with the rest of their state (their skipped keys stay).
pub const MAX_RECEIVING_CHAINS: usize = 5;

/// The most ratchet keys of forgotten receiving chains one session
/// remembers, so that a replayed message from such a chain is refused as a
/// duplicate; a replay from a chain forgotten longer ago fails
/// authentication instead.
pub const MAX_RETIRED_RATCHET_KEYS: usize = 64;

/// The most earlier sessions a session record keeps beside the current one.
pub const MAX_PREVIOUS_SESSIONS: usize = 4;

/// The most base keys of dropped sessions the peer started that a session
/// record remembers, so that a replay of such a session's first message is
/// refused as a duplicate.
pub const MAX_RETIRED_BASE_KEYS: usize = 64;

/// The largest plaintext Sotto encrypts in one message, in bytes.
pub const MAX_PLAINTEXT_LEN: usize = 128 * 1024;

/// The largest envelope Sotto parses, in bytes: the largest plaintext plus
/// room for the tag, the header and a first message's fields with its KEM
/// ciphertext (the longest canonical envelope is `MAX_PLAINTEXT_LEN + 1735`).
pub const MAX_ENVELOPE_LEN: usize = MAX_PLAINTEXT_LEN + 2048;

/// The length of the Poly1305 tag that ends every ciphertext: the shortest
/// ciphertext a receiver accepts.
pub const MIN_CIPHERTEXT_LEN: usize = 16;

/// The longest ciphertext a receiver accepts: the largest plaintext and its
/// tag. A receiver enforces the sender's limit.
pub const MAX_CIPHERTEXT_LEN: usize = MAX_PLAINTEXT_LEN + MIN_CIPHERTEXT_LEN;

/// The longest encoded ratchet header a receiver parses, in bytes: a
/// 32-byte ratchet key and two 32-bit counters, each with its tag and length
/// or varint (`2 + 32 + 2 × (1 + 5)`).
pub const MAX_RATCHET_HEADER_LEN: usize = 46;

/// The longest encoded prekey bundle a receiver parses, in bytes (the
/// longest canonical bundle, with a one-time prekey and a KEM prekey, is
/// 1831 bytes).
pub const MAX_BUNDLE_LEN: usize = 2048;

/// The largest stored session record Sotto parses, in bytes.
pub const MAX_RECORD_LEN: usize = 2 * 1024 * 1024;

/// The longest account id, in bytes of UTF-8.
pub const MAX_ACCOUNT_ID_LEN: usize = 256;

/// Domain separation of a safety-number fingerprint (see [`crate::verify`]).
pub const FINGERPRINT_LABEL: &[u8] = b"Sotto safety number v1";

/// How many times the fingerprint hash is iterated.
pub const FINGERPRINT_ITERATIONS: u32 = 5200;

/// The version byte that starts a scannable safety-number payload.
pub const SCANNABLE_VERSION: u8 = 1;
