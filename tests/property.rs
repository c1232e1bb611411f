//! A model-based property test: two devices talk over a network that
//! reorders, drops and re-delivers messages.
//!
//! Every delivered message must decrypt exactly once to what was sent (a
//! re-delivery of a committed message is a `DuplicateMessage` and changes
//! nothing, even from a receiving chain the session has since forgotten),
//! and no dropped message ever shows up.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a failure here is the test failing"
)]

mod common;

use common::{Kind, Manager, bundle, header, kind, manager, snapshot};
use proptest::prelude::*;
use proptest::sample::Index;
use sotto::ratchet::RatchetError;
use sotto::session::SessionError;

/// The most messages one run sends (both ways together): far below
/// `MAX_SKIP`, so no loss pattern can exceed it.
const MAX_MESSAGES: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Alice,
    Bob,
}

#[derive(Debug, Clone)]
enum Action {
    /// Alice encrypts a new message.
    AliceSends,
    /// Bob encrypts a new message (once he has a session).
    BobSends,
    /// A message in flight reaches its recipient.
    Deliver(Index),
    /// A message in flight is lost.
    Drop(Index),
    /// A message already delivered arrives again.
    Redeliver(Index),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => Just(Action::AliceSends),
        3 => Just(Action::BobSends),
        5 => any::<Index>().prop_map(Action::Deliver),
        1 => any::<Index>().prop_map(Action::Drop),
        1 => any::<Index>().prop_map(Action::Redeliver),
    ]
}

#[derive(Debug, Clone)]
struct Message {
    from: Side,
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
}

struct Network {
    alice: Manager,
    bob: Manager,
    in_flight: Vec<Message>,
    delivered: Vec<Message>,
    dropped: Vec<Message>,
    /// What each side read, in order: index 0 is Alice's, 1 is Bob's.
    read: [Vec<Vec<u8>>; 2],
    sent: usize,
}

/// The index of the reader of a message from `from` in `read`.
fn reader(from: Side) -> usize {
    match from {
        Side::Alice => 1,
        Side::Bob => 0,
    }
}

impl Network {
    fn new(alice_seed: u64, bob_seed: u64) -> Self {
        let alice = manager("alice", alice_seed);
        let bob = manager("bob", bob_seed);
        alice.process_bundle(bob.address(), &bundle(&bob, 1, Some(1))).unwrap();
        Self {
            alice,
            bob,
            in_flight: Vec::new(),
            delivered: Vec::new(),
            dropped: Vec::new(),
            read: [Vec::new(), Vec::new()],
            sent: 0,
        }
    }

    /// The sender and the recipient of a message from `from`.
    fn ends(&self, from: Side) -> (&Manager, &Manager) {
        match from {
            Side::Alice => (&self.alice, &self.bob),
            Side::Bob => (&self.bob, &self.alice),
        }
    }

    fn send(&mut self, from: Side) -> Result<(), TestCaseError> {
        if self.sent >= MAX_MESSAGES {
            return Ok(());
        }
        let (sender, recipient) = self.ends(from);
        if !sender.has_session(recipient.address()).unwrap() {
            // Bob can write only once he has read one of Alice's messages.
            prop_assert_eq!(from, Side::Bob);
            return Ok(());
        }
        let plaintext = format!("{from:?} #{}", self.sent).into_bytes();
        let bytes = sender.encrypt(recipient.address(), &plaintext).unwrap();
        if from == Side::Bob {
            prop_assert_eq!(kind(&bytes), Kind::Ratchet);
        }
        self.sent += 1;
        self.in_flight.push(Message { from, bytes, plaintext });
        Ok(())
    }

    fn deliver(&mut self, index: usize) -> Result<(), TestCaseError> {
        let message = self.in_flight.remove(index);
        let (sender, recipient) = self.ends(message.from);
        match recipient.decrypt(sender.address(), &message.bytes) {
            Ok(decrypted) => {
                prop_assert_eq!(decrypted.plaintext(), message.plaintext.as_slice());
                prop_assert_eq!(decrypted.commit().unwrap(), message.plaintext.clone());
            }
            Err(error) => {
                return Err(TestCaseError::fail(format!(
                    "{:?} could not be read: {error:?} (counter {}, previous {})",
                    String::from_utf8_lossy(&message.plaintext),
                    header(&message.bytes).counter,
                    header(&message.bytes).previous_counter,
                )));
            }
        }
        self.read[reader(message.from)].push(message.plaintext.clone());
        self.delivered.push(message);
        Ok(())
    }

    fn redeliver(&self, index: usize) -> Result<(), TestCaseError> {
        let message = &self.delivered[index];
        let (sender, recipient) = self.ends(message.from);
        let before = snapshot(recipient, sender.address());
        let header = header(&message.bytes);
        match recipient.decrypt(sender.address(), &message.bytes) {
            Err(SessionError::Ratchet(RatchetError::DuplicateMessage { counter })) => {
                prop_assert_eq!(counter, header.counter);
            }
            Err(error) => {
                return Err(TestCaseError::fail(format!(
                    "re-delivered {:?}: expected DuplicateMessage, got {error:?}",
                    String::from_utf8_lossy(&message.plaintext)
                )));
            }
            Ok(decrypted) => {
                return Err(TestCaseError::fail(format!(
                    "re-delivered {:?} decrypted again to {:?}",
                    String::from_utf8_lossy(&message.plaintext),
                    String::from_utf8_lossy(decrypted.plaintext())
                )));
            }
        }
        prop_assert_eq!(snapshot(recipient, sender.address()), before);
        Ok(())
    }

    fn run(&mut self, action: &Action) -> Result<(), TestCaseError> {
        match action {
            Action::AliceSends => self.send(Side::Alice),
            Action::BobSends => self.send(Side::Bob),
            Action::Deliver(index) if !self.in_flight.is_empty() => {
                self.deliver(index.index(self.in_flight.len()))
            }
            Action::Drop(index) if !self.in_flight.is_empty() => {
                let message = self.in_flight.remove(index.index(self.in_flight.len()));
                self.dropped.push(message);
                Ok(())
            }
            Action::Redeliver(index) if !self.delivered.is_empty() => {
                self.redeliver(index.index(self.delivered.len()))
            }
            Action::Deliver(_) | Action::Drop(_) | Action::Redeliver(_) => Ok(()),
        }
    }
}

/// Runs `actions`, delivers what is left in `last_order`, re-delivers
/// `redeliveries`, and checks what each side read.
fn run(
    alice_seed: u64,
    bob_seed: u64,
    actions: &[Action],
    last_order: &[Index],
    redeliveries: &[Index],
) -> Result<(), TestCaseError> {
    let mut network = Network::new(alice_seed, bob_seed);
    for action in actions {
        network.run(action)?;
    }
    // Everything still in flight arrives, in a random order.
    let mut order = last_order.iter().cycle();
    while !network.in_flight.is_empty() {
        let index = order.next().unwrap().index(network.in_flight.len());
        network.deliver(index)?;
    }
    if !network.delivered.is_empty() {
        for index in redeliveries {
            network.redeliver(index.index(network.delivered.len()))?;
        }
    }

    // Each side read exactly the other's messages that were not dropped.
    for (reader, writer) in [(0, Side::Bob), (1, Side::Alice)] {
        let mut expected: Vec<Vec<u8>> = network
            .delivered
            .iter()
            .filter(|message| message.from == writer)
            .map(|message| message.plaintext.clone())
            .collect();
        let mut read = network.read[reader].clone();
        expected.sort();
        read.sort();
        prop_assert_eq!(read, expected);
    }
    for message in &network.dropped {
        prop_assert!(!network.read.iter().flatten().any(|read| *read == message.plaintext));
    }
    prop_assert_eq!(network.delivered.len() + network.dropped.len(), network.sent);
    // The session still works both ways.
    if network.bob.has_session(network.alice.address()).unwrap() {
        common::send(&network.alice, &network.bob, b"after");
        common::send(&network.bob, &network.alice, b"and back");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_delivered_message_is_read_exactly_once(
        alice_seed in any::<u64>(),
        bob_seed in any::<u64>(),
        actions in proptest::collection::vec(action(), 20..160),
        last_order in proptest::collection::vec(any::<Index>(), MAX_MESSAGES),
        redeliveries in proptest::collection::vec(any::<Index>(), 0..8),
    ) {
        run(alice_seed, bob_seed, &actions, &last_order, &redeliveries)?;
    }
}
