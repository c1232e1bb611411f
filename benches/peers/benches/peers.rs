//! Sotto side by side with its peers, in one process, interleaved:
//!
//! - direct messages against vodozemac's Olm (a 100-byte message in a
//!   steady chain, a message that turns the DH ratchet, session setup),
//!   each also against its floor (the primitives the step must compute,
//!   called directly; the same floor as `benches/session.rs`) and one
//!   X25519 `diffie_hellman`, the anchor;
//! - SFrame frames (1 KiB, 16 KiB, AES-128-GCM) against the `sframe` crate
//!   (RustCrypto backend) and the bare AEAD, which is both floor and anchor;
//! - dependency choices: RustCrypto's AEADs against ring's, at the sizes
//!   Sotto uses them.
//!
//! These machines drift by up to a third over minutes, so every figure is a
//! ratio of two operations timed in the same round; rounds rotate which
//! operation goes first. The tables go to stdout (`benches/run.sh` copies
//! them into `benches/RESULTS.md`). `PEERS_CRITERION=0` skips the criterion
//! part and prints only the tables.

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

use aes_gcm::Aes128Gcm;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use criterion::{BatchSize, Criterion};
use sotto::media::{BaseKey, CipherSuite, KeyId, SframeKeyMaterial, SframeReceiver, SframeSender};
use vodozemac::olm::{Account, OlmMessage, Session, SessionConfig};

#[path = "../../common/floor.rs"]
mod floor;

#[path = "../../common/sotto.rs"]
mod sotto_dm;

use floor::{Floor, MESSAGE};
use sotto_dm::{
    Steady as SottoPair, classical_setup_input as sotto_setup_input, setup as sotto_setup,
};
const ROUNDS: usize = 21;

// ------------------------------------------------------------ vodozemac Olm

/// Alice's and Bob's accounts, Bob with one published one-time key (made
/// outside the timing).
fn olm_setup_input() -> (Account, Account) {
    let mut bob = Account::new();
    bob.generate_one_time_keys(1);
    (Account::new(), bob)
}

/// Session setup: outbound session → first message → inbound session and
/// its plaintext.
fn olm_setup((alice, mut bob): (Account, Account)) {
    let one_time = bob.one_time_keys().into_values().next().unwrap();
    bob.mark_keys_as_published();
    let mut outbound = alice
        .create_outbound_session(SessionConfig::version_1(), bob.curve25519_key(), one_time)
        .unwrap();
    let OlmMessage::PreKey(first) = outbound.encrypt(MESSAGE).unwrap() else {
        panic!("a first Olm message is a pre-key message")
    };
    let inbound = bob
        .create_inbound_session(SessionConfig::version_1(), alice.curve25519_key(), &first)
        .unwrap();
    assert_eq!(inbound.plaintext.len(), MESSAGE.len());
}

struct OlmPair {
    alice: Session,
    bob: Session,
}

impl OlmPair {
    fn new() -> Self {
        let (alice, mut bob) = olm_setup_input();
        let one_time = bob.one_time_keys().into_values().next().unwrap();
        bob.mark_keys_as_published();
        let mut outbound = alice
            .create_outbound_session(SessionConfig::version_1(), bob.curve25519_key(), one_time)
            .unwrap();
        let OlmMessage::PreKey(first) = outbound.encrypt(b"hi").unwrap() else { panic!() };
        let mut inbound = bob
            .create_inbound_session(SessionConfig::version_1(), alice.curve25519_key(), &first)
            .unwrap()
            .session;
        let reply = inbound.encrypt(b"hi").unwrap();
        outbound.decrypt(&reply).unwrap();
        Self { alice: outbound, bob: inbound }
    }

    fn steady(&mut self) {
        let message = self.alice.encrypt(MESSAGE).unwrap();
        black_box(self.bob.decrypt(&message).unwrap());
    }

    fn turn_both_ways(&mut self) {
        let message = self.alice.encrypt(MESSAGE).unwrap();
        black_box(self.bob.decrypt(&message).unwrap());
        let message = self.bob.encrypt(MESSAGE).unwrap();
        black_box(self.alice.decrypt(&message).unwrap());
    }
}

// ------------------------------------------------------------- DM floor

// ------------------------------------------------------------------ SFrame

const SFRAME_KID: u64 = 0x123;

/// Sotto's sender and receiver, encrypting into and decrypting from
/// preallocated buffers.
struct SottoFrames {
    sender: SframeSender,
    receiver: SframeReceiver,
    payload: Vec<u8>,
    frame: Vec<u8>,
    out: Vec<u8>,
}

impl SottoFrames {
    fn new(size: usize) -> Self {
        let base = BaseKey::from_bytes(&[0x5a; 32]).unwrap();
        let suite = CipherSuite::Aes128GcmSha256_128;
        let mut receiver = SframeReceiver::new();
        receiver.add_key(suite, KeyId::new(SFRAME_KID), &base).unwrap();
        Self {
            sender: SframeSender::new(suite, KeyId::new(SFRAME_KID), &base).unwrap(),
            receiver,
            payload: vec![0x11; size],
            frame: vec![0; size + 64],
            out: vec![0; size + 64],
        }
    }

    fn frame(&mut self) {
        let n = self.sender.encrypt_into(b"", black_box(&self.payload), &mut self.frame).unwrap();
        black_box(self.receiver.decrypt_into(b"", &self.frame[..n], &mut self.out).unwrap());
    }
}

/// The `sframe` crate: a monotonic counter, encryption into a reused
/// buffer, and decryption with its replay protection (as Sotto's receiver
/// has one).
struct PeerFrames {
    counter: sframe::frame::MonotonicCounter,
    encryption: sframe::key::EncryptionKey,
    decryption: sframe::key::DecryptionKey,
    replay: sframe::frame::validation::ReplayAttackProtection,
    payload: Vec<u8>,
    frame: Vec<u8>,
    out: Vec<u8>,
}

impl PeerFrames {
    fn new(size: usize) -> Self {
        use sframe::CipherSuite::AesGcm128Sha256 as SUITE;
        let material = [0x5a; 32];
        Self {
            counter: sframe::frame::MonotonicCounter::default(),
            encryption: sframe::key::EncryptionKey::derive_from(SUITE, SFRAME_KID, material)
                .unwrap(),
            decryption: sframe::key::DecryptionKey::derive_from(SUITE, SFRAME_KID, material)
                .unwrap(),
            replay: sframe::frame::validation::ReplayAttackProtection::new(
                SFRAME_KID,
                sframe::frame::validation::Tolerance::new(128),
            ),
            payload: vec![0x11; size],
            frame: Vec::with_capacity(size + 64),
            out: Vec::with_capacity(size + 64),
        }
    }

    fn frame(&mut self) {
        let media =
            sframe::frame::MediaFrameView::try_new(&mut self.counter, black_box(&self.payload))
                .unwrap();
        let encrypted = media.encrypt_into(&self.encryption, &mut self.frame).unwrap();
        let decrypted = encrypted
            .validated_decrypt_into(&self.decryption, &mut self.out, &mut self.replay)
            .unwrap();
        black_box(decrypted.payload().len());
    }
}

/// The bare AEAD, encrypt + decrypt in place, key schedule built once: the
/// floor and anchor of the SFrame rows.
struct BareGcm {
    cipher: Aes128Gcm,
    buffer: Vec<u8>,
}

impl BareGcm {
    fn new(size: usize) -> Self {
        let key = SframeKeyMaterial::derive(
            CipherSuite::Aes128GcmSha256_128,
            KeyId::new(SFRAME_KID),
            &BaseKey::from_bytes(&[0x5a; 32]).unwrap(),
        )
        .unwrap();
        Self {
            cipher: Aes128Gcm::new_from_slice(key.expose_key()).unwrap(),
            buffer: vec![0x11; size],
        }
    }

    fn frame(&mut self) {
        let nonce = [0x42; 12].into();
        let aad = [0x99, 0x01, 0x23];
        let tag = self
            .cipher
            .encrypt_inout_detached(&nonce, &aad, self.buffer.as_mut_slice().into())
            .unwrap();
        self.cipher
            .decrypt_inout_detached(&nonce, &aad, self.buffer.as_mut_slice().into(), &tag)
            .unwrap();
    }
}

// ------------------------------------------------------- dependency choices

/// ring's AEAD over `size` bytes, encrypt + decrypt in place, key built once.
struct RingAead {
    key: ring::aead::LessSafeKey,
    buffer: Vec<u8>,
    size: usize,
}

impl RingAead {
    fn new(algorithm: &'static ring::aead::Algorithm, size: usize) -> Self {
        let key = ring::aead::UnboundKey::new(algorithm, &vec![7u8; algorithm.key_len()]).unwrap();
        Self { key: ring::aead::LessSafeKey::new(key), buffer: Vec::with_capacity(size + 16), size }
    }

    fn seal_open(&mut self) {
        self.buffer.clear();
        self.buffer.resize(self.size, 0x11);
        let nonce = || ring::aead::Nonce::assume_unique_for_key([0x42; 12]);
        let aad = ring::aead::Aad::from([0u8; 16]);
        self.key.seal_in_place_append_tag(nonce(), aad, &mut self.buffer).unwrap();
        black_box(self.key.open_in_place(nonce(), aad, &mut self.buffer).unwrap());
    }
}

/// RustCrypto's ChaCha20-Poly1305 over 100 B as the ratchet uses it: a key
/// per message, encrypt + decrypt.
fn rustcrypto_chacha_100(buffer: &mut [u8; 100]) {
    let cipher = ChaCha20Poly1305::new_from_slice(black_box(&[7u8; 32])).unwrap();
    let nonce = [0x42; 12].into();
    let tag =
        cipher.encrypt_inout_detached(&nonce, &[0u8; 16], buffer.as_mut_slice().into()).unwrap();
    cipher.decrypt_inout_detached(&nonce, &[0u8; 16], buffer.as_mut_slice().into(), &tag).unwrap();
}

/// ring's ChaCha20-Poly1305, the same way (a key per message).
fn ring_chacha_100(buffer: &mut Vec<u8>) {
    let key =
        ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, black_box(&[7u8; 32])).unwrap();
    let key = ring::aead::LessSafeKey::new(key);
    buffer.clear();
    buffer.resize(100, 0x11);
    let nonce = || ring::aead::Nonce::assume_unique_for_key([0x42; 12]);
    let aad = ring::aead::Aad::from([0u8; 16]);
    key.seal_in_place_append_tag(nonce(), aad, buffer).unwrap();
    black_box(key.open_in_place(nonce(), aad, buffer).unwrap());
}

// -------------------------------------------------------------- measuring

fn time(iterations: u32, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed().as_secs_f64()
}

/// Median and min–max of a sample.
struct Spread {
    median: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Self { median: values[values.len() / 2], min: values[0], max: values[values.len() - 1] }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} ({:.2}–{:.2})", self.median, self.min, self.max)
    }
}

type Op<'a> = Box<dyn FnMut() + 'a>;

/// Times every operation `iterations` times per round, in an order that
/// rotates each round, and returns per-round times (seconds per call).
fn interleave(iterations: u32, ops: &mut [Op<'_>]) -> Vec<Vec<f64>> {
    for op in ops.iter_mut() {
        time(iterations.div_ceil(4), op.as_mut()); // warm up
    }
    let mut times = vec![Vec::with_capacity(ROUNDS); ops.len()];
    for round in 0..ROUNDS {
        for k in 0..ops.len() {
            let index = (round + k) % ops.len();
            let elapsed = time(iterations, ops[index].as_mut());
            times[index].push(elapsed / f64::from(iterations));
        }
    }
    times
}

fn ratios(numerator: &[f64], denominator: &[f64]) -> Spread {
    Spread::of(numerator.iter().zip(denominator).map(|(n, d)| n / d).collect())
}

/// A DM row: anchor, floor, Sotto, vodozemac.
fn dm_row(name: &str, per: f64, times: &[Vec<f64>], target: &str) {
    let [anchor, floor, sotto, olm] = times else { unreachable!() };
    let vs_floor = ratios(sotto, floor);
    let vs_olm = ratios(sotto, olm);
    let sotto_anchor = ratios(sotto, anchor);
    let olm_anchor = ratios(olm, anchor);
    let floor_anchor = ratios(floor, anchor);
    let median_us = Spread::of(sotto.clone()).median * 1e6 / per;
    println!(
        "| {name} | {vs_floor} | {vs_olm} | {:.2} | {:.2} | {:.2} | {median_us:.1} | {target} |",
        sotto_anchor.median / per,
        olm_anchor.median / per,
        floor_anchor.median / per,
    );
}

fn interleaved_tables() {
    let floor = Floor::new();
    println!("\n### Direct messages: Sotto vs vodozemac 0.11 (Olm v1), interleaved\n");
    println!(
        "{ROUNDS} rounds; anchor = one X25519 `diffie_hellman`; ratios are medians (min–max over rounds). The µs column is the bare median, for scale only: it drifts with the machine.\n"
    );
    println!(
        "| operation | Sotto / floor | Sotto / vodozemac | Sotto / anchor | vodozemac / anchor | floor / anchor | Sotto µs | target |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");

    let (mut sotto, mut olm) = (SottoPair::new(), OlmPair::new());
    let times = interleave(
        300,
        &mut [
            Box::new(|| floor.dh()),
            Box::new(|| floor.message()),
            Box::new(|| sotto.message()),
            Box::new(|| olm.steady()),
        ],
    );
    dm_row("steady chain, 100 B (encrypt + decrypt)", 1.0, &times, "≤ 1.5× floor, < vodozemac");

    let (mut sotto, mut olm) = (SottoPair::new(), OlmPair::new());
    let times = interleave(
        40,
        &mut [
            Box::new(|| floor.dh()),
            Box::new(|| floor.turn_both_ways()),
            Box::new(|| sotto.turn_both_ways()),
            Box::new(|| olm.turn_both_ways()),
        ],
    );
    // Measured both ways: per message is half (ratios are unaffected).
    dm_row("DH ratchet turn (per message)", 2.0, &times, "≤ 1.3× floor");

    setup_row(&floor);

    println!(
        "\n### SFrame, AES-128-GCM: Sotto vs the `sframe` crate 2.1 (RustCrypto backend), interleaved\n"
    );
    println!(
        "Encrypt + decrypt of one frame (Sotto: `encrypt_into` + `decrypt_into`, replay window included; `sframe`: `encrypt_into` + `validated_decrypt_into` with its replay protection). Anchor and floor = the bare AES-128-GCM (RustCrypto), key schedule built once.\n"
    );
    println!(
        "| frame | Sotto / bare AEAD | Sotto / sframe | sframe / bare AEAD | Sotto µs | target |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (size, iterations, target) in [(1024, 2000, "≤ 1.2× AEAD, < sframe"), (16 * 1024, 200, "")]
    {
        let (mut bare, mut sotto, mut peer) =
            (BareGcm::new(size), SottoFrames::new(size), PeerFrames::new(size));
        let times = interleave(
            iterations,
            &mut [Box::new(|| bare.frame()), Box::new(|| sotto.frame()), Box::new(|| peer.frame())],
        );
        let [bare, sotto, peer] = &times[..] else { unreachable!() };
        println!(
            "| {} KiB | {} | {} | {} | {:.2} | {target} |",
            size / 1024,
            ratios(sotto, bare),
            ratios(sotto, peer),
            ratios(peer, bare),
            Spread::of(sotto.clone()).median * 1e6,
        );
    }

    dependency_rows(&floor);
}

/// Setup consumes fresh parties: each round makes them, then times only
/// the setups, interleaved with the floor and anchor.
fn setup_row(floor: &Floor) {
    const SETUPS: u32 = 8;
    const ANCHORS_PER_SETUP: u32 = 14;
    let mut times = vec![Vec::new(); 4];
    for round in 0..ROUNDS {
        let mut sotto_inputs: Vec<_> = (0..SETUPS).map(|_| sotto_setup_input()).collect();
        let mut olm_inputs: Vec<_> = (0..SETUPS).map(|_| olm_setup_input()).collect();
        for k in 0..4 {
            let index = (round + k) % 4;
            let start = Instant::now();
            match index {
                // As long as a setup's floor: a short anchor is all noise.
                0 => (0..SETUPS * ANCHORS_PER_SETUP).for_each(|_| floor.dh()),
                1 => (0..SETUPS).for_each(|_| floor.setup()),
                2 => sotto_inputs.drain(..).for_each(sotto_setup),
                _ => olm_inputs.drain(..).for_each(olm_setup),
            }
            let calls = if index == 0 { SETUPS * ANCHORS_PER_SETUP } else { SETUPS };
            times[index].push(start.elapsed().as_secs_f64() / f64::from(calls));
        }
    }
    dm_row("session setup, classical X3DH (bundle to decrypted)", 1.0, &times, "≤ 1.3× floor");
    println!(
        "\nThe setup row is Sotto's classical X3DH, like for like with Olm (Sotto's default, PQXDH, adds ML-KEM-1024: benches/session.rs measures it). vodozemac's setup does less still: Olm has no signed prekey, so there is no signature to verify and one DH fewer."
    );
}

/// Where a dependency might be the bottleneck: RustCrypto against ring.
fn dependency_rows(floor: &Floor) {
    println!("\n### Dependency choices, interleaved\n");
    println!("| comparison | ratio (median, min–max) | meaning |");
    println!("| --- | --- | --- |");

    let mut rust_buffer = [0x11u8; 100];
    let mut ring_buffer = Vec::with_capacity(116);
    let times = interleave(
        3000,
        &mut [
            Box::new(|| rustcrypto_chacha_100(&mut rust_buffer)),
            Box::new(|| ring_chacha_100(&mut ring_buffer)),
            Box::new(|| floor.message()),
        ],
    );
    let [rust, ring, steady] = &times[..] else { unreachable!() };
    println!(
        "| ChaCha20-Poly1305, 100 B, key per message: RustCrypto / ring | {} | > 1 means ring is faster on the ratchet's short messages |",
        ratios(rust, ring)
    );
    println!(
        "| that AEAD (RustCrypto) / the steady-chain floor | {} | the share of a message's floor that a faster AEAD could cut |",
        ratios(rust, steady)
    );

    for size in [1024usize, 16 * 1024] {
        let mut rust = BareGcm::new(size);
        let mut ring = RingAead::new(&ring::aead::AES_128_GCM, size);
        let times = interleave(
            if size == 1024 { 2000 } else { 200 },
            &mut [Box::new(|| rust.frame()), Box::new(|| ring.seal_open())],
        );
        let [rust, ring] = &times[..] else { unreachable!() };
        println!(
            "| AES-128-GCM, {} KiB: RustCrypto / ring | {} | > 1 means ring's AES-GCM is faster |",
            size / 1024,
            ratios(rust, ring)
        );
    }
}

fn criterion_benches(c: &mut Criterion) {
    let floor = Floor::new();
    let mut group = c.benchmark_group("peers/dm");
    group.measurement_time(Duration::from_secs(1)).warm_up_time(Duration::from_millis(300));
    let mut sotto = SottoPair::new();
    group.bench_function("sotto: steady chain 100 B", |b| b.iter(|| sotto.message()));
    let mut olm = OlmPair::new();
    group.bench_function("vodozemac: steady chain 100 B", |b| b.iter(|| olm.steady()));
    group.bench_function("floor: steady chain 100 B", |b| b.iter(|| floor.message()));
    group.bench_function("sotto: DH ratchet, both ways", |b| b.iter(|| sotto.turn_both_ways()));
    group.bench_function("vodozemac: DH ratchet, both ways", |b| b.iter(|| olm.turn_both_ways()));
    group.sample_size(20);
    group.bench_function("sotto: session setup", |b| {
        b.iter_batched(sotto_setup_input, sotto_setup, BatchSize::SmallInput)
    });
    group.bench_function("vodozemac: session setup", |b| {
        b.iter_batched(olm_setup_input, olm_setup, BatchSize::SmallInput)
    });
    group.finish();

    for size in [1024usize, 16 * 1024] {
        let mut group = c.benchmark_group(format!("peers/sframe/AES-128-GCM/{size}"));
        group.measurement_time(Duration::from_secs(1)).warm_up_time(Duration::from_millis(300));
        let mut bare = BareGcm::new(size);
        group.bench_function("bare aead", |b| b.iter(|| bare.frame()));
        let mut sotto = SottoFrames::new(size);
        group.bench_function("sotto", |b| b.iter(|| sotto.frame()));
        let mut peer = PeerFrames::new(size);
        group.bench_function("sframe crate", |b| b.iter(|| peer.frame()));
        group.finish();
    }
}

fn main() {
    if std::env::var("PEERS_CRITERION").as_deref() != Ok("0") {
        let mut criterion = Criterion::default().configure_from_args();
        criterion_benches(&mut criterion);
        criterion.final_summary();
    }
    interleaved_tables();
}
