//! Replays every checked-in fuzz corpus (`fuzz/corpus/<target>/*`) through
//! the same target bodies cargo-fuzz runs (`fuzz/bodies.rs`, included
//! here), so that stable CI exercises them without nightly.
//!
//! The seeds are made by `write_seeds` (ignored): after a protocol change,
//! run `cargo test --test fuzz_corpora -- --ignored write_seeds` and commit
//! the new `seed-*` files. Files a fuzzer found (crashes turned regression
//! inputs, named `regression-*`) are kept as they are.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a failure here is the test failing"
)]

#[path = "../fuzz/bodies.rs"]
mod bodies;

use std::fs;
use std::path::{Path, PathBuf};

use sotto::keys::{IdentityKeyPair, OneTimePreKey, PreKeyBundle, SignedPreKey};
use sotto::media::{Counter, KeyId, SframeHeader};
use sotto::store::PeerIdentity;

type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 12] = [
    ("envelope", bodies::envelope),
    ("prekey_message", bodies::prekey_message),
    ("ratchet_message", bodies::ratchet_message),
    ("bundle", bodies::bundle),
    ("session_record", bodies::session_record),
    ("sframe_header", bodies::sframe_header),
    ("sframe_frame", bodies::sframe_frame),
    ("call_sender_key", bodies::call_sender_key),
    ("call_offer", bodies::call_offer),
    ("call_answer", bodies::call_answer),
    ("group_frame", bodies::group_frame),
    ("two_parties", bodies::two_parties),
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target)
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|error| panic!("no corpus for {target}: {error}"))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files.into_iter().map(|path| (path.clone(), fs::read(&path).unwrap())).collect()
}

#[test]
fn every_corpus_replays() {
    for (target, body) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "the corpus of {target} is empty");
        for (path, data) in files {
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        }
    }
}

/// The seeds of each target, as `write_seeds` writes them.
fn seeds() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let conversation = bodies::conversation();
    let group = bodies::group();

    // First messages: with a one-time prekey, a second one from the same
    // session, and one from a bundle without a one-time prekey.
    let (_, bundle) = bodies::bob();
    let alice = bodies::alice();
    let bob = bodies::bob_address();
    alice.process_bundle(&bob, &bundle).unwrap();
    let first = alice.encrypt(&bob, b"first").unwrap();
    let second = alice.encrypt(&bob, b"second").unwrap();
    let parsed = PreKeyBundle::from_bytes(&bundle).unwrap();
    let signed = {
        let verified = parsed.clone().verify().unwrap();
        verified.signed_prekey().clone()
    };
    let no_one_time = PreKeyBundle::new(parsed.identity_key(), signed, None).to_bytes();
    let alice = bodies::alice();
    alice.process_bundle(&bob, &no_one_time).unwrap();
    let without_one_time = alice.encrypt(&bob, b"no one-time prekey").unwrap();

    let mut rng = bodies::rng(7);
    let identity = IdentityKeyPair::from_seed(&[1; 32]);
    let records = vec![
        conversation.bob_record.clone(),
        identity.to_record_bytes().to_vec(),
        SignedPreKey::generate(5.into(), &identity, &mut rng).to_record_bytes().to_vec(),
        OneTimePreKey::generate(6.into(), &mut rng).to_record_bytes().to_vec(),
        PeerIdentity { key: identity.public(), verified: true }.to_record_bytes(),
    ];

    let headers = [(0, 0), (7, 7), (8, 0), (0, 8), (0x1234, 300), (u64::MAX, u64::MAX)]
        .into_iter()
        .map(|(kid, ctr)| {
            SframeHeader::new(KeyId::new(kid), Counter::new(ctr)).encode().as_bytes().to_vec()
        })
        .collect();

    let keyed = |sender: u16, message: &[u8]| [&sender.to_be_bytes()[..], message].concat();
    let sender_keys = vec![
        keyed(2, &group.two),
        keyed(3, &group.three),
        keyed(2, &group.two_stepped),
        keyed(2, &group.two_rekeyed),
    ];

    // Scripts (see `bodies::two_parties`): a first byte (a multiple of 4:
    // start from a fresh pair, else an established one), then op byte, argument byte. Even ops are Alice's,
    // odd ones Bob's; (op >> 1) % 7: 0 send, 1–2 deliver, 3 drop, 4 tamper,
    // 5 trust decision over a pending decryption, 6 replay or uncommitted
    // decrypt.
    let scripts = vec![
        vec![0, 0, 0, 2, 0, 1, 0, 3, 0, 0, 1, 0, 2, 4, 1, 2, 0],
        vec![0, 0, 0, 0, 1, 0, 2, 4, 2, 2, 0, 12, 0, 1, 5, 3, 0, 13, 0],
        vec![0, 0, 0, 0, 1, 6, 0, 2, 0, 8, 7, 1, 2, 0, 3, 0, 1, 0, 9, 0, 3],
        vec![1, 0, 0, 1, 0, 0, 1, 10, 0, 11, 1, 2, 0, 3, 1, 12, 0, 13, 0],
        vec![1, 1, 0, 1, 1, 0, 0, 11, 0, 4, 0, 2, 0, 3, 1, 1, 0, 0, 0, 10, 1, 2, 0],
    ];
    let (offer, answer) = bodies::call_signals();

    let mut envelopes = vec![first.clone(), without_one_time.clone()];
    envelopes.extend(conversation.undelivered.iter().cloned());
    vec![
        ("envelope", envelopes),
        ("prekey_message", vec![first, second, without_one_time]),
        ("ratchet_message", conversation.undelivered.clone()),
        ("bundle", vec![bundle, no_one_time]),
        ("session_record", records),
        ("sframe_header", headers),
        ("sframe_frame", bodies::frame_seeds()),
        ("call_sender_key", sender_keys),
        ("call_offer", vec![offer.clone(), answer.clone()]),
        ("call_answer", vec![answer, offer]),
        ("group_frame", group.frames.clone()),
        ("two_parties", scripts),
    ]
}

/// The checked-in seeds are the ones the current code makes: a protocol
/// change that would leave the fuzzers starting from dead inputs fails here.
#[test]
fn seeds_are_current() {
    for (target, seeds) in seeds() {
        for (index, seed) in seeds.iter().enumerate() {
            let path = corpus_dir(target).join(format!("seed-{index}"));
            let stored =
                fs::read(&path).unwrap_or_else(|_| panic!("{} is missing", path.display()));
            assert!(
                stored == *seed,
                "{} is stale: run `cargo test --test fuzz_corpora -- --ignored write_seeds`",
                path.display()
            );
        }
    }
}

/// The seeds reach the success paths they are there for.
#[test]
fn seeds_decrypt() {
    let conversation = bodies::conversation();
    for message in &conversation.undelivered {
        let mut record =
            sotto::session::SessionRecord::from_bytes(&conversation.bob_record).unwrap();
        record.decrypt(message, &mut bodies::rng(0)).unwrap();
    }
    for seed in bodies::frame_seeds() {
        let len = usize::from(seed[0]);
        let mut receiver = sotto::media::SframeReceiver::new();
        for (suite, kid, base) in bodies::frame_keys() {
            receiver.add_key(suite, kid, &base).unwrap();
        }
        receiver.decrypt(&seed[1..=len], &seed[1 + len..]).unwrap();
    }
}

#[test]
#[ignore = "writes fuzz/corpus/*/seed-*; run after a protocol change"]
fn write_seeds() {
    for (target, seeds) in seeds() {
        let dir = corpus_dir(target);
        fs::create_dir_all(&dir).unwrap();
        for (index, seed) in seeds.iter().enumerate() {
            fs::write(dir.join(format!("seed-{index}")), seed).unwrap();
        }
    }
}
