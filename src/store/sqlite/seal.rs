//! Sealing records at rest (docs/PROTOCOL.md §11.3–11.5).
//!
//! Every stored value is `nonce (12) ‖ ChaCha20-Poly1305(seal key, nonce,
//! record, AAD)`, with a random nonce per write and
//! `AAD = LP(STORE_LABEL) ‖ LP(kind) ‖ LP(row key) ‖ version (u64 BE)`, where
//! `LP(x)` is `x`'s length as a big-endian `u32` followed by `x`, and the
//! version is the row's (a session's generation, a peer identity's write
//! count, 0 for rows written once). A value copied to another row, table or
//! database, or given another version, fails to open. The key check alone
//! keeps the layout of schema version 1 (`LP(STORE_LABEL_V1) ‖ LP(kind) ‖
//! LP(row key)`), so that every version can check a key before it migrates.
//!
//! The keys come from the app's [`StorageKey`] and the database's random
//! 16-byte id: `HKDF-SHA256(salt = database id, IKM = storage key, info)`,
//! with `info` = [`SEAL_KEY_INFO`], [`INDEX_KEY_INFO`] or
//! [`DIGEST_KEY_INFO`]. The index key is derived once, when the store is
//! made (or migrated), and then kept sealed in the store, so that a
//! [`rekey`](super::SqliteStore::rekey) leaves every row id as it was.

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
pub(super) const STORE_LABEL: &[u8] = b"Sotto store v2";

/// The label of schema version 1's associated data, which the key check
/// keeps (and which migrations read).
pub(super) const STORE_LABEL_V1: &[u8] = b"Sotto store v1";

/// HKDF `info` of the key records are sealed under.
pub(super) const SEAL_KEY_INFO: &[u8] = b"Sotto store v1 seal key";

/// HKDF `info` of the key that blinds addresses into row ids.
pub(super) const INDEX_KEY_INFO: &[u8] = b"Sotto store v1 index key";

/// HKDF `info` of the key of the store's digest of its rows.
pub(super) const DIGEST_KEY_INFO: &[u8] = b"Sotto store v2 digest key";

/// The label that starts every row's digest term.
pub(super) const ROW_TERM_LABEL: &[u8] = b"Sotto store v2 row";

/// The label that starts the keyed hash of a KEM prekey use's row id.
pub(super) const KEM_PREKEY_USE_LABEL: &[u8] = b"Sotto KEM prekey use";

/// The length of a KEM prekey use's row id: the prekey id (4 bytes), then
/// the keyed hash of the use (32).
pub(super) const KEM_PREKEY_USE_KEY_LEN: usize = 4 + 32;

/// The length of the store's digest and of each row's term.
pub(super) const DIGEST_LEN: usize = 32;

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
    /// A KEM prekey with its secret (`KemPreKeyRecord`).
    KemPreKey,
    /// A recorded use of a last-resort KEM prekey: an empty record, whose
    /// row id names the prekey and (blinded) the base key that used it.
    KemPreKeyUse,
    /// The key that blinds addresses into row ids (32 bytes).
    IndexKey,
    /// The store's write counter, seal count and digest of its rows
    /// (`StoreStateRecord`).
    StoreState,
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
            Self::KemPreKey => b"kem-prekey",
            Self::KemPreKeyUse => b"kem-prekey-use",
            Self::IndexKey => b"index-key",
            Self::StoreState => b"store-state",
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

/// The associated data of a record of `kind` at `row_key`, `version`.
fn associated_data(kind: RecordKind, row_key: &[u8], version: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(12 + STORE_LABEL.len() + 16 + row_key.len() + 8);
    put_length_prefixed(&mut aad, STORE_LABEL);
    put_length_prefixed(&mut aad, kind.label());
    put_length_prefixed(&mut aad, row_key);
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

/// The associated data of schema version 1 (the key check's).
fn associated_data_v1(kind: RecordKind, row_key: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(12 + STORE_LABEL_V1.len() + 16 + row_key.len());
    put_length_prefixed(&mut aad, STORE_LABEL_V1);
    put_length_prefixed(&mut aad, kind.label());
    put_length_prefixed(&mut aad, row_key);
    aad
}

/// The 32-byte secret that blinds addresses into row ids. Wiped when
/// dropped, never printed.
pub(super) struct IndexKey(Zeroizing<[u8; 32]>);

impl IndexKey {
    /// The index key schema version 1 derived, and later versions keep.
    pub(super) fn derive(key: &StorageKey, database_id: &[u8; DATABASE_ID_LEN]) -> Self {
        Self(hkdf_sha256::<32>(database_id, key.as_bytes(), INDEX_KEY_INFO))
    }

    /// The key from its stored record.
    pub(super) fn from_record(record: &[u8]) -> Result<Self, SqliteStoreError> {
        let bytes: [u8; 32] = record
            .try_into()
            .map_err(|_| SqliteStoreError::CorruptRecord { kind: RecordKind::IndexKey })?;
        Ok(Self(Zeroizing::new(bytes)))
    }

    /// The key as its stored record.
    pub(super) fn as_record(&self) -> &[u8] {
        self.0.as_ref()
    }
}

/// The keys of one open database: the AEAD key, the address-blinding HMAC
/// key and the digest HMAC key. All are wiped when dropped.
pub(super) struct Sealer {
    cipher: ChaCha20Poly1305,
    index: Hmac<Sha256>,
    digest: Hmac<Sha256>,
}

impl Sealer {
    /// Derives the keys of the database with `database_id` from `key`, with
    /// the database's `index_key`.
    pub(super) fn new(
        key: &StorageKey,
        database_id: &[u8; DATABASE_ID_LEN],
        index_key: &IndexKey,
    ) -> Self {
        let seal_key = hkdf_sha256::<32>(database_id, key.as_bytes(), SEAL_KEY_INFO);
        let digest_key = hkdf_sha256::<32>(database_id, key.as_bytes(), DIGEST_KEY_INFO);
        let seal_key: &[u8; 32] = &seal_key;
        Self {
            cipher: ChaCha20Poly1305::new(seal_key.into()),
            index: hmac_sha256(&index_key.0),
            digest: hmac_sha256(&digest_key),
        }
    }

    /// The row id of `address`: `HMAC-SHA256(index key, address row key)`,
    /// so that the file does not name the people this device talks to.
    pub(super) fn address_id(&self, address: &Address) -> [u8; 32] {
        *mac_bytes(&self.index, &address_row_key(address))
    }

    /// The row id of a recorded use of KEM prekey `id` by `base_key`:
    /// `u32be(id) ‖ HMAC-SHA256(index key, KEM_PREKEY_USE_LABEL ‖ u32be(id)
    /// ‖ base key)`, so that the file does not hold the base keys, and the
    /// uses of one prekey are the rows that start with its id.
    pub(super) fn kem_prekey_use_key(
        &self,
        id: u32,
        base_key: &[u8; 32],
    ) -> [u8; KEM_PREKEY_USE_KEY_LEN] {
        let mut input = Vec::with_capacity(KEM_PREKEY_USE_LABEL.len() + 4 + base_key.len());
        input.extend_from_slice(KEM_PREKEY_USE_LABEL);
        input.extend_from_slice(&id.to_be_bytes());
        input.extend_from_slice(base_key);
        let mut key = [0u8; KEM_PREKEY_USE_KEY_LEN];
        let (prefix, hash) = key.split_at_mut(4);
        prefix.copy_from_slice(&id.to_be_bytes());
        hash.copy_from_slice(mac_bytes(&self.index, &input).as_ref());
        key
    }

    /// The digest term of a row: `HMAC-SHA256(digest key, ROW_TERM_LABEL ‖
    /// LP(kind) ‖ LP(row id) ‖ version (u64 BE) ‖ nonce)`.
    pub(super) fn term(
        &self,
        kind: RecordKind,
        row_id: &[u8],
        version: u64,
        nonce: &[u8],
    ) -> [u8; DIGEST_LEN] {
        let mut input = Vec::with_capacity(ROW_TERM_LABEL.len() + 32 + row_id.len() + NONCE_LEN);
        input.extend_from_slice(ROW_TERM_LABEL);
        put_length_prefixed(&mut input, kind.label());
        put_length_prefixed(&mut input, row_id);
        input.extend_from_slice(&version.to_be_bytes());
        input.extend_from_slice(nonce);
        *mac_bytes(&self.digest, &input)
    }

    /// Seals `record` as a value of `kind` at `row_key`, `version`.
    ///
    /// # Errors
    /// [`SqliteStoreError::RecordTooLarge`] for a record over
    /// [`MAX_RECORD_LEN`].
    pub(super) fn seal<R: CryptoRng + ?Sized>(
        &self,
        kind: RecordKind,
        row_key: &[u8],
        version: u64,
        record: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, SqliteStoreError> {
        self.seal_with(kind, &associated_data(kind, row_key, version), record, rng)
    }

    /// Seals `record` with the associated data of schema version 1.
    pub(super) fn seal_v1<R: CryptoRng + ?Sized>(
        &self,
        kind: RecordKind,
        row_key: &[u8],
        record: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, SqliteStoreError> {
        self.seal_with(kind, &associated_data_v1(kind, row_key), record, rng)
    }

    fn seal_with<R: CryptoRng + ?Sized>(
        &self,
        kind: RecordKind,
        aad: &[u8],
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
        // ChaCha20-Poly1305 refuses only messages over 256 GiB.
        let ciphertext = self
            .cipher
            .encrypt(&nonce.into(), Payload { msg: record, aad })
            .map_err(|_| too_large())?;
        let mut value = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        value.extend_from_slice(&nonce);
        value.extend_from_slice(&ciphertext);
        Ok(value)
    }

    /// Opens a value of `kind` read from `row_key` with `version`.
    ///
    /// # Errors
    /// [`SqliteStoreError::CorruptRecord`] if the value is too short, too
    /// long, or fails authentication (altered, moved from another row or
    /// version, or sealed under another key).
    pub(super) fn open(
        &self,
        kind: RecordKind,
        row_key: &[u8],
        version: u64,
        value: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SqliteStoreError> {
        self.open_with(kind, &associated_data(kind, row_key, version), value)
    }

    /// Opens a value sealed with the associated data of schema version 1.
    pub(super) fn open_v1(
        &self,
        kind: RecordKind,
        row_key: &[u8],
        value: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SqliteStoreError> {
        self.open_with(kind, &associated_data_v1(kind, row_key), value)
    }

    fn open_with(
        &self,
        kind: RecordKind,
        aad: &[u8],
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
        self.cipher
            .decrypt(&(*nonce).into(), Payload { msg: ciphertext, aad })
            .map(Zeroizing::new)
            .map_err(|_| corrupt())
    }
}

/// The nonce that starts a sealed value (empty if it is too short to have
/// one: such a value fails to open anyway).
pub(super) fn nonce_of(value: &[u8]) -> &[u8] {
    value.get(..NONCE_LEN).unwrap_or_default()
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
        let storage_key = StorageKey::from_bytes(&[key; 32]);
        let database_id = [database; DATABASE_ID_LEN];
        Sealer::new(&storage_key, &database_id, &IndexKey::derive(&storage_key, &database_id))
    }

    #[test]
    fn associated_data_layout() {
        let aad = associated_data(RecordKind::Session, &[0xAA, 0xBB], 0x0102);
        let mut expected = Vec::new();
        expected.extend_from_slice(&[0, 0, 0, 14]);
        expected.extend_from_slice(b"Sotto store v2");
        expected.extend_from_slice(&[0, 0, 0, 7]);
        expected.extend_from_slice(b"session");
        expected.extend_from_slice(&[0, 0, 0, 2, 0xAA, 0xBB]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(aad, expected);
        let v1 = associated_data_v1(RecordKind::KeyCheck, &[]);
        assert_eq!(
            v1,
            [&[0, 0, 0, 14][..], b"Sotto store v1", &[0, 0, 0, 9], b"key-check", &[0; 4]].concat()
        );
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
        let value = sealer.seal(RecordKind::Session, b"row", 4, b"secret", &mut rng).unwrap();
        assert_eq!(value.len(), NONCE_LEN + 6 + TAG_LEN);
        let opened = sealer.open(RecordKind::Session, b"row", 4, &value).unwrap();
        assert_eq!(opened.as_slice(), b"secret");
        // A fresh nonce per write.
        let again = sealer.seal(RecordKind::Session, b"row", 4, b"secret", &mut rng).unwrap();
        assert_ne!(value, again);
        let v1 = sealer.seal_v1(RecordKind::KeyCheck, &[], &[], &mut rng).unwrap();
        assert!(sealer.open_v1(RecordKind::KeyCheck, &[], &v1).unwrap().is_empty());
        assert!(sealer.open(RecordKind::KeyCheck, &[], 0, &v1).is_err());
    }

    #[test]
    fn a_value_opens_only_where_and_as_what_it_was_sealed() {
        let mut rng = crate::rng::test_rng(3);
        let sealer = sealer(1, 2);
        let value = sealer.seal(RecordKind::Session, b"row", 4, b"secret", &mut rng).unwrap();
        let refused = |result: Result<Zeroizing<Vec<u8>>, SqliteStoreError>| {
            assert!(matches!(result, Err(SqliteStoreError::CorruptRecord { .. })));
        };
        refused(sealer.open(RecordKind::Session, b"other row", 4, &value));
        refused(sealer.open(RecordKind::Session, b"row", 3, &value));
        refused(sealer.open(RecordKind::Session, b"row", 5, &value));
        refused(sealer.open(RecordKind::PeerIdentity, b"row", 4, &value));
        refused(sealer.open_v1(RecordKind::Session, b"row", &value));
        refused(self::sealer(9, 2).open(RecordKind::Session, b"row", 4, &value));
        refused(self::sealer(1, 9).open(RecordKind::Session, b"row", 4, &value));
        for index in 0..value.len() {
            let mut flipped = value.clone();
            flipped[index] ^= 0x01;
            refused(sealer.open(RecordKind::Session, b"row", 4, &flipped));
        }
        for len in 0..value.len() {
            refused(sealer.open(RecordKind::Session, b"row", 4, &value[..len]));
        }
    }

    #[test]
    fn terms_tell_rows_versions_and_seals_apart() {
        let sealer = sealer(1, 2);
        let term = |kind, row: &[u8], version, nonce: &[u8]| sealer.term(kind, row, version, nonce);
        let base = term(RecordKind::Session, b"row", 4, &[1; 12]);
        assert_eq!(base, term(RecordKind::Session, b"row", 4, &[1; 12]));
        assert_ne!(base, term(RecordKind::PeerIdentity, b"row", 4, &[1; 12]));
        assert_ne!(base, term(RecordKind::Session, b"rox", 4, &[1; 12]));
        assert_ne!(base, term(RecordKind::Session, b"row", 5, &[1; 12]));
        assert_ne!(base, term(RecordKind::Session, b"row", 4, &[2; 12]));
        assert_ne!(base, self::sealer(9, 2).term(RecordKind::Session, b"row", 4, &[1; 12]));
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

    const KINDS: [RecordKind; 10] = [
        RecordKind::KeyCheck,
        RecordKind::LocalIdentity,
        RecordKind::PeerIdentity,
        RecordKind::SignedPreKey,
        RecordKind::OneTimePreKey,
        RecordKind::Session,
        RecordKind::KemPreKey,
        RecordKind::KemPreKeyUse,
        RecordKind::IndexKey,
        RecordKind::StoreState,
    ];

    #[test]
    fn kinds_have_distinct_labels() {
        for (index, kind) in KINDS.iter().enumerate() {
            assert!(KINDS[..index].iter().all(|other| other.label() != kind.label()), "{kind}");
        }
        assert_eq!(RecordKind::KemPreKey.label(), b"kem-prekey");
        assert_eq!(RecordKind::KemPreKeyUse.label(), b"kem-prekey-use");
    }

    fn kind(label: &serde_json::Value) -> RecordKind {
        let label = label.as_str().unwrap().as_bytes();
        *KINDS.iter().find(|kind| kind.label() == label).unwrap()
    }

    /// The known answers of docs/PROTOCOL.md §11.12, written in Python from
    /// the document alone.
    #[test]
    fn known_answers() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/storage_vectors.json"))
                .unwrap();
        let bytes = |value: &serde_json::Value| hex::decode(value.as_str().unwrap()).unwrap();
        let storage_key = StorageKey::try_from(bytes(&vectors["storage_key"]).as_slice()).unwrap();
        let database_id: [u8; DATABASE_ID_LEN] = bytes(&vectors["database_id"]).try_into().unwrap();
        for (info, name) in [
            (SEAL_KEY_INFO, "seal_key"),
            (INDEX_KEY_INFO, "index_key"),
            (DIGEST_KEY_INFO, "digest_key"),
        ] {
            assert_eq!(
                hkdf_sha256::<32>(&database_id, storage_key.as_bytes(), info).to_vec(),
                bytes(&vectors[name]),
                "{name}"
            );
        }
        let index_key = IndexKey::derive(&storage_key, &database_id);
        assert_eq!(index_key.as_record(), bytes(&vectors["index_key"]));
        let sealer = Sealer::new(&storage_key, &database_id, &index_key);

        let addresses = vectors["addresses"].as_array().unwrap();
        assert_eq!(addresses.len(), 3);
        for vector in addresses {
            let device = u32::try_from(vector["device"].as_u64().unwrap()).unwrap();
            let address = Address::new(vector["account"].as_str().unwrap(), device).unwrap();
            assert_eq!(address_row_key(&address), bytes(&vector["address_key"]));
            assert_eq!(sealer.address_id(&address).to_vec(), bytes(&vector["address_id"]));
        }

        let uses = vectors["kem_prekey_uses"].as_array().unwrap();
        assert_eq!(uses.len(), 4);
        for vector in uses {
            let id = u32::try_from(vector["kem_prekey_id"].as_u64().unwrap()).unwrap();
            let base_key: [u8; 32] = bytes(&vector["base_key"]).try_into().unwrap();
            assert_eq!(
                sealer.kem_prekey_use_key(id, &base_key).to_vec(),
                bytes(&vector["use_key"]),
                "{id:#x}"
            );
        }

        let records_v1 = vectors["records_v1"].as_array().unwrap();
        assert_eq!(records_v1.len(), 6);
        for vector in records_v1 {
            let kind = kind(&vector["kind"]);
            let (row_key, record, value) =
                (bytes(&vector["row_key"]), bytes(&vector["record"]), bytes(&vector["value"]));
            assert_eq!(associated_data_v1(kind, &row_key), bytes(&vector["aad"]));
            let nonce = bytes(&vector["nonce"]).try_into().unwrap();
            let sealed = sealer.seal_v1(kind, &row_key, &record, &mut FixedNonce(nonce)).unwrap();
            assert_eq!(sealed, value, "{kind}");
            assert_eq!(*sealer.open_v1(kind, &row_key, &value).unwrap(), record, "{kind}");
        }

        let records = vectors["records"].as_array().unwrap();
        assert_eq!(records.len(), 9);
        for vector in records {
            let kind = kind(&vector["kind"]);
            let (row_id, record, value) =
                (bytes(&vector["row_id"]), bytes(&vector["record"]), bytes(&vector["value"]));
            let version = vector["version"].as_u64().unwrap();
            assert_eq!(associated_data(kind, &row_id, version), bytes(&vector["aad"]));
            let nonce = bytes(&vector["nonce"]).try_into().unwrap();
            let sealed =
                sealer.seal(kind, &row_id, version, &record, &mut FixedNonce(nonce)).unwrap();
            assert_eq!(sealed, value, "{kind}");
            assert_eq!(*sealer.open(kind, &row_id, version, &value).unwrap(), record, "{kind}");
        }

        let terms = vectors["terms"].as_array().unwrap();
        assert_eq!(terms.len(), 7);
        let mut digest = [0u8; DIGEST_LEN];
        for vector in terms {
            let term = sealer.term(
                kind(&vector["kind"]),
                &bytes(&vector["row_id"]),
                vector["version"].as_u64().unwrap(),
                &bytes(&vector["nonce"]),
            );
            assert_eq!(term.to_vec(), bytes(&vector["term"]));
            digest.iter_mut().zip(term).for_each(|(d, t)| *d ^= t);
        }
        assert_eq!(digest.to_vec(), bytes(&vectors["digest"]));
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
