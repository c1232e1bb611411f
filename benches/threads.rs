//! Encryption from several threads through one `SessionManager`: two
//! threads writing to two addresses against one thread writing to both (the
//! per-address locks must let them run in parallel), and two threads
//! writing to one address (they must wait for each other, and pay for it
//! only in waiting).
//!
//! Criterion reports one thread's encryption; then the scenarios run
//! interleaved in rounds and the median throughput ratios are printed. Run
//! with `cargo bench --bench threads`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark: a failure is the bench aborting"
)]

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::Criterion;
use sotto::keys::{IdentityKeyPair, PreKeyBundle};
use sotto::rng::os_rng;
use sotto::session::{Address, SessionManager};
use sotto::store::InMemoryStore;

const MESSAGE: [u8; 100] = [0x61; 100];

fn address(account: &str) -> Address {
    Address::new(account, 1).unwrap()
}

fn device(account: &str) -> SessionManager<InMemoryStore> {
    SessionManager::new(
        address(account),
        InMemoryStore::new(IdentityKeyPair::generate(&mut os_rng())),
    )
}

/// Alice's device, with an established session with Bob and with Carol.
fn alice() -> SessionManager<InMemoryStore> {
    let alice = device("alice");
    for peer in ["bob", "carol"] {
        let peer = device(peer);
        let signed = peer.generate_signed_prekey(1.into()).unwrap();
        let kem = peer.generate_last_resort_kem_prekey(1.into()).unwrap();
        let bundle = PreKeyBundle::new(peer.identity_key().unwrap(), signed, kem, None).to_bytes();
        alice.process_bundle(peer.address(), &bundle).unwrap();
        let first = alice.encrypt(peer.address(), b"hi").unwrap();
        peer.decrypt(alice.address(), &first).unwrap().commit().unwrap();
        let reply = peer.encrypt(alice.address(), b"hi").unwrap();
        alice.decrypt(peer.address(), &reply).unwrap().commit().unwrap();
    }
    alice
}

/// `threads` threads encrypt `per_thread` messages each, thread `t` to
/// `targets[t % len]`, started together; the wall time.
fn run(
    alice: &SessionManager<InMemoryStore>,
    targets: &[Address],
    threads: usize,
    per_thread: usize,
) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (barrier, to) = (&barrier, &targets[thread % targets.len()]);
                scope.spawn(move || {
                    barrier.wait();
                    for _ in 0..per_thread {
                        black_box(alice.encrypt(to, &MESSAGE).unwrap());
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for handle in handles {
            handle.join().unwrap();
        }
        start.elapsed()
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn spread(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let alice = alice();
    let (bob, carol) = (address("bob"), address("carol"));
    {
        let mut group = criterion.benchmark_group("threads");
        group.measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
        group.bench_function("encrypt 100 B, one thread", |b| {
            b.iter(|| black_box(alice.encrypt(&bob, &MESSAGE).unwrap()))
        });
        group.finish();
    }
    criterion.final_summary();

    const ROUNDS: usize = 15;
    const MESSAGES: usize = 4000;
    let both = [bob.clone(), carol.clone()];
    let (mut parallel, mut contended) = (vec![], vec![]);
    for round in 0..ROUNDS {
        // One thread sends everything, alternating addresses through the
        // same path the threads take; then two threads share the work.
        let one = |alice: &SessionManager<InMemoryStore>| {
            let start = Instant::now();
            for n in 0..MESSAGES {
                black_box(alice.encrypt(&both[n % 2], &MESSAGE).unwrap());
            }
            start.elapsed()
        };
        let (single, two_addresses, one_address) = if round % 2 == 0 {
            let single = one(&alice);
            (
                single,
                run(&alice, &both, 2, MESSAGES / 2),
                run(&alice, std::slice::from_ref(&bob), 2, MESSAGES / 2),
            )
        } else {
            let one_address = run(&alice, std::slice::from_ref(&bob), 2, MESSAGES / 2);
            let two_addresses = run(&alice, &both, 2, MESSAGES / 2);
            (one(&alice), two_addresses, one_address)
        };
        parallel.push(single.as_secs_f64() / two_addresses.as_secs_f64());
        contended.push(single.as_secs_f64() / one_address.as_secs_f64());
    }
    println!(
        "\nThroughput of encryption through one manager ({ROUNDS} rounds, {MESSAGES} messages each, interleaved)"
    );
    println!("| threads | throughput / one thread's (median, min–max) |");
    println!("| --- | --- |");
    let (lo, hi) = spread(&parallel);
    println!("| 2 threads, 2 addresses | {:.2} ({lo:.2}–{hi:.2}) |", median(&mut parallel));
    let (lo, hi) = spread(&contended);
    println!(
        "| 2 threads, 1 address (contended) | {:.2} ({lo:.2}–{hi:.2}) |",
        median(&mut contended)
    );
}
