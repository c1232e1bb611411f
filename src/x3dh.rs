//! X3DH key agreement, as in Signal's specification ("The X3DH Key Agreement
//! Protocol", revision 1, §3), over Curve25519 with SHA-256.
//!
//! The initiator (Alice) takes a [`VerifiedBundle`] of the responder (Bob):
//!
//! ```text
//! DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)   DH4 = DH(EK_A, OPK_B)
//! SK  = HKDF-SHA256(salt = 0x00 × 32, IKM = 0xFF × 32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], info = X3DH_INFO)
//! AD  = IK_A ‖ IK_B        (the 32-byte Ed25519 encodings)
//! ```
//!
//! Identity keys take part in DH through their X25519 form (see
//! [`crate::keys::IdentityKey`]). Every DH output is checked: an all-zero
//! (non-contributory) output, caused by a small-order key, is refused. An
//! unverified bundle cannot reach this module: `initiate` takes only a
//! [`VerifiedBundle`].

use zeroize::Zeroizing;

use crate::kdf::hkdf_sha256;
use crate::keys::{
    DhPublicKey, DhSeed, IdentityKey, IdentityKeyPair, KeyError, OneTimePreKey, OneTimePreKeyId,
    SignedPreKey, SignedPreKeyId, VerifiedBundle, diffie_hellman,
};
use crate::protocol::X3DH_INFO;

/// Why X3DH failed.
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

/// The X3DH associated data `AD = IK_A ‖ IK_B`: 64 bytes, initiator first.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct AssociatedData(pub(crate) [u8; 64]);

impl AssociatedData {
    pub(crate) fn new(initiator: &IdentityKey, responder: &IdentityKey) -> Self {
        let mut ad = [0u8; 64];
        let (first, second) = ad.split_at_mut(32);
        first.copy_from_slice(initiator.as_bytes());
        second.copy_from_slice(responder.as_bytes());
        Self(ad)
    }
}

/// The 32-byte secret X3DH agrees on, wiped when dropped.
pub(crate) struct SharedKey(pub(crate) Zeroizing<[u8; 32]>);

/// What the initiator learns and must tell the responder.
pub(crate) struct Initiated {
    pub(crate) shared_key: SharedKey,
    /// EK_A, sent in every message until the responder answers.
    pub(crate) base_key: DhPublicKey,
    pub(crate) signed_prekey_id: SignedPreKeyId,
    pub(crate) signed_prekey: DhPublicKey,
    pub(crate) one_time_prekey_id: Option<OneTimePreKeyId>,
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
    let mut ikm = Zeroizing::new(Vec::with_capacity(5 * 32));
    ikm.extend_from_slice(&[0xFF; 32]);
    ikm
}

fn derive(ikm: &[u8]) -> SharedKey {
    SharedKey(hkdf_sha256::<32>(&[0u8; 32], ikm, X3DH_INFO))
}

/// Alice's side: agrees on a key with the owner of `bundle`.
pub(crate) fn initiate(
    ours: &IdentityKeyPair,
    bundle: &VerifiedBundle,
    ephemeral: &DhSeed,
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
    Ok(Initiated {
        shared_key: derive(&ikm),
        base_key: ephemeral.public(),
        signed_prekey_id: signed.id(),
        signed_prekey: signed.key(),
        one_time_prekey_id: bundle.one_time_prekey().map(|one_time| one_time.id()),
    })
}

/// Bob's side: the same key, from his secrets and what Alice's first message
/// told him.
pub(crate) fn respond(
    ours: &IdentityKeyPair,
    signed: &SignedPreKey,
    one_time: Option<&OneTimePreKey>,
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
    Ok((derive(&ikm), AssociatedData::new(their_identity, &ours.public())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::PreKeyBundle;
    use crate::rng::test_rng;

    struct Bob {
        identity: IdentityKeyPair,
        signed: SignedPreKey,
        one_time: OneTimePreKey,
    }

    fn bob() -> Bob {
        let mut rng = test_rng(10);
        let identity = IdentityKeyPair::generate(&mut rng);
        let signed = SignedPreKey::generate(1.into(), &identity, &mut rng);
        let one_time = OneTimePreKey::generate(2.into(), &mut rng);
        Bob { identity, signed, one_time }
    }

    #[test]
    fn both_sides_agree_with_and_without_one_time_prekey() {
        let mut rng = test_rng(11);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = bob();
        for with_one_time in [true, false] {
            let bundle = PreKeyBundle::new(
                bob.identity.public(),
                bob.signed.public(),
                with_one_time.then(|| bob.one_time.public()),
            )
            .verify()
            .unwrap();
            let sent = initiate(&alice, &bundle, &DhSeed::generate(&mut rng)).unwrap();
            let (key, ad) = respond(
                &bob.identity,
                &bob.signed,
                with_one_time.then_some(&bob.one_time),
                &alice.public(),
                &sent.base_key,
            )
            .unwrap();
            assert_eq!(*key.0, *sent.shared_key.0);
            assert!(ad == AssociatedData::new(&alice.public(), &bob.identity.public()));
            assert_eq!(&ad.0[..32], alice.public().as_bytes());
            assert_eq!(sent.one_time_prekey_id.is_some(), with_one_time);
        }
    }

    #[test]
    fn a_missing_one_time_prekey_changes_the_key() {
        let mut rng = test_rng(12);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = bob();
        let bundle = PreKeyBundle::new(
            bob.identity.public(),
            bob.signed.public(),
            Some(bob.one_time.public()),
        )
        .verify()
        .unwrap();
        let sent = initiate(&alice, &bundle, &DhSeed::generate(&mut rng)).unwrap();
        let (key, _) =
            respond(&bob.identity, &bob.signed, None, &alice.public(), &sent.base_key).unwrap();
        assert_ne!(*key.0, *sent.shared_key.0);
    }

    #[test]
    fn small_order_base_key_is_refused() {
        let bob = bob();
        let alice = IdentityKeyPair::generate(&mut test_rng(13));
        let weak = DhPublicKey::from_bytes(&[0; 32]).unwrap();
        let refused = respond(&bob.identity, &bob.signed, None, &alice.public(), &weak);
        assert_eq!(refused.err(), Some(X3dhError::NonContributory { dh: 2 }));
    }
}
