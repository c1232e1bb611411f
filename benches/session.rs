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
use sotto::session::SessionManager;
use sotto::store::InMemoryStore;

#[path = "common/floor.rs"]
mod floor;

#[path = "common/sotto.rs"]
mod sotto_dm;

use floor::{Floor, MESSAGE};
use sotto_dm::{
    Forged, SetupInput, Steady, alice, bob, classical_setup_input, established_managers, setup,
    setup_input,
};

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
    let mut forged = Forged::new();
    let far = forged.far.clone();
    group.bench_function("forged message, N = MAX_SKIP, 5 sessions", |b| {
        b.iter(|| forged.try_message(&far))
    });
    group.sample_size(20);
    group.bench_function("session setup, PQXDH", |b| {
        b.iter_batched(setup_input, setup, BatchSize::SmallInput)
    });
    group.bench_function("floor: session setup, PQXDH", |b| b.iter(|| floor.setup_pq()));
    group.bench_function("session setup, X3DH", |b| {
        b.iter_batched(classical_setup_input, setup, BatchSize::SmallInput)
    });
    group.bench_function("floor: session setup, X3DH", |b| b.iter(|| floor.setup()));
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
    let mut forged_far = Forged::new();
    let mut forged_near = Forged::new();
    let mut honest_far = Steady::new();
    let mut honest_near = Steady::new();
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
        // What `DH_RATCHET_WORK` stands for: the work a new ratchet key
        // costs before its tag is checked (one X25519, the receiving half of
        // the DH ratchet step), in chain steps. "op / floor" is the count.
        (
            "X25519 diffie_hellman, in chain steps (DH_RATCHET_WORK)",
            4000,
            Box::new(|| floor.dh()),
            Box::new(|| floor.chain_step()),
        ),
        (
            "session setup, PQXDH (bundle to decrypted)",
            10,
            Box::new(|| {}),
            Box::new(|| floor.setup_pq()),
        ),
        (
            "session setup, classical X3DH (bundle to decrypted)",
            10,
            Box::new(|| {}),
            Box::new(|| floor.setup()),
        ),
        // The worst a receiver can be sent, against an honest message that
        // turns the DH ratchet (encrypt + decrypt, per message): "op /
        // floor" here is forged / honest.
        (
            "forged message, N = MAX_SKIP, 5 sessions (vs an honest DH ratchet message)",
            20,
            Box::new(|| {
                let far = forged_far.far.clone();
                forged_far.try_message(&far);
            }),
            Box::new(|| honest_far.turn_both_ways()),
        ),
        (
            "forged message, N = 0, 5 sessions (vs an honest DH ratchet message)",
            20,
            Box::new(|| {
                let near = forged_near.near.clone();
                forged_near.try_message(&near);
            }),
            Box::new(|| honest_near.turn_both_ways()),
        ),
    ];
    println!("\nInterleaved ratios ({ROUNDS} rounds; anchor = one X25519 diffie_hellman)");
    println!("| operation | op / floor (median, min–max) | op / anchor | floor / anchor |");
    println!("| --- | --- | --- | --- |");
    for (name, iterations, mut op, mut floor_op) in scenarios {
        let setup_of: Option<fn() -> SetupInput> = match name {
            _ if name.starts_with("session setup, PQXDH") => Some(setup_input),
            _ if name.starts_with("session setup, classical") => Some(classical_setup_input),
            _ => None,
        };
        let (mut vs_floor, mut vs_anchor, mut floor_vs_anchor) = (vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let anchor = time(iterations, || floor.dh()).as_secs_f64();
            let floor_time = time(iterations, &mut floor_op).as_secs_f64();
            let op_time = if let Some(input) = setup_of {
                // Setup consumes fresh parties; make them outside the timing.
                let inputs: Vec<_> = (0..iterations).map(|_| input()).collect();
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
        let (per, forged) = match name {
            _ if name.starts_with("DH ratchet") => (2.0, 1.0),
            _ if name.starts_with("forged") => (1.0, 2.0),
            _ => (1.0, 1.0),
        };
        let (min, max) = (min * forged, max * forged);
        println!(
            "| {name} | {:.2} ({min:.2}–{max:.2}) | {:.2} | {:.2} |",
            median(&mut vs_floor) * forged,
            median(&mut vs_anchor) / per,
            median(&mut floor_vs_anchor) / per / forged,
        );
    }
}

/// PQXDH against classical X3DH: the two setups interleaved in rounds, and
/// what the KEM adds to a bundle and to a first message.
fn post_quantum_against_classical() {
    const ROUNDS: usize = 15;
    const SETUPS: usize = 10;
    let timed = |input: fn() -> SetupInput| {
        let inputs: Vec<_> = (0..SETUPS).map(|_| input()).collect();
        let start = Instant::now();
        inputs.into_iter().for_each(setup);
        start.elapsed().as_secs_f64()
    };
    let mut ratios = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let (pq, classical) = if round % 2 == 0 {
            let pq = timed(setup_input);
            (pq, timed(classical_setup_input))
        } else {
            let classical = timed(classical_setup_input);
            (timed(setup_input), classical)
        };
        ratios.push(pq / classical);
    }
    let (min, max) =
        ratios.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    println!("\nPQXDH against X3DH ({ROUNDS} rounds of {SETUPS} setups each, interleaved)");
    println!("| measure | value |");
    println!("| --- | --- |");
    println!("| PQXDH setup / X3DH setup | {:.2} ({min:.2}–{max:.2}) |", median(&mut ratios));
    let sizes = |(alice, _bob, bundle): SetupInput| {
        alice.process_bundle(&bob(), &bundle).unwrap();
        (bundle.len(), alice.encrypt(&bob(), &MESSAGE).unwrap().len())
    };
    let (pq_bundle, pq_first) = sizes(setup_input());
    let (classical_bundle, classical_first) = sizes(classical_setup_input());
    println!(
        "| bundle, with a one-time prekey: PQXDH / X3DH | {pq_bundle} / {classical_bundle} bytes |"
    );
    println!(
        "| first message, 100 B plaintext: PQXDH / X3DH | {pq_first} / {classical_first} bytes |"
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion);
    criterion.final_summary();
    interleaved_ratios();
    post_quantum_against_classical();
}
