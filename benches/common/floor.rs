//! The floor of a direct message: the primitives each step must compute,
//! called directly. Shared by `benches/session.rs` and the peer bench
//! (`benches/peers`), so that both measure against the same floor.

use std::hint::black_box;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use ed25519_dalek::{Signer, SigningKey, Verifier};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use libcrux_ml_kem::mlkem1024::{self, MlKem1024KeyPair};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

/// The message every bench sends: 100 bytes.
pub(crate) const MESSAGE: [u8; 100] = [0x61; 100];

/// The primitives, called directly.
pub(crate) struct Floor {
    dh_secret: StaticSecret,
    dh_public: PublicKey,
    chain_key: [u8; 32],
    signing: SigningKey,
    signature: ed25519_dalek::Signature,
    kem: MlKem1024KeyPair,
    /// What the identity signs for a KEM prekey: label, id and `EncodeKEM`.
    kem_signed: Vec<u8>,
    kem_signature: ed25519_dalek::Signature,
}

impl Floor {
    pub(crate) fn new() -> Self {
        let dh_secret = StaticSecret::from([7u8; 32]);
        let dh_public = PublicKey::from(&StaticSecret::from([9u8; 32]));
        let signing = SigningKey::from_bytes(&[3u8; 32]);
        let signature = signing.sign(&[1u8; 58]);
        let kem = mlkem1024::generate_key_pair([4u8; 64]);
        let kem_signed =
            [b"Sotto KEM prekey v1".as_slice(), &[0, 0, 0, 1], &[1], kem.pk()].concat();
        let kem_signature = signing.sign(&kem_signed);
        Self {
            dh_secret,
            dh_public,
            chain_key: [5; 32],
            signing,
            signature,
            kem,
            kem_signed,
            kem_signature,
        }
    }

    /// The anchor: one X25519.
    pub(crate) fn dh(&self) {
        black_box(self.dh_secret.diffie_hellman(black_box(&self.dh_public)));
    }

    /// One chain step, the unit of a received message's work budget:
    /// `CK' = HMAC-SHA256(CK, 0x02)`.
    #[allow(dead_code, reason = "used by benches/session.rs, not by the peer bench")]
    pub(crate) fn chain_step(&self) {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(black_box(&self.chain_key)).unwrap();
        mac.update(&[0x02]);
        black_box(mac.finalize());
    }

    /// A new key pair: a fixed-base scalar multiplication.
    pub(crate) fn keygen(&self) {
        black_box(PublicKey::from(&StaticSecret::from(black_box([8u8; 32]))));
    }

    /// One side's symmetric work for one message: KDF_CK (two HMACs under
    /// one key), the HKDF of the message keys, and the AEAD over 100 bytes.
    pub(crate) fn message_side(&self, encrypt: bool, ciphertext: &[u8]) -> Vec<u8> {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.chain_key).unwrap();
        let mut message_key = mac.clone();
        message_key.update(&[1]);
        let message_key = message_key.finalize().into_bytes();
        let mut next = mac;
        next.update(&[2]);
        black_box(next.finalize().into_bytes());
        let mut okm = [0u8; 44];
        Hkdf::<Sha256>::new(Some(&[0u8; 32]), &message_key).expand(b"info", &mut okm).unwrap();
        let cipher = ChaCha20Poly1305::new_from_slice(&okm[..32]).unwrap();
        let nonce: [u8; 12] = okm[32..].try_into().unwrap();
        let aad = [0u8; 110];
        if encrypt {
            cipher.encrypt(&nonce.into(), Payload { msg: &MESSAGE, aad: &aad }).unwrap()
        } else {
            cipher.decrypt(&nonce.into(), Payload { msg: ciphertext, aad: &aad }).unwrap()
        }
    }

    /// Encrypt + decrypt of one 100-byte message.
    pub(crate) fn message(&self) {
        let ciphertext = self.message_side(true, &[]);
        black_box(self.message_side(false, &ciphertext));
    }

    /// A message each way, each decryption turning the ratchet: per turn,
    /// two X25519 and one key generation, plus the symmetric work.
    pub(crate) fn turn_both_ways(&self) {
        for _ in 0..2 {
            self.dh();
            self.dh();
            self.keygen();
            self.message();
        }
    }

    /// Session setup: verify the bundle's signature; Alice: EK and ratchet
    /// key generation, DH1–DH4 and the first ratchet DH; Bob: DH1–DH4 and
    /// a ratchet step (two DH and a key generation); one message.
    pub(crate) fn setup(&self) {
        self.signing.verifying_key().verify(&[1u8; 58], &self.signature).unwrap();
        for _ in 0..11 {
            self.dh();
        }
        for _ in 0..3 {
            self.keygen();
        }
        self.message();
    }

    /// PQXDH session setup: [`setup`](Self::setup)'s work, and the KEM
    /// prekey's signature check, the FIPS 203 check of its key, one ML-KEM
    /// encapsulation and one decapsulation.
    #[allow(dead_code, reason = "used by benches/session.rs, not by the peer bench")]
    pub(crate) fn setup_pq(&self) {
        self.setup();
        self.signing.verifying_key().verify(&self.kem_signed, &self.kem_signature).unwrap();
        let public = self.kem.public_key();
        assert!(mlkem1024::validate_public_key(black_box(public)));
        let (ciphertext, _) = mlkem1024::encapsulate(public, black_box([6u8; 32]));
        black_box(mlkem1024::decapsulate(self.kem.private_key(), &ciphertext));
    }
}
