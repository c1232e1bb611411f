//! Sealing records at rest (docs/PROTOCOL.md §11.3–11.4).
//!
//! Every stored value is `nonce (12) ‖ ChaCha20-Poly1305(seal key, nonce,
//! record, AAD)`, with a random nonce per write and
//! `AAD = LP(STORE_LABEL) ‖ LP(kind) ‖ LP(row key)`, where `LP(x)` is `x`'s
//! length as a big-endian `u32` followed by `x`. A value copied to another
//! row, another table or another database fails to open.
//!
//! The two keys come from the app's [`StorageKey`] and the database's random
//! 16-byte id: `HKDF-SHA256(salt = database id, IKM = storage key, info)`,
//! with `info` = [`SEAL_KEY_INFO`] or [`INDEX_KEY_INFO`].

use core::fmt;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use hmac::Hmac;
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{SqliteStoreError, StorageKey};
use crate::kdf::{hkdf_sha256, hmac_sha256, mac_bytes};
use crate::protocol::MAX_RECORD_LEN;
use crate::session::Address;

/// The format label that starts every record's associated data.
pub(super) const STORE_LABEL: &[u8] = b"Sotto store v1";

/// HKDF `info` of the key records are sealed under.
pub(super) const SEAL_KEY_INFO: &[u8] = b"Sotto store v1 seal key";

/// HKDF `info` of the key that blinds addresses into row ids.
pub(super) const INDEX_KEY_INFO: &[u8] = b"Sotto store v1 index key";

/// The length of a database id, the salt of both derived keys.
pub(super) const DATABASE_ID_LEN: usize = 16;

/// The length of the random nonce that starts every sealed value.
pub(super) const NONCE_LEN: usize = 12;

/// The length of the Poly1305 tag that ends every sealed value.
pub(super) const TAG_LEN: usize = 16;

/// The kind of a sealed record; its label is bound into the associated
/// data, so that a record of one kind cannot be loaded as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordKind {
    /// The value that proves the storage key at open: an empty plaintext.
    KeyCheck,
    /// This device's identity key pair (`IdentityKeyPairRecord`).
    LocalIdentity,
    /// A peer's identity key and trust (`PeerIdentityRecord`).
    PeerIdentity,
    /// A signed prekey with its secret (`SignedPreKeyRecord`).
    SignedPreKey,
    /// A one-time prekey with its secret (`OneTimePreKeyRecord`).
    OneTimePreKey,
    /// The session record of one address (`SessionRecord`).
    Session,
}

impl RecordKind {
    /// The label bound into the associated data (ASCII).
    pub fn label(self) -> &'static [u8] {
        match self {
            Self::KeyCheck => b"key-check",
            Self::LocalIdentity => b"local-identity",
            Self::PeerIdentity => b"peer-identity",
            Self::SignedPreKey => b"signed-prekey",
            Self::OneTimePreKey => b"one-time-prekey",
            Self::Session => b"session",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.label()))
    }
}

/// Appends `LP(bytes)`: the length as a big-endian `u32`, then the bytes.
fn put_length_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every field is a label, an id or an address: under 300 bytes.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The row key of an address: `LP(account id as UTF-8) ‖ device id (u32,
/// big-endian)`.
pub(super) fn address_row_key(address: &Address) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + address.account().len());
    put_length_prefixed(&mut out, address.account().as_bytes());
    out.extend_from_slice(&u32::from(address.device()).to_be_bytes());
    out
}

/// The row key of a prekey: its id as a big-endian `u32`.
pub(super) fn id_row_key(id: u32) -> [u8; 4] {
    id.to_be_bytes()
}

/// The associated data of a record of `kind` at `row_key`.
fn associated_data(kind: RecordKind, row_key: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(12 + STORE_LABEL.len() + 16 + row_key.len());
    put_length_prefixed(&mut aad, STORE_LABEL);
    put_length_prefixed(&mut aad, kind.label());
    put_length_prefixed(&mut aad, row_key);
    aad
}

/// The keys of one open database: the AEAD key and the address-blinding
/// HMAC key. Both are wiped when dropped.
pub(super) struct Sealer {
    cipher: ChaCha20Poly1305,
    index: Hmac<Sha256>,
}

impl Sealer {
    /// Derives the keys of the database with `database_id` from `key`.
    pub(super) fn new(key: &StorageKey, database_id: &[u8; DATABASE_ID_LEN]) -> Self {
        let seal_key = hkdf_sha256::<32>(database_id, key.as_bytes(), SEAL_KEY_INFO);
        let index_key = hkdf_sha256::<32>(database_id, key.as_bytes(), INDEX_KEY_INFO);
        let seal_key: &[u8; 32] = &seal_key;
        Self { cipher: ChaCha20Poly1305::new(seal_key.into()), index: hmac_sha256(&index_key) }
    }

    /// The row id of `address`: `HMAC-SHA256(index key, address row key)`,
    /// so that the file does not name the people this device talks to.
    pub(super) fn address_id(&self, address: &Address) -> [u8; 32] {
        *mac_bytes(&self.index, &address_row_key(address))
    }

    /// Seals `record` as a value of `kind` at `row_key`.
    ///
    /// # Errors
    /// [`SqliteStoreError::RecordTooLarge`] for a record over
    /// [`MAX_RECORD_LEN`].
    pub(super) fn seal<R: CryptoRng + ?Sized>(
        &self,
        kind: RecordKind,
        row_key: &[u8],
        record: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, SqliteStoreError> {
        let too_large =
            || SqliteStoreError::RecordTooLarge { kind, max: MAX_RECORD_LEN, found: record.len() };
        if record.len() > MAX_RECORD_LEN {
            return Err(too_large());
        }
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let aad = associated_data(kind, row_key);
        // ChaCha20-Poly1305 refuses only messages over 256 GiB.
        let ciphertext = self
            .cipher
            .encrypt(&nonce.into(), Payload { msg: record, aad: &aad })
            .map_err(|_| too_large())?;
        let mut value = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        value.extend_from_slice(&nonce);
        value.extend_from_slice(&ciphertext);
        Ok(value)
    }

    /// Opens a value of `kind` read from `row_key`.
    ///
    /// # Errors
    /// [`SqliteStoreError::CorruptRecord`] if the value is too short, too
    /// long, or fails authentication (altered, moved from another row, or
    /// sealed under another key).
    pub(super) fn open(
        &self,
        kind: RecordKind,
        row_key: &[u8],
        value: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SqliteStoreError> {
        let corrupt = || SqliteStoreError::CorruptRecord { kind };
        if value.len() > NONCE_LEN + MAX_RECORD_LEN + TAG_LEN {
            return Err(corrupt());
        }
        let (nonce, ciphertext) = value.split_first_chunk::<NONCE_LEN>().ok_or_else(corrupt)?;
        if ciphertext.len() < TAG_LEN {
            return Err(corrupt());
        }
        let aad = associated_data(kind, row_key);
        self.cipher
            .decrypt(&(*nonce).into(), Payload { msg: ciphertext, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| corrupt())
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(key: u8, database: u8) -> Sealer {
        Sealer::new(&StorageKey::from_bytes(&[key; 32]), &[database; DATABASE_ID_LEN])
    }

    #[test]
    fn associated_data_layout() {
        let aad = associated_data(RecordKind::Session, &[0xAA, 0xBB]);
        let mut expected = Vec::new();
        expected.extend_from_slice(&[0, 0, 0, 14]);
        expected.extend_from_slice(b"Sotto store v1");
        expected.extend_from_slice(&[0, 0, 0, 7]);
        expected.extend_from_slice(b"session");
        expected.extend_from_slice(&[0, 0, 0, 2, 0xAA, 0xBB]);
        assert_eq!(aad, expected);
    }

    #[test]
    fn address_row_key_layout() {
        let address = Address::new("bob", 0x0102_0304).unwrap();
        assert_eq!(address_row_key(&address), [0, 0, 0, 3, b'b', b'o', b'b', 1, 2, 3, 4]);
    }

    #[test]
    fn seal_then_open() {
        let mut rng = crate::rng::test_rng(2);
        let sealer = sealer(1, 2);
        let value = sealer.seal(RecordKind::Session, b"row", b"secret", &mut rng).unwrap();
        assert_eq!(value.len(), NONCE_LEN + 6 + TAG_LEN);
        let opened = sealer.open(RecordKind::Session, b"row", &value).unwrap();
        assert_eq!(opened.as_slice(), b"secret");
        // A fresh nonce per write.
        let again = sealer.seal(RecordKind::Session, b"row", b"secret", &mut rng).unwrap();
        assert_ne!(value, again);
    }

    #[test]
    fn a_value_opens_only_where_it_was_sealed() {
        let mut rng = crate::rng::test_rng(3);
        let sealer = sealer(1, 2);
        let value = sealer.seal(RecordKind::Session, b"row", b"secret", &mut rng).unwrap();
        let refused = |result: Result<Zeroizing<Vec<u8>>, SqliteStoreError>| {
            assert!(matches!(result, Err(SqliteStoreError::CorruptRecord { .. })));
        };
        refused(sealer.open(RecordKind::Session, b"other row", &value));
        refused(sealer.open(RecordKind::PeerIdentity, b"row", &value));
        refused(self::sealer(9, 2).open(RecordKind::Session, b"row", &value));
        refused(self::sealer(1, 9).open(RecordKind::Session, b"row", &value));
        for index in 0..value.len() {
            let mut flipped = value.clone();
            flipped[index] ^= 0x01;
            refused(sealer.open(RecordKind::Session, b"row", &flipped));
        }
        for len in 0..value.len() {
            refused(sealer.open(RecordKind::Session, b"row", &value[..len]));
        }
    }

    /// Draws a fixed nonce.
    struct FixedNonce([u8; NONCE_LEN]);

    impl rand_core::TryRng for FixedNonce {
        type Error = core::convert::Infallible;

        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            unreachable!("sealing draws bytes")
        }

        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            unreachable!("sealing draws bytes")
        }

        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            dst.copy_from_slice(&self.0);
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for FixedNonce {}

    const KINDS: [RecordKind; 6] = [
        RecordKind::KeyCheck,
        RecordKind::LocalIdentity,
        RecordKind::PeerIdentity,
        RecordKind::SignedPreKey,
        RecordKind::OneTimePreKey,
        RecordKind::Session,
    ];

    /// The known answers of docs/PROTOCOL.md §11.11, written in Python from the
    /// document alone.
    #[test]
    fn known_answers() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/storage_vectors.json"))
                .unwrap();
        let bytes = |value: &serde_json::Value| hex::decode(value.as_str().unwrap()).unwrap();
        let storage_key = StorageKey::try_from(bytes(&vectors["storage_key"]).as_slice()).unwrap();
        let database_id: [u8; DATABASE_ID_LEN] = bytes(&vectors["database_id"]).try_into().unwrap();
        assert_eq!(
            hkdf_sha256::<32>(&database_id, storage_key.as_bytes(), SEAL_KEY_INFO).to_vec(),
            bytes(&vectors["seal_key"])
        );
        assert_eq!(
            hkdf_sha256::<32>(&database_id, storage_key.as_bytes(), INDEX_KEY_INFO).to_vec(),
            bytes(&vectors["index_key"])
        );
        let sealer = Sealer::new(&storage_key, &database_id);

        for vector in vectors["addresses"].as_array().unwrap() {
            let device = u32::try_from(vector["device"].as_u64().unwrap()).unwrap();
            let address = Address::new(vector["account"].as_str().unwrap(), device).unwrap();
            assert_eq!(address_row_key(&address), bytes(&vector["address_key"]));
            assert_eq!(sealer.address_id(&address).to_vec(), bytes(&vector["address_id"]));
        }

        let records = vectors["records"].as_array().unwrap();
        assert_eq!(records.len(), KINDS.len());
        for vector in records {
            let label = vector["kind"].as_str().unwrap().as_bytes();
            let kind = *KINDS.iter().find(|kind| kind.label() == label).unwrap();
            let row_key = bytes(&vector["row_key"]);
            let record = bytes(&vector["record"]);
            let value = bytes(&vector["value"]);
            assert_eq!(associated_data(kind, &row_key), bytes(&vector["aad"]));
            let nonce = bytes(&vector["nonce"]).try_into().unwrap();
            let sealed = sealer.seal(kind, &row_key, &record, &mut FixedNonce(nonce)).unwrap();
            assert_eq!(sealed, value, "{kind}");
            assert_eq!(*sealer.open(kind, &row_key, &value).unwrap(), record, "{kind}");
        }
    }

    #[test]
    fn address_ids_are_keyed() {
        let alice = Address::new("alice", 1).unwrap();
        let alice2 = Address::new("alice", 2).unwrap();
        assert_eq!(sealer(1, 2).address_id(&alice), sealer(1, 2).address_id(&alice));
        assert_ne!(sealer(1, 2).address_id(&alice), sealer(1, 2).address_id(&alice2));
        assert_ne!(sealer(1, 2).address_id(&alice), sealer(3, 2).address_id(&alice));
        assert_ne!(sealer(1, 2).address_id(&alice), sealer(1, 3).address_id(&alice));
    }
}
