//! 1:1 calls: the per-call key agreement of docs/PROTOCOL.md §9.1 through
//! two session managers, restarts, replays, refusals, and the documented
//! constants and lengths.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "tests: a failure is the test failing"
)]

mod common;

use common::{Manager, establish, manager};
use prost::Message as _;
use sotto::call::{CallError, CallId, OneToOneCall, OutgoingCall};
use sotto::keys::IdentityKeyPair;
use sotto::media::{CipherSuite, KeyId, SframeError};
use sotto::protocol::{
    CALL_KEYS_LABEL, MAX_ACCEPTED_CALL_OFFERS, MAX_CALL_SIGNAL_LEN, ONE_TO_ONE_KID_CALLEE,
    ONE_TO_ONE_KID_CALLER,
};
use sotto::session::SessionError;

const SUITE: CipherSuite = CipherSuite::Aes128GcmSha256_128;
const META: &[u8] = b"rtp header";

fn call_id() -> CallId {
    CallId::new(*b"call-2026-12-04").unwrap()
}

/// Alice and Bob with a DM session.
fn pair() -> (Manager, Manager) {
    let (alice, bob) = (manager("alice", 1), manager("bob", 2));
    establish(&alice, &bob);
    (alice, bob)
}

/// Sends `plaintext` from `from` to `to` over their DM session.
fn dm(from: &Manager, to: &Manager, plaintext: &[u8]) -> Vec<u8> {
    let envelope = from.encrypt(to.address(), plaintext).unwrap();
    to.decrypt(from.address(), &envelope).unwrap().commit().unwrap()
}

/// A whole agreement, Alice calling Bob: (Alice's call, Bob's call).
fn agree(alice: &Manager, bob: &Manager, suite: CipherSuite) -> (OneToOneCall, OneToOneCall) {
    let (calling, offer) = alice.offer_call(bob.address(), call_id(), suite).unwrap();
    let offer = bob.parse_call_offer(alice.address(), &dm(alice, bob, &offer)).unwrap();
    assert_eq!(offer.call_id(), &call_id());
    assert_eq!(offer.suite(), suite);
    let (on_bob, answer) = bob.accept_call(alice.address(), offer).unwrap();
    let on_alice = calling.receive_answer(&dm(bob, alice, &answer)).unwrap();
    (on_alice, on_bob)
}

#[test]
fn both_sides_agree_in_every_suite_and_the_directions_differ() {
    let (alice, bob) = pair();
    for suite in CipherSuite::ALL {
        let (mut on_alice, mut on_bob) = agree(&alice, &bob, suite);
        assert_eq!(on_alice.send_kid(), KeyId::new(ONE_TO_ONE_KID_CALLER));
        assert_eq!(on_bob.send_kid(), KeyId::new(ONE_TO_ONE_KID_CALLEE));
        assert_eq!(on_alice.receive_kid(), on_bob.send_kid());
        assert_eq!(on_alice.suite(), suite);
        for i in 0..5u8 {
            let frame = on_alice.encrypt(META, &[i; 40]).unwrap();
            assert_eq!(on_bob.decrypt(META, &frame).unwrap(), [i; 40]);
            let frame = on_bob.encrypt(META, &[i; 20]).unwrap();
            assert_eq!(on_alice.decrypt(META, &frame).unwrap(), [i; 20]);
            // Nobody hears its own frames: the other direction has another key.
            let echo = on_alice.encrypt(META, b"echo").unwrap();
            assert!(on_alice.decrypt(META, &echo).is_err());
        }
        let (send, receive) = on_alice.into_keys();
        let (bob_send, bob_receive) = on_bob.into_keys();
        assert_eq!(send.base_key().expose_secret(), bob_receive.base_key().expose_secret());
        assert_eq!(receive.base_key().expose_secret(), bob_send.base_key().expose_secret());
        assert_ne!(send.base_key().expose_secret(), receive.base_key().expose_secret());
    }
}

/// The bug this agreement fixes: a side that restarts mid-call starts its
/// SFrame counter at 0 again. Under new keys that repeats no nonce.
#[test]
fn a_side_that_restarts_gets_new_keys_and_old_frames_are_refused() {
    let (alice, bob) = pair();
    let (mut before, mut bob_before) = agree(&alice, &bob, SUITE);
    let first = before.encrypt(META, b"frame 0").unwrap();
    assert_eq!(bob_before.decrypt(META, &first).unwrap(), b"frame 0");
    let late = before.encrypt(META, b"sent just before the crash").unwrap();
    drop(before);

    // Alice's app restarts and calls again, with the same call id.
    let (mut after, mut bob_after) = agree(&alice, &bob, SUITE);
    let again = after.encrypt(META, b"frame 0").unwrap();
    assert_eq!(again[0], first[0], "the same KID and counter");
    assert_ne!(again, first, "under other keys");
    assert_eq!(bob_after.decrypt(META, &again).unwrap(), b"frame 0");
    // A frame under the old keys fails under the new ones.
    assert!(matches!(bob_after.decrypt(META, &late), Err(SframeError::AuthenticationFailed)));

    // The callee restarting is the same: it offers, the caller accepts.
    let (calling, offer) = bob.offer_call(alice.address(), call_id(), SUITE).unwrap();
    let offer = alice.parse_call_offer(bob.address(), &dm(&bob, &alice, &offer)).unwrap();
    let (mut on_alice, answer) = alice.accept_call(bob.address(), offer).unwrap();
    let mut on_bob = calling.receive_answer(&dm(&alice, &bob, &answer)).unwrap();
    let frame = on_bob.encrypt(META, b"bob restarted").unwrap();
    assert_eq!(on_alice.decrypt(META, &frame).unwrap(), b"bob restarted");
    assert!(on_alice.decrypt(META, &bob_before.encrypt(META, b"old").unwrap()).is_err());
}

#[test]
fn every_answer_to_one_offer_has_its_own_keys() {
    // One offer answered twice (by Bob's device and by a copy of it with
    // its own randomness): each answer has its own keys.
    let (alice, bob) = pair();
    let second_bob = common::manager_with_identity("bob", common::identity(2), 99);
    establish(&alice, &second_bob);
    let (calling, offer) = alice.offer_call(bob.address(), call_id(), SUITE).unwrap();
    let on_one = bob.parse_call_offer(alice.address(), &offer).unwrap();
    let on_two = second_bob.parse_call_offer(alice.address(), &offer).unwrap();
    let (first, first_answer) = bob.accept_call(alice.address(), on_one).unwrap();
    let (second, second_answer) = second_bob.accept_call(alice.address(), on_two).unwrap();
    assert_ne!(first_answer, second_answer);
    let (first_send, _) = first.into_keys();
    let (second_send, _) = second.into_keys();
    assert_ne!(first_send.base_key().expose_secret(), second_send.base_key().expose_secret());
    // The caller takes one answer: the first.
    calling.receive_answer(&first_answer).unwrap();
}

#[test]
fn a_replayed_offer_is_refused() {
    let (alice, bob) = pair();
    let (_calling, offer) = alice.offer_call(bob.address(), call_id(), SUITE).unwrap();
    let parsed = bob.parse_call_offer(alice.address(), &offer).unwrap();
    bob.accept_call(alice.address(), parsed).unwrap();
    let again = bob.parse_call_offer(alice.address(), &offer).unwrap();
    let error = bob.accept_call(alice.address(), again).unwrap_err();
    assert!(matches!(error, SessionError::Call(CallError::ReplayedOffer)), "{error:?}");

    // The DM message that carried it is refused as a duplicate too, across
    // restarts of the callee (its session remembers).
    let envelope = alice.encrypt(bob.address(), &offer).unwrap();
    bob.decrypt(alice.address(), &envelope).unwrap().commit().unwrap();
    assert!(common::is_duplicate(&bob.decrypt(alice.address(), &envelope).unwrap_err()));
}

#[test]
fn the_accepted_offers_remembered_are_bounded() {
    let (alice, bob) = pair();
    let offers: Vec<Vec<u8>> = (0..=MAX_ACCEPTED_CALL_OFFERS)
        .map(|_| alice.offer_call(bob.address(), call_id(), SUITE).unwrap().1)
        .collect();
    for offer in &offers {
        let parsed = bob.parse_call_offer(alice.address(), offer).unwrap();
        bob.accept_call(alice.address(), parsed).unwrap();
    }
    // The newest are still refused; the oldest was forgotten (the DM
    // session's duplicate check is what refuses such a replay).
    let newest = bob.parse_call_offer(alice.address(), offers.last().unwrap()).unwrap();
    assert!(bob.accept_call(alice.address(), newest).is_err());
    let oldest = bob.parse_call_offer(alice.address(), &offers[0]).unwrap();
    assert!(bob.accept_call(alice.address(), oldest).is_ok());
}

#[test]
fn an_answer_to_another_offer_is_refused_and_the_call_waits_on() {
    let (alice, bob) = pair();
    let (first_call, first_offer) = alice.offer_call(bob.address(), call_id(), SUITE).unwrap();
    let (second_call, second_offer) = alice.offer_call(bob.address(), call_id(), SUITE).unwrap();
    let first = bob.parse_call_offer(alice.address(), &first_offer).unwrap();
    let second = bob.parse_call_offer(alice.address(), &second_offer).unwrap();
    let (mut on_bob, first_answer) = bob.accept_call(alice.address(), first).unwrap();
    let (_, second_answer) = bob.accept_call(alice.address(), second).unwrap();

    // The second answer is refused by the first call, which then still
    // takes its own answer.
    let refused = first_call.receive_answer(&second_answer).unwrap_err();
    assert_eq!(refused.reason(), &CallError::AnswerMismatch);
    let mut on_alice = refused.into_call().receive_answer(&first_answer).unwrap();
    let frame = on_alice.encrypt(META, b"hi").unwrap();
    assert_eq!(on_bob.decrypt(META, &frame).unwrap(), b"hi");
    second_call.receive_answer(&second_answer).unwrap();

    // Garbage is refused too, and leaves the call waiting.
    let (calling, offer) = alice.offer_call(bob.address(), call_id(), SUITE).unwrap();
    let refused = calling.receive_answer(b"\xff\xff\xff").unwrap_err();
    assert!(matches!(refused.reason(), CallError::MalformedCallSignal { .. }));
    let refused = refused.into_call().receive_answer(&offer).unwrap_err();
    assert!(
        matches!(refused.reason(), CallError::MalformedCallSignal { .. }),
        "an offer is no answer"
    );
}

#[test]
fn an_offer_for_other_identities_is_refused() {
    let (alice, bob) = pair();
    let carol = manager("carol", 3);
    establish(&alice, &carol);
    establish(&carol, &bob);
    // Alice's offer to Carol, handed to Bob as if Alice had sent it.
    let (_, offer) = alice.offer_call(carol.address(), call_id(), SUITE).unwrap();
    let error = bob.parse_call_offer(alice.address(), &offer).unwrap_err();
    assert!(matches!(error, SessionError::Call(CallError::IdentityMismatch)), "{error:?}");
    // Alice's offer to Bob, claimed by Carol as hers.
    let (_, offer) = alice.offer_call(bob.address(), call_id(), SUITE).unwrap();
    let error = bob.parse_call_offer(carol.address(), &offer).unwrap_err();
    assert!(matches!(error, SessionError::Call(CallError::IdentityMismatch)), "{error:?}");
    // No session, no call.
    let dave = manager("dave", 4);
    assert!(matches!(
        alice.offer_call(dave.address(), call_id(), SUITE),
        Err(SessionError::NoSession)
    ));
}

#[test]
fn malformed_offers_are_typed_errors_and_never_panic() {
    let (alice, bob) = pair();
    let (_, offer) = alice.offer_call(bob.address(), call_id(), SUITE).unwrap();
    let parse = |bytes: &[u8]| bob.parse_call_offer(alice.address(), bytes);
    let original = parse(&offer).unwrap();
    for len in 0..offer.len() {
        assert!(parse(&offer[..len]).is_err(), "offer cut to {len} bytes");
    }
    for index in 0..offer.len() {
        for bit in [0x01, 0x80] {
            let mut flipped = offer.clone();
            flipped[index] ^= bit;
            // Either refused, or (a flipped call id or ephemeral key) a
            // valid other offer.
            if let Ok(parsed) = parse(&flipped) {
                assert_ne!(parsed, original, "byte {index} flipped, the same offer");
            }
        }
    }
    assert!(matches!(
        parse(&vec![0u8; MAX_CALL_SIGNAL_LEN + 1]),
        Err(SessionError::Call(CallError::MalformedCallSignal { .. }))
    ));
    let mut decoded = WireOffer::decode(offer.as_slice()).unwrap();
    decoded.version = 2;
    assert!(matches!(
        parse(&decoded.encode_to_vec()),
        Err(SessionError::Call(CallError::UnsupportedSignalVersion { expected: 1, found: 2 }))
    ));
    let mut decoded = WireOffer::decode(offer.as_slice()).unwrap();
    decoded.cipher_suite = 0x7777;
    assert!(matches!(
        parse(&decoded.encode_to_vec()),
        Err(SessionError::Call(CallError::MalformedCallSignal { .. }))
    ));
    // A small-order ephemeral key parses, but accepting it fails.
    let mut decoded = WireOffer::decode(offer.as_slice()).unwrap();
    decoded.caller_ephemeral = vec![0; 32];
    let weak = parse(&decoded.encode_to_vec()).unwrap();
    let error = bob.accept_call(alice.address(), weak).unwrap_err();
    assert!(matches!(error, SessionError::Call(CallError::WeakEphemeralKey)), "{error:?}");
}

/// `CallOffer` of proto/wire.proto, to tamper with offers.
#[derive(Clone, PartialEq, prost::Message)]
struct WireOffer {
    #[prost(uint32, tag = "1")]
    version: u32,
    #[prost(bytes = "vec", tag = "2")]
    call_id: Vec<u8>,
    #[prost(uint32, tag = "3")]
    cipher_suite: u32,
    #[prost(bytes = "vec", tag = "4")]
    caller_identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    callee_identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    caller_ephemeral: Vec<u8>,
}

#[test]
fn the_longest_offer_and_answer_are_as_documented() {
    let identity = |seed| IdentityKeyPair::from_seed(&[seed; 32]).public();
    let long_id = CallId::new(vec![b'x'; 255]).unwrap();
    let suite = CipherSuite::ChaCha20Poly1305Sha256_128;
    let (_, offer) =
        OutgoingCall::offer(long_id, suite, identity(1), identity(2), &mut sotto::rng::os_rng())
            .unwrap();
    assert_eq!(offer.len(), 366);
    let parsed = sotto::call::CallOffer::parse(&offer, &identity(1), &identity(2)).unwrap();
    let (_, answer) = parsed.accept(&mut sotto::rng::os_rng()).unwrap();
    assert_eq!(answer.len(), 400);
    assert!(answer.len() <= MAX_CALL_SIGNAL_LEN);
}

/// docs/PROTOCOL.md §9.1 states the constants of 1:1 calls.
#[test]
fn the_calls_section_states_the_one_to_one_constants() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md")).unwrap();
    // Compared with the document's words joined by single spaces: a
    // sentence may wrap, and the code blocks align with runs of spaces.
    let doc = doc.split_whitespace().collect::<Vec<_>>().join(" ");
    for line in [
        format!(
            "CALL_KEYS_LABEL = \"{}\" ({} bytes)",
            String::from_utf8_lossy(CALL_KEYS_LABEL),
            CALL_KEYS_LABEL.len()
        ),
        format!("KID ONE_TO_ONE_KID_CALLER = {ONE_TO_ONE_KID_CALLER}"),
        format!("KID ONE_TO_ONE_KID_CALLEE = {ONE_TO_ONE_KID_CALLEE}"),
        format!("`MAX_CALL_SIGNAL_LEN` = {MAX_CALL_SIGNAL_LEN}"),
        format!("`MAX_ACCEPTED_CALL_OFFERS` = {MAX_ACCEPTED_CALL_OFFERS}"),
        "The longest valid offer is 366 bytes and the longest answer 400.".into(),
    ] {
        assert!(doc.contains(&line), "§9.1 lacks `{line}`");
    }
}
