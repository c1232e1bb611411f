//! Randomness: Sotto takes it as a parameter, so that tests can be
//! deterministic and every platform can bring its own source.
//!
//! [`OsRng`] is the operating system's generator (through `getrandom`; in a
//! browser, `crypto.getRandomValues`). Anything implementing
//! [`rand_core::CryptoRng`] can stand in for it.

/// The operating system's cryptographic random number generator.
///
/// A failure of the operating system's generator is not recoverable and
/// aborts the operation with a panic inside `rand_core::UnwrapErr`, as every
/// Rust cryptography library does: continuing without randomness would be
/// worse.
pub type OsRng = rand_core::UnwrapErr<getrandom::SysRng>;

/// The operating system's generator, ready to use.
pub fn os_rng() -> OsRng {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// A deterministic generator for tests.
#[cfg(test)]
pub(crate) fn test_rng(seed: u8) -> chacha20::ChaCha20Rng {
    use rand_core::SeedableRng;
    chacha20::ChaCha20Rng::from_seed([seed; 32])
}
