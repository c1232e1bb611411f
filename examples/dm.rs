//! Alice and Bob set up an end-to-end encrypted session from Bob's prekey
//! bundle and exchange messages both ways, some delivered out of order,
//! while a curious server relays the bytes.
//!
//! Run with `cargo run --example dm`.

use sotto::keys::{IdentityKeyPair, PreKeyBundle};
use sotto::ratchet::RatchetError;
use sotto::session::{Address, SessionError, SessionManager};
use sotto::store::InMemoryStore;

type Device = SessionManager<InMemoryStore>;

fn device(account: &str) -> Result<(Address, Device), Box<dyn std::error::Error>> {
    let address = Address::new(account, 1)?;
    let identity = IdentityKeyPair::generate(&mut sotto::rng::os_rng());
    Ok((address.clone(), SessionManager::new(address, InMemoryStore::new(identity))))
}

/// Decrypts, "stores" the message (prints it), then commits the session.
fn receive(to: &Device, from: &Address, envelope: &[u8]) -> Result<(), SessionError> {
    let decrypted = to.decrypt(from, envelope)?;
    println!(
        "  {} <- {from}: {:?}{}",
        to.address(),
        String::from_utf8_lossy(decrypted.plaintext()),
        if decrypted.started_session() {
            "  (first message: PQXDH run, session started)"
        } else {
            ""
        }
    );
    decrypted.commit()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (alice_address, alice) = device("alice")?;
    let (bob_address, bob) = device("bob")?;

    println!(
        "Bob publishes a signed prekey, a last-resort KEM prekey, 5 one-time KEM prekeys and 5 \
         one-time prekeys to the server."
    );
    let signed = bob.generate_signed_prekey(1.into())?;
    bob.generate_last_resort_kem_prekey(1.into())?;
    let kem = bob.generate_kem_prekeys(1000, 5)?;
    let kem = kem.first().cloned().ok_or("no KEM prekey")?;
    let one_time = bob.generate_one_time_prekeys(1000, 5)?;

    println!("Alice fetches Bob's bundle by his account id and starts a post-quantum session.");
    let bundle = PreKeyBundle::new(bob.identity_key()?, signed, kem, one_time.first().copied());
    let bundle_bytes = bundle.to_bytes();
    println!(
        "  bundle: {} bytes (identity key, signed prekey + signature, ML-KEM-1024 prekey + \
         signature, one-time prekey)",
        bundle_bytes.len()
    );
    alice.process_bundle(&bob_address, &bundle_bytes)?;
    println!("  key agreement: {:?}", alice.session_handshake(&bob_address)?);

    println!("\nAlice sends three messages before Bob is online.");
    let a1 = alice.encrypt(&bob_address, b"Hi Bob, it's Alice.")?;
    let a2 = alice.encrypt(&bob_address, b"Are you free to talk tonight?")?;
    let a3 = alice.encrypt(&bob_address, b"Call me by my account id, no phone number needed.")?;
    println!(
        "  each carries the PQXDH fields (a 1568-byte KEM ciphertext among them) until Bob \
         answers: {} / {} / {} bytes",
        a1.len(),
        a2.len(),
        a3.len()
    );

    println!("\nThe server delivers them out of order: 3, 1, 2.");
    receive(&bob, &alice_address, &a3)?;
    receive(&bob, &alice_address, &a1)?;
    receive(&bob, &alice_address, &a2)?;
    println!(
        "  Bob's one-time prekeys left: {}, KEM prekeys left: {} (the used ones were deleted on \
         commit; the last-resort one stays)",
        bob.store().one_time_prekey_count(),
        bob.store().kem_prekey_count()
    );

    println!("\nBob answers; his reply turns the DH ratchet.");
    let b1 = bob.encrypt(&alice_address, b"Hi Alice! Yes, after 8.")?;
    let b2 = bob.encrypt(&alice_address, b"I'll call you on Sotto.")?;
    receive(&alice, &bob_address, &b2)?;
    receive(&alice, &bob_address, &b1)?;

    println!("\nA few more turns, both ways, one message held back by the network.");
    let a4 = alice.encrypt(&bob_address, b"Great.")?;
    let a5 = alice.encrypt(&bob_address, b"Talk soon.")?;
    println!("  Alice's messages are now plain ratchet messages: {} bytes", a4.len());
    receive(&bob, &alice_address, &a5)?;
    let b3 = bob.encrypt(&alice_address, b"See you!")?;
    receive(&alice, &bob_address, &b3)?;
    let a6 = alice.encrypt(&bob_address, b"Bye!")?;
    receive(&bob, &alice_address, &a6)?;
    println!("  ...and the held-back message arrives after the ratchet turned:");
    receive(&bob, &alice_address, &a4)?;

    println!("\nThe server replays an old message.");
    match bob.decrypt(&alice_address, &a4) {
        Err(SessionError::Ratchet(RatchetError::DuplicateMessage { counter })) => {
            println!("  refused: message {counter} of its chain was already received");
        }
        other => return Err(format!("a replay must be refused, got {other:?}").into()),
    }

    println!("\nThe server flips one bit of a message.");
    let mut tampered = alice.encrypt(&bob_address, b"Send me your password")?;
    if let Some(last) = tampered.last_mut() {
        *last ^= 1;
    }
    match bob.decrypt(&alice_address, &tampered) {
        Err(error) => println!("  refused: {error}"),
        Ok(_) => return Err("a tampered message must be refused".into()),
    }

    println!("\nAlice and Bob compare safety numbers in person.");
    let on_alice = alice.safety_number(&bob_address)?.ok_or("Alice knows Bob's key")?;
    let on_bob = bob.safety_number(&alice_address)?.ok_or("Bob knows Alice's key")?;
    println!("  Alice sees: {}", on_alice.grouped());
    println!("  Bob sees:   {}", on_bob.grouped());
    println!(
        "  Bob scans Alice's QR code: {}",
        if on_bob.matches_scanned(&on_alice.scannable())? { "match" } else { "MISMATCH" }
    );
    Ok(())
}
