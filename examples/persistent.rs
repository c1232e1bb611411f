//! Alice and Bob each keep their identity, prekeys and sessions in an
//! SQLite store sealed under a storage key. Both apps quit in the middle of
//! the conversation, with messages still waiting on the server, and start
//! again from their files: the conversation goes on where it was.
//!
//! Run with `cargo run --example persistent`.

use std::collections::VecDeque;
use std::error::Error;
use std::path::{Path, PathBuf};

use sotto::keys::{IdentityKeyPair, PreKeyBundle};
use sotto::rng::os_rng;
use sotto::session::{Address, SessionManager};
use sotto::store::{SqliteStore, SqliteStoreError, StorageKey};

type Device = SessionManager<SqliteStore>;

/// What the server holds: envelopes not yet delivered, with their sender
/// and recipient.
type Queue = VecDeque<(Address, Address, Vec<u8>)>;

/// The app's key store. On a phone the storage key lives in the iOS
/// Keychain or the Android Keystore, never beside the database; here it is
/// kept in memory for the length of the example.
struct KeyStore {
    alice: StorageKey,
    bob: StorageKey,
}

/// The first run of an app: a new identity, a new store.
fn first_run(address: &Address, path: &Path, key: &StorageKey) -> Result<Device, SqliteStoreError> {
    let identity = IdentityKeyPair::generate(&mut os_rng());
    let store = SqliteStore::create(path, key, &identity)?;
    Ok(SessionManager::new(address.clone(), store))
}

/// Every later run: the same store, opened with the key from the key store.
fn next_run(address: &Address, path: &Path, key: &StorageKey) -> Result<Device, SqliteStoreError> {
    Ok(SessionManager::new(address.clone(), SqliteStore::open(path, key)?))
}

fn send(queue: &mut Queue, from: &Device, to: &Address, text: &str) -> Result<(), Box<dyn Error>> {
    let envelope = from.encrypt(to, text.as_bytes())?;
    println!("  {} -> {to}: {text:?} ({} bytes on the wire)", from.address(), envelope.len());
    queue.push_back((from.address().clone(), to.clone(), envelope));
    Ok(())
}

/// Delivers every queued envelope addressed to `to`: decrypt, "store" the
/// message (print it), commit the session, then acknowledge (drop it from
/// the queue).
fn deliver(queue: &mut Queue, to: &Device) -> Result<(), Box<dyn Error>> {
    let (mine, others): (Queue, Queue) =
        queue.drain(..).partition(|(_, recipient, _)| recipient == to.address());
    *queue = others;
    for (from, _, envelope) in mine {
        let decrypted = to.decrypt(&from, &envelope)?;
        println!(
            "  {} <- {from}: {:?}",
            to.address(),
            String::from_utf8_lossy(decrypted.plaintext())
        );
        decrypted.commit()?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("sotto-persistent-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run(dir: &Path) -> Result<(), Box<dyn Error>> {
    let alice_address = Address::new("alice", 1)?;
    let bob_address = Address::new("bob", 1)?;
    let alice_path: PathBuf = dir.join("alice.sqlite");
    let bob_path: PathBuf = dir.join("bob.sqlite");
    let keys = KeyStore {
        alice: StorageKey::generate(&mut os_rng()),
        bob: StorageKey::generate(&mut os_rng()),
    };
    let mut server = Queue::new();

    println!("First run: both apps create their stores.");
    {
        let alice = first_run(&alice_address, &alice_path, &keys.alice)?;
        let bob = first_run(&bob_address, &bob_path, &keys.bob)?;

        // Bob publishes a bundle; Alice starts a session from it.
        let signed = bob.generate_signed_prekey(1.into())?;
        let one_time = bob.generate_one_time_prekeys(1, 10)?;
        let kem = bob.generate_kem_prekeys(1, 10)?.into_iter().next().ok_or("no KEM prekey")?;
        let bundle = PreKeyBundle::new(bob.identity_key()?, signed, kem, one_time.first().copied());
        alice.process_bundle(&bob_address, &bundle.to_bytes())?;

        send(&mut server, &alice, &bob_address, "Hi Bob, this is Alice.")?;
        deliver(&mut server, &bob)?;
        send(&mut server, &bob, &alice_address, "Hi Alice!")?;
        deliver(&mut server, &alice)?;
        send(&mut server, &alice, &bob_address, "I'll wait on the server while you restart.")?;
        send(&mut server, &bob, &alice_address, "Me too, on my way to you.")?;
        println!(
            "  Bob has {} one-time prekeys left; {} messages wait on the server.",
            bob.store().one_time_prekey_count()?,
            server.len()
        );
        println!("Both apps quit.");
    }

    println!("\nSecond run: both apps open their stores with the keys from their key stores.");
    let alice = next_run(&alice_address, &alice_path, &keys.alice)?;
    let bob = next_run(&bob_address, &bob_path, &keys.bob)?;
    deliver(&mut server, &bob)?;
    deliver(&mut server, &alice)?;
    send(&mut server, &alice, &bob_address, "Still here after the restart.")?;
    deliver(&mut server, &bob)?;
    send(&mut server, &bob, &alice_address, "So am I.")?;
    deliver(&mut server, &alice)?;

    let alice_view = alice.safety_number(&bob_address)?.ok_or("no identity recorded for Bob")?;
    let bob_view = bob.safety_number(&alice_address)?.ok_or("no identity recorded for Alice")?;
    println!("  safety numbers match after the restart: {}", alice_view == bob_view);

    println!("\nWhat a stolen copy of Bob's file gives away:");
    drop(bob);
    let wrong_key = StorageKey::generate(&mut os_rng());
    match SqliteStore::open(&bob_path, &wrong_key) {
        Err(SqliteStoreError::WrongStorageKey) => {
            println!(
                "  opened with another key: refused (WrongStorageKey), nothing read or written"
            )
        }
        other => return Err(format!("expected WrongStorageKey, got {other:?}").into()),
    }
    let bytes = std::fs::read(&bob_path)?;
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|window| window == needle);
    println!(
        "  {} bytes; holds the account id \"alice\": {}; holds Alice's identity key: {}",
        bytes.len(),
        contains(b"alice"),
        contains(&alice.identity_key()?.to_bytes())
    );
    Ok(())
}
