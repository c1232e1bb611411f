//! 1:1 calls (`docs/PROTOCOL.md` §9.1): each call agrees on its own keys
//! from an offer and an answer that travel inside the DM session.
//!
//! The caller's `SessionManager.offer_call` gives an [`OutgoingCall`] and the
//! offer; the callee's `parse_call_offer` gives a [`CallOffer`] (the call is
//! ringing) and `accept_call` the [`OneToOneCall`] and the answer; the
//! caller's [`OutgoingCall::receive_answer`] gives its [`OneToOneCall`].
//!
//! uniffi objects are shared, so the core's consuming steps sit behind a
//! lock: the answer completes an outgoing call once (a refused answer
//! leaves it waiting), and `into_keys` takes a call's keys once.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sotto::call as core;

use crate::{CipherSuite, SottoError};

/// The caller's side of a 1:1 call whose offer was sent, waiting for its
/// answer. Holds the offer's ephemeral secret until the answer arrives.
/// Thread-safe.
#[derive(uniffi::Object)]
pub struct OutgoingCall {
    call_id: Vec<u8>,
    waiting: Mutex<Option<core::OutgoingCall>>,
}

impl From<core::OutgoingCall> for OutgoingCall {
    fn from(call: core::OutgoingCall) -> Self {
        Self { call_id: call.call_id().as_bytes().to_vec(), waiting: Mutex::new(Some(call)) }
    }
}

impl OutgoingCall {
    fn lock(&self) -> MutexGuard<'_, Option<core::OutgoingCall>> {
        // Nothing panics while the lock is held (answering only computes),
        // and the slot is always either waiting or answered: a poisoned
        // lock still guards a consistent slot.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[uniffi::export]
impl OutgoingCall {
    /// The call's id.
    pub fn call_id(&self) -> Vec<u8> {
        self.call_id.clone()
    }

    /// Completes the call from the callee's answer (the plaintext of the DM
    /// message it arrived in). A refused answer leaves this call waiting for
    /// the right one.
    ///
    /// # Errors
    /// `MalformedMessage` for bytes that are no answer,
    /// `CallSignalRejected` for the answer to another offer (an earlier one,
    /// another call, other identities), `KeyAgreementFailed` for a weak
    /// ephemeral key, `AlreadyUsed` once an answer was accepted.
    pub fn receive_answer(&self, answer: Vec<u8>) -> Result<Arc<OneToOneCall>, SottoError> {
        let mut waiting = self.lock();
        let call = waiting
            .take()
            .ok_or_else(|| SottoError::AlreadyUsed { reason: "the call was answered".into() })?;
        match call.receive_answer(&answer) {
            Ok(call) => Ok(Arc::new(OneToOneCall::try_from(call)?)),
            Err(refused) => {
                let reason = refused.reason().clone();
                *waiting = Some(refused.into_call());
                Err(reason.into())
            }
        }
    }
}

/// A call offer that arrived in the DM session with its caller, checked
/// against the session's identities: what the callee shows while the call
/// rings. Accept it with `SessionManager.accept_call`.
#[derive(uniffi::Object)]
pub struct CallOffer {
    pub(crate) offer: core::CallOffer,
    suite: CipherSuite,
}

impl TryFrom<core::CallOffer> for CallOffer {
    type Error = SottoError;

    fn try_from(offer: core::CallOffer) -> Result<Self, SottoError> {
        Ok(Self { suite: offer.suite().try_into()?, offer })
    }
}

#[uniffi::export]
impl CallOffer {
    /// The call's id.
    pub fn call_id(&self) -> Vec<u8> {
        self.offer.call_id().as_bytes().to_vec()
    }

    /// The cipher suite the caller chose.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }
}

/// An agreed 1:1 call: this side's one SFrame sender, and the receiver of
/// the other side's frames. Thread-safe; frames are numbered in the order
/// calls reach it.
///
/// To start over (after a restart, or to rekey), the caller makes a new
/// offer: the new agreement has new keys.
#[derive(uniffi::Object)]
pub struct OneToOneCall {
    call_id: Vec<u8>,
    suite: CipherSuite,
    send_kid: u64,
    receive_kid: u64,
    call: Mutex<Option<core::OneToOneCall>>,
}

impl TryFrom<core::OneToOneCall> for OneToOneCall {
    type Error = SottoError;

    fn try_from(call: core::OneToOneCall) -> Result<Self, SottoError> {
        Ok(Self {
            call_id: call.call_id().as_bytes().to_vec(),
            suite: call.suite().try_into()?,
            send_kid: call.send_kid().value(),
            receive_kid: call.receive_kid().value(),
            call: Mutex::new(Some(call)),
        })
    }
}

impl OneToOneCall {
    /// Runs `f` on the call, unless its keys were taken out.
    fn with_call<T>(
        &self,
        f: impl FnOnce(&mut core::OneToOneCall) -> Result<T, sotto::media::SframeError>,
    ) -> Result<T, SottoError> {
        // A frame that fails changes nothing, and a counter is never rolled
        // back, so a poisoned lock guards a call still safe to use.
        let mut call = self.call.lock().unwrap_or_else(PoisonError::into_inner);
        let call = call.as_mut().ok_or_else(|| SottoError::AlreadyUsed {
            reason: "the call's keys were taken out with into_keys".into(),
        })?;
        Ok(f(call)?)
    }
}

#[uniffi::export]
impl OneToOneCall {
    /// The call's id.
    pub fn call_id(&self) -> Vec<u8> {
        self.call_id.clone()
    }

    /// The call's cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// The SFrame key id of this side's frames.
    pub fn send_kid(&self) -> u64 {
        self.send_kid
    }

    /// The SFrame key id of the other side's frames.
    pub fn receive_kid(&self) -> u64 {
        self.receive_kid
    }

    /// Encrypts one of this side's frames: `header ‖ ciphertext ‖ tag`.
    /// `metadata` is authenticated but not sent; the receiver must pass the
    /// same bytes.
    ///
    /// # Errors
    /// `LimitExceeded` once every counter was used, `AlreadyUsed` after
    /// `into_keys`.
    pub fn encrypt(&self, metadata: Vec<u8>, frame: Vec<u8>) -> Result<Vec<u8>, SottoError> {
        self.with_call(|call| call.encrypt(&metadata, &frame))
    }

    /// Decrypts one of the other side's frames. A frame refused for any
    /// reason changes nothing; a frame under the keys of an earlier
    /// agreement (an earlier offer) fails authentication.
    ///
    /// # Errors
    /// `FrameRejected`, `FrameReplayed`, `AuthenticationFailed`, or
    /// `AlreadyUsed` after `into_keys`.
    pub fn decrypt(&self, metadata: Vec<u8>, frame: Vec<u8>) -> Result<Vec<u8>, SottoError> {
        self.with_call(|call| call.decrypt(&metadata, &frame))
    }

    /// Takes out the two directions' base keys, for a media stack with its
    /// own SFrame; this object's sender and receiver are dropped unused, and
    /// `encrypt` and `decrypt` fail from then on.
    ///
    /// **Warning:** secrets. Make exactly one SFrame sender from the send
    /// key, its counter starting at 0, and never keep the keys past the
    /// call: a second sender under the same key would reuse nonces. A side
    /// that restarts makes a new offer rather than reuse these keys.
    ///
    /// # Errors
    /// `AlreadyUsed` if the keys were taken out already.
    pub fn into_keys(&self) -> Result<OneToOneCallKeys, SottoError> {
        let call = self.call.lock().unwrap_or_else(PoisonError::into_inner).take();
        let call = call.ok_or_else(|| SottoError::AlreadyUsed {
            reason: "the call's keys were taken out already".into(),
        })?;
        let (send, receive) = call.into_keys();
        Ok(OneToOneCallKeys {
            send_kid: send.kid().value(),
            send_base_key: send.base_key().expose_secret().to_vec(),
            receive_kid: receive.kid().value(),
            receive_base_key: receive.base_key().expose_secret().to_vec(),
        })
    }
}

/// A new outgoing call and the offer to send to the callee inside the DM
/// session (as the plaintext of an `encrypt`, framed as the app frames its
/// messages).
#[derive(Debug, uniffi::Record)]
pub struct OfferedCall {
    /// The call, waiting for its answer.
    pub call: Arc<OutgoingCall>,
    /// The offer.
    pub offer: Vec<u8>,
}

/// An accepted call and the answer to send to the caller inside the DM
/// session.
#[derive(Debug, uniffi::Record)]
pub struct AcceptedCall {
    /// The agreed call.
    pub call: Arc<OneToOneCall>,
    /// The answer.
    pub answer: Vec<u8>,
}

/// The base keys of a 1:1 call's two directions, for a media stack with its
/// own SFrame (see `OneToOneCall.into_keys`): 32 bytes each, under suite
/// `OneToOneCall.suite()`.
///
/// **Warning:** secrets: hand them to the media stack and drop them.
#[derive(uniffi::Record)]
pub struct OneToOneCallKeys {
    /// The SFrame key id of this side's frames.
    pub send_kid: u64,
    /// The base key of this side's frames.
    pub send_base_key: Vec<u8>,
    /// The SFrame key id of the other side's frames.
    pub receive_kid: u64,
    /// The base key of the other side's frames.
    pub receive_base_key: Vec<u8>,
}

impl std::fmt::Debug for OneToOneCallKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The base keys never print.
        f.debug_struct("OneToOneCallKeys")
            .field("send_kid", &self.send_kid)
            .field("receive_kid", &self.receive_kid)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OutgoingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingCall")
            .field("call_id", &String::from_utf8_lossy(&self.call_id))
            .field("answered", &self.lock().is_none())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CallOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallOffer").field("offer", &self.offer).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OneToOneCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneToOneCall")
            .field("call_id", &String::from_utf8_lossy(&self.call_id))
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{connect, in_memory, send};

    const SUITE: CipherSuite = CipherSuite::Aes128GcmSha256_128;

    #[test]
    fn a_call_agrees_once_and_a_restart_agrees_anew() {
        let (alice, bob) = (in_memory("alice"), in_memory("bob"));
        connect(&alice, &bob);
        let offered = alice.offer_call(bob.address(), b"call-1".to_vec(), SUITE).unwrap();
        let offer = send(&alice, &bob, offered.offer.clone());
        let ringing = bob.parse_call_offer(alice.address(), offer.clone()).unwrap();
        assert_eq!((ringing.call_id(), ringing.suite()), (b"call-1".to_vec(), SUITE));
        let accepted = bob.accept_call(alice.address(), ringing.clone()).unwrap();
        let answer = send(&bob, &alice, accepted.answer.clone());

        // The caller restarts before the answer arrives: a new offer.
        let again = alice.offer_call(bob.address(), b"call-1".to_vec(), SUITE).unwrap();
        assert!(matches!(
            again.call.receive_answer(answer.clone()),
            Err(SottoError::CallSignalRejected { .. })
        ));
        let first = offered.call.receive_answer(answer.clone()).unwrap();
        assert!(matches!(offered.call.receive_answer(answer), Err(SottoError::AlreadyUsed { .. })));
        let frame = first.encrypt(Vec::new(), b"frame".to_vec()).unwrap();
        assert_eq!(accepted.call.decrypt(Vec::new(), frame.clone()).unwrap(), b"frame");

        // The same offer is accepted once.
        for replayed in [ringing, bob.parse_call_offer(alice.address(), offer).unwrap()] {
            assert!(matches!(
                bob.accept_call(alice.address(), replayed),
                Err(SottoError::CallSignalRejected { .. })
            ));
        }

        // The restarted call: the refused answer left it waiting.
        let offer = send(&alice, &bob, again.offer);
        let ringing = bob.parse_call_offer(alice.address(), offer).unwrap();
        let accepted_again = bob.accept_call(alice.address(), ringing).unwrap();
        let second = again.call.receive_answer(send(&bob, &alice, accepted_again.answer)).unwrap();
        let new_frame = second.encrypt(Vec::new(), b"frame".to_vec()).unwrap();
        assert_ne!(new_frame, frame);
        assert!(matches!(
            accepted_again.call.decrypt(Vec::new(), frame),
            Err(SottoError::AuthenticationFailed)
        ));
        assert_eq!(accepted_again.call.decrypt(Vec::new(), new_frame).unwrap(), b"frame");
    }

    #[test]
    fn keys_taken_out_once_match_the_other_side() {
        let (alice, bob) = (in_memory("alice"), in_memory("bob"));
        connect(&alice, &bob);
        let offered = alice.offer_call(bob.address(), b"call-2".to_vec(), SUITE).unwrap();
        let ringing = bob.parse_call_offer(alice.address(), offered.offer).unwrap();
        let accepted = bob.accept_call(alice.address(), ringing).unwrap();
        let on_alice = offered.call.receive_answer(accepted.answer).unwrap();
        assert_eq!(on_alice.send_kid(), accepted.call.receive_kid());

        let (mine, theirs) = (on_alice.into_keys().unwrap(), accepted.call.into_keys().unwrap());
        assert_eq!((mine.send_kid, mine.receive_kid), (theirs.receive_kid, theirs.send_kid));
        assert_eq!(mine.send_base_key, theirs.receive_base_key);
        assert_eq!(mine.receive_base_key, theirs.send_base_key);
        assert!(!format!("{mine:?}").contains(&format!("{:?}", mine.send_base_key)));
        assert!(matches!(on_alice.into_keys(), Err(SottoError::AlreadyUsed { .. })));
        assert!(matches!(
            on_alice.encrypt(Vec::new(), b"x".to_vec()),
            Err(SottoError::AlreadyUsed { .. })
        ));
    }
}
