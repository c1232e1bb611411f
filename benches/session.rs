//! Direct messages: a 100-byte message in a steady chain, a message that
//! turns the DH ratchet, and a full session setup, each measured against
//! its floor (the primitives the step must compute, called directly) and
//! against one X25519 `diffie_hellman`, the anchor.
//!
//! Criterion reports each operation; then the bench measures anchor, floor
//! and operation interleaved in rounds (so that machine drift hits all
//! three alike) and prints the median ratios. Run with
//! `cargo bench --bench session`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark: a failure is the bench aborting"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use sotto::keys::{IdentityKeyPair, PreKeyBundle};
use sotto::rng::{OsRng, os_rng};
use sotto::session::{Address, SessionManager, SessionRecord};
use sotto::store::{InMemoryStore, SessionStore};

#[path = "common/floor.rs"]
mod floor;

use floor::{Floor, MESSAGE};

fn alice() -> Address {
    Address::new("alice", 1).unwrap()
}

fn bob() -> Address {
    Address::new("bob", 1).unwrap()
}

fn manager(address: Address) -> SessionManager<InMemoryStore> {
    let identity = IdentityKeyPair::generate(&mut os_rng());
    SessionManager::new(address, InMemoryStore::new(identity))
}

/// Bob's manager and an encoded bundle of his, ready for Alice.
fn bob_with_bundle() -> (SessionManager<InMemoryStore>, Vec<u8>) {
    let bob = manager(bob());
    let signed = bob.generate_signed_prekey(1.into()).unwrap();
    let one_time = bob.generate_one_time_prekeys(1, 1).unwrap();
    let bundle = PreKeyBundle::new(bob.identity_key().unwrap(), signed, one_time.first().copied());
    (bob, bundle.to_bytes())
}

/// Session setup: bundle → first message → decrypted and committed.
fn setup(
    (alice_manager, bob_manager, bundle): (
        SessionManager<InMemoryStore>,
        SessionManager<InMemoryStore>,
        Vec<u8>,
    ),
) {
    alice_manager.process_bundle(&bob(), &bundle).unwrap();
    let first = alice_manager.encrypt(&bob(), &MESSAGE).unwrap();
    let plaintext = bob_manager.decrypt(&alice(), &first).unwrap().commit().unwrap();
    assert_eq!(plaintext.len(), MESSAGE.len());
}

fn setup_input() -> (SessionManager<InMemoryStore>, SessionManager<InMemoryStore>, Vec<u8>) {
    let (bob_manager, bundle) = bob_with_bundle();
    (manager(alice()), bob_manager, bundle)
}

/// Alice's and Bob's managers after a first exchange both ways.
fn established_managers() -> (SessionManager<InMemoryStore>, SessionManager<InMemoryStore>) {
    let (alice_manager, bob_manager, bundle) = setup_input();
    alice_manager.process_bundle(&bob(), &bundle).unwrap();
    let first = alice_manager.encrypt(&bob(), b"hi").unwrap();
    bob_manager.decrypt(&alice(), &first).unwrap().commit().unwrap();
    let reply = bob_manager.encrypt(&alice(), b"hi").unwrap();
    alice_manager.decrypt(&bob(), &reply).unwrap().commit().unwrap();
    (alice_manager, bob_manager)
}

/// Alice's and Bob's session records after a first exchange both ways.
fn established() -> (SessionRecord, SessionRecord) {
    let (alice_manager, bob_manager) = established_managers();
    (
        alice_manager.store().load_session(&bob()).unwrap().unwrap(),
        bob_manager.store().load_session(&alice()).unwrap().unwrap(),
    )
}

struct Steady {
    alice: SessionRecord,
    bob: SessionRecord,
    rng: OsRng,
}

impl Steady {
    fn new() -> Self {
        let (alice, bob) = established();
        Self { alice, bob, rng: os_rng() }
    }

    /// One 100-byte message, Alice to Bob, in the same chain as the last.
    fn message(&mut self) {
        let envelope = self.alice.encrypt(&MESSAGE).unwrap();
        black_box(self.bob.decrypt(&envelope, &mut self.rng).unwrap());
    }

    /// A message each way; each one's decryption turns the DH ratchet.
    fn turn_both_ways(&mut self) {
        let envelope = self.alice.encrypt(&MESSAGE).unwrap();
        black_box(self.bob.decrypt(&envelope, &mut self.rng).unwrap());
        let envelope = self.bob.encrypt(&MESSAGE).unwrap();
        black_box(self.alice.decrypt(&envelope, &mut self.rng).unwrap());
    }
}

/// The same message through the managers and an in-memory store (record
/// decode and encode included).
struct ThroughStore {
    alice: SessionManager<InMemoryStore>,
    bob: SessionManager<InMemoryStore>,
}

impl ThroughStore {
    fn new() -> Self {
        let (alice, bob) = established_managers();
        Self { alice, bob }
    }

    fn message(&self) {
        let envelope = self.alice.encrypt(&bob(), &MESSAGE).unwrap();
        black_box(self.bob.decrypt(&alice(), &envelope).unwrap().commit().unwrap());
    }
}

fn criterion_benches(c: &mut Criterion) {
    let floor = Floor::new();
    let mut group = c.benchmark_group("dm");
    group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    group.bench_function("anchor: x25519 diffie_hellman", |b| b.iter(|| floor.dh()));
    let mut steady = Steady::new();
    group.bench_function("steady chain 100 B", |b| b.iter(|| steady.message()));
    group.bench_function("floor: steady chain 100 B", |b| b.iter(|| floor.message()));
    let through_store = ThroughStore::new();
    group.bench_function("steady chain 100 B, in-memory store", |b| {
        b.iter(|| through_store.message())
    });
    let mut turning = Steady::new();
    group.bench_function("DH ratchet turn, both ways", |b| b.iter(|| turning.turn_both_ways()));
    group
        .bench_function("floor: DH ratchet turn, both ways", |b| b.iter(|| floor.turn_both_ways()));
    group.sample_size(20);
    group.bench_function("session setup", |b| {
        b.iter_batched(setup_input, setup, BatchSize::SmallInput)
    });
    group.bench_function("floor: session setup", |b| b.iter(|| floor.setup()));
    group.finish();
}

/// Times `iterations` calls of `f`.
fn time(iterations: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Anchor, floor and operation interleaved in rounds; prints the median
/// ratios operation/floor and operation/anchor, with the spread of the
/// first (min–max over rounds).
fn interleaved_ratios() {
    const ROUNDS: usize = 15;
    let floor = Floor::new();
    let mut steady = Steady::new();
    let mut turning = Steady::new();
    let through_store = ThroughStore::new();
    type Op<'a> = Box<dyn FnMut() + 'a>;
    let scenarios: Vec<(&str, u32, Op, Op)> = vec![
        (
            "steady chain, 100 B (encrypt + decrypt)",
            400,
            Box::new(|| steady.message()),
            Box::new(|| floor.message()),
        ),
        (
            "steady chain, 100 B, via manager + in-memory store",
            200,
            Box::new(|| through_store.message()),
            Box::new(|| floor.message()),
        ),
        (
            "DH ratchet turn (per message)",
            50,
            Box::new(|| turning.turn_both_ways()),
            Box::new(|| floor.turn_both_ways()),
        ),
        ("session setup (bundle to decrypted)", 10, Box::new(|| {}), Box::new(|| floor.setup())),
    ];
    println!("\nInterleaved ratios ({ROUNDS} rounds; anchor = one X25519 diffie_hellman)");
    println!("| operation | op / floor (median, min–max) | op / anchor | floor / anchor |");
    println!("| --- | --- | --- | --- |");
    for (name, iterations, mut op, mut floor_op) in scenarios {
        let is_setup = name.starts_with("session setup");
        let (mut vs_floor, mut vs_anchor, mut floor_vs_anchor) = (vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let anchor = time(iterations, || floor.dh()).as_secs_f64();
            let floor_time = time(iterations, &mut floor_op).as_secs_f64();
            let op_time = if is_setup {
                // Setup consumes fresh parties; make them outside the timing.
                let inputs: Vec<_> = (0..iterations).map(|_| setup_input()).collect();
                let start = Instant::now();
                inputs.into_iter().for_each(setup);
                start.elapsed().as_secs_f64()
            } else {
                time(iterations, &mut op).as_secs_f64()
            };
            vs_floor.push(op_time / floor_time);
            vs_anchor.push(op_time / anchor);
            floor_vs_anchor.push(floor_time / anchor);
        }
        let (min, max) =
            vs_floor.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        // A ratchet turn is measured both ways: per message is half.
        let per = if name.starts_with("DH ratchet") { 2.0 } else { 1.0 };
        println!(
            "| {name} | {:.2} ({min:.2}–{max:.2}) | {:.2} | {:.2} |",
            median(&mut vs_floor),
            median(&mut vs_anchor) / per,
            median(&mut floor_vs_anchor) / per,
        );
    }
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion);
    criterion.final_summary();
    interleaved_ratios();
}
