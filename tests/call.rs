//! Call keys end to end: group calls (joins, leaves, epochs, frames across
//! both), bad input to group calls (typed errors, no panic, no state
//! change), and sender keys carried by real DM sessions between three
//! devices. 1:1 calls are in `tests/one_to_one_call.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a failure here is the test failing"
)]

use sotto::call::{
    CallError, CallId, EPOCH_BITS, Epoch, GroupCall, GroupKeyId, MAX_EPOCH,
    MAX_SENDER_KEY_MESSAGE_LEN, MAX_STEP, PARTICIPANT_BITS, ParticipantId, STEP_BITS,
};
use sotto::keys::{IdentityKeyPair, PreKeyBundle};
use sotto::media::{BaseKey, CipherSuite, KeyId, SframeError, SframeSender};
use sotto::protocol::{MAX_CALL_ID_LEN, WIRE_VERSION};
use sotto::session::{Address, SessionManager};
use sotto::store::InMemoryStore;

const SUITE: CipherSuite = CipherSuite::Aes128GcmSha256_128;
const META: &[u8] = b"rtp header";

const A: ParticipantId = ParticipantId::new(1);
const B: ParticipantId = ParticipantId::new(2);
const C: ParticipantId = ParticipantId::new(3);
const D: ParticipantId = ParticipantId::new(4);

fn call_id() -> CallId {
    CallId::new(*b"call-group-1").unwrap()
}

fn epoch(n: u64) -> Epoch {
    Epoch::new(n).unwrap()
}

fn join(me: ParticipantId, at: Epoch) -> GroupCall {
    join_with(SUITE, me, at)
}

fn join_with(suite: CipherSuite, me: ParticipantId, at: Epoch) -> GroupCall {
    GroupCall::new(call_id(), suite, me, at, &mut sotto::rng::os_rng()).unwrap()
}

/// Sends `from`'s current sender key to each of `to`.
fn share(from: &GroupCall, to: &mut [&mut GroupCall]) {
    let message = from.sender_key_message();
    for receiver in to {
        receiver.receive_sender_key(from.me(), &message).unwrap();
    }
}

/// `frame` from `from` decrypts at each of `to`.
fn heard(from: &mut GroupCall, to: &mut [&mut GroupCall], text: &[u8]) -> Vec<u8> {
    let frame = from.encrypt(META, text).unwrap();
    for receiver in to {
        assert_eq!(receiver.decrypt(META, &frame).unwrap(), text, "at {}", receiver.me());
    }
    frame
}

/// Alice and Bob in epoch 0, each holding the other's key.
fn pair() -> (GroupCall, GroupCall) {
    let (mut alice, mut bob) = (join(A, Epoch::ZERO), join(B, Epoch::ZERO));
    share(&alice, &mut [&mut bob]);
    share(&bob, &mut [&mut alice]);
    (alice, bob)
}

/// `joiner` joins the members: each member ratchets and sends its new step
/// to the joiner, who sends its key to every member.
fn admit(members: &mut [&mut GroupCall], joiner: &mut GroupCall) {
    for member in members.iter_mut() {
        let message = member.participant_joined(joiner.me()).unwrap();
        joiner.receive_sender_key(member.me(), &message).unwrap();
    }
    share(joiner, members);
}

/// `leaver` leaves: each remaining member moves to the next epoch and sends
/// its new key to every other remaining member.
fn remove(remaining: &mut [&mut GroupCall], leaver: ParticipantId) {
    let messages: Vec<_> = remaining
        .iter_mut()
        .map(|member| {
            (member.me(), member.participant_left(leaver, &mut sotto::rng::os_rng()).unwrap())
        })
        .collect();
    for (from, message) in &messages {
        for member in remaining.iter_mut().filter(|m| m.me() != *from) {
            member.receive_sender_key(*from, message).unwrap();
        }
    }
}

fn participants(call: &GroupCall) -> Vec<ParticipantId> {
    call.participants().collect()
}

// ---- group flows ----------------------------------------------------------

#[test]
fn three_participants_a_join_and_a_leave_in_every_suite() {
    for suite in CipherSuite::ALL {
        let mut alice = join_with(suite, A, Epoch::ZERO);
        let mut bob = join_with(suite, B, Epoch::ZERO);
        let mut carol = join_with(suite, C, Epoch::ZERO);
        share(&alice, &mut [&mut bob, &mut carol]);
        share(&bob, &mut [&mut alice, &mut carol]);
        share(&carol, &mut [&mut alice, &mut bob]);
        heard(&mut alice, &mut [&mut bob, &mut carol], b"a0");
        heard(&mut bob, &mut [&mut alice, &mut carol], b"b0");
        heard(&mut carol, &mut [&mut alice, &mut bob], b"c0");

        let mut dave = join_with(suite, D, Epoch::ZERO);
        admit(&mut [&mut alice, &mut bob, &mut carol], &mut dave);
        assert_eq!(alice.key_id(), GroupKeyId::new(Epoch::ZERO, A, 1));
        assert_eq!(participants(&dave), [A, B, C, D]);
        heard(&mut alice, &mut [&mut bob, &mut carol, &mut dave], b"a1");
        heard(&mut dave, &mut [&mut alice, &mut bob, &mut carol], b"d0");
        assert_eq!(bob.sender_key_of(A), Some(GroupKeyId::new(Epoch::ZERO, A, 1)));

        remove(&mut [&mut alice, &mut carol, &mut dave], B);
        assert_eq!(alice.key_id(), GroupKeyId::new(epoch(1), A, 0));
        assert_eq!(participants(&alice), [A, C, D]);
        let frame = heard(&mut carol, &mut [&mut alice, &mut dave], b"c, epoch 1");
        assert!(bob.decrypt(META, &frame).is_err(), "{suite:?}");
        heard(&mut alice, &mut [&mut carol, &mut dave], b"a, epoch 1");
    }
}

#[test]
fn the_joiner_cannot_decrypt_frames_from_before_it_joined() {
    let (mut alice, mut bob) = pair();
    let before = heard(&mut alice, &mut [&mut bob], b"before Carol");
    let bob_before = bob.encrypt(META, b"Bob, before Carol").unwrap();
    let mut carol = join(C, Epoch::ZERO);
    admit(&mut [&mut alice, &mut bob], &mut carol);

    // Carol holds step 1 of Alice's and Bob's keys: step 0 is out of reach.
    assert_eq!(
        carol.decrypt(META, &before),
        Err(CallError::StaleStep { participant: A, current: 1, found: 0 })
    );
    assert!(matches!(carol.decrypt(META, &bob_before), Err(CallError::StaleStep { .. })));
    heard(&mut alice, &mut [&mut bob, &mut carol], b"after Carol");
}

#[test]
fn frames_sent_before_a_member_handled_the_join_stay_hidden_from_the_joiner() {
    let (mut alice, mut bob) = pair();
    let mut carol = join(C, Epoch::ZERO);
    // Alice handles the join; Bob's signalling is late.
    let for_carol = alice.participant_joined(C).unwrap();
    carol.receive_sender_key(A, &for_carol).unwrap();
    share(&carol, &mut [&mut alice, &mut bob]); // Bob now knows Carol too
    let late = bob.encrypt(META, b"Bob at step 0").unwrap();
    assert_eq!(carol.decrypt(META, &late), Err(CallError::UnknownSender { participant: B }));
    assert_eq!(alice.decrypt(META, &late).unwrap(), b"Bob at step 0");
    let for_carol = bob.participant_joined(C).unwrap();
    carol.receive_sender_key(B, &for_carol).unwrap();
    assert!(matches!(carol.decrypt(META, &late), Err(CallError::StaleStep { .. })));
    heard(&mut bob, &mut [&mut alice, &mut carol], b"Bob at step 1");
}

#[test]
fn frames_in_flight_across_a_join_still_decrypt_once() {
    let (mut alice, mut bob) = pair();
    let step0 = alice.encrypt(META, b"step 0").unwrap();
    alice.participant_joined(C).unwrap();
    let step1 = alice.encrypt(META, b"step 1").unwrap();
    // Bob sees the new step first, ratchets, and still takes the late frame.
    assert_eq!(bob.decrypt(META, &step1).unwrap(), b"step 1");
    assert_eq!(bob.decrypt(META, &step0).unwrap(), b"step 0");
    assert!(matches!(
        bob.decrypt(META, &step0),
        Err(CallError::Sframe(SframeError::Replay { .. }))
    ));
    assert!(matches!(
        bob.decrypt(META, &step1),
        Err(CallError::Sframe(SframeError::Replay { .. }))
    ));
    // Two joins later, step 0 is gone (only the newest two steps are kept).
    alice.participant_joined(D).unwrap();
    let step2 = alice.encrypt(META, b"step 2").unwrap();
    assert_eq!(bob.decrypt(META, &step2).unwrap(), b"step 2");
    assert!(matches!(
        bob.decrypt(META, &step1),
        Err(CallError::Sframe(SframeError::Replay { .. }))
    ));
    assert_eq!(
        bob.decrypt(META, &step0),
        Err(CallError::StaleStep { participant: A, current: 2, found: 0 })
    );
    assert_eq!(bob.sender_key_of(A), Some(GroupKeyId::new(Epoch::ZERO, A, 2)));
}

#[test]
fn a_ratchet_jump_over_several_joins() {
    let (mut alice, mut bob) = pair();
    for p in 10..60 {
        alice.participant_joined(ParticipantId::new(p)).unwrap();
    }
    let frame = heard(&mut alice, &mut [&mut bob], b"step 50");
    assert_eq!(GroupKeyId::from_kid(header_kid(&frame)).step(), 50);
    assert_eq!(bob.sender_key_of(A).unwrap().step(), 50);
}

#[test]
fn a_leave_starts_a_new_epoch_the_leaver_cannot_read() {
    let (mut alice, mut bob) = pair();
    let mut carol = join(C, Epoch::ZERO);
    admit(&mut [&mut alice, &mut bob], &mut carol);
    remove(&mut [&mut alice, &mut carol], B);

    assert_eq!((alice.epoch(), carol.epoch()), (epoch(1), epoch(1)));
    let from_alice = heard(&mut alice, &mut [&mut carol], b"without Bob");
    let from_carol = heard(&mut carol, &mut [&mut alice], b"without Bob either");
    for frame in [&from_alice, &from_carol] {
        assert!(matches!(
            bob.decrypt(META, frame),
            Err(CallError::Sframe(SframeError::UnknownKeyId(_)))
        ));
    }
    // Bob's own frames are refused at once, whichever epoch he uses.
    let from_bob = bob.encrypt(META, b"still here?").unwrap();
    for member in [&mut alice, &mut carol] {
        assert_eq!(
            member.decrypt(META, &from_bob),
            Err(CallError::RemovedParticipant { participant: B })
        );
    }
}

#[test]
fn frames_in_flight_across_an_epoch_change() {
    let (mut alice, mut bob) = pair();
    let mut carol = join(C, Epoch::ZERO);
    admit(&mut [&mut alice, &mut bob], &mut carol);

    // Bob leaves. Alice handles it first; Carol still sends in epoch 0.
    let for_carol = alice.participant_left(B, &mut sotto::rng::os_rng()).unwrap();
    let old = carol.encrypt(META, b"Carol, epoch 0").unwrap();
    let old_again = carol.encrypt(META, b"Carol, epoch 0, later").unwrap();
    assert_eq!(alice.decrypt(META, &old).unwrap(), b"Carol, epoch 0");

    // Carol gets Alice's new key before handling the leave herself: fine.
    carol.receive_sender_key(A, &for_carol).unwrap();
    heard(&mut alice, &mut [&mut carol], b"Alice, epoch 1");
    let for_alice = carol.participant_left(B, &mut sotto::rng::os_rng()).unwrap();
    alice.receive_sender_key(C, &for_alice).unwrap();

    // Carol's epoch-0 key is gone from Alice now.
    assert_eq!(
        alice.decrypt(META, &old_again),
        Err(CallError::StaleEpoch { participant: C, current: epoch(1), found: Epoch::ZERO })
    );
    heard(&mut carol, &mut [&mut alice], b"Carol, epoch 1");
}

#[test]
fn a_frame_of_an_epoch_whose_key_has_not_arrived_decrypts_once_it_has() {
    let (mut alice, mut bob) = pair();
    let message = alice.rekey(&mut sotto::rng::os_rng()).unwrap();
    let frame = alice.encrypt(META, b"early").unwrap();
    assert_eq!(
        bob.decrypt(META, &frame),
        Err(CallError::Sframe(SframeError::UnknownKeyId(header_kid(&frame))))
    );
    bob.receive_sender_key(A, &message).unwrap();
    assert_eq!(bob.decrypt(META, &frame).unwrap(), b"early");
}

#[test]
fn two_leaves_in_a_row_and_a_rejoin() {
    let (mut alice, mut bob) = pair();
    let mut carol = join(C, Epoch::ZERO);
    admit(&mut [&mut alice, &mut bob], &mut carol);
    let mut dave = join(D, Epoch::ZERO);
    admit(&mut [&mut alice, &mut bob, &mut carol], &mut dave);
    remove(&mut [&mut alice, &mut bob, &mut dave], C);
    remove(&mut [&mut alice, &mut dave], B);
    assert_eq!(alice.epoch(), epoch(2));
    assert_eq!(participants(&alice), [A, D]);
    heard(&mut alice, &mut [&mut dave], b"epoch 2");

    // Carol's key from before she left is refused even after she rejoins.
    let carol_old = carol.sender_key_message();
    let mut carol = join(C, epoch(2));
    let for_carol = alice.participant_joined(C).unwrap();
    assert_eq!(
        alice.receive_sender_key(C, &carol_old),
        Err(CallError::RemovedParticipant { participant: C })
    );
    carol.receive_sender_key(A, &for_carol).unwrap();
    share(&carol, &mut [&mut alice]);
    heard(&mut carol, &mut [&mut alice], b"back");
    heard(&mut alice, &mut [&mut carol], b"welcome back");
}

#[test]
fn steps_run_out_and_a_rekey_starts_over() {
    let (mut alice, mut bob) = pair();
    for p in 0..u16::from(MAX_STEP) {
        alice.participant_joined(ParticipantId::new(100 + p)).unwrap();
    }
    heard(&mut alice, &mut [&mut bob], b"step 255");
    let before = alice.key_id();
    assert_eq!(
        alice.participant_joined(ParticipantId::new(999)).err(),
        Some(CallError::StepsExhausted { epoch: Epoch::ZERO })
    );
    assert_eq!(alice.key_id(), before);
    let message = alice.rekey(&mut sotto::rng::os_rng()).unwrap();
    bob.receive_sender_key(A, &message).unwrap();
    alice.participant_joined(ParticipantId::new(999)).unwrap();
    heard(&mut alice, &mut [&mut bob], b"epoch 1, step 1");
}

// ---- bad frames -----------------------------------------------------------

fn header_kid(frame: &[u8]) -> KeyId {
    sotto::media::SframeHeader::decode(frame).unwrap().0.kid()
}

/// A frame under `kid` with a key nobody holds.
fn forged(kid: GroupKeyId) -> Vec<u8> {
    let key = BaseKey::from_bytes(&[0x5a; 32]).unwrap();
    SframeSender::new(SUITE, kid.kid(), &key).unwrap().encrypt(META, b"forged").unwrap()
}

#[test]
fn bad_frames_are_typed_errors_and_change_nothing() {
    let (mut alice, mut bob) = pair();
    let valid = alice.encrypt(META, b"valid").unwrap();
    let held = bob.sender_key_of(A);

    // Every truncation.
    for len in 0..valid.len() {
        let err = bob.decrypt(META, &valid[..len]).unwrap_err();
        assert!(
            matches!(
                err,
                CallError::Sframe(
                    SframeError::Header(_)
                        | SframeError::FrameTooShort { .. }
                        | SframeError::AuthenticationFailed
                )
            ),
            "{len}: {err:?}"
        );
    }
    // Every flipped bit of the body and tag; header flips name other keys.
    for i in 0..valid.len() {
        for bit in 0..8 {
            let mut bad = valid.clone();
            bad[i] ^= 1 << bit;
            assert!(bob.decrypt(META, &bad).is_err(), "byte {i} bit {bit}");
        }
    }
    let mut bad_tag = valid.clone();
    *bad_tag.last_mut().unwrap() ^= 0xff;
    assert_eq!(
        bob.decrypt(META, &bad_tag),
        Err(CallError::Sframe(SframeError::AuthenticationFailed))
    );
    assert_eq!(
        bob.decrypt(b"other metadata", &valid),
        Err(CallError::Sframe(SframeError::AuthenticationFailed))
    );

    // Unknown KIDs: a stranger, Bob's own, a future epoch, a forged ratchet step.
    let stranger = GroupKeyId::new(Epoch::ZERO, ParticipantId::new(77), 0);
    assert_eq!(
        bob.decrypt(META, &forged(stranger)),
        Err(CallError::UnknownSender { participant: ParticipantId::new(77) })
    );
    let own = GroupKeyId::new(Epoch::ZERO, B, 0);
    assert_eq!(
        bob.decrypt(META, &forged(own)),
        Err(CallError::Sframe(SframeError::UnknownKeyId(own.kid())))
    );
    let future = GroupKeyId::new(epoch(5), A, 0);
    assert_eq!(
        bob.decrypt(META, &forged(future)),
        Err(CallError::Sframe(SframeError::UnknownKeyId(future.kid())))
    );
    for step in [1, 2, 200, 255] {
        assert_eq!(
            bob.decrypt(META, &forged(GroupKeyId::new(Epoch::ZERO, A, step))),
            Err(CallError::Sframe(SframeError::AuthenticationFailed)),
            "a forged step does not move the ratchet"
        );
    }
    assert_eq!(bob.sender_key_of(A), held);
    let huge = [0xff; 64];
    assert!(bob.decrypt(META, &huge).is_err());

    // Nothing changed: the valid frame decrypts, then is a replay.
    assert_eq!(bob.decrypt(META, &valid).unwrap(), b"valid");
    assert_eq!(
        bob.decrypt(META, &valid),
        Err(CallError::Sframe(SframeError::Replay { kid: header_kid(&valid), ctr: 0 }))
    );
    heard(&mut alice, &mut [&mut bob], b"next");
}

#[test]
fn a_too_small_buffer_is_an_error_and_the_frame_decrypts_after() {
    let (mut alice, mut bob) = pair();
    let frame = alice.encrypt(META, b"sixteen bytes!!!").unwrap();
    let mut small = [0u8; 4];
    assert!(matches!(
        bob.decrypt_into(META, &frame, &mut small),
        Err(CallError::Sframe(SframeError::BufferTooSmall { needed: 16, found: 4 }))
    ));
    let mut out = [0u8; 64];
    let n = bob.decrypt_into(META, &frame, &mut out).unwrap();
    assert_eq!(&out[..n], b"sixteen bytes!!!");
    // encrypt_into with the exact length, and one byte short.
    let len = alice.frame_len(3).unwrap();
    let mut wire = vec![0u8; len];
    assert!(alice.encrypt_into(META, b"abc", &mut wire[..len - 1]).is_err());
    assert_eq!(alice.encrypt_into(META, b"abc", &mut wire).unwrap(), len);
    assert_eq!(bob.decrypt(META, &wire).unwrap(), b"abc");
}

#[test]
fn frames_of_a_removed_participant_or_an_old_epoch_are_refused() {
    let (mut alice, mut bob) = pair();
    let mut carol = join(C, Epoch::ZERO);
    admit(&mut [&mut alice, &mut bob], &mut carol);
    let carol_epoch0 = carol.encrypt(META, b"epoch 0").unwrap();
    let bob_epoch0 = bob.encrypt(META, b"Bob").unwrap();
    remove(&mut [&mut alice, &mut carol], B);

    assert_eq!(
        alice.decrypt(META, &bob_epoch0),
        Err(CallError::RemovedParticipant { participant: B })
    );
    assert_eq!(
        alice.decrypt(META, &carol_epoch0),
        Err(CallError::StaleEpoch { participant: C, current: epoch(1), found: Epoch::ZERO })
    );
    // Bob's delayed sender key (from before he left) is refused too.
    let bob_key = bob.sender_key_message();
    assert_eq!(
        alice.receive_sender_key(B, &bob_key),
        Err(CallError::RemovedParticipant { participant: B })
    );
    assert_eq!(alice.sender_key_of(B), None);
    heard(&mut carol, &mut [&mut alice], b"still fine");
}

#[test]
fn random_bytes_never_panic_and_change_nothing() {
    let (mut alice, mut bob) = pair();
    alice.participant_joined(C).unwrap();
    let valid = alice.encrypt(META, b"valid").unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut tried_ratchet = 0;
    for _ in 0..1000 {
        let len = (next() % 80) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if next() % 2 == 0 && !bytes.is_empty() {
            // A plausible header: Alice's epoch and id, any step.
            let kid = GroupKeyId::new(Epoch::ZERO, A, next() as u8).kid().value();
            // X = 1, K = 1 (a 2-byte KID), Y = 0, C = a counter below 8.
            let header = [0x90 | (next() as u8 & 7), (kid >> 8) as u8, kid as u8];
            bytes.splice(..bytes.len().min(3), header);
        }
        let result = bob.decrypt(META, &bytes);
        tried_ratchet +=
            usize::from(result == Err(CallError::Sframe(SframeError::AuthenticationFailed)));
        assert!(result.is_err());
        assert!(bob.receive_sender_key(A, &bytes).is_err());
    }
    assert!(tried_ratchet > 50, "{tried_ratchet}");
    assert_eq!(bob.sender_key_of(A), Some(GroupKeyId::new(Epoch::ZERO, A, 0)));
    assert_eq!(bob.decrypt(META, &valid).unwrap(), b"valid");
}

// ---- bad sender key messages -----------------------------------------------

/// A protobuf field of a test-side mirror of `CallSenderKey`.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    Varint(u64),
    Bytes(Vec<u8>),
}

fn read_varint(bytes: &mut &[u8]) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().unwrap();
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    value
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Decodes a message into (field number, value) pairs, written independently
/// of prost to check the wire format of docs/PROTOCOL.md §9.
fn fields(mut bytes: &[u8]) -> Vec<(u64, Field)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = read_varint(&mut bytes);
        match key & 7 {
            0 => out.push((key >> 3, Field::Varint(read_varint(&mut bytes)))),
            2 => {
                let len = usize::try_from(read_varint(&mut bytes)).unwrap();
                let (value, rest) = bytes.split_at(len);
                out.push((key >> 3, Field::Bytes(value.to_vec())));
                bytes = rest;
            }
            other => panic!("wire type {other}"),
        }
    }
    out
}

fn encode(fields: &[(u64, Field)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (number, value) in fields {
        match value {
            Field::Varint(v) => {
                write_varint(number << 3, &mut out);
                write_varint(*v, &mut out);
            }
            Field::Bytes(b) => {
                write_varint((number << 3) | 2, &mut out);
                write_varint(b.len() as u64, &mut out);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

/// `message` with field `number` set to `value` (or removed for `None`).
fn with_field(message: &[u8], number: u64, value: Option<Field>) -> Vec<u8> {
    let mut fields: Vec<_> = fields(message).into_iter().filter(|(n, _)| *n != number).collect();
    if let Some(value) = value {
        fields.push((number, value));
    }
    encode(&fields)
}

#[test]
fn the_sender_key_message_has_the_documented_fields() {
    let mut alice = join(A, epoch(7));
    alice.participant_joined(B).unwrap();
    let message = alice.sender_key_message();
    let fields = fields(&message);
    let get = |n: u64| fields.iter().find(|(number, _)| *number == n).map(|(_, v)| v.clone());
    assert_eq!(get(1), Some(Field::Bytes(b"call-group-1".to_vec())));
    assert_eq!(get(2), Some(Field::Varint(7)));
    assert_eq!(get(3), Some(Field::Varint(1)));
    assert_eq!(get(4), Some(Field::Varint(1)));
    assert!(matches!(get(5), Some(Field::Bytes(secret)) if secret.len() == 32));
    assert_eq!(get(6), Some(Field::Varint(4)));
    assert_eq!(get(7), Some(Field::Varint(1)));
    assert!(message.len() <= MAX_SENDER_KEY_MESSAGE_LEN);

    // A SHA-512 suite's secret is 64 bytes.
    let wide = join_with(CipherSuite::Aes256GcmSha512_128, A, Epoch::ZERO);
    let fields = self::fields(&wide.sender_key_message());
    assert!(fields.iter().any(|(n, v)| *n == 5 && matches!(v, Field::Bytes(s) if s.len() == 64)));
}

#[test]
fn bad_sender_key_messages_are_typed_errors_and_change_nothing() {
    let (alice, mut bob) = pair();
    let mut alice = alice;
    alice.participant_joined(C).unwrap();
    let good = alice.sender_key_message();
    let malformed =
        |r: Result<GroupKeyId, CallError>| matches!(r, Err(CallError::MalformedSenderKey { .. }));

    // Garbage, every truncation, and too long.
    assert!(malformed(bob.receive_sender_key(A, b"\xff\xff\xff")));
    for len in 0..good.len() {
        assert!(bob.receive_sender_key(A, &good[..len]).is_err(), "{len}");
    }
    let mut long = good.to_vec();
    long.resize(MAX_SENDER_KEY_MESSAGE_LEN + 1, 0);
    assert!(malformed(bob.receive_sender_key(A, &long)));

    let bad = |number, value| with_field(&good, number, Some(value));
    assert!(malformed(bob.receive_sender_key(A, &bad(1, Field::Bytes(Vec::new())))));
    assert!(malformed(bob.receive_sender_key(A, &bad(1, Field::Bytes(vec![b'x'; 256])))));
    assert!(malformed(bob.receive_sender_key(A, &bad(2, Field::Varint(1 << 40)))));
    assert!(malformed(bob.receive_sender_key(A, &bad(3, Field::Varint(1 << 16)))));
    assert!(malformed(bob.receive_sender_key(A, &bad(4, Field::Varint(256)))));
    assert!(malformed(bob.receive_sender_key(A, &bad(5, Field::Bytes(vec![1; 31])))));
    assert!(malformed(bob.receive_sender_key(A, &bad(5, Field::Bytes(vec![1; 64])))));
    assert!(malformed(bob.receive_sender_key(A, &with_field(&good, 5, None))));
    assert!(malformed(bob.receive_sender_key(A, &bad(6, Field::Varint(0x1_0004)))));
    assert_eq!(
        bob.receive_sender_key(A, &bad(6, Field::Varint(5))),
        Err(CallError::WrongCipherSuite { expected: SUITE, found: 5 })
    );
    assert_eq!(
        bob.receive_sender_key(A, &bad(7, Field::Varint(2))),
        Err(CallError::UnsupportedSenderKeyVersion { expected: 1, found: 2 })
    );
    assert_eq!(
        bob.receive_sender_key(A, &with_field(&good, 7, None)),
        Err(CallError::UnsupportedSenderKeyVersion { expected: 1, found: 0 })
    );
    assert_eq!(
        bob.receive_sender_key(A, &bad(1, Field::Bytes(b"another call".to_vec()))),
        Err(CallError::WrongCall {
            expected: call_id(),
            found: CallId::new(*b"another call").unwrap()
        })
    );

    // An insider cannot claim someone else's KID: Carol forwards Alice's
    // key (or writes her own under Alice's id) in her DM session with Bob.
    assert_eq!(
        bob.receive_sender_key(C, &good),
        Err(CallError::WrongSender { expected: C, found: A })
    );
    let mut carol = join(C, Epoch::ZERO);
    let claims_alice = with_field(&carol.sender_key_message(), 3, Some(Field::Varint(1)));
    assert_eq!(
        bob.receive_sender_key(C, &claims_alice),
        Err(CallError::WrongSender { expected: C, found: A })
    );
    assert_eq!(
        bob.receive_sender_key(B, &bob.sender_key_message()),
        Err(CallError::OwnParticipant { participant: B })
    );
    assert_eq!(bob.participant_joined(B).err(), Some(CallError::OwnParticipant { participant: B }));
    assert_eq!(
        bob.participant_left(B, &mut sotto::rng::os_rng()).err(),
        Some(CallError::OwnParticipant { participant: B })
    );

    // Nothing changed: Bob still holds Alice's step 0, takes step 1, and
    // refuses step 1 again and step 0 after it.
    assert_eq!(bob.sender_key_of(A), Some(GroupKeyId::new(Epoch::ZERO, A, 0)));
    assert!(!participants(&bob).contains(&C));
    assert_eq!(bob.receive_sender_key(A, &good), Ok(GroupKeyId::new(Epoch::ZERO, A, 1)));
    assert_eq!(
        bob.receive_sender_key(A, &good),
        Err(CallError::StaleStep { participant: A, current: 1, found: 1 })
    );
    heard(&mut alice, &mut [&mut bob], b"step 1");
    share(&carol, &mut [&mut bob]);
    heard(&mut carol, &mut [&mut bob], b"Carol");
}

#[test]
fn sender_keys_of_old_epochs_are_refused() {
    let (mut alice, mut bob) = pair();
    let epoch0 = alice.sender_key_message();
    let epoch1 = alice.rekey(&mut sotto::rng::os_rng()).unwrap();
    bob.receive_sender_key(A, &epoch1).unwrap();
    assert_eq!(
        bob.receive_sender_key(A, &epoch0),
        Err(CallError::StaleEpoch { participant: A, current: epoch(1), found: Epoch::ZERO })
    );
    // Bob two epochs ahead refuses an epoch-0 key from anyone.
    let mut carol = join(C, Epoch::ZERO);
    let carol_epoch0 = carol.sender_key_message();
    bob.rekey(&mut sotto::rng::os_rng()).unwrap();
    bob.rekey(&mut sotto::rng::os_rng()).unwrap();
    assert_eq!(
        bob.receive_sender_key(C, &carol_epoch0),
        Err(CallError::StaleEpoch { participant: C, current: epoch(1), found: Epoch::ZERO })
    );
    // Alice's epoch-1 key is one epoch old: kept. At epoch 3 it is dropped.
    assert_eq!(bob.sender_key_of(A), Some(GroupKeyId::new(epoch(1), A, 0)));
    heard(&mut alice, &mut [&mut bob], b"epoch 1, heard in epoch 2");
    bob.rekey(&mut sotto::rng::os_rng()).unwrap();
    assert_eq!(bob.sender_key_of(A), None);
    let carol_epoch2 = {
        carol.rekey(&mut sotto::rng::os_rng()).unwrap();
        carol.rekey(&mut sotto::rng::os_rng()).unwrap()
    };
    bob.receive_sender_key(C, &carol_epoch2).unwrap();
    heard(&mut carol, &mut [&mut bob], b"epoch 2, heard in epoch 3");
}

// ---- over real DM sessions ------------------------------------------------

type Device = SessionManager<InMemoryStore>;

fn device(account: &str) -> Device {
    let identity = IdentityKeyPair::generate(&mut sotto::rng::os_rng());
    SessionManager::new(Address::new(account, 1).unwrap(), InMemoryStore::new(identity))
}

/// A DM session between `a` and `b`, with a message decrypted each way.
fn connect(a: &Device, b: &Device) {
    let signed = b.generate_signed_prekey(1.into()).unwrap();
    let one_time = b.generate_one_time_prekeys(u32::from(b.address().device()) * 1000, 1).unwrap();
    let kem = b.generate_last_resort_kem_prekey(1.into()).unwrap();
    let bundle =
        PreKeyBundle::new(b.identity_key().unwrap(), signed, kem, one_time.first().copied());
    a.process_bundle(b.address(), &bundle.to_bytes()).unwrap();
    let hello = a.encrypt(b.address(), b"hello").unwrap();
    b.decrypt(a.address(), &hello).unwrap().commit().unwrap();
    let reply = b.encrypt(a.address(), b"hi").unwrap();
    a.decrypt(b.address(), &reply).unwrap().commit().unwrap();
}

/// `from`'s device sends `message` over its DM session to `to`'s device,
/// which hands it to its call as coming from `sender`.
fn over_dm(
    (from, message): (&Device, &[u8]),
    (to, call): (&Device, &mut GroupCall),
    sender: ParticipantId,
) -> Result<GroupKeyId, CallError> {
    let wire = from.encrypt(to.address(), message).unwrap();
    let received = to.decrypt(from.address(), &wire).unwrap();
    let result = call.receive_sender_key(sender, received.plaintext());
    received.commit().unwrap();
    result
}

#[test]
fn sender_keys_travel_over_dm_sessions_between_three_devices() {
    let (alice_dev, bob_dev, carol_dev) = (device("alice"), device("bob"), device("carol"));
    connect(&alice_dev, &bob_dev);
    connect(&carol_dev, &alice_dev);
    connect(&bob_dev, &carol_dev);
    let (mut alice, mut bob, mut carol) =
        (join(A, Epoch::ZERO), join(B, Epoch::ZERO), join(C, Epoch::ZERO));

    // Alice and Bob start the call.
    over_dm((&alice_dev, &alice.sender_key_message()), (&bob_dev, &mut bob), A).unwrap();
    over_dm((&bob_dev, &bob.sender_key_message()), (&alice_dev, &mut alice), B).unwrap();
    heard(&mut alice, &mut [&mut bob], b"hello Bob");

    // Carol joins.
    let m = alice.participant_joined(C).unwrap();
    over_dm((&alice_dev, &m), (&carol_dev, &mut carol), A).unwrap();
    let m = bob.participant_joined(C).unwrap();
    over_dm((&bob_dev, &m), (&carol_dev, &mut carol), B).unwrap();
    let m = carol.sender_key_message();
    over_dm((&carol_dev, &m), (&alice_dev, &mut alice), C).unwrap();
    over_dm((&carol_dev, &m), (&bob_dev, &mut bob), C).unwrap();
    heard(&mut alice, &mut [&mut bob, &mut carol], b"from Alice");
    heard(&mut bob, &mut [&mut alice, &mut carol], b"from Bob");
    heard(&mut carol, &mut [&mut alice, &mut bob], b"from Carol");

    // Bob relays Alice's key to Carol as if it were his: refused.
    assert_eq!(
        over_dm((&bob_dev, &m), (&alice_dev, &mut alice), B),
        Err(CallError::WrongSender { expected: B, found: C })
    );

    // Bob leaves; Alice and Carol exchange new keys over their session.
    let for_carol = alice.participant_left(B, &mut sotto::rng::os_rng()).unwrap();
    let for_alice = carol.participant_left(B, &mut sotto::rng::os_rng()).unwrap();
    over_dm((&alice_dev, &for_carol), (&carol_dev, &mut carol), A).unwrap();
    over_dm((&carol_dev, &for_alice), (&alice_dev, &mut alice), C).unwrap();
    let frame = heard(&mut alice, &mut [&mut carol], b"epoch 1");
    assert!(bob.decrypt(META, &frame).is_err());
    heard(&mut carol, &mut [&mut alice], b"epoch 1 too");
}

// ---- the documented format -------------------------------------------------

#[test]
fn the_longest_sender_key_message_is_342_bytes() {
    let long_id = CallId::new(vec![b'x'; 255]).unwrap();
    let mut call = GroupCall::new(
        long_id,
        CipherSuite::Aes256GcmSha512_128,
        ParticipantId::new(u16::MAX),
        Epoch::new(MAX_EPOCH).unwrap(),
        &mut sotto::rng::os_rng(),
    )
    .unwrap();
    for _ in 0..MAX_STEP {
        call.participant_joined(ParticipantId::new(1)).unwrap();
    }
    let longest = call.sender_key_message();
    assert_eq!(longest.len(), 342);
    assert!(longest.len() <= MAX_SENDER_KEY_MESSAGE_LEN);
}

#[test]
fn the_kid_example_of_the_calls_section() {
    let mut alice = join(A, epoch(1));
    assert_eq!(alice.key_id().kid(), KeyId::new(0x100_0100));
    let frame = alice.encrypt(META, b"").unwrap();
    assert_eq!(frame[..5], [0xb0, 0x01, 0x00, 0x01, 0x00]);
    assert_eq!(GroupKeyId::new(Epoch::ZERO, A, 2).kid(), KeyId::new(0x102));
}

/// docs/PROTOCOL.md §9 states every constant of the calls.
#[test]
fn the_calls_section_states_every_constant() {
    let root = env!("CARGO_MANIFEST_DIR");
    let doc = std::fs::read_to_string(format!("{root}/docs/PROTOCOL.md")).unwrap_or_default();
    for (name, value) in [
        ("STEP_BITS", u64::from(STEP_BITS)),
        ("PARTICIPANT_BITS", u64::from(PARTICIPANT_BITS)),
        ("EPOCH_BITS", u64::from(EPOCH_BITS)),
        ("MAX_EPOCH", MAX_EPOCH),
        ("MAX_STEP", u64::from(MAX_STEP)),
        ("MAX_SENDER_KEY_MESSAGE_LEN", MAX_SENDER_KEY_MESSAGE_LEN as u64),
        ("MAX_CALL_ID_LEN", MAX_CALL_ID_LEN as u64),
    ] {
        let row = format!("| `{name}` | {value} |");
        assert!(doc.contains(&row), "the calls section lacks the row `{row}`");
    }
    let line = format!("`WIRE_VERSION` = {WIRE_VERSION}");
    assert!(doc.contains(&line), "the calls section lacks `{line}`");
}

/// docs/PROTOCOL.md §9.3: nothing of a group call is stored, so no stored
/// state brings back a counter under an old key. A participant that lost
/// its state (a restart) makes a new secret: the same KID and counter give
/// another frame, the others refuse the second secret for a KID they hold,
/// and it rejoins under a new participant id.
#[test]
fn a_participant_that_restarts_reuses_no_nonce() {
    let (mut alice, mut bob) = pair();
    let before = alice.encrypt(META, b"frame").unwrap();
    assert_eq!(bob.decrypt(META, &before).unwrap(), b"frame");

    // Alice's app restarts: the same call, participant id and epoch.
    let mut restarted = join(A, Epoch::ZERO);
    let after = restarted.encrypt(META, b"frame").unwrap();
    assert_eq!(restarted.key_id(), GroupKeyId::new(Epoch::ZERO, A, 0));
    assert_eq!(after[..3], before[..3], "the same header: KID 0x100 and counter 0");
    assert_ne!(after, before, "under another key");
    // Bob still holds her old key for that KID and refuses a second one.
    assert!(matches!(
        bob.receive_sender_key(A, &restarted.sender_key_message()),
        Err(CallError::StaleStep { .. })
    ));
    assert!(bob.decrypt(META, &after).is_err());
    // Under a new participant id it joins as a newcomer.
    let mut again = join(D, Epoch::ZERO);
    admit(&mut [&mut bob], &mut again);
    let frame = again.encrypt(META, b"back").unwrap();
    assert_eq!(bob.decrypt(META, &frame).unwrap(), b"back");
}
