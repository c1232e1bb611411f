//! Interoperability with an independent implementation: replays the
//! known-answer transcript `tests/vectors/dm/transcript.json`, written in
//! Python from `docs/PROTOCOL.md` alone (see `tests/vectors/dm/README.md`),
//! through the public API, and requires every envelope Sotto produces to
//! equal the Python one byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a failure here is the test failing"
)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sotto::keys::{IdentityKey, IdentityKeyPair, OneTimePreKey, PreKeyBundle, SignedPreKey};
use sotto::session::{Address, SessionManager};
use sotto::store::{InMemoryStore, OneTimePreKeyStore, SignedPreKeyStore};
use sotto::verify::SafetyNumber;

const TRANSCRIPT: &str = include_str!("vectors/dm/transcript.json");

// ------------------------------------------------------------------ JSON
// A small reader for the transcript's fixed format (no serde_json here):
// objects, arrays, UTF-8 strings and unsigned integers.

#[derive(Debug, Clone)]
enum Json {
    Number(u64),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> u8 {
        while self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
        self.bytes[self.at]
    }

    fn expect(&mut self, byte: u8) {
        assert_eq!(self.peek(), byte, "JSON: expected {:?} at {}", byte as char, self.at);
        self.at += 1;
    }

    fn value(&mut self) -> Json {
        match self.peek() {
            b'{' => {
                self.at += 1;
                let mut map = BTreeMap::new();
                if self.peek() == b'}' {
                    self.at += 1;
                    return Json::Object(map);
                }
                loop {
                    let Json::String(key) = self.value() else {
                        panic!("JSON: object key is not a string at {}", self.at)
                    };
                    self.expect(b':');
                    map.insert(key, self.value());
                    match self.peek() {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Json::Object(map);
                        }
                        other => panic!("JSON: unexpected {:?} at {}", other as char, self.at),
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.peek() == b']' {
                    self.at += 1;
                    return Json::Array(items);
                }
                loop {
                    items.push(self.value());
                    match self.peek() {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Json::Array(items);
                        }
                        other => panic!("JSON: unexpected {:?} at {}", other as char, self.at),
                    }
                }
            }
            b'"' => {
                self.at += 1;
                let mut out = Vec::new();
                loop {
                    let byte = self.bytes[self.at];
                    self.at += 1;
                    match byte {
                        b'"' => return Json::String(String::from_utf8(out).unwrap()),
                        b'\\' => {
                            let escaped = self.bytes[self.at];
                            self.at += 1;
                            out.push(match escaped {
                                b'"' | b'\\' | b'/' => escaped,
                                b'n' => b'\n',
                                b't' => b'\t',
                                other => panic!("JSON: unsupported escape \\{}", other as char),
                            });
                        }
                        _ => out.push(byte),
                    }
                }
            }
            b'0'..=b'9' => {
                let start = self.at;
                while self.bytes[self.at].is_ascii_digit() {
                    self.at += 1;
                }
                let digits = std::str::from_utf8(&self.bytes[start..self.at]).unwrap();
                Json::Number(digits.parse().unwrap())
            }
            other => panic!("JSON: unexpected {:?} at {}", other as char, self.at),
        }
    }
}

fn parse_json(text: &str) -> Json {
    let mut parser = Parser { bytes: text.as_bytes(), at: 0 };
    let value = parser.value();
    assert!(parser.bytes[parser.at..].iter().all(u8::is_ascii_whitespace), "JSON: trailing data");
    value
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(map) => map.get(key).unwrap_or_else(|| panic!("JSON: no key {key:?}")),
            _ => panic!("JSON: not an object (looking up {key:?})"),
        }
    }

    fn has(&self, key: &str) -> bool {
        matches!(self, Json::Object(map) if map.contains_key(key))
    }

    fn str(&self) -> &str {
        match self {
            Json::String(s) => s,
            _ => panic!("JSON: not a string: {self:?}"),
        }
    }

    fn u32(&self) -> u32 {
        match self {
            Json::Number(n) => u32::try_from(*n).unwrap(),
            _ => panic!("JSON: not a number: {self:?}"),
        }
    }

    fn usize(&self) -> usize {
        usize::try_from(self.u32()).unwrap()
    }

    fn array(&self) -> &[Json] {
        match self {
            Json::Array(items) => items,
            _ => panic!("JSON: not an array: {self:?}"),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        unhex(self.str())
    }

    fn bytes32(&self) -> [u8; 32] {
        self.bytes().try_into().expect("32 bytes")
    }
}

fn unhex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex");
    let nibble = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not lowercase hex: {text:?}"),
    };
    text.as_bytes().chunks(2).map(|pair| nibble(pair[0]) << 4 | nibble(pair[1])).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ------------------------------------------------------------------ protobuf
// The stored prekey records (proto/storage.proto), encoded by hand.

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn uint_field(out: &mut Vec<u8>, number: u32, value: u32) {
    if value != 0 {
        varint(out, u64::from(number) << 3);
        varint(out, u64::from(value));
    }
}

fn bytes_field(out: &mut Vec<u8>, number: u32, value: &[u8]) {
    if !value.is_empty() {
        varint(out, u64::from(number) << 3 | 2);
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}

/// `SignedPreKeyRecord { version = 1, id = 2, private_key = 3, signature = 4 }`.
fn signed_prekey_record(id: u32, private_key: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    uint_field(&mut out, 1, 1);
    uint_field(&mut out, 2, id);
    bytes_field(&mut out, 3, private_key);
    bytes_field(&mut out, 4, signature);
    out
}

/// `OneTimePreKeyRecord { version = 1, id = 2, private_key = 3 }`.
fn one_time_prekey_record(id: u32, private_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    uint_field(&mut out, 1, 1);
    uint_field(&mut out, 2, id);
    bytes_field(&mut out, 3, private_key);
    out
}

// ------------------------------------------------------------------ scripted RNG

/// Hands out the transcript's 32-byte draws in order; anything else panics.
struct ScriptedRng {
    name: &'static str,
    draws: Vec<[u8; 32]>,
    used: Arc<AtomicUsize>,
}

impl rand_core::TryRng for ScriptedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("{}: the RNG was asked for a u32, not a 32-byte draw", self.name)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("{}: the RNG was asked for a u64, not a 32-byte draw", self.name)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        assert_eq!(
            dst.len(),
            32,
            "{}: the RNG was asked for {} bytes, not 32",
            self.name,
            dst.len()
        );
        let index = self.used.fetch_add(1, Ordering::SeqCst);
        let draw = self.draws.get(index).unwrap_or_else(|| {
            panic!(
                "{}: the RNG was asked for draw #{index}, the transcript has {}",
                self.name,
                self.draws.len()
            )
        });
        dst.copy_from_slice(draw);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for ScriptedRng {}

fn scripted(name: &'static str, draws: &Json) -> (ScriptedRng, Arc<AtomicUsize>) {
    let used = Arc::new(AtomicUsize::new(0));
    let rng = ScriptedRng {
        name,
        draws: draws.array().iter().map(Json::bytes32).collect(),
        used: Arc::clone(&used),
    };
    (rng, used)
}

// ------------------------------------------------------------------ the replay

#[test]
fn python_transcript_replays_byte_for_byte() {
    let t = parse_json(TRANSCRIPT);
    let (a, b) = (t.get("alice"), t.get("bob"));

    let alice_address = Address::new(a.get("account").str(), a.get("device").u32()).unwrap();
    let bob_address = Address::new(b.get("account").str(), b.get("device").u32()).unwrap();

    // Identities from their seeds.
    let alice_identity = IdentityKeyPair::from_seed(&a.get("identity_seed").bytes32());
    let bob_identity = IdentityKeyPair::from_seed(&b.get("identity_seed").bytes32());
    assert_eq!(
        hex(&alice_identity.public().to_bytes()),
        a.get("identity_key").str(),
        "Alice's identity key"
    );
    assert_eq!(
        hex(&bob_identity.public().to_bytes()),
        b.get("identity_key").str(),
        "Bob's identity key"
    );

    // Bob's prekeys, from stored records built here.
    let spk_id = b.get("signed_prekey_id").u32();
    let spk = SignedPreKey::from_record_bytes(&signed_prekey_record(
        spk_id,
        &b.get("signed_prekey_private").bytes(),
        &b.get("signed_prekey_signature").bytes(),
    ))
    .unwrap();
    let opk_id = b.get("one_time_prekey_id").u32();
    let opk = OneTimePreKey::from_record_bytes(&one_time_prekey_record(
        opk_id,
        &b.get("one_time_prekey_private").bytes(),
    ))
    .unwrap();
    assert_eq!(
        hex(spk.public().key().as_bytes()),
        b.get("signed_prekey_public").str(),
        "Bob's signed prekey"
    );
    assert_eq!(
        hex(opk.public().key().as_bytes()),
        b.get("one_time_prekey_public").str(),
        "Bob's one-time prekey"
    );

    // Sotto encodes the same bundle as the Python side.
    let bundle = t.get("bundle").bytes();
    assert_eq!(
        hex(&PreKeyBundle::new(bob_identity.public(), spk.public(), Some(opk.public())).to_bytes()),
        hex(&bundle),
        "bundle encoding"
    );

    let bob_store = InMemoryStore::new(bob_identity);
    bob_store.save_signed_prekey(&spk).unwrap();
    bob_store.save_one_time_prekey(&opk).unwrap();
    let (alice_rng, alice_used) = scripted("alice", t.get("draws").get("alice"));
    let (bob_rng, bob_used) = scripted("bob", t.get("draws").get("bob"));
    let alice = SessionManager::with_rng(
        alice_address.clone(),
        InMemoryStore::new(alice_identity),
        alice_rng,
    );
    let bob = SessionManager::with_rng(bob_address.clone(), bob_store, bob_rng);

    alice.process_bundle(&bob_address, &bundle).unwrap();
    assert_eq!(alice_used.load(Ordering::SeqCst), 2, "draws for the bundle");

    // The first header is inside the first envelope.
    let first = t.get("first_message");
    let events = t.get("events").array();
    assert!(
        hex(&events[0].get("envelope").bytes()).contains(first.get("header").str()),
        "the first header is in the first envelope"
    );
    assert_eq!(
        first.get("ad").str(),
        format!("{}{}", a.get("identity_key").str(), b.get("identity_key").str()),
        "AD = IK_A || IK_B"
    );

    let mut sent: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut delivered_any = false;
    for (number, event) in events.iter().enumerate() {
        if event.has("send") {
            let index = event.get("send").usize();
            assert_eq!(index, sent.len(), "sends are numbered in order");
            let plaintext = event.get("plaintext").bytes();
            let expected = event.get("envelope").bytes();
            let (sender, to) = match event.get("from").str() {
                "alice" => (&alice, &bob_address),
                "bob" => (&bob, &alice_address),
                other => panic!("unknown sender {other}"),
            };
            let envelope = sender
                .encrypt(to, &plaintext)
                .unwrap_or_else(|e| panic!("event {number} (send {index}): encrypt failed: {e}"));
            assert_eq!(
                hex(&envelope),
                hex(&expected),
                "event {number}: send {index} from {} (kind {}, N = {}, PN = {}, header {}): \
                 envelope differs",
                event.get("from").str(),
                event.get("kind").str(),
                event.get("n").u32(),
                event.get("pn").u32(),
                event.get("header").str(),
            );
            sent.push((expected, plaintext));
        } else {
            let index = event.get("deliver").usize();
            let (envelope, plaintext) = &sent[index];
            let (receiver, from) = match event.get("to").str() {
                "alice" => (&alice, &bob_address),
                "bob" => (&bob, &alice_address),
                other => panic!("unknown receiver {other}"),
            };
            let decrypted = receiver
                .decrypt(from, envelope)
                .unwrap_or_else(|e| panic!("event {number}: delivery of send {index} failed: {e}"));
            assert_eq!(
                decrypted.started_session(),
                !delivered_any,
                "event {number}: only the first delivery starts a session"
            );
            delivered_any = true;
            let committed = decrypted.commit().unwrap();
            assert_eq!(
                hex(&committed),
                hex(plaintext),
                "event {number}: plaintext of send {index}"
            );
        }
    }

    assert_eq!(sent.len(), 13, "sends replayed");
    assert_eq!(events.len(), 13 + 13, "events replayed");

    // Every scripted draw was used, and no more.
    let draws = t.get("draws");
    assert_eq!(
        alice_used.load(Ordering::SeqCst),
        draws.get("alice").array().len(),
        "Alice's draws"
    );
    assert_eq!(bob_used.load(Ordering::SeqCst), draws.get("bob").array().len(), "Bob's draws");

    // The first message used Bob's one-time prekey, which the commit removed.
    assert!(bob.store().one_time_prekey(opk_id.into()).unwrap().is_none());
    assert_eq!(bob.store().one_time_prekey_count(), 0);

    // Safety numbers, from both sides.
    let expected = t.get("safety_number");
    for (side, number) in [
        ("alice", alice.safety_number(&bob_address).unwrap().unwrap()),
        ("bob", bob.safety_number(&alice_address).unwrap().unwrap()),
    ] {
        assert_eq!(
            number.displayable(),
            expected.get("displayable").str(),
            "{side}: displayable safety number"
        );
        assert_eq!(
            hex(&number.scannable()),
            expected.get("scannable").str(),
            "{side}: scannable safety number"
        );
        assert!(number.matches_scanned(&unhex(expected.get("scannable").str())).unwrap());
    }
}

/// More safety numbers: digit strings and fingerprints sorting in opposite
/// orders, and a non-ASCII account id (its length prefix counts UTF-8 bytes).
#[test]
fn python_safety_numbers() {
    let t = parse_json(TRANSCRIPT);
    let cases = t.get("more_safety_numbers").array();
    assert!(!cases.is_empty());
    for case in cases {
        let side = |key: &str| {
            let side = case.get(key);
            (
                Address::new(side.get("account").str(), side.get("device").u32()).unwrap(),
                IdentityKey::from_bytes(&side.get("identity_key").bytes()).unwrap(),
            )
        };
        let (a, b) = (side("a"), side("b"));
        for number in [
            SafetyNumber::new((&a.0, &a.1), (&b.0, &b.1)),
            SafetyNumber::new((&b.0, &b.1), (&a.0, &a.1)),
        ] {
            assert_eq!(
                number.displayable(),
                case.get("displayable").str(),
                "{} / {}: displayable safety number",
                a.0,
                b.0
            );
            assert_eq!(
                hex(&number.scannable()),
                case.get("scannable").str(),
                "{} / {}: scannable safety number",
                a.0,
                b.0
            );
        }
    }
}
