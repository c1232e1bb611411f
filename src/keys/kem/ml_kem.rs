//! ML-KEM-1024 (FIPS 203), through `libcrux-ml-kem`: the formally verified
//! implementation libsignal uses, chosen by measurement (benches/RESULTS.md,
//! "ML-KEM"). It picks its AVX2 code at run time where the CPU has it, and
//! its portable code elsewhere (WASM included).
//!
//! Every value crosses this module as bytes in Sotto's own types, so that
//! secrets are wiped when dropped whatever the library's types do.

use libcrux_ml_kem::mlkem1024::{
    self, MlKem1024Ciphertext, MlKem1024PrivateKey, MlKem1024PublicKey,
};
use zeroize::{Zeroize, Zeroizing};

/// The length of an encapsulation key `ek`.
pub(crate) const ENCAPSULATION_KEY_LEN: usize = 1568;
/// The length of a decapsulation key `dk` (FIPS 203 format: `dk_pke ‖ ek ‖
/// H(ek) ‖ z`).
pub(crate) const DECAPSULATION_KEY_LEN: usize = 3168;
/// The length of a ciphertext.
pub(crate) const CIPHERTEXT_LEN: usize = 1568;
/// The length of a shared secret.
pub(crate) const SHARED_SECRET_LEN: usize = 32;

/// Where `ek` sits inside `dk`.
const EK_IN_DK: core::ops::Range<usize> = 1536..1536 + ENCAPSULATION_KEY_LEN;

/// FIPS 203 `KeyGen_internal(d, z)` from `seeds = d ‖ z`: the decapsulation
/// and the encapsulation key.
pub(crate) fn generate(
    seeds: &Zeroizing<[u8; 64]>,
) -> (Box<Zeroizing<[u8; DECAPSULATION_KEY_LEN]>>, Box<[u8; ENCAPSULATION_KEY_LEN]>) {
    let (mut private, public) = mlkem1024::generate_key_pair(**seeds).into_parts();
    let secret = Box::new(Zeroizing::new(*private.as_slice()));
    wipe(&mut private);
    (secret, Box::new(*public.as_slice()))
}

/// FIPS 203 §7.2's modulus check: every 12-bit coefficient of `ek` is below
/// q, so that it decodes and re-encodes to the same bytes.
pub(crate) fn is_valid_encapsulation_key(ek: &[u8; ENCAPSULATION_KEY_LEN]) -> bool {
    mlkem1024::validate_public_key(&MlKem1024PublicKey::from(ek))
}

/// The encapsulation key inside `dk`, if `dk`'s embedded hash of it matches
/// (FIPS 203 §7.3's hash check).
pub(crate) fn encapsulation_key_of(
    dk: &[u8; DECAPSULATION_KEY_LEN],
) -> Option<Box<[u8; ENCAPSULATION_KEY_LEN]>> {
    let mut private = MlKem1024PrivateKey::from(dk);
    let valid = mlkem1024::portable::validate_private_key_only(&private);
    wipe(&mut private);
    if !valid {
        return None;
    }
    let ek: [u8; ENCAPSULATION_KEY_LEN] = dk.get(EK_IN_DK)?.try_into().ok()?;
    Some(Box::new(ek))
}

/// FIPS 203 `Encaps_internal(ek, m)`: the ciphertext and the shared secret.
/// `ek` must have passed [`is_valid_encapsulation_key`].
pub(crate) fn encapsulate(
    ek: &[u8; ENCAPSULATION_KEY_LEN],
    m: &Zeroizing<[u8; 32]>,
) -> (Box<[u8; CIPHERTEXT_LEN]>, Zeroizing<[u8; SHARED_SECRET_LEN]>) {
    let (ciphertext, shared) = mlkem1024::encapsulate(&MlKem1024PublicKey::from(ek), **m);
    (Box::new(*ciphertext.as_slice()), Zeroizing::new(shared))
}

/// FIPS 203 `Decaps`: never fails; a ciphertext that was not made for this
/// key gives an unrelated secret (implicit rejection).
pub(crate) fn decapsulate(
    dk: &[u8; DECAPSULATION_KEY_LEN],
    ciphertext: &[u8; CIPHERTEXT_LEN],
) -> Zeroizing<[u8; SHARED_SECRET_LEN]> {
    let mut private = MlKem1024PrivateKey::from(dk);
    let shared =
        Zeroizing::new(mlkem1024::decapsulate(&private, &MlKem1024Ciphertext::from(ciphertext)));
    wipe(&mut private);
    shared
}

/// Wipes the library's copy of a decapsulation key (its type does not wipe
/// itself).
fn wipe(private: &mut MlKem1024PrivateKey) {
    private[0..].zeroize();
}
