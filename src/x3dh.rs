//! Session key agreement: PQXDH (Signal's "The PQXDH Key Agreement
//! Protocol", revision 3, §3) with ML-KEM-1024, and classical X3DH ("The
//! X3DH Key Agreement Protocol", revision 1, §3), over Curve25519 with
//! SHA-256.
//!
//! The initiator (Alice) takes a [`VerifiedBundle`] of the responder (Bob):
//!
//! ```text
//! (CT, SS) = ML-KEM-1024.Encaps(PQPK_B)            (PQXDH only)
//! DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)   DH4 = DH(EK_A, OPK_B)
//! SK  = HKDF-SHA256(salt = 0x00 × 32, IKM = 0xFF × 32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] [‖ SS], info)
//! AD  = IK_A ‖ IK_B [‖ SHA-256(EncodeKEM(PQPK_B))]
//! ```
//!
//! with `info` = `PQXDH_INFO` or `X3DH_INFO`. The KEM key's hash in the
//! associated data binds it to the session (PQXDH §4.12; ML-KEM binds it
//! too, by hashing it into its shared secret).
//!
//! Identity keys take part in DH through their X25519 form (see
//! [`crate::keys::IdentityKey`]). Every DH output is checked: an all-zero
//! (non-contributory) output, caused by a small-order key, is refused. An
//! unverified bundle cannot reach this module: `initiate` takes only a
//! [`VerifiedBundle`].

use zeroize::Zeroizing;

use crate::kdf::hkdf_sha256;
use crate::keys::{
    DhPublicKey, DhSeed, IdentityKey, IdentityKeyPair, KEM_CIPHERTEXT_LEN, KemPreKey, KemPreKeyId,
    KeyError, OneTimePreKey, OneTimePreKeyId, SignedPreKey, SignedPreKeyId, VerifiedBundle,
    diffie_hellman,
};
use crate::protocol::{PQXDH_INFO, X3DH_INFO};

/// Why the key agreement failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum X3dhError {
    /// A Diffie-Hellman output was all zeros: one of the keys is a
    /// small-order point, so the result would not be secret.
    #[error("DH{dh} of X3DH is non-contributory (a small-order key)")]
    NonContributory {
        /// Which DH (1 to 4, as numbered in the specification).
        dh: u8,
    },
    /// An identity key is not a valid, non-weak Ed25519 point.
    #[error("an identity key is not a valid Ed25519 point")]
    InvalidIdentityKey,
}

/// The associated data of a session: `AD = IK_A ‖ IK_B`, 64 bytes,
/// initiator first, followed for a PQXDH session by `KEM_BINDING`, 96 bytes
/// in all.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct AssociatedData {
    bytes: [u8; 96],
    len: usize,
}

impl AssociatedData {
    pub(crate) fn new(
        initiator: &IdentityKey,
        responder: &IdentityKey,
        kem_binding: Option<&[u8; 32]>,
    ) -> Self {
        let mut bytes = [0u8; 96];
        let (first, rest) = bytes.split_at_mut(32);
        let (second, third) = rest.split_at_mut(32);
        first.copy_from_slice(initiator.as_bytes());
        second.copy_from_slice(responder.as_bytes());
        let len = match kem_binding {
            Some(binding) => {
                third.copy_from_slice(binding);
                96
            }
            None => 64,
        };
        Self { bytes, len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }
}

/// The 32-byte secret the key agreement gives, wiped when dropped.
pub(crate) struct SharedKey(pub(crate) Zeroizing<[u8; 32]>);

/// The KEM half of a PQXDH first message: the KEM prekey the initiator
/// encapsulated to and the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KemFields {
    pub(crate) prekey_id: KemPreKeyId,
    pub(crate) ciphertext: Box<[u8; KEM_CIPHERTEXT_LEN]>,
}

/// What the initiator learns and must tell the responder.
pub(crate) struct Initiated {
    pub(crate) shared_key: SharedKey,
    /// EK_A, sent in every message until the responder answers.
    pub(crate) base_key: DhPublicKey,
    pub(crate) signed_prekey_id: SignedPreKeyId,
    pub(crate) signed_prekey: DhPublicKey,
    pub(crate) one_time_prekey_id: Option<OneTimePreKeyId>,
    /// PQXDH's KEM fields, and the binding that ends the associated data.
    pub(crate) kem: Option<(KemFields, [u8; 32])>,
}

fn dh(
    secret: &x25519_dalek::StaticSecret,
    public: &DhPublicKey,
    number: u8,
    ikm: &mut Zeroizing<Vec<u8>>,
) -> Result<(), X3dhError> {
    let shared = diffie_hellman(secret, public)
        .map_err(|_: KeyError| X3dhError::NonContributory { dh: number })?;
    ikm.extend_from_slice(shared.as_bytes());
    Ok(())
}

fn identity_x25519(key: IdentityKey) -> Result<DhPublicKey, X3dhError> {
    key.to_x25519().map(DhPublicKey::from).map_err(|_| X3dhError::InvalidIdentityKey)
}

fn new_ikm() -> Zeroizing<Vec<u8>> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(6 * 32));
    ikm.extend_from_slice(&[0xFF; 32]);
    ikm
}

/// `SK` from the input key material: PQXDH's when it ends with a KEM
/// shared secret, X3DH's otherwise.
fn derive(ikm: &[u8], post_quantum: bool) -> SharedKey {
    let info = if post_quantum { PQXDH_INFO } else { X3DH_INFO };
    SharedKey(hkdf_sha256::<32>(&[0u8; 32], ikm, info))
}

/// Alice's side: agrees on a key with the owner of `bundle`. A bundle with
/// a KEM prekey runs PQXDH and needs `kem_randomness`, the 32 random bytes
/// of the encapsulation; one without runs X3DH and ignores it.
pub(crate) fn initiate(
    ours: &IdentityKeyPair,
    bundle: &VerifiedBundle,
    ephemeral: &DhSeed,
    kem_randomness: Option<&Zeroizing<[u8; 32]>>,
) -> Result<Initiated, X3dhError> {
    let ephemeral = ephemeral.key_pair();
    let signed = bundle.signed_prekey();
    let their_identity = identity_x25519(bundle.identity_key())?;

    let mut ikm = new_ikm();
    dh(&ours.to_x25519(), &signed.key(), 1, &mut ikm)?;
    dh(ephemeral.secret(), &their_identity, 2, &mut ikm)?;
    dh(ephemeral.secret(), &signed.key(), 3, &mut ikm)?;
    if let Some(one_time) = bundle.one_time_prekey() {
        dh(ephemeral.secret(), &one_time.key(), 4, &mut ikm)?;
    }
    let kem = match (bundle.kem_prekey(), kem_randomness) {
        (Some(prekey), Some(m)) => {
            let (ciphertext, shared) = prekey.key().encapsulate(m);
            ikm.extend_from_slice(shared.as_ref());
            Some((KemFields { prekey_id: prekey.id(), ciphertext }, prekey.key().binding()))
        }
        _ => None,
    };
    Ok(Initiated {
        shared_key: derive(&ikm, kem.is_some()),
        base_key: ephemeral.public(),
        signed_prekey_id: signed.id(),
        signed_prekey: signed.key(),
        one_time_prekey_id: bundle.one_time_prekey().map(|one_time| one_time.id()),
        kem,
    })
}

/// Bob's side: the same key and associated data, from his secrets and what
/// Alice's first message told him. `kem` is the KEM prekey it names and
/// its ciphertext, for PQXDH.
pub(crate) fn respond(
    ours: &IdentityKeyPair,
    signed: &SignedPreKey,
    one_time: Option<&OneTimePreKey>,
    kem: Option<(&KemPreKey, &[u8; KEM_CIPHERTEXT_LEN])>,
    their_identity: &IdentityKey,
    their_base_key: &DhPublicKey,
) -> Result<(SharedKey, AssociatedData), X3dhError> {
    let mut ikm = new_ikm();
    dh(signed.key_pair().secret(), &identity_x25519(*their_identity)?, 1, &mut ikm)?;
    dh(&ours.to_x25519(), their_base_key, 2, &mut ikm)?;
    dh(signed.key_pair().secret(), their_base_key, 3, &mut ikm)?;
    if let Some(one_time) = one_time {
        dh(one_time.key_pair().secret(), their_base_key, 4, &mut ikm)?;
    }
    let binding = kem.map(|(prekey, ciphertext)| {
        ikm.extend_from_slice(prekey.decapsulate(ciphertext).as_ref());
        prekey.binding()
    });
    let ad = AssociatedData::new(their_identity, &ours.public(), binding.as_ref());
    Ok((derive(&ikm, binding.is_some()), ad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KemPreKeyKind, PreKeyBundle};
    use crate::rng::test_rng;

    struct Bob {
        identity: IdentityKeyPair,
        signed: SignedPreKey,
        one_time: OneTimePreKey,
        kem: KemPreKey,
    }

    fn bob() -> Bob {
        let mut rng = test_rng(10);
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed = SignedPreKey::generate(1.into(), &identity, &mut rng);
        let one_time = OneTimePreKey::generate(2.into(), &mut rng);
        let kem = KemPreKey::generate(3.into(), KemPreKeyKind::OneTime, &identity, &mut rng);
        Bob { identity, signed, one_time, kem }
    }

    fn bundle(bob: &Bob, with_one_time: bool, post_quantum: bool) -> VerifiedBundle {
        let one_time = with_one_time.then(|| bob.one_time.public());
        let bundle = if post_quantum {
            PreKeyBundle::new(
                bob.identity.public(),
                bob.signed.public(),
                bob.kem.public(),
                one_time,
            )
        } else {
            PreKeyBundle::classical(bob.identity.public(), bob.signed.public(), one_time)
        };
        bundle.verify().unwrap()
    }

    fn m(byte: u8) -> Zeroizing<[u8; 32]> {
        Zeroizing::new([byte; 32])
    }

    #[test]
    fn both_sides_agree_with_and_without_one_time_prekey_and_kem() {
        let mut rng = test_rng(11);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = bob();
        for with_one_time in [true, false] {
            for post_quantum in [true, false] {
                let bundle = bundle(&bob, with_one_time, post_quantum);
                let sent =
                    initiate(&alice, &bundle, &DhSeed::generate(&mut rng), Some(&m(1))).unwrap();
                assert_eq!(sent.kem.is_some(), post_quantum);
                let kem = sent.kem.as_ref().map(|(fields, _)| (&bob.kem, &*fields.ciphertext));
                let (key, ad) = respond(
                    &bob.identity,
                    &bob.signed,
                    with_one_time.then_some(&bob.one_time),
                    kem,
                    &alice.public(),
                    &sent.base_key,
                )
                .unwrap();
                assert_eq!(*key.0, *sent.shared_key.0);
                let binding = sent.kem.as_ref().map(|(_, binding)| binding);
                assert!(
                    ad == AssociatedData::new(&alice.public(), &bob.identity.public(), binding)
                );
                assert_eq!(&ad.as_bytes()[..32], alice.public().as_bytes());
                assert_eq!(ad.as_bytes().len(), if post_quantum { 96 } else { 64 });
                if post_quantum {
                    assert_eq!(&ad.as_bytes()[64..], bob.kem.binding());
                }
                assert_eq!(sent.one_time_prekey_id.is_some(), with_one_time);
            }
        }
    }

    #[test]
    fn the_kem_secret_and_the_label_change_the_key() {
        let mut rng = test_rng(14);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = bob();
        let seed = DhSeed::generate(&mut rng);
        let pq = initiate(&alice, &bundle(&bob, true, true), &seed, Some(&m(1))).unwrap();
        let other_m = initiate(&alice, &bundle(&bob, true, true), &seed, Some(&m(2))).unwrap();
        let classical = initiate(&alice, &bundle(&bob, true, false), &seed, None).unwrap();
        assert_ne!(*pq.shared_key.0, *other_m.shared_key.0);
        assert_ne!(*pq.shared_key.0, *classical.shared_key.0);

        // A tampered ciphertext decapsulates to another secret: another key.
        let (fields, _) = pq.kem.as_ref().unwrap();
        let mut tampered = fields.ciphertext.clone();
        tampered[0] ^= 1;
        let (key, _) = respond(
            &bob.identity,
            &bob.signed,
            Some(&bob.one_time),
            Some((&bob.kem, &tampered)),
            &alice.public(),
            &pq.base_key,
        )
        .unwrap();
        assert_ne!(*key.0, *pq.shared_key.0);
    }

    #[test]
    fn a_missing_one_time_prekey_changes_the_key() {
        let mut rng = test_rng(12);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = bob();
        let sent = initiate(&alice, &bundle(&bob, true, false), &DhSeed::generate(&mut rng), None)
            .unwrap();
        let (key, _) =
            respond(&bob.identity, &bob.signed, None, None, &alice.public(), &sent.base_key)
                .unwrap();
        assert_ne!(*key.0, *sent.shared_key.0);
    }

    #[test]
    fn small_order_base_key_is_refused() {
        let bob = bob();
        let alice = IdentityKeyPair::generate(&mut test_rng(13));
        let weak = DhPublicKey::from_bytes(&[0; 32]).unwrap();
        let refused = respond(&bob.identity, &bob.signed, None, None, &alice.public(), &weak);
        assert_eq!(refused.err(), Some(X3dhError::NonContributory { dh: 2 }));
    }
}
