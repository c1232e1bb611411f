use zeroize::Zeroizing;

use super::*;
use crate::keys::{DhSeed, IdentityKeyPair};
use crate::protocol::{MAX_RECEIVING_CHAINS, MAX_SKIP};
use crate::rng::test_rng;

type Rng = chacha20::ChaCha20Rng;

struct Pair {
    alice: DoubleRatchet,
    bob: DoubleRatchet,
    ad: AssociatedData,
    rng: Rng,
}

/// Alice and Bob after Bob received Alice's first message.
fn pair() -> Pair {
    let mut rng = test_rng(20);
    let ad = AssociatedData::new(
        &IdentityKeyPair::generate(&mut rng).public(),
        &IdentityKeyPair::generate(&mut rng).public(),
        Some(&[9; 32]),
    );
    let signed_prekey = DhKeyPair::generate(&mut rng);
    let shared = || SharedKey(Zeroizing::new([7; 32]));
    let mut alice =
        DoubleRatchet::initiator(shared(), &signed_prekey.public(), &DhSeed::generate(&mut rng))
            .unwrap();
    let first = alice.encrypt(&ad, b"hello").unwrap();
    let (bob, plaintext) = DoubleRatchet::responder(shared(), signed_prekey)
        .decrypt(&ad, &first.header, &first.ciphertext, &mut rng)
        .unwrap();
    assert_eq!(plaintext, b"hello");
    Pair { alice, bob, ad, rng }
}

impl Pair {
    fn a_to_b(&mut self, text: &[u8]) -> Encrypted {
        self.alice.encrypt(&self.ad, text).unwrap()
    }

    fn b_to_a(&mut self, text: &[u8]) -> Encrypted {
        self.bob.encrypt(&self.ad, text).unwrap()
    }

    fn bob_reads(&mut self, message: &Encrypted) -> Result<Vec<u8>, RatchetError> {
        self.bob.decrypt(
            &self.ad,
            &message.header,
            &message.ciphertext,
            &mut self.rng,
            &mut WorkBudget::new(),
        )
    }

    fn alice_reads(&mut self, message: &Encrypted) -> Result<Vec<u8>, RatchetError> {
        self.alice.decrypt(
            &self.ad,
            &message.header,
            &message.ciphertext,
            &mut self.rng,
            &mut WorkBudget::new(),
        )
    }
}

fn snapshot(ratchet: &DoubleRatchet) -> Vec<u8> {
    let mut state = storage::SessionState::default();
    ratchet.to_record(&mut state);
    record::encode(&state).to_vec()
}

#[test]
fn ping_pong_turns_the_ratchet_each_time() {
    let mut pair = pair();
    let mut keys = Vec::new();
    for round in 0..10u8 {
        let to_alice = pair.b_to_a(&[round]);
        assert_eq!(pair.alice_reads(&to_alice).unwrap(), [round]);
        let to_bob = pair.a_to_b(&[round, round]);
        assert_eq!(pair.bob_reads(&to_bob).unwrap(), [round, round]);
        keys.push(pair.alice.ratchet_public_key());
    }
    keys.dedup();
    assert_eq!(keys.len(), 10, "every round has a new ratchet key");
}

#[test]
fn out_of_order_within_and_across_chains() {
    let mut pair = pair();
    let first: Vec<_> = (0..5u8).map(|i| pair.a_to_b(&[i])).collect();
    // Bob answers after hearing only message 0 of the first batch: Alice's
    // next batch is in a new chain, and its PN tells Bob how many to skip.
    assert_eq!(pair.bob_reads(&first[4]).unwrap(), [4]);
    let reply = pair.b_to_a(b"r");
    pair.alice_reads(&reply).unwrap();
    let second: Vec<_> = (10..13u8).map(|i| pair.a_to_b(&[i])).collect();
    assert_eq!(pair.bob_reads(&second[2]).unwrap(), [12]);
    for (message, expected) in [(&first[1], 1), (&second[0], 10), (&first[3], 3), (&first[0], 0)] {
        assert_eq!(pair.bob_reads(message).unwrap(), [expected]);
    }
    assert_eq!(pair.bob_reads(&second[1]).unwrap(), [11]);
    assert_eq!(pair.bob_reads(&first[2]).unwrap(), [2]);
    assert_eq!(pair.bob.skipped.len(), 0);
}

#[test]
fn duplicates_are_refused() {
    let mut pair = pair();
    let a = pair.a_to_b(b"a");
    let b = pair.a_to_b(b"b");
    pair.bob_reads(&b).unwrap();
    pair.bob_reads(&a).unwrap();
    assert_eq!(pair.bob_reads(&a), Err(RatchetError::DuplicateMessage { counter: 1 }));
    assert_eq!(pair.bob_reads(&b), Err(RatchetError::DuplicateMessage { counter: 2 }));
}

#[test]
fn a_failed_decryption_changes_nothing() {
    let mut pair = pair();
    let reply = pair.b_to_a(b"turn");
    let messages = [pair.a_to_b(b"x"), reply];
    let before_bob = snapshot(&pair.bob);
    let before_alice = snapshot(&pair.alice);
    for (which, message) in messages.iter().enumerate() {
        for position in 0..message.ciphertext.len() {
            let mut tampered = message.ciphertext.clone();
            tampered[position] ^= 0x40;
            let result = if which == 0 {
                pair.bob.decrypt(
                    &pair.ad,
                    &message.header,
                    &tampered,
                    &mut pair.rng,
                    &mut WorkBudget::new(),
                )
            } else {
                pair.alice.decrypt(
                    &pair.ad,
                    &message.header,
                    &tampered,
                    &mut pair.rng,
                    &mut WorkBudget::new(),
                )
            };
            assert_eq!(result, Err(RatchetError::AuthenticationFailed));
        }
        let mut header = message.header.clone();
        let last = header.len() - 1;
        header[last] ^= 1;
        let result = if which == 0 {
            pair.bob.decrypt(
                &pair.ad,
                &header,
                &message.ciphertext,
                &mut pair.rng,
                &mut WorkBudget::new(),
            )
        } else {
            pair.alice.decrypt(
                &pair.ad,
                &header,
                &message.ciphertext,
                &mut pair.rng,
                &mut WorkBudget::new(),
            )
        };
        assert!(result.is_err());
    }
    assert_eq!(snapshot(&pair.bob), before_bob);
    assert_eq!(snapshot(&pair.alice), before_alice);
    assert_eq!(pair.bob_reads(&messages[0]).unwrap(), b"x");
    assert_eq!(pair.alice_reads(&messages[1]).unwrap(), b"turn");
}

#[test]
fn a_jump_beyond_max_skip_is_refused_and_changes_nothing() {
    let mut pair = pair();
    let mut messages: Vec<_> = (0..=MAX_SKIP + 1).map(|_| pair.a_to_b(b"m")).collect();
    let far = messages.pop().unwrap();
    let before = snapshot(&pair.bob);
    assert_eq!(
        pair.bob_reads(&far),
        Err(RatchetError::TooFarAhead { skip: MAX_SKIP + 1, max: MAX_SKIP })
    );
    assert_eq!(snapshot(&pair.bob), before);
    // Exactly MAX_SKIP is allowed.
    let last = messages.pop().unwrap();
    assert_eq!(pair.bob_reads(&last).unwrap(), b"m");
    assert_eq!(pair.bob.skipped.len(), MAX_SKIP as usize);
}

#[test]
fn a_record_round_trip_keeps_the_conversation_going() {
    let mut pair = pair();
    let held = pair.a_to_b(b"held");
    let sent = pair.a_to_b(b"sent");
    pair.bob_reads(&sent).unwrap();
    let stored = snapshot(&pair.bob);
    let state: storage::SessionState = record::decode(&stored).unwrap();
    pair.bob = DoubleRatchet::from_record(&state).unwrap();
    assert_eq!(pair.bob_reads(&held).unwrap(), b"held");
    let reply = pair.b_to_a(b"reply");
    assert_eq!(pair.alice_reads(&reply).unwrap(), b"reply");
}

#[test]
fn oversized_plaintext_is_refused() {
    let mut pair = pair();
    let big = vec![0u8; MAX_PLAINTEXT_LEN + 1];
    assert_eq!(
        pair.alice.encrypt(&pair.ad, &big).err(),
        Some(RatchetError::PlaintextTooLarge {
            max: MAX_PLAINTEXT_LEN,
            found: MAX_PLAINTEXT_LEN + 1
        })
    );
    assert!(pair.alice.encrypt(&pair.ad, &big[1..]).is_ok());
}

#[test]
fn a_replay_from_a_forgotten_chain_is_still_a_duplicate() {
    let mut pair = pair();
    let early = pair.a_to_b(b"early");
    pair.bob_reads(&early).unwrap();
    for _ in 0..MAX_RECEIVING_CHAINS + 2 {
        let reply = pair.b_to_a(b"r");
        pair.alice_reads(&reply).unwrap();
        let next = pair.a_to_b(b"n");
        pair.bob_reads(&next).unwrap();
    }
    assert_eq!(pair.bob.receiving.len(), MAX_RECEIVING_CHAINS);
    let before = snapshot(&pair.bob);
    assert_eq!(pair.bob_reads(&early), Err(RatchetError::DuplicateMessage { counter: 1 }));
    assert_eq!(snapshot(&pair.bob), before);
    // The retired keys survive a record round trip.
    let state: storage::SessionState = record::decode(&before).unwrap();
    pair.bob = DoubleRatchet::from_record(&state).unwrap();
    assert_eq!(pair.bob_reads(&early), Err(RatchetError::DuplicateMessage { counter: 1 }));
}
