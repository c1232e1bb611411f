//! 1:1 calls (docs/PROTOCOL.md §9.1): each call agrees on its own SFrame
//! keys from the X25519 ephemerals of its offer and answer, which travel as
//! the plaintexts of DM session messages.
//!
//! The caller's `SessionManager.offerCall` makes an [`OutgoingCall`] and the
//! offer; the callee parses the offer (`parseCallOffer`, a [`CallOffer`])
//! and accepts it (`acceptCall`), which makes its [`OneToOneCall`] and the
//! answer; the caller's [`OutgoingCall::receive_answer`] makes its
//! [`OneToOneCall`]. The core's steps consume their input; JavaScript can
//! keep a reference to a used-up object, so an [`OutgoingCall`] and a
//! [`OneToOneCall`] hold their core value in a `RefCell<Option<_>>` and
//! refuse a second use with `ALREADY_USED`; a refused answer gives the
//! outgoing call back, waiting for another. A [`CallOffer`] is accepted
//! from a copy (as in the uniffi bindings): the manager remembers the offers
//! it accepted, and refuses one again as a replay
//! (`CALL_SIGNAL_REJECTED`).

use std::cell::RefCell;

use sotto::call::{self as core, CallId};
use wasm_bindgen::prelude::*;

use crate::error::{ErrorCode, JsResult, SottoError};
use crate::js;

/// A call id from its bytes (1 to 255).
pub(crate) fn call_id(bytes: &[u8]) -> JsResult<CallId> {
    Ok(CallId::new(bytes)?)
}

fn already_used(what: &str) -> SottoError {
    SottoError::new(ErrorCode::AlreadyUsed, what)
}

/// The caller's side of a 1:1 call whose offer is sent and not yet
/// answered: it holds the offer's ephemeral secret until the answer.
#[wasm_bindgen]
pub struct OutgoingCall {
    call_id: Vec<u8>,
    call: RefCell<Option<core::OutgoingCall>>,
}

impl From<core::OutgoingCall> for OutgoingCall {
    fn from(call: core::OutgoingCall) -> Self {
        Self { call_id: call.call_id().as_bytes().to_vec(), call: RefCell::new(Some(call)) }
    }
}

#[wasm_bindgen]
impl OutgoingCall {
    /// The call's id.
    #[wasm_bindgen(getter, js_name = callId)]
    pub fn call_id(&self) -> Vec<u8> {
        self.call_id.clone()
    }

    /// Completes the call from the callee's answer (the plaintext of the DM
    /// message it arrived in). This object is then used up.
    ///
    /// Throws `CALL_SIGNAL_REJECTED` for the answer to another offer (an
    /// earlier one, another call, other identities), `MALFORMED_MESSAGE` for bytes
    /// that are no answer, `KEY_AGREEMENT_FAILED` for a small-order
    /// ephemeral key: after these the call still waits for its answer.
    /// `ALREADY_USED` once an answer was accepted.
    #[wasm_bindgen(js_name = receiveAnswer)]
    pub fn receive_answer(&self, answer: &[u8]) -> JsResult<OneToOneCall> {
        let call = self
            .call
            .borrow_mut()
            .take()
            .ok_or_else(|| already_used("this call has received its answer already"))?;
        match call.receive_answer(answer) {
            Ok(call) => Ok(call.into()),
            Err(refused) => {
                let reason = refused.reason().clone();
                *self.call.borrow_mut() = Some(refused.into_call());
                Err(reason.into())
            }
        }
    }
}

/// A call offer from a peer, parsed and checked against the identities of
/// the DM session it arrived in: what the app shows while the call rings.
/// `SessionManager.acceptCall` accepts it (once: the manager refuses it
/// again as a replay).
#[wasm_bindgen]
pub struct CallOffer(pub(crate) core::CallOffer);

impl From<core::CallOffer> for CallOffer {
    fn from(offer: core::CallOffer) -> Self {
        Self(offer)
    }
}

#[wasm_bindgen]
impl CallOffer {
    /// The call's id.
    #[wasm_bindgen(getter, js_name = callId)]
    pub fn call_id(&self) -> Vec<u8> {
        self.0.call_id().as_bytes().to_vec()
    }

    /// The cipher suite the caller chose.
    #[wasm_bindgen(getter, unchecked_return_type = "CipherSuite")]
    pub fn suite(&self) -> u32 {
        self.0.suite().id().into()
    }
}

/// An agreed 1:1 call: this side's one SFrame sender (its counter from 0)
/// and the receiver of the other side's frames. A side that restarts makes
/// a new offer; frames under the old keys fail authentication under the
/// new ones.
#[wasm_bindgen]
pub struct OneToOneCall {
    call_id: Vec<u8>,
    suite: u16,
    send_kid: u64,
    receive_kid: u64,
    call: RefCell<Option<core::OneToOneCall>>,
}

impl From<core::OneToOneCall> for OneToOneCall {
    fn from(call: core::OneToOneCall) -> Self {
        Self {
            call_id: call.call_id().as_bytes().to_vec(),
            suite: call.suite().id(),
            send_kid: call.send_kid().value(),
            receive_kid: call.receive_kid().value(),
            call: RefCell::new(Some(call)),
        }
    }
}

impl OneToOneCall {
    fn with<T>(&self, f: impl FnOnce(&mut core::OneToOneCall) -> T) -> JsResult<T> {
        let mut call = self.call.borrow_mut();
        let call = call.as_mut().ok_or_else(|| already_used("this call's keys were taken"))?;
        Ok(f(call))
    }
}

#[wasm_bindgen]
impl OneToOneCall {
    /// The call's id.
    #[wasm_bindgen(getter, js_name = callId)]
    pub fn call_id(&self) -> Vec<u8> {
        self.call_id.clone()
    }

    /// The call's cipher suite.
    #[wasm_bindgen(getter, unchecked_return_type = "CipherSuite")]
    pub fn suite(&self) -> u32 {
        self.suite.into()
    }

    /// The SFrame key id of this side's frames.
    #[wasm_bindgen(getter, js_name = sendKid)]
    pub fn send_kid(&self) -> u64 {
        self.send_kid
    }

    /// The SFrame key id of the other side's frames.
    #[wasm_bindgen(getter, js_name = receiveKid)]
    pub fn receive_kid(&self) -> u64 {
        self.receive_kid
    }

    /// Encrypts one frame: `header ‖ ciphertext ‖ tag`. `metadata` is
    /// authenticated but not sent; the receiver must pass the same bytes.
    ///
    /// Throws `LIMIT_EXCEEDED` once every counter was used, `ALREADY_USED`
    /// after `intoKeys()`.
    pub fn encrypt(&self, metadata: &[u8], frame: &[u8]) -> JsResult<Vec<u8>> {
        self.with(|call| call.encrypt(metadata, frame))?.map_err(Into::into)
    }

    /// Decrypts one frame of the other side. A frame refused for any reason
    /// changes nothing.
    ///
    /// Throws `FRAME_REJECTED`, `FRAME_REPLAYED`, `AUTHENTICATION_FAILED`
    /// (a frame under the keys of an earlier agreement included), or
    /// `ALREADY_USED` after `intoKeys()`.
    pub fn decrypt(&self, metadata: &[u8], frame: &[u8]) -> JsResult<Vec<u8>> {
        self.with(|call| call.decrypt(metadata, frame))?.map_err(Into::into)
    }

    /// The two directions' key ids and base keys instead of Sotto's sender
    /// and receiver, for a media stack with its own SFrame. This object is
    /// then used up (its sender is dropped unused).
    ///
    /// **Warning:** the base keys are secrets. Make exactly one SFrame
    /// sender from the send key, its counter starting at 0, and never keep
    /// the key past the call: a second sender under it would reuse nonces.
    /// A restarted side makes a new offer rather than reuse these keys.
    ///
    /// Throws `ALREADY_USED` the second time.
    #[wasm_bindgen(js_name = intoKeys, unchecked_return_type = "OneToOneCallKeys")]
    pub fn into_keys(&self) -> JsResult<JsValue> {
        let call = self
            .call
            .borrow_mut()
            .take()
            .ok_or_else(|| already_used("this call's keys were taken already"))?;
        let (send, receive) = call.into_keys();
        Ok(js::object(&[
            ("sendKid", send.kid().value().into()),
            ("sendBaseKey", js::bytes(send.base_key().expose_secret())),
            ("receiveKid", receive.kid().value().into()),
            ("receiveBaseKey", js::bytes(receive.base_key().expose_secret())),
        ]))
    }
}
