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
use sotto::store::{PeerIdentity, SessionStore, SqliteStore, SqliteStoreError, StoreError};

type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 13] = [
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
    ("store_file", bodies::store_file),
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

/// Regression inputs of bugs found and not fixed yet: (target, file, the
/// panic each still causes). The replay checks that they still fail so,
/// when a fix makes one pass, the test fails until it is taken out of this
/// list (and then passes on it for good).
const OPEN_FINDINGS: [(&str, &str, &str); 0] = [
    // None open. (`store_file`'s regression-session-index and
    // regression-peer-identity-index were, until schema version 3 made the
    // keyed tables WITHOUT ROWID: an edited index entry hid a row from
    // lookups while the digest's scan of the table still found it.)
];

#[test]
fn every_corpus_replays() {
    for (target, body) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "the corpus of {target} is empty");
        for (path, data) in files {
            let name = path.file_name().and_then(|name| name.to_str()).unwrap();
            let open = OPEN_FINDINGS.iter().find(|(t, file, _)| *t == target && *file == name);
            let outcome = std::panic::catch_unwind(|| body(&data));
            match (open, outcome) {
                (None, outcome) => assert!(outcome.is_ok(), "{target}: {} fails", path.display()),
                (Some((_, _, expected)), Err(panic)) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or_default();
                    assert!(
                        message.contains(expected),
                        "{target}: {name} fails otherwise: {message}"
                    );
                }
                (Some(_), Ok(())) => {
                    panic!("{target}: {name} passes now: take it out of OPEN_FINDINGS")
                }
            }
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
    let kem = parsed.clone().verify().unwrap().kem_prekey().cloned().unwrap();
    let classical = PreKeyBundle::classical(parsed.identity_key(), signed.clone(), None).to_bytes();
    let no_one_time = PreKeyBundle::new(parsed.identity_key(), signed, kem, None).to_bytes();
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
        ("bundle", vec![bundle, no_one_time, classical]),
        ("session_record", records),
        ("sframe_header", headers),
        ("sframe_frame", bodies::frame_seeds()),
        ("call_sender_key", sender_keys),
        ("call_offer", vec![offer.clone(), answer.clone()]),
        ("call_answer", vec![answer, offer]),
        ("group_frame", group.frames.clone()),
        ("two_parties", scripts),
        ("store_file", store_file_seeds()),
    ]
}

/// Where the sealed value of the first row of `table` starts in the stored
/// device's file, as (page, offset in the page).
fn sealed_value_at(table: &str) -> (usize, usize) {
    let bytes = &bodies::stored_device().bytes;
    let copy = bodies::ScratchStore::holding(bytes);
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let connection = rusqlite::Connection::open_with_flags(copy.path(), flags).unwrap();
    let value: Vec<u8> = connection
        .query_row(&format!("SELECT value FROM {table} LIMIT 1"), [], |row| row.get(0))
        .unwrap();
    // A sealed value starts with its random nonce: it is found once.
    let start = &value[..32];
    let position = bytes.windows(start.len()).position(|window| window == start).unwrap();
    (position / bodies::STORE_PAGE, position % bodies::STORE_PAGE)
}

/// The `store_file` seeds (see `bodies::edited`): no edit, a flipped byte
/// in the file header (the application id), in a session's ciphertext and
/// in a one-time prekey's nonce, and the file cut by a page.
fn store_file_seeds() -> Vec<Vec<u8>> {
    let flip = |(page, offset): (usize, usize), mask: u8| {
        let [high, low] = u16::try_from(offset).unwrap().to_be_bytes();
        vec![0, u8::try_from(page).unwrap(), high, low, 0, mask]
    };
    let (session_page, session_offset) = sealed_value_at("sessions");
    let cut = bodies::stored_device().bytes.len() - bodies::STORE_PAGE;
    let [_, high, middle, low] = u32::try_from(cut).unwrap().to_be_bytes();
    vec![
        vec![0],
        flip((0, 71), 0x01),
        // The first byte after the nonce.
        flip((session_page, session_offset + 12), 0x80),
        flip(sealed_value_at("one_time_prekeys"), 0x01),
        vec![1, high, middle, low],
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

/// The `store_file` seeds reach the refusals they are there for.
#[test]
fn store_file_seeds_are_refused_where_expected() {
    let device = bodies::stored_device();
    let open = |seed: &[u8]| {
        let scratch = bodies::ScratchStore::holding(&bodies::edited(&device.bytes, seed));
        SqliteStore::open(scratch.path(), &bodies::store_key())
    };
    let seeds = store_file_seeds();
    open(&seeds[0]).unwrap();
    assert!(matches!(open(&seeds[1]), Err(SqliteStoreError::NotASottoStore { .. })));
    let store = open(&seeds[2]).unwrap();
    let Err(StoreError::Backend(error)) = store.load_session(&bodies::alice_address()) else {
        panic!("a flipped session loaded");
    };
    assert!(matches!(
        error.downcast_ref::<SqliteStoreError>(),
        Some(SqliteStoreError::CorruptRecord { .. })
    ));
    assert!(matches!(open(&seeds[3]), Err(SqliteStoreError::Tampered { .. })));
    assert!(matches!(open(&seeds[4]), Err(SqliteStoreError::Truncated { .. })));
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
