//! The root key and the DH ratchet step (Double Ratchet §5.2, `KDF_RK`).
//!
//! `RK' ‖ CK = HKDF-SHA256(salt = RK, IKM = DH(ours, theirs), info =
//! ROOT_KDF_INFO)`, 64 bytes. A DH output of all zeros is refused.

use zeroize::Zeroizing;

use super::{ChainKey, RatchetError};
use crate::kdf::hkdf_sha256;
use crate::keys::{DhKeyPair, DhPublicKey, SeedSource, diffie_hellman};
use crate::protocol::ROOT_KDF_INFO;

/// The root key. Wiped when dropped, never printed.
#[derive(Clone)]
pub(crate) struct RootKey(Zeroizing<[u8; 32]>);

impl RootKey {
    pub(crate) fn new(key: Zeroizing<[u8; 32]>) -> Self {
        Self(key)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `KDF_RK(RK, DH(ours, theirs))`: the next root key and a new chain.
    pub(crate) fn advance(
        &self,
        ours: &DhKeyPair,
        theirs: &DhPublicKey,
    ) -> Result<(RootKey, ChainKey), RatchetError> {
        let shared =
            diffie_hellman(ours.secret(), theirs).map_err(|_| RatchetError::NonContributory)?;
        let okm = hkdf_sha256::<64>(self.0.as_ref(), shared.as_bytes(), ROOT_KDF_INFO);
        let (root, chain) = okm.split_at(32);
        let mut root_key = Zeroizing::new([0u8; 32]);
        root_key.copy_from_slice(root);
        let mut chain_key = Zeroizing::new([0u8; 32]);
        chain_key.copy_from_slice(chain);
        Ok((RootKey(root_key), ChainKey::new(chain_key, 0)))
    }
}

/// The DH ratchet (§3.5 `DHRatchet`) is taken in two halves, so that a
/// message that does not authenticate costs one DH, not two, and draws no
/// key of ours: [`RootKey::advance`] with our current ratchet key and
/// their new one gives the receiving chain that keys the message; only once
/// it authenticated does [`turn`] draw our new ratchet key (from `seeds`)
/// and derive the sending chain from it.
pub(crate) struct Turned {
    pub(crate) root_key: RootKey,
    pub(crate) ratchet_key: DhKeyPair,
    pub(crate) sending: ChainKey,
}

/// The second half of the DH ratchet step: from `root_key` (the one the
/// receiving half produced), a new ratchet key of ours and a sending chain
/// towards `theirs`.
pub(crate) fn turn<S: SeedSource + ?Sized>(
    root_key: &RootKey,
    theirs: &DhPublicKey,
    seeds: &mut S,
) -> Result<Turned, RatchetError> {
    let ratchet_key = seeds.draw().key_pair();
    let (root_key, sending) = root_key.advance(&ratchet_key, theirs)?;
    Ok(Turned { root_key, ratchet_key, sending })
}

impl core::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}
