//! The per-KID replay window of an SFrame receiver (RFC 9605 §9.4, "Replay").
//!
//! RFC 9605 leaves replay protection to the application; Sotto keeps, per key id, the
//! newest counter accepted and a bitmap of the [`REPLAY_WINDOW`] counters up to it.
//! A frame is refused if its counter was already accepted ([`SframeError::Replay`])
//! or lies [`REPLAY_WINDOW`] or more below the newest ([`SframeError::TooOld`]).
//! The window is checked before decryption and updated only after the tag verified.

use super::error::SframeError;
use super::header::KeyId;

/// How many counters below the newest accepted one a receiver still accepts (128).
pub const REPLAY_WINDOW: u64 = 128;

/// A sliding window over the counters accepted under one key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReplayWindow {
    /// The newest counter accepted, if any.
    newest: Option<u64>,
    /// Bit `i` set: counter `newest - i` was accepted.
    seen: u128,
}

impl ReplayWindow {
    /// Whether a frame with counter `ctr` may be accepted. Changes nothing.
    pub(crate) fn check(&self, kid: KeyId, ctr: u64) -> Result<(), SframeError> {
        let Some(newest) = self.newest else {
            return Ok(());
        };
        if ctr > newest {
            return Ok(());
        }
        let age = newest - ctr;
        if age >= REPLAY_WINDOW {
            return Err(SframeError::TooOld { kid, ctr, newest });
        }
        if self.seen & (1u128 << age) != 0 {
            return Err(SframeError::Replay { kid, ctr });
        }
        Ok(())
    }

    /// Records `ctr` as accepted; call only after [`Self::check`] passed and the tag verified.
    pub(crate) fn accept(&mut self, ctr: u64) {
        match self.newest {
            Some(newest) if ctr <= newest => {
                let age = newest - ctr;
                if age < REPLAY_WINDOW {
                    self.seen |= 1u128 << age;
                }
            }
            Some(newest) => {
                let shift = ctr - newest;
                self.seen = if shift >= REPLAY_WINDOW { 0 } else { self.seen << shift };
                self.seen |= 1;
                self.newest = Some(ctr);
            }
            None => {
                self.seen = 1;
                self.newest = Some(ctr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KID: KeyId = KeyId::new(1);

    fn take(w: &mut ReplayWindow, ctr: u64) -> Result<(), SframeError> {
        w.check(KID, ctr)?;
        w.accept(ctr);
        Ok(())
    }

    #[test]
    fn in_order_and_duplicates() {
        let mut w = ReplayWindow::default();
        for c in 0..300 {
            take(&mut w, c).unwrap();
            assert_eq!(take(&mut w, c), Err(SframeError::Replay { kid: KID, ctr: c }));
        }
    }

    #[test]
    fn out_of_order_within_window() {
        let mut w = ReplayWindow::default();
        take(&mut w, 1000).unwrap();
        take(&mut w, 1000 - 127).unwrap();
        assert_eq!(
            take(&mut w, 1000 - 128),
            Err(SframeError::TooOld { kid: KID, ctr: 872, newest: 1000 })
        );
        assert_eq!(take(&mut w, 873), Err(SframeError::Replay { kid: KID, ctr: 873 }));
        take(&mut w, 999).unwrap();
        // A jump past the whole window forgets everything older.
        take(&mut w, 5000).unwrap();
        assert!(matches!(take(&mut w, 999), Err(SframeError::TooOld { .. })));
        take(&mut w, 4999).unwrap();
    }

    #[test]
    fn extremes() {
        let mut w = ReplayWindow::default();
        take(&mut w, u64::MAX).unwrap();
        assert!(take(&mut w, u64::MAX).is_err());
        assert!(take(&mut w, 0).is_err());
        take(&mut w, u64::MAX - 127).unwrap();
    }

    #[test]
    fn check_does_not_mutate() {
        let mut w = ReplayWindow::default();
        take(&mut w, 10).unwrap();
        let before = w.clone();
        let _ = w.check(KID, 10);
        let _ = w.check(KID, 11);
        assert_eq!(w, before);
    }
}
