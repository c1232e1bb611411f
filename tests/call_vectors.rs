//! The 1:1 call known answers of `tests/vectors/calls/`, written by an
//! independent Python implementation of docs/PROTOCOL.md §9.1 and §10: the
//! offers and answers Sotto makes from the same ephemeral keys are the same
//! bytes, the agreed calls' frames are the same bytes, and every invalid
//! input is refused with the error the document names.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "tests: a failure is the test failing"
)]

use serde_json::Value;
use sotto::call::{CallError, CallId, CallOffer, OutgoingCall};
use sotto::keys::{IdentityKey, IdentityKeyPair};
use sotto::media::{BaseKey, CipherSuite, KeyId, SframeSender};
use sotto::protocol::CALL_KEYS_LABEL;

const VECTORS: &str = include_str!("vectors/calls/call_vectors.json");

/// Hands out the bytes it holds: an ephemeral key the vectors fix.
struct Fixed(Vec<u8>);

impl rand_core::TryRng for Fixed {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("key generation draws bytes")
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("key generation draws bytes")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert_eq!(dst.len(), self.0.len(), "one 32-byte draw");
        dst.copy_from_slice(&self.0);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for Fixed {}

fn bytes(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

fn identity(value: &Value) -> IdentityKey {
    let seed: [u8; 32] = bytes(&value["seed"]).try_into().unwrap();
    let public = IdentityKeyPair::from_seed(&seed).public();
    assert_eq!(public.to_bytes().to_vec(), bytes(&value["public"]));
    public
}

fn suite(value: &Value) -> CipherSuite {
    CipherSuite::from_id(u16::try_from(value.as_u64().unwrap()).unwrap()).unwrap()
}

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

#[test]
fn offers_answers_keys_and_frames_match_the_independent_implementation() {
    let vectors = vectors();
    assert_eq!(bytes(&vectors["call_keys_label"]), CALL_KEYS_LABEL);
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let call_id = CallId::new(bytes(&case["call_id"])).unwrap();
        let suite = suite(&case["cipher_suite"]);
        let (caller, callee) =
            (identity(&case["caller_identity"]), identity(&case["callee_identity"]));
        let caller_ephemeral = Fixed(bytes(&case["caller_ephemeral"]["private"]));
        let callee_ephemeral = Fixed(bytes(&case["callee_ephemeral"]["private"]));

        let (calling, offer) =
            OutgoingCall::offer(call_id, suite, caller, callee, &mut { caller_ephemeral }).unwrap();
        assert_eq!(hex::encode(&offer), case["offer"].as_str().unwrap(), "{name}: offer");
        let parsed = CallOffer::parse(&offer, &caller, &callee).unwrap();
        let (mut on_callee, answer) = parsed.accept(&mut { callee_ephemeral }).unwrap();
        assert_eq!(hex::encode(&answer), case["answer"].as_str().unwrap(), "{name}: answer");
        let mut on_caller = calling.receive_answer(&answer).unwrap();

        let directions = &case["directions"];
        for (direction, kid, side) in
            [("caller_to_callee", 0, &mut on_caller), ("callee_to_caller", 1, &mut on_callee)]
        {
            let direction = &directions[direction];
            assert_eq!(direction["kid"].as_u64(), Some(kid));
            assert_eq!(side.send_kid(), KeyId::new(kid), "{name}");
            for sframe in direction["sframe"].as_array().unwrap() {
                let frames = sframe["frames"].as_array().unwrap();
                let mut sender = if sframe["offered"].as_bool().unwrap() {
                    // The agreed call's own sender.
                    None
                } else {
                    let base_key = BaseKey::from_bytes(&bytes(&direction["base_key"])).unwrap();
                    Some(SframeSender::new(suite_of(sframe), KeyId::new(kid), &base_key).unwrap())
                };
                for frame in frames {
                    let (metadata, plaintext) =
                        (bytes(&frame["metadata"]), bytes(&frame["plaintext"]));
                    let made = match sender.as_mut() {
                        Some(sender) => sender.encrypt(&metadata, &plaintext).unwrap(),
                        None => side.encrypt(&metadata, &plaintext).unwrap(),
                    };
                    assert_eq!(hex::encode(&made), frame["frame"].as_str().unwrap(), "{name}");
                }
            }
        }
        // The receivers open the vectors' frames of the offered suite.
        for (direction, receiver) in
            [("caller_to_callee", &mut on_callee), ("callee_to_caller", &mut on_caller)]
        {
            let offered = directions[direction]["sframe"]
                .as_array()
                .unwrap()
                .iter()
                .find(|sframe| sframe["offered"].as_bool().unwrap())
                .unwrap();
            for frame in offered["frames"].as_array().unwrap() {
                let opened = receiver.decrypt(&bytes(&frame["metadata"]), &bytes(&frame["frame"]));
                assert_eq!(opened.unwrap(), bytes(&frame["plaintext"]), "{name}");
            }
        }
        let (send, receive) = on_caller.into_keys();
        let okm = bytes(&case["okm"]);
        assert_eq!(send.base_key().expose_secret(), &okm[..32], "{name}");
        assert_eq!(receive.base_key().expose_secret(), &okm[32..], "{name}");
    }
}

fn suite_of(sframe: &Value) -> CipherSuite {
    suite(&sframe["cipher_suite"])
}

fn expected_error(name: &str, error: &CallError) -> bool {
    match name {
        "AnswerMismatch" => matches!(error, CallError::AnswerMismatch),
        "UnsupportedSignalVersion" => matches!(error, CallError::UnsupportedSignalVersion { .. }),
        "MalformedCallSignal" => matches!(error, CallError::MalformedCallSignal { .. }),
        "IdentityMismatch" => matches!(error, CallError::IdentityMismatch),
        "WeakEphemeralKey" => matches!(error, CallError::WeakEphemeralKey),
        other => panic!("an error the vectors name but the test does not know: {other}"),
    }
}

#[test]
fn invalid_offers_and_answers_are_refused_as_the_document_says() {
    let vectors = vectors();
    let invalid = vectors["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 10);
    let caller = identity(&vectors["cases"][0]["caller_identity"]);
    let callee = identity(&vectors["cases"][0]["callee_identity"]);
    for vector in invalid {
        let name = vector["name"].as_str().unwrap();
        let expected = vector["error"].as_str().unwrap();
        let error = match vector["receiver"].as_str().unwrap() {
            "callee" => {
                let recorded =
                    IdentityKey::from_bytes(&bytes(&vector["recorded_caller_identity"])).unwrap();
                let own = IdentityKey::from_bytes(&bytes(&vector["own_identity"])).unwrap();
                CallOffer::parse(&bytes(&vector["offer"]), &recorded, &own)
                    .and_then(|offer| {
                        offer.accept(&mut Fixed(bytes(&vector["callee_ephemeral_private"])))
                    })
                    .err()
            }
            "caller" => {
                // Make the pending call again from its ephemeral key: the
                // same offer bytes.
                let pending = bytes(&vector["pending_offer"]);
                let offer = CallOffer::parse(&pending, &caller, &callee).unwrap();
                let (calling, again) = OutgoingCall::offer(
                    offer.call_id().clone(),
                    offer.suite(),
                    caller,
                    callee,
                    &mut Fixed(bytes(&vector["caller_ephemeral_private"])),
                )
                .unwrap();
                assert_eq!(again, pending, "{name}: the pending offer");
                calling
                    .receive_answer(&bytes(&vector["answer"]))
                    .err()
                    .map(|refused| refused.reason().clone())
            }
            other => panic!("unknown receiver {other}"),
        };
        let error = error.unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(expected_error(expected, &error), "{name}: expected {expected}, got {error:?}");
    }
}
