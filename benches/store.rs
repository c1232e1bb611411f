//! Decrypt-and-commit of one 100-byte message in a steady chain, with Bob's
//! state in the SQLite store against the same with the in-memory store.
//!
//! The SQLite store runs as it ships: WAL journal, `synchronous = FULL` (one
//! fsync of the log per commit), `secure_delete`, on a file under
//! `target/tmp` (the disk the build runs on, not a RAM disk). Each message
//! is encrypted by Alice outside the timing; the timing covers Bob's
//! `decrypt` (load and unseal the session, run the ratchet) and `commit`
//! (seal and write the session in one transaction).
//!
//! Criterion reports each; then both are measured interleaved in rounds,
//! with one X25519 `diffie_hellman` as the anchor, and the median ratios
//! are printed. Run with `cargo bench --bench store`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark: a failure is the bench aborting"
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion};
use sotto::keys::{IdentityKeyPair, PreKeyBundle};
use sotto::rng::os_rng;
use sotto::session::{Address, SessionManager};
use sotto::store::{InMemoryStore, ProtocolStore, SqliteStore, StorageKey};
use x25519_dalek::{PublicKey, StaticSecret};

const MESSAGE: [u8; 100] = [0x61; 100];

fn alice_address() -> Address {
    Address::new("alice", 1).unwrap()
}

fn bob_address() -> Address {
    Address::new("bob", 1).unwrap()
}

/// Alice (in memory) sending to Bob (on the store under test), after a
/// first exchange both ways: every further message is in a steady chain.
struct Conversation<S: ProtocolStore> {
    alice: SessionManager<InMemoryStore>,
    bob: SessionManager<S>,
}

impl<S: ProtocolStore> Conversation<S> {
    fn new(bob_store: S) -> Self {
        let alice = SessionManager::new(
            alice_address(),
            InMemoryStore::new(IdentityKeyPair::generate(&mut os_rng())),
        );
        let bob = SessionManager::new(bob_address(), bob_store);
        let signed = bob.generate_signed_prekey(1.into()).unwrap();
        let one_time = bob.generate_one_time_prekeys(1, 1).unwrap();
        let kem = bob.generate_last_resort_kem_prekey(1.into()).unwrap();
        let bundle =
            PreKeyBundle::new(bob.identity_key().unwrap(), signed, kem, one_time.first().copied());
        alice.process_bundle(&bob_address(), &bundle.to_bytes()).unwrap();
        let first = alice.encrypt(&bob_address(), b"hi").unwrap();
        bob.decrypt(&alice_address(), &first).unwrap().commit().unwrap();
        let reply = bob.encrypt(&alice_address(), b"hi").unwrap();
        alice.decrypt(&bob_address(), &reply).unwrap().commit().unwrap();
        Self { alice, bob }
    }

    /// Alice's next message (not timed).
    fn next_message(&self) -> Vec<u8> {
        self.alice.encrypt(&bob_address(), &MESSAGE).unwrap()
    }

    /// Bob decrypts and commits it (timed).
    fn receive(&self, message: &[u8]) {
        let plaintext = self.bob.decrypt(&alice_address(), message).unwrap().commit().unwrap();
        black_box(plaintext);
    }

    /// Times `count` messages, made beforehand.
    fn time(&self, count: usize) -> Duration {
        let messages: Vec<_> = (0..count).map(|_| self.next_message()).collect();
        let start = Instant::now();
        for message in &messages {
            self.receive(message);
        }
        start.elapsed()
    }
}

/// A database file under `target/tmp`, removed when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("bench-store-{}-{name}.sqlite", std::process::id()));
        let db = Self(path);
        db.remove();
        db
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = self.0.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }

    fn store(&self) -> SqliteStore {
        let key = StorageKey::generate(&mut os_rng());
        SqliteStore::create(&self.0, &key, &IdentityKeyPair::generate(&mut os_rng())).unwrap()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The floor of a durable commit on this disk: one 4 KiB write and
/// `fdatasync`, as a WAL commit does at least once.
struct SyncFloor {
    file: std::fs::File,
    _db: TempDb,
}

impl SyncFloor {
    fn new() -> Self {
        let db = TempDb::new("fsync-floor");
        let file = std::fs::File::create(&db.0).unwrap();
        Self { file, _db: db }
    }

    fn time(&mut self, count: usize) -> Duration {
        use std::io::{Seek as _, Write as _};
        let page = [0x5Au8; 4096];
        let start = Instant::now();
        for _ in 0..count {
            self.file.seek(std::io::SeekFrom::Start(0)).unwrap();
            self.file.write_all(&page).unwrap();
            self.file.sync_data().unwrap();
        }
        start.elapsed()
    }
}

/// One X25519 `diffie_hellman`: the anchor the other benches use too.
struct Anchor {
    secret: StaticSecret,
    public: PublicKey,
}

impl Anchor {
    fn new() -> Self {
        Self {
            secret: StaticSecret::from([7u8; 32]),
            public: PublicKey::from(&StaticSecret::from([9u8; 32])),
        }
    }

    fn time(&self, count: usize) -> Duration {
        let start = Instant::now();
        for _ in 0..count {
            black_box(self.secret.diffie_hellman(black_box(&self.public)));
        }
        start.elapsed()
    }
}

fn criterion_benches(c: &mut Criterion, db: &TempDb) {
    let memory = Conversation::new(InMemoryStore::new(IdentityKeyPair::generate(&mut os_rng())));
    let sqlite = Conversation::new(db.store());
    let mut group = c.benchmark_group("store");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    group.bench_function("decrypt + commit 100 B, in-memory store", |b| {
        b.iter_batched(|| memory.next_message(), |m| memory.receive(&m), BatchSize::SmallInput)
    });
    group.bench_function("decrypt + commit 100 B, SQLite store (WAL, fsync)", |b| {
        b.iter_batched(|| sqlite.next_message(), |m| sqlite.receive(&m), BatchSize::SmallInput)
    });
    group.finish();
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn spread(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// In-memory, SQLite and the anchor, interleaved in rounds.
fn interleaved(db: &TempDb) {
    const ROUNDS: usize = 21;
    const MEMORY_MESSAGES: usize = 400;
    const SQLITE_MESSAGES: usize = 100;
    const ANCHORS: usize = 200;
    let memory = Conversation::new(InMemoryStore::new(IdentityKeyPair::generate(&mut os_rng())));
    let sqlite = Conversation::new(db.store());
    let anchor = Anchor::new();
    let mut floor = SyncFloor::new();
    // Warm up (page cache, WAL file, statement cache).
    sqlite.time(50);
    memory.time(50);

    let (mut ratio, mut memory_vs_anchor, mut sqlite_vs_anchor) = (vec![], vec![], vec![]);
    let (mut memory_us, mut sqlite_us, mut floor_us) = (vec![], vec![], vec![]);
    let mut over_floor = vec![];
    for round in 0..ROUNDS {
        let per_anchor = anchor.time(ANCHORS).as_secs_f64() / ANCHORS as f64;
        let per_sync = floor.time(SQLITE_MESSAGES).as_secs_f64() / SQLITE_MESSAGES as f64;
        // Alternate which goes first, so that neither always follows the other.
        let (memory_time, sqlite_time) = if round % 2 == 0 {
            let m = memory.time(MEMORY_MESSAGES);
            (m, sqlite.time(SQLITE_MESSAGES))
        } else {
            let s = sqlite.time(SQLITE_MESSAGES);
            (memory.time(MEMORY_MESSAGES), s)
        };
        let per_memory = memory_time.as_secs_f64() / MEMORY_MESSAGES as f64;
        let per_sqlite = sqlite_time.as_secs_f64() / SQLITE_MESSAGES as f64;
        ratio.push(per_sqlite / per_memory);
        memory_vs_anchor.push(per_memory / per_anchor);
        sqlite_vs_anchor.push(per_sqlite / per_anchor);
        over_floor.push(per_sqlite / (per_memory + per_sync));
        floor_us.push(per_sync * 1e6);
        memory_us.push(per_memory * 1e6);
        sqlite_us.push(per_sqlite * 1e6);
    }
    let (lo, hi) = spread(&ratio);
    println!(
        "\nDecrypt + commit of one 100-byte message, steady chain ({ROUNDS} rounds, interleaved)"
    );
    println!(
        "SQLite store: WAL journal, synchronous = FULL, secure_delete, file under {}",
        db.0.display()
    );
    println!("| store | per message (median) | / anchor (one X25519) |");
    println!("| --- | --- | --- |");
    println!(
        "| in-memory | {:.1} µs | {:.2} |",
        median(&mut memory_us),
        median(&mut memory_vs_anchor)
    );
    println!(
        "| SQLite | {:.1} µs | {:.2} |",
        median(&mut sqlite_us),
        median(&mut sqlite_vs_anchor)
    );
    println!("| floor: 4 KiB write + fdatasync | {:.1} µs | |", median(&mut floor_us));
    println!(
        "SQLite / in-memory: {:.1}× (median; {lo:.1}–{hi:.1} over rounds)",
        median(&mut ratio)
    );
    let (lo, hi) = spread(&over_floor);
    println!(
        "SQLite / (in-memory + one fdatasync): {:.2}× (median; {lo:.2}–{hi:.2} over rounds)",
        median(&mut over_floor)
    );
}

/// Bob on `store` with established sessions with `SENDERS` senders, who
/// queue messages for him while he is offline.
struct CatchingUp<S: ProtocolStore> {
    senders: Vec<SessionManager<InMemoryStore>>,
    bob: SessionManager<S>,
}

const SENDERS: usize = 20;

impl<S: ProtocolStore> CatchingUp<S> {
    fn new(bob_store: S) -> Self {
        let bob = SessionManager::new(bob_address(), bob_store);
        let signed = bob.generate_signed_prekey(1.into()).unwrap();
        let kem = bob.generate_last_resort_kem_prekey(1.into()).unwrap();
        let bundle = PreKeyBundle::new(bob.identity_key().unwrap(), signed, kem, None).to_bytes();
        let senders = (0..SENDERS)
            .map(|n| {
                let sender = SessionManager::new(
                    Address::new(format!("sender-{n}"), 1).unwrap(),
                    InMemoryStore::new(IdentityKeyPair::generate(&mut os_rng())),
                );
                sender.process_bundle(&bob_address(), &bundle).unwrap();
                let first = sender.encrypt(&bob_address(), b"hi").unwrap();
                bob.decrypt(sender.address(), &first).unwrap().commit().unwrap();
                let reply = bob.encrypt(sender.address(), b"hi").unwrap();
                sender.decrypt(&bob_address(), &reply).unwrap().commit().unwrap();
                sender
            })
            .collect();
        Self { senders, bob }
    }

    /// `count` messages queued for Bob, round-robin over the senders (not
    /// timed).
    fn queue(&self, count: usize) -> Vec<(Address, Vec<u8>)> {
        (0..count)
            .map(|n| {
                let sender = &self.senders[n % SENDERS];
                (sender.address().clone(), sender.encrypt(&bob_address(), &MESSAGE).unwrap())
            })
            .collect()
    }

    /// Bob decrypts and commits every queued message one by one (timed).
    fn one_by_one(&self, queued: &[(Address, Vec<u8>)]) -> Duration {
        let start = Instant::now();
        for (from, message) in queued {
            black_box(self.bob.decrypt(from, message).unwrap().commit().unwrap());
        }
        start.elapsed()
    }

    /// Bob decrypts every queued message into one batch and commits it
    /// (timed).
    fn batched(&self, queued: &[(Address, Vec<u8>)]) -> Duration {
        let start = Instant::now();
        let mut batch = self.bob.batch();
        for (from, message) in queued {
            black_box(batch.decrypt(from, message).unwrap());
        }
        batch.commit().unwrap();
        start.elapsed()
    }
}

/// 1,000 queued messages from 20 senders: one batch on SQLite against the
/// same messages one by one in memory plus one fdatasync, interleaved.
fn catching_up(db: &TempDb) {
    const ROUNDS: usize = 11;
    const QUEUED: usize = 1000;
    let sqlite = CatchingUp::new(db.store());
    let memory = CatchingUp::new(InMemoryStore::new(IdentityKeyPair::generate(&mut os_rng())));
    let mut floor = SyncFloor::new();
    let (mut ratio, mut one_by_one_ratio, mut batch_us) = (vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let (on_sqlite, in_memory) = (sqlite.queue(QUEUED), memory.queue(QUEUED));
        let sync = floor.time(1).as_secs_f64();
        let (batch, memory_time) = if round % 2 == 0 {
            let batch = sqlite.batched(&on_sqlite);
            (batch, memory.one_by_one(&in_memory))
        } else {
            let memory_time = memory.one_by_one(&in_memory);
            (sqlite.batched(&on_sqlite), memory_time)
        };
        ratio.push(batch.as_secs_f64() / (memory_time.as_secs_f64() + sync));
        batch_us.push(batch.as_secs_f64() * 1e6 / QUEUED as f64);
        // For scale: the same queue one by one on SQLite (a commit, so an
        // fsync, each), in a tenth of the messages.
        let few = sqlite.queue(QUEUED / 10);
        let slow = sqlite.one_by_one(&few).as_secs_f64() * 10.0;
        one_by_one_ratio.push(slow / batch.as_secs_f64());
    }
    println!(
        "\nCatching up: {QUEUED} queued 100-byte messages from {SENDERS} senders ({ROUNDS} rounds, interleaved)"
    );
    println!("| measure | median (min–max) |");
    println!("| --- | --- |");
    let (lo, hi) = spread(&ratio);
    println!(
        "| one batch on SQLite / ({QUEUED} in-memory decrypt + commit + one fdatasync) | {:.2} ({lo:.2}–{hi:.2}) |",
        median(&mut ratio)
    );
    let (lo, hi) = spread(&one_by_one_ratio);
    println!(
        "| one by one on SQLite / one batch on SQLite | {:.1} ({lo:.1}–{hi:.1}) |",
        median(&mut one_by_one_ratio)
    );
    println!("| batch, per message | {:.1} µs |", median(&mut batch_us));
}

fn main() {
    let db = TempDb::new("criterion");
    let mut criterion = Criterion::default().configure_from_args();
    criterion_benches(&mut criterion, &db);
    criterion.final_summary();
    let db = TempDb::new("interleaved");
    interleaved(&db);
    let db = TempDb::new("catching-up");
    catching_up(&db);
}
