//! The body of every fuzz target, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`, on nightly) and by the corpus replay test of
//! the root crate (`tests/fuzz_corpora.rs`, on stable), which includes this
//! file with `#[path]`. It uses only `sotto` (with its `sqlite` feature),
//! `chacha20` and `rand_core`.
//!
//! Each body takes untrusted bytes, drives one public entry point, and
//! panics only when an invariant of the API breaks: a refused input that
//! changed state, a message that decrypted twice, an encoding that does not
//! load back. Everything is deterministic (fixed seeds), so a crash
//! reproduces from its input alone; only the bytes that the SQLite store of
//! `store_file` draws from the operating system (nonces, its database id)
//! differ from one process to the next, not where they lie in the file.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "fuzz target bodies: a panic is the finding"
)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use chacha20::ChaCha20Rng;
use rand_core::SeedableRng;
use sotto::call::{CallId, CallOffer, Epoch, GroupCall, OutgoingCall, ParticipantId};
use sotto::keys::{IdentityKeyPair, KemPreKey, OneTimePreKey, PreKeyBundle, SignedPreKey};
use sotto::media::{
    BaseKey, CipherSuite, Counter, KeyId, SframeError, SframeHeader, SframeReceiver, SframeSender,
};
use sotto::session::{Address, SessionManager, SessionRecord};
use sotto::store::{
    IdentityStore, InMemoryStore, KemPreKeyStore, OneTimePreKeyStore, PeerIdentity,
    PeerIdentityWrite, ProtocolStore, SessionStore, SignedPreKeyStore, SqliteStore,
    SqliteStoreError, StorageKey, StoreCommit, StoreError,
};

/// A session manager with a deterministic generator.
pub type Manager = SessionManager<InMemoryStore, ChaCha20Rng>;

/// The generator every body uses, from a one-byte seed.
pub fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

pub fn alice_address() -> Address {
    Address::new("alice", 1).unwrap()
}

pub fn bob_address() -> Address {
    Address::new("bob", 1).unwrap()
}

/// Alice's manager: identity from seed 1, generator seed 0x11.
pub fn alice() -> Manager {
    SessionManager::with_rng(
        alice_address(),
        InMemoryStore::new(IdentityKeyPair::from_seed(&[1; 32])),
        rng(0x11),
    )
}

/// Bob's manager (identity from seed 2, generator seed 0x22) with signed
/// prekey 1 and one-time prekeys 100 and 101, and his bundle (with
/// one-time prekey 100).
pub fn bob() -> (Manager, Vec<u8>) {
    let bob = SessionManager::with_rng(
        bob_address(),
        InMemoryStore::new(IdentityKeyPair::from_seed(&[2; 32])),
        rng(0x22),
    );
    let bundle = publish_prekeys(&bob, 2);
    (bob, bundle)
}

/// Makes signed prekey 1, last-resort KEM prekey 1, and `count` one-time
/// prekeys and one-time KEM prekeys from id 100 at `manager`, and returns
/// its bundle (with one-time prekey 100 and one-time KEM prekey 100).
pub fn publish_prekeys<S: ProtocolStore>(
    manager: &SessionManager<S, ChaCha20Rng>,
    count: u32,
) -> Vec<u8> {
    let signed = manager.generate_signed_prekey(1.into()).unwrap();
    let one_time = manager.generate_one_time_prekeys(100, count).unwrap();
    manager.generate_last_resort_kem_prekey(1.into()).unwrap();
    let kem = manager.generate_kem_prekeys(100, count).unwrap();
    let identity = manager.identity_key().unwrap();
    PreKeyBundle::new(identity, signed, kem[0].clone(), one_time.first().copied()).to_bytes()
}

/// A manager with an identity and nothing else.
fn bare() -> &'static Manager {
    static BARE: OnceLock<Manager> = OnceLock::new();
    BARE.get_or_init(|| {
        SessionManager::with_rng(
            bob_address(),
            InMemoryStore::new(IdentityKeyPair::from_seed(&[3; 32])),
            rng(0x33),
        )
    })
}

/// Target `envelope`: any bytes as a message to a record and a manager that
/// have no session and no prekeys. Nothing can decrypt, nothing may change.
pub fn envelope(data: &[u8]) {
    let mut record = SessionRecord::default();
    assert!(record.decrypt(data, &mut rng(0)).is_err(), "an empty record decrypted a message");
    assert!(!record.has_current_session(), "a refused message made a session");
    let manager = bare();
    assert!(manager.decrypt(&alice_address(), data).is_err(), "decrypted with no prekeys");
    assert!(!manager.has_session(&alice_address()).unwrap());
}

/// Bob before any message, shared by the `prekey_message` body: decrypt
/// changes no store, which the body checks.
fn pristine_bob() -> &'static Manager {
    static BOB: OnceLock<Manager> = OnceLock::new();
    BOB.get_or_init(|| bob().0)
}

/// Target `prekey_message`: any bytes as the first message of a session, at
/// Bob with signed prekey 1, one-time prekeys 100, 101, last-resort KEM
/// prekey 1 and one-time KEM prekeys 100, 101.
pub fn prekey_message(data: &[u8]) {
    let bob = pristine_bob();
    let from = alice_address();
    match bob.decrypt(&from, data) {
        Err(_) => {}
        Ok(decrypted) => {
            let plaintext = decrypted.plaintext().to_vec();
            drop(decrypted);
            // Uncommitted: nothing stored. Commit on an identical fresh Bob.
            assert!(!bob.has_session(&from).unwrap(), "an uncommitted decrypt stored a session");
            assert_eq!(
                bob.store().one_time_prekey_count(),
                2,
                "an uncommitted decrypt used a prekey"
            );
            assert_eq!(
                bob.store().kem_prekey_count(),
                3,
                "an uncommitted decrypt used a KEM prekey"
            );
            let (fresh, _) = self::bob();
            let decrypted = fresh.decrypt(&from, data).expect("decrypts on an identical store");
            assert_eq!(decrypted.plaintext(), plaintext);
            assert_eq!(decrypted.commit().unwrap(), plaintext);
            assert!(fresh.has_session(&from).unwrap());
            assert!(fresh.decrypt(&from, data).is_err(), "a first message decrypted twice");
        }
    }
    assert!(!bob.has_session(&from).unwrap(), "Bob's store changed");
}

/// Alice's and Bob's session records mid-conversation, and the messages
/// from Alice that Bob has not received (the `ratchet_message` seeds):
/// `m2`, `m3`, `m4` in Alice's second sending chain, `m5` in her third.
pub struct Conversation {
    pub bob_record: Vec<u8>,
    pub undelivered: Vec<Vec<u8>>,
}

pub fn conversation() -> &'static Conversation {
    static CONVERSATION: OnceLock<Conversation> = OnceLock::new();
    CONVERSATION.get_or_init(|| {
        let (alice, bob_address) = (alice(), bob_address());
        let (bob, bundle) = bob();
        let alice_address = alice_address();
        alice.process_bundle(&bob_address, &bundle).unwrap();
        let first = alice.encrypt(&bob_address, b"first").unwrap();
        bob.decrypt(&alice_address, &first).unwrap().commit().unwrap();
        let reply = bob.encrypt(&alice_address, b"reply 1").unwrap();
        alice.decrypt(&bob_address, &reply).unwrap().commit().unwrap();
        let m1 = alice.encrypt(&bob_address, b"m1").unwrap();
        bob.decrypt(&alice_address, &m1).unwrap().commit().unwrap();
        let undelivered: Vec<Vec<u8>> = [&b"m2"[..], b"m3", b"m4"]
            .iter()
            .map(|text| alice.encrypt(&bob_address, text).unwrap())
            .collect();
        let reply = bob.encrypt(&alice_address, b"reply 2").unwrap();
        alice.decrypt(&bob_address, &reply).unwrap().commit().unwrap();
        let mut undelivered = undelivered;
        undelivered.push(alice.encrypt(&bob_address, b"m5").unwrap());
        let record = bob.store().load_session(&alice_address).unwrap().unwrap();
        Conversation { bob_record: record.to_bytes().to_vec(), undelivered }
    })
}

/// Target `ratchet_message`: any bytes as a message in Bob's established
/// session. A refused message leaves the record byte for byte as it was;
/// an accepted one is refused the second time.
pub fn ratchet_message(data: &[u8]) {
    let template = &conversation().bob_record;
    let mut record = SessionRecord::from_bytes(template).unwrap();
    let mut rng = rng(0x44);
    match record.decrypt(data, &mut rng) {
        Err(_) => assert_eq!(
            record.to_bytes().as_slice(),
            template.as_slice(),
            "a refused message changed the session"
        ),
        Ok(_) => {
            assert!(record.decrypt(data, &mut rng).is_err(), "a message decrypted twice");
        }
    }
}

/// Alice with an identity only, whose store the `bundle` body copies.
fn alice_identity() -> &'static IdentityKeyPair {
    static IDENTITY: OnceLock<IdentityKeyPair> = OnceLock::new();
    IDENTITY.get_or_init(|| IdentityKeyPair::from_seed(&[1; 32]))
}

/// Target `bundle`: any bytes as a prekey bundle. What parses encodes and
/// parses back the same; only a verified bundle starts a session, and a
/// refused one stores nothing.
pub fn bundle(data: &[u8]) {
    let parsed = PreKeyBundle::from_bytes(data);
    if let Ok(bundle) = &parsed {
        assert_eq!(PreKeyBundle::from_bytes(&bundle.to_bytes()).as_ref(), Ok(bundle));
    }
    let verified = parsed.ok().and_then(|bundle| bundle.verify().ok());
    let alice = SessionManager::with_rng(
        alice_address(),
        InMemoryStore::new(alice_identity().clone()),
        rng(0x11),
    );
    let bob = bob_address();
    match alice.process_bundle(&bob, data) {
        Ok(()) => {
            let verified = verified.expect("an unverified bundle started a session");
            assert!(alice.has_session(&bob).unwrap());
            let first = alice.encrypt(&bob, b"hi").unwrap();
            let record = alice.store().load_session(&bob).unwrap().unwrap();
            assert_eq!(record.remote_identity(), Some(verified.identity_key()));
            assert!(!first.is_empty());
        }
        Err(_) => {
            assert!(!alice.has_session(&bob).unwrap(), "a refused bundle stored a session");
            assert!(
                alice.safety_number(&bob).unwrap().is_none(),
                "a refused bundle stored an identity"
            );
        }
    }
}

/// Target `session_record`: any bytes as each stored record. What loads
/// encodes to bytes that load back to the same encoding, and a loaded
/// session can be used without panicking.
pub fn session_record(data: &[u8]) {
    if let Ok(mut record) = SessionRecord::from_bytes(data) {
        let bytes = record.to_bytes();
        let again = SessionRecord::from_bytes(&bytes).expect("a record's own encoding loads");
        assert_eq!(again.to_bytes(), bytes, "a record changed through a round trip");
        let _ = record.encrypt(b"after loading");
        let message = conversation().undelivered.first().cloned().unwrap_or_default();
        let _ = record.decrypt(&message, &mut rng(0x55));
    }
    if let Ok(pair) = IdentityKeyPair::from_record_bytes(data) {
        let again = IdentityKeyPair::from_record_bytes(&pair.to_record_bytes()).unwrap();
        assert_eq!(again.public(), pair.public());
    }
    if let Ok(prekey) = SignedPreKey::from_record_bytes(data) {
        let again = SignedPreKey::from_record_bytes(&prekey.to_record_bytes()).unwrap();
        assert_eq!(again.public(), prekey.public());
    }
    if let Ok(prekey) = OneTimePreKey::from_record_bytes(data) {
        let again = OneTimePreKey::from_record_bytes(&prekey.to_record_bytes()).unwrap();
        assert_eq!(again.public(), prekey.public());
    }
    if let Ok(peer) = PeerIdentity::from_record_bytes(data) {
        assert_eq!(PeerIdentity::from_record_bytes(&peer.to_record_bytes()), Ok(peer));
    }
}

/// Target `sframe_header`: any bytes as an SFrame header. What decodes is
/// the minimal encoding of what it decodes to.
pub fn sframe_header(data: &[u8]) {
    if let Ok((header, len)) = SframeHeader::decode(data) {
        assert!(len <= data.len());
        assert_eq!(len, header.encoded_len());
        assert_eq!(header.encode().as_bytes(), &data[..len]);
    }
}

/// The keys of the `sframe_frame` receiver: (suite, kid, base key).
pub fn frame_keys() -> Vec<(CipherSuite, KeyId, BaseKey)> {
    vec![
        (
            CipherSuite::Aes128GcmSha256_128,
            KeyId::new(0),
            BaseKey::from_bytes(&[0x10; 16]).unwrap(),
        ),
        (
            CipherSuite::ChaCha20Poly1305Sha256_128,
            KeyId::new(7),
            BaseKey::from_bytes(&[0x20; 32]).unwrap(),
        ),
        (
            CipherSuite::Aes128CtrHmacSha256_80,
            KeyId::new(8),
            BaseKey::from_bytes(&[0x30; 16]).unwrap(),
        ),
        (
            CipherSuite::Aes256CtrHmacSha512_32,
            KeyId::new(0x1234),
            BaseKey::from_bytes(&[0x40; 32]).unwrap(),
        ),
        (
            CipherSuite::Aes256GcmSha512_128,
            KeyId::new(u64::MAX),
            BaseKey::from_bytes(&[0x50; 32]).unwrap(),
        ),
    ]
}

/// Frames for the `sframe_frame` seeds: `metadata length ‖ metadata ‖ frame`.
pub fn frame_seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (suite, kid, base) in frame_keys() {
        for first in [0, 1, 300] {
            let mut sender =
                SframeSender::starting_at(suite, kid, &base, Counter::new(first)).unwrap();
            let metadata: &[u8] = if first == 1 { b"meta" } else { b"" };
            let frame = sender.encrypt(metadata, b"a frame of media").unwrap();
            let mut seed = vec![u8::try_from(metadata.len()).unwrap()];
            seed.extend_from_slice(metadata);
            seed.extend_from_slice(&frame);
            seeds.push(seed);
        }
    }
    seeds
}

/// Target `sframe_frame`: `metadata length (mod 8) ‖ metadata ‖ frame` to a
/// receiver with the keys of [`frame_keys`]. A frame that decrypts has the
/// length its header and suite say, and is refused as a replay afterwards;
/// a refused frame changes nothing (the same frame is refused again alike).
pub fn sframe_frame(data: &[u8]) {
    let Some((&len, rest)) = data.split_first() else { return };
    let len = usize::from(len % 8).min(rest.len());
    let (metadata, frame) = rest.split_at(len);
    let mut receiver = SframeReceiver::new();
    for (suite, kid, base) in frame_keys() {
        receiver.add_key(suite, kid, &base).unwrap();
    }
    let mut out = vec![0u8; frame.len()];
    match receiver.decrypt_into(metadata, frame, &mut out) {
        Ok(plaintext_len) => {
            let (header, header_len) = SframeHeader::decode(frame).unwrap();
            let suite = frame_keys()
                .into_iter()
                .find(|(_, kid, _)| *kid == header.kid())
                .map(|(suite, _, _)| suite)
                .unwrap();
            assert_eq!(plaintext_len + header_len + suite.nt(), frame.len());
            let replay = receiver.decrypt(metadata, frame);
            assert!(
                matches!(replay, Err(SframeError::Replay { .. } | SframeError::TooOld { .. })),
                "a frame decrypted twice: {replay:?}"
            );
        }
        Err(first) => {
            let again = receiver.decrypt(metadata, frame).unwrap_err();
            assert_eq!(first, again, "a refused frame changed the receiver");
        }
    }
}

/// The call every group body uses.
pub fn call_id() -> CallId {
    CallId::new(*b"fuzz call").unwrap()
}

pub const GROUP_SUITE: CipherSuite = CipherSuite::Aes128GcmSha256_128;

/// Participant 1, the receiver of the group bodies, with participants 2
/// and 3 joined.
fn me() -> GroupCall {
    let mut call =
        GroupCall::new(call_id(), GROUP_SUITE, ParticipantId::new(1), Epoch::ZERO, &mut rng(1))
            .unwrap();
    let _ = call.participant_joined(ParticipantId::new(2)).unwrap();
    let _ = call.participant_joined(ParticipantId::new(3)).unwrap();
    call
}

/// Participants 2 and 3 and the sender key messages they sent to 1.
pub struct Group {
    pub two: Vec<u8>,
    pub three: Vec<u8>,
    /// 2's key after a step (another participant joined) and after a
    /// rekey to epoch 1: the `call_sender_key` seeds with `two`, `three`.
    pub two_stepped: Vec<u8>,
    pub two_rekeyed: Vec<u8>,
    /// Frames of 2 (step 0, step 1) and 3: the `group_frame` seeds.
    pub frames: Vec<Vec<u8>>,
}

pub fn group() -> &'static Group {
    static GROUP: OnceLock<Group> = OnceLock::new();
    GROUP.get_or_init(|| {
        let new = |id, seed| {
            GroupCall::new(
                call_id(),
                GROUP_SUITE,
                ParticipantId::new(id),
                Epoch::ZERO,
                &mut rng(seed),
            )
            .unwrap()
        };
        let (mut two, mut three) = (new(2, 2), new(3, 3));
        let first_two = two.sender_key_message().to_vec();
        let first_three = three.sender_key_message().to_vec();
        let mut frames =
            vec![two.encrypt(b"", b"two, step 0").unwrap(), three.encrypt(b"m", b"three").unwrap()];
        let stepped = two.participant_joined(ParticipantId::new(4)).unwrap().to_vec();
        frames.push(two.encrypt(b"", b"two, step 1").unwrap());
        let _ = two.sender_key_message();
        let rekeyed = two.rekey(&mut rng(9)).unwrap().to_vec();
        Group {
            two: first_two,
            three: first_three,
            two_stepped: stepped,
            two_rekeyed: rekeyed,
            frames,
        }
    })
}

/// Target `call_sender_key`: `sender id (2 bytes, big-endian) ‖ message` to
/// participant 1's `receive_sender_key`. An accepted key is the sender's,
/// and the same message is refused the second time.
pub fn call_sender_key(data: &[u8]) {
    let Some((sender, message)) = data.split_first_chunk::<2>() else { return };
    let sender = ParticipantId::new(u16::from_be_bytes(*sender));
    let mut call = me();
    let before = format!("{call:?}");
    match call.receive_sender_key(sender, message) {
        Ok(id) => {
            assert_eq!(id.participant(), sender);
            assert_eq!(call.sender_key_of(sender), Some(id));
            assert!(call.receive_sender_key(sender, message).is_err(), "a key accepted twice");
        }
        Err(_) => assert_eq!(format!("{call:?}"), before, "a refused key changed the call"),
    }
}

/// Target `group_frame`: any bytes as a frame to participant 1 holding
/// the first keys of 2 and 3. A frame decrypts at most once.
pub fn group_frame(data: &[u8]) {
    let mut call = me();
    let group = group();
    call.receive_sender_key(ParticipantId::new(2), &group.two).unwrap();
    call.receive_sender_key(ParticipantId::new(3), &group.three).unwrap();
    for metadata in [&b""[..], b"m"] {
        if call.decrypt(metadata, data).is_ok() {
            assert!(call.decrypt(metadata, data).is_err(), "a group frame decrypted twice");
        }
    }
}

/// Alice and Bob with a DM session, for the 1:1 call bodies.
fn callers() -> &'static (Manager, Manager) {
    static CALLERS: OnceLock<(Manager, Manager)> = OnceLock::new();
    CALLERS.get_or_init(|| {
        let alice = alice();
        let (bob, bundle) = bob();
        alice.process_bundle(&bob_address(), &bundle).unwrap();
        let first = alice.encrypt(&bob_address(), b"hi").unwrap();
        bob.decrypt(&alice_address(), &first).unwrap().commit().unwrap();
        (alice, bob)
    })
}

/// The offer and the answer of a 1:1 call from Alice to Bob, made from
/// fixed ephemeral keys: the seeds of the call bodies.
pub fn call_signals() -> (Vec<u8>, Vec<u8>) {
    let (alice, bob) = callers();
    let (caller, callee) = (alice.identity_key().unwrap(), bob.identity_key().unwrap());
    let (_, offer) = OutgoingCall::offer(
        call_id(),
        CipherSuite::Aes128GcmSha256_128,
        caller,
        callee,
        &mut rng(0x44),
    )
    .unwrap();
    let parsed = CallOffer::parse(&offer, &caller, &callee).unwrap();
    let (_, answer) = parsed.accept(&mut rng(0x55)).unwrap();
    (offer, answer)
}

/// Target `call_offer`: any bytes as a call offer from Alice, at Bob. A
/// parsed offer names the session's identities, accepting it makes a call
/// whose answer Alice's side can tell apart, and a second acceptance of the
/// same bytes is refused as a replay.
pub fn call_offer(data: &[u8]) {
    let (alice, bob) = callers();
    let Ok(offer) = bob.parse_call_offer(&alice_address(), data) else {
        return;
    };
    assert!(offer.names(&alice.identity_key().unwrap(), &bob.identity_key().unwrap()));
    let ephemeral = offer.caller_ephemeral();
    match bob.accept_call(&alice_address(), offer) {
        Ok((mut call, answer)) => {
            assert!(!answer.is_empty());
            let frame = call.encrypt(b"", b"frame").unwrap();
            assert!(call.decrypt(b"", &frame).is_err(), "a side heard its own frame");
            let again = bob.parse_call_offer(&alice_address(), data).unwrap();
            assert_eq!(again.caller_ephemeral(), ephemeral);
            assert!(bob.accept_call(&alice_address(), again).is_err(), "an offer accepted twice");
        }
        Err(error) => assert!(
            matches!(
                error,
                sotto::session::SessionError::Call(
                    sotto::call::CallError::WeakEphemeralKey
                        | sotto::call::CallError::ReplayedOffer
                )
            ),
            "{error:?}"
        ),
    }
}

/// Target `call_answer`: any bytes as the answer to Alice's offer (made
/// from fixed ephemeral keys). A refused answer gives the call back
/// unchanged: the seed's own answer still completes it afterwards.
pub fn call_answer(data: &[u8]) {
    let (alice, bob) = callers();
    let (caller, callee) = (alice.identity_key().unwrap(), bob.identity_key().unwrap());
    let (calling, _) = OutgoingCall::offer(
        call_id(),
        CipherSuite::Aes128GcmSha256_128,
        caller,
        callee,
        &mut rng(0x44),
    )
    .unwrap();
    let (_, answer) = call_signals();
    match calling.receive_answer(data) {
        Ok(call) => {
            let (send, receive) = call.into_keys();
            assert_ne!(send.base_key().expose_secret(), receive.base_key().expose_secret());
        }
        Err(refused) => {
            let call = refused.into_call();
            assert!(call.receive_answer(&answer).is_ok(), "a refused answer spoiled the call");
        }
    }
}

/// A message in flight in the `two_parties` body.
struct InFlight {
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
}

/// One direction of the `two_parties` body.
#[derive(Default)]
struct Direction {
    queue: Vec<InFlight>,
    delivered: Vec<Vec<u8>>,
    sent: u32,
}

/// At most this many sends per party per input, well below `MAX_SKIP`.
const MAX_SENDS: u32 = 48;

/// What every `two_parties` input starts from, made once per process (key
/// generation and X3DH would otherwise dominate each run): the two
/// identities, Bob's prekeys, and the encoded session records of a pair
/// where Alice has processed Bob's bundle, and of a pair that has
/// exchanged a message each way.
struct Start {
    alice: IdentityKeyPair,
    bob: IdentityKeyPair,
    signed: SignedPreKey,
    one_time: Vec<OneTimePreKey>,
    /// The KEM prekeys before any session (the bundle's one-time KEM prekey
    /// among them).
    kem: Vec<KemPreKey>,
    /// Alice's record after processing the bundle.
    fresh: Vec<u8>,
    /// Alice's and Bob's records after a message each way.
    established: (Vec<u8>, Vec<u8>),
}

fn start() -> &'static Start {
    static START: OnceLock<Start> = OnceLock::new();
    START.get_or_init(|| {
        let alice = alice();
        let (bob, bundle) = bob();
        let (a, b) = (alice_address(), bob_address());
        let one_time = [100, 101]
            .into_iter()
            .filter_map(|id| bob.store().one_time_prekey(id.into()).unwrap())
            .collect();
        let kem = [1, 100, 101]
            .into_iter()
            .filter_map(|id| bob.store().kem_prekey(id.into()).unwrap())
            .collect();
        alice.process_bundle(&b, &bundle).unwrap();
        let record = |manager: &Manager, peer: &Address| {
            manager.store().load_session(peer).unwrap().unwrap().to_bytes().to_vec()
        };
        let fresh = record(&alice, &b);
        let first = alice.encrypt(&b, b"hello").unwrap();
        bob.decrypt(&a, &first).unwrap().commit().unwrap();
        let reply = bob.encrypt(&a, b"hi").unwrap();
        alice.decrypt(&b, &reply).unwrap().commit().unwrap();
        Start {
            alice: IdentityKeyPair::from_seed(&[1; 32]),
            bob: IdentityKeyPair::from_seed(&[2; 32]),
            signed: bob.store().signed_prekey(1.into()).unwrap().unwrap(),
            one_time,
            kem,
            fresh,
            established: (record(&alice, &b), record(&bob, &a)),
        }
    })
}

/// A manager for `address` with `identity`, holding `record` for `peer`
/// (whose identity is `peer_identity`), and generator seed `seed`.
fn restored(
    address: Address,
    identity: &IdentityKeyPair,
    seed: u8,
    session: Option<(&Address, &[u8], &IdentityKeyPair)>,
) -> Manager {
    let store = InMemoryStore::new(identity.clone());
    if let Some((peer, record, peer_identity)) = session {
        let record = SessionRecord::from_bytes(record).unwrap();
        let identity = PeerIdentity { key: peer_identity.public(), verified: false };
        store
            .commit(&[StoreCommit::new(peer.clone(), None, record)
                .with_peer_identity(PeerIdentityWrite::FirstUse(identity))])
            .unwrap();
    }
    SessionManager::with_rng(address, store, rng(seed))
}

/// Target `two_parties`: the two have exchanged a message each way (or, if
/// the first byte is a multiple of 4, Alice has only processed Bob's
/// bundle); the other bytes are a script of sends, deliveries, drops, reorders,
/// tamperings, replays, uncommitted decryptions and trust decisions
/// between them. Every untampered message delivered decrypts exactly once,
/// to what was sent; a tampered one is refused or, if the change did not
/// alter what is authenticated, counts as its delivery; a replay (a first
/// message's included) is refused; an uncommitted decryption leaves the
/// message to decrypt again; a trust decision makes every decryption not
/// yet committed stale, and keeps the sessions of the key it keeps.
pub fn two_parties(data: &[u8]) {
    let start = start();
    let (a, b) = (alice_address(), bob_address());
    // One start in four is fresh: Bob's first decryption there runs X3DH,
    // and each uncommitted one runs it again, so a fresh input costs about
    // three established ones; most of the states worth reaching are in
    // established sessions.
    let (established, data) =
        data.split_first().map_or((false, data), |(first, rest)| (first % 4 != 0, rest));
    // Generator seeds other than the ones the start was made with: a
    // generator that repeated its output would repeat ratchet keys (an
    // early version of this body did, and Bob then read Alice's new chain
    // as her old one).
    let (alice, bob) = if established {
        (
            restored(a.clone(), &start.alice, 0x12, Some((&b, &start.established.0, &start.bob))),
            restored(b.clone(), &start.bob, 0x23, Some((&a, &start.established.1, &start.alice))),
        )
    } else {
        (
            restored(a.clone(), &start.alice, 0x12, Some((&b, &start.fresh, &start.bob))),
            restored(b.clone(), &start.bob, 0x23, None),
        )
    };
    bob.store().save_signed_prekey(&start.signed).unwrap();
    for prekey in &start.one_time {
        bob.store().save_one_time_prekey(prekey).unwrap();
    }
    for prekey in &start.kem {
        bob.store().save_kem_prekey(prekey).unwrap();
    }
    let mut directions = [Direction::default(), Direction::default()];
    let mut script = data.iter().copied().take(512);
    while let Some(op) = script.next() {
        let side = usize::from(op & 1);
        let (from, to, from_address, to_address) =
            if side == 0 { (&alice, &bob, &a, &b) } else { (&bob, &alice, &b, &a) };
        let direction = &mut directions[side];
        let arg = usize::from(script.next().unwrap_or(0));
        let index = if direction.queue.is_empty() { 0 } else { arg % direction.queue.len() };
        match (op >> 1) % 7 {
            // Send.
            0 => {
                if direction.sent >= MAX_SENDS {
                    continue;
                }
                let plaintext = format!("{side}:{}:{arg}", direction.sent).into_bytes();
                match from.encrypt(to_address, &plaintext) {
                    Ok(bytes) => {
                        direction.sent += 1;
                        direction.queue.push(InFlight { bytes, plaintext });
                    }
                    Err(_) => assert!(side == 1 && !bob.has_session(&a).unwrap(), "encrypt failed"),
                }
            }
            // Deliver (the one at `index`: deliveries out of order).
            1 | 2 if !direction.queue.is_empty() => {
                let message = direction.queue.remove(index);
                let decrypted = to
                    .decrypt(from_address, &message.bytes)
                    .unwrap_or_else(|error| panic!("an untampered message was refused: {error:?}"));
                assert_eq!(decrypted.commit().unwrap(), message.plaintext);
                direction.delivered.push(message.bytes);
            }
            // Drop.
            3 if !direction.queue.is_empty() => {
                let _ = direction.queue.remove(index);
            }
            // Tamper: flip one bit of the message at `index`, deliver the copy.
            4 if !direction.queue.is_empty() => {
                let bit = usize::from(script.next().unwrap_or(0)) << 8 | arg;
                let message = &direction.queue[index];
                let mut tampered = message.bytes.clone();
                let position = bit / 8 % tampered.len();
                tampered[position] ^= 1 << (bit % 8);
                if let Ok(decrypted) = to.decrypt(from_address, &tampered) {
                    assert_eq!(
                        decrypted.commit().unwrap(),
                        message.plaintext,
                        "tampering changed the plaintext"
                    );
                    let message = direction.queue.remove(index);
                    direction.delivered.push(message.bytes);
                }
            }
            // A trust decision that keeps the key (the user verified it)
            // while a decryption is pending: the pending commit is stale,
            // and the message decrypts again afterwards.
            5 if !direction.queue.is_empty() => {
                let message = &direction.queue[index];
                let pending = to.decrypt(from_address, &message.bytes).unwrap();
                to.trust_identity(from_address, from.identity_key().unwrap(), true).unwrap();
                assert!(
                    matches!(pending.commit(), Err(sotto::session::SessionError::StaleDecryption)),
                    "a decryption committed over a trust decision"
                );
                assert!(to.peer_identity(from_address).unwrap().is_some_and(|peer| peer.verified));
            }
            // Replay a delivered message, or decrypt one in flight without committing.
            _ => {
                if let Some(old) = direction.delivered.get(arg % direction.delivered.len().max(1)) {
                    assert!(to.decrypt(from_address, old).is_err(), "a replay decrypted");
                }
                if let Some(message) = direction.queue.get(index) {
                    let decrypted = to.decrypt(from_address, &message.bytes).unwrap();
                    assert_eq!(decrypted.plaintext(), message.plaintext);
                }
            }
        }
    }
    // Everything still in flight is delivered last and decrypts.
    for (side, direction) in directions.iter_mut().enumerate() {
        let (to, from_address) = if side == 0 { (&bob, &a) } else { (&alice, &b) };
        for message in direction.queue.drain(..) {
            let decrypted = to.decrypt(from_address, &message.bytes).unwrap_or_else(|error| {
                panic!("an untampered message was refused at the end: {error:?}")
            });
            assert_eq!(decrypted.commit().unwrap(), message.plaintext);
        }
    }
}

/// The storage key of the `store_file` store: the body checks what someone
/// who can write the file, but has not this key, can make the store do.
pub fn store_key() -> StorageKey {
    StorageKey::from_bytes(&[0x5a; StorageKey::LEN])
}

/// The page size of the `store_file` store (SQLite's default), the unit in
/// which its inputs address the file.
pub const STORE_PAGE: usize = 4096;

/// How far past its length an input may extend the file: four pages.
const MAX_GROWTH: usize = 4 * STORE_PAGE;

/// The one-time prekeys of the stored device (see [`publish_prekeys`]):
/// Alice's first message consumed the first.
const STORED_ONE_TIME: std::ops::RangeInclusive<u32> = 100..=103;

/// The one-time prekey the body adds after opening.
const ADDED_ONE_TIME: u32 = 104;

/// How many messages Alice sends in her first chain after the first one:
/// the stored device receives the last and half of the others.
const STORED_SKIPPED: usize = 121;

/// The plaintext of the message Alice sent last, which the stored device
/// has not received.
const HELD_BACK: &[u8] = b"held back";

/// Bob's device on a `SqliteStore` (identity from seed 2, generator seed
/// 0x22), as the `store_file` body finds it in the file, and the file.
pub struct StoredDevice {
    /// The file, every connection closed (nothing in a `-wal` file).
    pub bytes: Vec<u8>,
    identity: IdentityKeyPair,
    signed: SignedPreKey,
    /// The one-time prekeys still stored.
    one_time: Vec<OneTimePreKey>,
    added: OneTimePreKey,
    /// Bob's record of the session with Alice.
    session: Vec<u8>,
    peer: PeerIdentity,
    counter: u64,
    /// Alice's message after Bob's reply: it starts a new receiving chain.
    held_back: Vec<u8>,
}

/// The store of the `store_file` body, made once per process with the
/// public API: signed prekey 1, one-time prekeys 100 to 103, a session
/// with Alice in which messages went each way (so her identity is
/// recorded, and prekey 100 consumed) and that holds the keys of 60
/// messages Bob skipped, closed, and read back. Each table and index fits
/// in one page of 4 KiB; the session spills into an overflow page, and
/// the pages it spilled into before are on the freelist.
///
/// The file is the same from one process to the next in its layout (every
/// record has the same length) but not in its bytes: the store draws its
/// database id and every nonce from the operating system. An input
/// addresses the layout, so it reaches the same cells in every process.
pub fn stored_device() -> &'static StoredDevice {
    static DEVICE: OnceLock<StoredDevice> = OnceLock::new();
    DEVICE.get_or_init(|| {
        let (a, b) = (alice_address(), bob_address());
        let scratch = ScratchStore::empty();
        let identity = IdentityKeyPair::from_seed(&[2; 32]);
        let store = SqliteStore::create(scratch.path(), &store_key(), &identity).unwrap();
        let bob = SessionManager::with_rng(b.clone(), store, rng(0x22));
        let first_id = *STORED_ONE_TIME.start();
        let bundle = publish_prekeys(&bob, STORED_ONE_TIME.end() - first_id + 1);

        let alice = alice();
        alice.process_bundle(&b, &bundle).unwrap();
        let first = alice.encrypt(&b, b"first").unwrap();
        bob.decrypt(&a, &first).unwrap().commit().unwrap();
        // Bob receives the last of STORED_SKIPPED messages first, then some
        // of those it skipped: the keys of the others make his record
        // spill into two overflow pages, then into one, freeing pages.
        let skipped: Vec<Vec<u8>> = (0..STORED_SKIPPED)
            .map(|index| alice.encrypt(&b, format!("skipped {index}").as_bytes()).unwrap())
            .collect();
        let (last, skipped) = skipped.split_last().unwrap();
        bob.decrypt(&a, last).unwrap().commit().unwrap();
        for message in &skipped[..skipped.len() / 2] {
            bob.decrypt(&a, message).unwrap().commit().unwrap();
        }
        let reply = bob.encrypt(&a, b"reply").unwrap();
        alice.decrypt(&b, &reply).unwrap().commit().unwrap();
        let held_back = alice.encrypt(&b, HELD_BACK).unwrap();

        let store = bob.store();
        let device = StoredDevice {
            bytes: Vec::new(),
            identity,
            signed: store.signed_prekey(1.into()).unwrap().unwrap(),
            one_time: STORED_ONE_TIME
                .skip(1)
                .map(|id| store.one_time_prekey(id.into()).unwrap().unwrap())
                .collect(),
            added: OneTimePreKey::generate(ADDED_ONE_TIME.into(), &mut rng(0x66)),
            session: store.load_session(&a).unwrap().unwrap().to_bytes().to_vec(),
            peer: store.peer_identity(&a).unwrap().unwrap(),
            counter: store.write_counter().unwrap(),
            held_back,
        };
        assert!(store.one_time_prekey(first_id.into()).unwrap().is_none());
        // Closing the only connection checkpoints the log into the file.
        drop(bob);
        assert!(!scratch.has_log(), "the store left a -wal file behind");
        let bytes = std::fs::read(scratch.path()).unwrap();
        assert_eq!(bytes.len() % STORE_PAGE, 0, "the store's pages are not {STORE_PAGE} bytes");
        assert_eq!(usize::from(u16::from_be_bytes([bytes[16], bytes[17]])), STORE_PAGE);
        let device = StoredDevice { bytes, ..device };
        // The file alone is the store.
        let copy = ScratchStore::holding(&device.bytes);
        check_stored(&SqliteStore::open(copy.path(), &store_key()).unwrap(), &device, true);
        device
    })
}

/// A database file of its own in a temporary directory (`/dev/shm` where
/// there is one), removed with its `-wal`, `-shm` and `-journal` files
/// before it is written and when dropped.
pub struct ScratchStore {
    path: PathBuf,
}

impl ScratchStore {
    /// A path where no file is.
    pub fn empty() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let name = format!(
            "sotto-fuzz-store-{}-{}.sqlite",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let scratch = Self { path: dir.join(name) };
        scratch.remove();
        scratch
    }

    /// A file holding `bytes`.
    pub fn holding(bytes: &[u8]) -> Self {
        let scratch = Self::empty();
        std::fs::write(&scratch.path, bytes).unwrap();
        scratch
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a non-empty `-wal` file is beside the database.
    fn has_log(&self) -> bool {
        std::fs::metadata(self.with_suffix("-wal")).is_ok_and(|metadata| metadata.len() > 0)
    }

    fn with_suffix(&self, suffix: &str) -> PathBuf {
        let mut path = self.path.clone().into_os_string();
        path.push(suffix);
        PathBuf::from(path)
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(self.with_suffix(suffix));
        }
    }
}

impl Drop for ScratchStore {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The file a `store_file` input describes: `flags ‖ [length] ‖ edit*`
/// applied to `base` (an empty input leaves it as it is).
///
/// - `flags` bit 0 set: a 3-byte big-endian `length` follows, and the file
///   is cut or extended (with zeros) to it, at most [`MAX_GROWTH`] past
///   `base`. The other bits are ignored.
/// - each edit is `page (1 byte) ‖ offset (2 bytes, big-endian) ‖ n (1
///   byte)`, at byte `offset % STORE_PAGE` of page `page % pages`, then
///   `n = 0`: one byte `mask`, XORed into that byte (a flip); `n > 0`: `n`
///   bytes written from there (a cell, a header, a pointer), cut at the
///   end of the file. An edit past the end does nothing; a last edit cut
///   short is ignored.
///
/// Inputs address pages, not offsets, so that a mutation of the page byte
/// moves an edit to the same place in another page, and one of the offset
/// to another place in the same page.
pub fn edited(base: &[u8], data: &[u8]) -> Vec<u8> {
    let mut file = base.to_vec();
    let Some((&flags, mut rest)) = data.split_first() else { return file };
    if flags & 1 == 1 {
        let Some(([high, middle, low], tail)) = rest.split_first_chunk::<3>() else {
            return file;
        };
        let length = usize::from(*high) << 16 | usize::from(*middle) << 8 | usize::from(*low);
        file.resize(length.min(base.len() + MAX_GROWTH), 0);
        rest = tail;
    }
    while let Some(([page, high, low, n], tail)) = rest.split_first_chunk::<4>() {
        let pages = file.len().div_ceil(STORE_PAGE).max(1);
        let offset = usize::from(*page) % pages * STORE_PAGE
            + usize::from(u16::from_be_bytes([*high, *low])) % STORE_PAGE;
        if *n == 0 {
            let Some((mask, tail)) = tail.split_first() else { break };
            if let Some(byte) = file.get_mut(offset) {
                *byte ^= mask;
            }
            rest = tail;
        } else {
            let Some((bytes, tail)) = tail.split_at_checked(usize::from(*n)) else { break };
            if let Some(target) = file.get_mut(offset..) {
                let len = bytes.len().min(target.len());
                target[..len].copy_from_slice(&bytes[..len]);
            }
            rest = tail;
        }
    }
    file
}

/// Whether `error` is one `SqliteStore::open` documents.
fn refuses_open(error: &SqliteStoreError) -> bool {
    matches!(
        error,
        SqliteStoreError::NotADatabase
            | SqliteStoreError::NotASottoStore { .. }
            | SqliteStoreError::WrongStorageKey
            | SqliteStoreError::UnsupportedSchemaVersion { .. }
            | SqliteStoreError::Truncated { .. }
            | SqliteStoreError::Corrupt { .. }
            | SqliteStoreError::CorruptRecord { .. }
            | SqliteStoreError::Record { .. }
            | SqliteStoreError::Tampered { .. }
            | SqliteStoreError::Database(_)
    )
}

/// Checks a read: refused (unless the file is `whole`, as written), or
/// what the device stored (`expected`).
fn agrees<T: PartialEq + core::fmt::Debug>(
    found: Result<Option<T>, StoreError>,
    expected: Option<T>,
    whole: bool,
    what: &str,
) {
    match found {
        // Not printed: some are secrets.
        Ok(found) => assert!(
            found == expected,
            "{what} read back {}",
            match (&found, &expected) {
                (None, Some(_)) => "as absent",
                (Some(_), None) => "as present",
                _ => "otherwise than stored",
            }
        ),
        Err(error) => assert!(!whole, "{what} refused in the file as written: {error:?}"),
    }
}

/// Reads everything `store` holds through the store traits, and a few
/// things it does not: each read finds what `device` stored, or (unless
/// the file is `whole`) is refused.
fn check_stored(store: &SqliteStore, device: &StoredDevice, whole: bool) {
    let alice = alice_address();
    let absent = [Address::new("carol", 1).unwrap(), Address::new("alice", 2).unwrap()];
    let signed =
        |id: u32| store.signed_prekey(id.into()).map(|found| found.map(|key| key.public()));
    let one_time =
        |id: u32| store.one_time_prekey(id.into()).map(|found| found.map(|key| key.public()));
    // Loaded at open, and kept in memory.
    let identity = store.local_identity().unwrap().map(|pair| pair.public());
    assert_eq!(identity, Some(device.identity.public()), "the local identity");

    agrees(signed(1), Some(device.signed.public()), whole, "signed prekey 1");
    agrees(signed(2), None, whole, "signed prekey 2");
    for prekey in &device.one_time {
        agrees(one_time(prekey.id().into()), Some(prekey.public()), whole, "a one-time prekey");
    }
    for id in [0, *STORED_ONE_TIME.start(), ADDED_ONE_TIME, u32::MAX] {
        agrees(one_time(id), None, whole, "a one-time prekey not stored");
    }
    let session = store.load_session(&alice).map(|found| found.map(|record| record.to_bytes()));
    let session = session.map(|found| found.map(|bytes| bytes.to_vec()));
    agrees(session, Some(device.session.clone()), whole, "the session with Alice");
    agrees(store.peer_identity(&alice), Some(device.peer), whole, "Alice's identity");
    for address in &absent {
        let session = store.load_session(address).map(|found| found.map(|_| ()));
        agrees(session, None, whole, "a session not stored");
        agrees(store.peer_identity(address), None, whole, "a peer identity not stored");
    }
    let count = store.one_time_prekey_count().map(Some);
    agrees(count, Some(device.one_time.len()), whole, "the count of one-time prekeys");
    let counter = store.write_counter().map(Some).map_err(StoreError::from);
    agrees(counter, Some(device.counter), whole, "the write counter");
}

/// Target `store_file`: the stored device's file (see [`stored_device`]),
/// edited as [`edited`] describes, as someone who can write the file but
/// has not the storage key could, then opened with the key. `open`
/// refuses it with one of the errors it documents, or opens it; then every
/// record reads back as stored or is refused, and a decryption of Alice's
/// held-back message, an encryption to her and prekey writes succeed or
/// are refused. Nothing panics, and a file left as it was opens, reads and
/// writes without an error.
pub fn store_file(data: &[u8]) {
    let device = stored_device();
    let file = edited(&device.bytes, data);
    let whole = file == device.bytes;
    let scratch = ScratchStore::holding(&file);
    let store = match SqliteStore::open(scratch.path(), &store_key()) {
        Ok(store) => store,
        Err(error) => {
            assert!(!whole, "the store as written does not open: {error:?}");
            assert!(refuses_open(&error), "open refused with an undocumented error: {error:?}");
            return;
        }
    };
    check_stored(&store, device, whole);
    let bob = SessionManager::with_rng(bob_address(), store, rng(0x23));
    let alice = alice_address();
    let writes = [
        bob.decrypt(&alice, &device.held_back).and_then(|decrypted| {
            assert_eq!(decrypted.plaintext(), HELD_BACK, "a stored session decrypted otherwise");
            decrypted.commit().map(drop)
        }),
        bob.encrypt(&alice, b"after opening").map(drop),
        bob.store().remove_one_time_prekey(device.one_time[0].id()).map_err(Into::into),
        bob.store().save_one_time_prekey(&device.added).map_err(Into::into),
        bob.store().save_signed_prekey(&device.signed).map_err(Into::into),
    ];
    for write in writes {
        assert!(!whole || write.is_ok(), "a write refused in the file as written: {write:?}");
    }
}
