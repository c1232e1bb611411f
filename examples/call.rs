//! Calls over DM sessions: a 1:1 call between Alice and Bob, then a group
//! call that Carol and Dave join and Bob leaves, with frames encrypted and
//! decrypted across the ratchet step of each join and the epoch change of
//! the leave.
//!
//! Run with `cargo run --example call`.

use std::error::Error;

use sotto::call::{CallId, Epoch, GroupCall, ParticipantId};
use sotto::keys::{IdentityKeyPair, PreKeyBundle};
use sotto::media::CipherSuite;
use sotto::session::{Address, SessionManager};
use sotto::store::InMemoryStore;

type Result<T> = std::result::Result<T, Box<dyn Error>>;
type Device = SessionManager<InMemoryStore>;

const SUITE: CipherSuite = CipherSuite::Aes128GcmSha256_128;

/// A person: their device (with its DM sessions) and their view of the call.
struct Member {
    name: &'static str,
    device: Device,
    call: GroupCall,
}

fn device(account: &str) -> Result<Device> {
    let identity = IdentityKeyPair::generate(&mut sotto::rng::os_rng());
    Ok(SessionManager::new(Address::new(account, 1)?, InMemoryStore::new(identity)))
}

/// A DM session between two devices, with a message each way.
fn connect(a: &Device, b: &Device) -> Result<()> {
    let signed = b.generate_signed_prekey(1.into())?;
    let kem = b.generate_last_resort_kem_prekey(1.into())?;
    let bundle = PreKeyBundle::new(b.identity_key()?, signed, kem, None);
    a.process_bundle(b.address(), &bundle.to_bytes())?;
    let hello = a.encrypt(b.address(), b"hello")?;
    b.decrypt(a.address(), &hello)?.commit()?;
    let reply = b.encrypt(a.address(), b"hello back")?;
    a.decrypt(b.address(), &reply)?.commit()?;
    Ok(())
}

/// Sends `plaintext` over the DM session from `from` to `to`; returns what
/// `to` decrypted and committed.
fn dm(from: &Device, to: &Device, plaintext: &[u8]) -> Result<Vec<u8>> {
    let wire = from.encrypt(to.address(), plaintext)?;
    Ok(to.decrypt(from.address(), &wire)?.commit()?)
}

/// Sends a sender key message over the DM session from `from` to `to`,
/// who hands it to their call as coming from `from`'s participant id.
fn deliver(from: &Member, message: &[u8], to: &mut Member) -> Result<()> {
    let wire = from.device.encrypt(to.device.address(), message)?;
    let received = to.device.decrypt(from.device.address(), &wire)?;
    let key = to.call.receive_sender_key(from.call.me(), received.plaintext())?;
    received.commit()?;
    println!("  {} → {}: sender key ({key})", from.name, to.name);
    Ok(())
}

/// `from` sends one frame; each of `to` decrypts it.
fn say(from: &mut Member, text: &str, to: &mut [&mut Member]) -> Result<Vec<u8>> {
    let frame = from.call.encrypt(b"", text.as_bytes())?;
    let heard: Vec<_> = to.iter().map(|m| m.name).collect();
    for member in to.iter_mut() {
        member.call.decrypt(b"", &frame)?;
    }
    let kid = from.call.key_id();
    println!(
        "  {} [KID {:#x}: {kid}]: {text:?} → {}",
        from.name,
        kid.kid().value(),
        heard.join(", ")
    );
    Ok(frame)
}

/// `who` must fail to decrypt `frame`.
fn refused(who: &mut Member, what: &str, frame: &[u8]) -> Result<()> {
    match who.call.decrypt(b"", frame) {
        Ok(_) => Err(format!("{} decrypted {what}", who.name).into()),
        Err(e) => {
            println!("  {} cannot decrypt {what}: {e}", who.name);
            Ok(())
        }
    }
}

fn main() -> Result<()> {
    let mut rng = sotto::rng::os_rng();
    let (alice_dev, bob_dev, carol_dev, dave_dev) =
        (device("alice")?, device("bob")?, device("carol")?, device("dave")?);
    let devices = [&alice_dev, &bob_dev, &carol_dev, &dave_dev];
    for (i, a) in devices.iter().enumerate() {
        for b in devices.iter().skip(i + 1) {
            connect(a, b)?;
        }
    }
    println!("DM sessions between Alice, Bob, Carol and Dave.");

    // A 1:1 call: the offer and the answer each carry a fresh key and travel
    // inside the DM session; the call's keys come from those two keys.
    let one_to_one = CallId::new(*b"alice-bob-1")?;
    let (calling, offer) = alice_dev.offer_call(bob_dev.address(), one_to_one.clone(), SUITE)?;
    let offer = dm(&alice_dev, &bob_dev, &offer)?;
    let offer = bob_dev.parse_call_offer(alice_dev.address(), &offer)?;
    let (mut on_bob, answer) = bob_dev.accept_call(alice_dev.address(), offer)?;
    let answer = dm(&bob_dev, &alice_dev, &answer)?;
    let mut on_alice = calling.receive_answer(&answer)?;
    println!("\n1:1 call, keys agreed through an offer and an answer over the DM session:");
    let frame = on_alice.encrypt(b"", b"hi Bob")?;
    let heard = String::from_utf8(on_bob.decrypt(b"", &frame)?)?;
    println!("  Alice [KID {}] → Bob hears {heard:?}", on_alice.send_kid());
    let frame = on_bob.encrypt(b"", b"hi Alice")?;
    let heard = String::from_utf8(on_alice.decrypt(b"", &frame)?)?;
    println!("  Bob [KID {}] → Alice hears {heard:?}", on_bob.send_kid());

    // Alice's app restarts mid-call: she offers again, and the new keys
    // share nothing with the old ones, so her counter starting again at 0
    // reuses no nonce.
    let old_frame = on_alice.encrypt(b"", b"before the restart")?;
    drop(on_alice);
    let (calling, offer) = alice_dev.offer_call(bob_dev.address(), one_to_one, SUITE)?;
    let offer =
        bob_dev.parse_call_offer(alice_dev.address(), &dm(&alice_dev, &bob_dev, &offer)?)?;
    let (mut on_bob, answer) = bob_dev.accept_call(alice_dev.address(), offer)?;
    let mut on_alice = calling.receive_answer(&dm(&bob_dev, &alice_dev, &answer)?)?;
    let frame = on_alice.encrypt(b"", b"after the restart")?;
    println!(
        "  Alice restarts and offers again: Bob hears {:?},",
        String::from_utf8(on_bob.decrypt(b"", &frame)?)?
    );
    println!(
        "    and refuses a frame under the old keys: {}",
        on_bob.decrypt(b"", &old_frame).err().map(|e| e.to_string()).unwrap_or_default()
    );

    // A group call of two, then three.
    let group = CallId::new(*b"team-sync")?;
    let join = |name, device, id, rng: &mut _| -> Result<Member> {
        let call = GroupCall::new(group.clone(), SUITE, ParticipantId::new(id), Epoch::ZERO, rng)?;
        Ok(Member { name, device, call })
    };
    let mut alice = join("Alice", alice_dev, 1, &mut rng)?;
    let mut bob = join("Bob", bob_dev, 2, &mut rng)?;
    println!("\nGroup call: Alice and Bob swap sender keys over their DM session.");
    deliver(&alice, &alice.call.sender_key_message(), &mut bob)?;
    deliver(&bob, &bob.call.sender_key_message(), &mut alice)?;
    say(&mut alice, "two of us", &mut [&mut bob])?;

    let mut carol = join("Carol", carol_dev, 3, &mut rng)?;
    println!("Carol joins: Alice and Bob ratchet their keys one step and send her the new step.");
    let before_carol = alice.call.encrypt(b"", b"before Carol")?;
    for member in [&mut alice, &mut bob] {
        let message = member.call.participant_joined(carol.call.me())?;
        deliver(member, &message, &mut carol)?;
    }
    let message = carol.call.sender_key_message();
    deliver(&carol, &message, &mut alice)?;
    deliver(&carol, &message, &mut bob)?;
    say(&mut alice, "welcome Carol", &mut [&mut bob, &mut carol])?;
    say(&mut bob, "hi Carol", &mut [&mut alice, &mut carol])?;
    say(&mut carol, "hi both", &mut [&mut alice, &mut bob])?;
    refused(&mut carol, "Alice's frame from before she joined", &before_carol)?;

    let mut dave = join("Dave", dave_dev, 4, &mut rng)?;
    println!("Dave joins: everyone ratchets again.");
    for member in [&mut alice, &mut bob, &mut carol] {
        let message = member.call.participant_joined(dave.call.me())?;
        deliver(member, &message, &mut dave)?;
    }
    let message = dave.call.sender_key_message();
    for member in [&mut alice, &mut bob, &mut carol] {
        deliver(&dave, &message, member)?;
    }
    say(&mut dave, "hello all", &mut [&mut alice, &mut bob, &mut carol])?;
    say(&mut carol, "hi Dave", &mut [&mut alice, &mut bob, &mut dave])?;

    println!("Bob leaves: the others forget his keys and move to epoch 1 with new secrets.");
    let bob_id = bob.call.me();
    let carol_late = carol.call.encrypt(b"", b"sent in epoch 0")?;
    let carol_later = carol.call.encrypt(b"", b"also sent in epoch 0")?;
    let for_others = alice.call.participant_left(bob_id, &mut rng)?;
    deliver(&alice, &for_others, &mut carol)?;
    deliver(&alice, &for_others, &mut dave)?;
    let heard = String::from_utf8(alice.call.decrypt(b"", &carol_late)?)?;
    println!("  Alice, now in epoch 1, still hears Carol's in-flight {heard:?}");
    let for_others = dave.call.participant_left(bob_id, &mut rng)?;
    deliver(&dave, &for_others, &mut alice)?;
    deliver(&dave, &for_others, &mut carol)?;
    let for_others = carol.call.participant_left(bob_id, &mut rng)?;
    deliver(&carol, &for_others, &mut alice)?;
    deliver(&carol, &for_others, &mut dave)?;
    let new_epoch = say(&mut alice, "epoch 1", &mut [&mut carol, &mut dave])?;
    say(&mut carol, "epoch 1 here too", &mut [&mut alice, &mut dave])?;
    refused(&mut alice, "Carol's epoch-0 frame now", &carol_later)?;
    refused(&mut bob, "Alice's epoch-1 frame", &new_epoch)?;
    let from_bob = bob.call.encrypt(b"", b"still here?")?;
    refused(&mut alice, "Bob's frame", &from_bob)?;
    println!(
        "Alice's participants now: {:?}",
        alice.call.participants().map(|p| p.value()).collect::<Vec<_>>()
    );
    Ok(())
}
