// Post-quantum sessions (PQXDH with ML-KEM-1024): sessions that report their
// key agreement, no silent downgrade to classical X3DH without the opt-in,
// one-time and last-resort KEM prekeys through a JS store's commits (each
// single-use, replays refused), and bundles whose KEM prekey is not signed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdentityKeyPair, InMemoryStore, PreKeyBundle, SessionManager, isPostQuantum } from 'sotto';
import { MapStore, useKey } from '../map-store.js';
import {
  ALICE, BOB, CAROL, bundle, classicalBundle, inMemoryDevice, jsDevice, newStore, receive, rejectsCode, string,
  text, throwsCode,
} from '../helpers.js';

const MALLORY = Object.freeze({ account: 'mallory', device: 3 });
/** EncodeKEM(ML-KEM-1024 key): the type byte and 1568 bytes. */
const KEM_KEY_LEN = 1569;

/** A MapStore that keeps every batch its `commit` was given. */
class RecordingStore extends MapStore {
  commits = [];
  commit(writes) {
    this.commits.push(writes);
    return super.commit(writes);
  }
}

for (const [kind, device] of [
  ['the in-memory store', (address) => inMemoryDevice(address)],
  ['a JS store', (address) => jsDevice(address)[0]],
]) {
  test(`a session is post-quantum on both sides, over ${kind}`, async () => {
    const alice = device(ALICE);
    const bob = device(BOB);
    assert.equal(alice.classicalSessions, 'REFUSE', 'classical sessions are refused by default');
    assert.equal(alice.sessionHandshake(BOB), undefined, 'no session yet');

    const bytes = await bundle(bob);
    assert.equal(PreKeyBundle.fromBytes(bytes).hasKemPrekey(), true);
    assert.ok(bytes.length > KEM_KEY_LEN, 'the bundle carries the ML-KEM key');
    await alice.processBundle(BOB, bytes);
    assert.equal(alice.sessionHandshake(BOB), 'PQXDH');

    const first = await alice.encrypt(BOB, text('hello'));
    assert.ok(first.length > 1568, 'the first message carries the ML-KEM ciphertext');
    const opening = bob.decrypt(ALICE, first);
    assert.equal(opening.startedSession, true);
    assert.equal(bob.sessionHandshake(ALICE), undefined, 'nothing is stored before commit');
    await opening.commit();
    assert.equal(bob.sessionHandshake(ALICE), 'PQXDH');
    assert.equal(isPostQuantum(bob.sessionHandshake(ALICE)), true);

    await receive(alice, BOB, await bob.encrypt(ALICE, text('reply')), 'reply');
    const next = await alice.encrypt(BOB, text('next'));
    assert.ok(next.length < 1000, 'once answered, messages no longer carry the KEM fields');
    await receive(bob, ALICE, next, 'next');
    assert.equal(alice.sessionHandshake(BOB), 'PQXDH');
  });
}

test('isPostQuantum is true for PQXDH only', () => {
  assert.equal(isPostQuantum('PQXDH'), true);
  for (const other of ['X3DH', 'pqxdh', undefined, null, 1, {}]) assert.equal(isPostQuantum(other), false);
});

test('a classical bundle is refused unless classical sessions are allowed, and then reports X3DH', async () => {
  const alice = inMemoryDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  const classical = await classicalBundle(bob);
  assert.equal(PreKeyBundle.fromBytes(classical).hasKemPrekey(), false);
  const refused = await rejectsCode(() => alice.processBundle(BOB, classical), 'CLASSICAL_SESSION_REFUSED');
  assert.deepEqual(refused.address, BOB);
  assert.match(refused.message, /classical/);
  assert.equal(alice.hasSession(BOB), false, 'nothing was stored');

  // The opt-in on Alice's side only: Bob, by default, refuses her first
  // message, and stores nothing.
  const allowing = alice.withClassicalSessions('ALLOW');
  assert.equal(allowing.classicalSessions, 'ALLOW');
  assert.equal(alice.classicalSessions, 'REFUSE', 'the original manager is unchanged');
  await allowing.processBundle(BOB, classical);
  assert.equal(allowing.sessionHandshake(BOB), 'X3DH');
  assert.equal(isPostQuantum(allowing.sessionHandshake(BOB)), false);
  const first = await allowing.encrypt(BOB, text('classical'));
  const onBob = throwsCode(() => bob.decrypt(ALICE, first), 'CLASSICAL_SESSION_REFUSED');
  assert.deepEqual(onBob.address, ALICE);
  assert.equal(bob.hasSession(ALICE), false);

  // On both sides: a classical session, which says so.
  const bobAllowing = bob.withClassicalSessions('ALLOW');
  assert.equal(string(await bobAllowing.decryptAndCommit(ALICE, first)), 'classical');
  assert.equal(bobAllowing.sessionHandshake(ALICE), 'X3DH');
  assert.equal(bob.sessionHandshake(ALICE), 'X3DH', 'the two managers share the store');
  await receive(allowing, BOB, await bobAllowing.encrypt(ALICE, text('reply')), 'reply');

  // A stored classical session goes on under managers that refuse new ones.
  const strict = allowing.withClassicalSessions('REFUSE');
  await receive(bob, ALICE, await strict.encrypt(BOB, text('still classical')), 'still classical');
  await rejectsCode(() => strict.processBundle(CAROL, classical), 'CLASSICAL_SESSION_REFUSED');

  for (const policy of ['allow', 'Allow', true, 1, undefined, null]) {
    throwsCode(() => alice.withClassicalSessions(policy), 'INVALID_ARGUMENT');
  }
});

test('a one-time KEM prekey is consumed by the commit of the first message; a replay is refused', async () => {
  const [bob, store] = jsDevice(BOB, newStore(RecordingStore));
  // No one-time (X25519) prekey: the KEM prekey is the only single-use key.
  const shared = await bundle(bob, { oneTime: false, kemId: 40 });
  assert.ok(store.kemPrekey(40) instanceof Uint8Array);
  const alice = inMemoryDevice(ALICE);
  const carol = inMemoryDevice(CAROL);
  await alice.processBundle(BOB, shared);
  await carol.processBundle(BOB, shared);
  const first = await alice.encrypt(BOB, text('first'));
  const fromCarol = await carol.encrypt(BOB, text('too late'));

  const writesBefore = store.log.length;
  const decrypted = bob.decrypt(ALICE, first);
  assert.ok(store.kemPrekey(40), 'still there before the commit');
  await decrypted.commit();
  assert.equal(store.kemPrekey(40), undefined, 'consumed by the commit');
  assert.equal(store.kemPrekeys.size, 0);
  assert.deepEqual(
    store.log.slice(writesBefore).map(([method]) => method),
    ['commit'],
    'removed by the commit that stored the session, not by a separate write',
  );
  const [write] = store.commits.at(-1);
  assert.deepEqual(write.address, ALICE);
  assert.deepEqual(write.consumedKemPrekeys, [40]);
  assert.deepEqual(write.consumedOneTimePrekeys, []);
  assert.deepEqual(write.lastResortUses, []);
  assert.equal(bob.sessionHandshake(ALICE), 'PQXDH');

  // The first message again: a duplicate in the session it started; as if
  // from another address, an unknown KEM prekey; and so is Carol's, made
  // from the same bundle.
  throwsCode(() => bob.decrypt(ALICE, first), 'DUPLICATE_MESSAGE');
  const replayed = throwsCode(() => bob.decrypt(MALLORY, first), 'UNKNOWN_PREKEY');
  assert.match(replayed.message, /KEM prekey with id 40/);
  throwsCode(() => bob.decrypt(CAROL, fromCarol), 'UNKNOWN_PREKEY');
  await rejectsCode(() => bob.decryptAndCommit(MALLORY, first), 'UNKNOWN_PREKEY');
  assert.equal(bob.hasSession(MALLORY), false);
  assert.equal(bob.hasSession(CAROL), false);
  assert.equal(store.commits.length, 1, 'no other commit was made');
});

test('two first messages on one one-time KEM prekey: only the first commit holds', async () => {
  const [bob, store] = jsDevice(BOB);
  const shared = await bundle(bob, { oneTime: false, kemId: 41 });
  const alice = inMemoryDevice(ALICE);
  const carol = inMemoryDevice(CAROL);
  await alice.processBundle(BOB, shared);
  await carol.processBundle(BOB, shared);
  const fromAlice = bob.decrypt(ALICE, await alice.encrypt(BOB, text('alice')));
  const fromCarol = bob.decrypt(CAROL, await carol.encrypt(BOB, text('carol')));
  await fromAlice.commit();
  // The store's compare-and-swap finds the KEM prekey gone.
  await rejectsCode(() => fromCarol.commit(), 'STALE_DECRYPTION');
  assert.equal(store.loadSession(CAROL), undefined);
  assert.equal(bob.hasSession(ALICE), true);
});

test('the last-resort KEM prekey serves a bundle without a one-time one, each first message once', async () => {
  const [bob, store] = jsDevice(BOB, newStore(RecordingStore));
  const lastResort = await bundle(bob, { oneTime: false, kemId: 5, lastResort: true });
  const peers = [
    [inMemoryDevice(ALICE), ALICE],
    [inMemoryDevice(CAROL), CAROL],
  ];
  const firsts = [];
  for (const [peer, address] of peers) {
    await peer.processBundle(BOB, lastResort);
    const first = await peer.encrypt(BOB, text(address.account));
    await receive(bob, address, first, address.account);
    assert.equal(bob.sessionHandshake(address), 'PQXDH');
    firsts.push([address, first]);
  }
  assert.ok(store.kemPrekey(5), 'a last-resort KEM prekey stays');
  const uses = store.commits.map(([write]) => {
    assert.deepEqual(write.consumedKemPrekeys, [], 'a last-resort KEM prekey is not consumed');
    assert.equal(write.lastResortUses.length, 1);
    return write.lastResortUses[0];
  });
  for (const use of uses) {
    assert.equal(use.kemPrekey, 5);
    assert.ok(use.baseKey instanceof Uint8Array && use.baseKey.length === 32);
    assert.equal(store.lastResortUseRecorded(5, use.baseKey), true);
  }
  assert.notDeepEqual(uses[0].baseKey, uses[1].baseKey, 'each session has its own base key');
  assert.equal(store.lastResortUses.size, 2);

  // A replay of either first message, from whichever address, is a
  // duplicate: its use of the last-resort prekey is recorded.
  for (const [address, first] of firsts) {
    throwsCode(() => bob.decrypt(address, first), 'DUPLICATE_MESSAGE');
    throwsCode(() => bob.decrypt(MALLORY, first), 'DUPLICATE_MESSAGE');
  }
  assert.equal(bob.hasSession(MALLORY), false);

  // Even if a read missed the recorded use, the commit's compare-and-swap
  // refuses to record it twice.
  const answer = store.lastResortUseRecorded;
  store.lastResortUseRecorded = () => false;
  const forgotten = bob.decrypt(MALLORY, firsts[0][1]);
  await rejectsCode(() => forgotten.commit(), 'STALE_DECRYPTION');
  assert.equal(bob.hasSession(MALLORY), false);
  store.lastResortUseRecorded = answer;

  // Rotation: a new last-resort prekey, then the old one removed with its
  // uses; first messages that name it are then unknown.
  await bob.generateLastResortKemPrekey(6);
  store.removeKemPrekey(5);
  assert.equal(store.lastResortUses.size, 0, 'its uses are forgotten with it');
  throwsCode(() => bob.decrypt(MALLORY, firsts[0][1]), 'UNKNOWN_PREKEY');
  await receive(bob, ALICE, await peers[0][0].encrypt(BOB, text('still here')), 'still here');
});

test('the in-memory store counts and removes KEM prekeys', async () => {
  const store = new InMemoryStore(IdentityKeyPair.generate());
  const bob = SessionManager.withInMemoryStore(BOB, store);
  const oneTime = await bob.generateKemPrekeys(0xffff_fffe, 3);
  assert.deepEqual(oneTime.map((prekey) => prekey.id), [0xffff_fffe, 0xffff_ffff, 0], 'ids wrap');
  for (const prekey of oneTime) {
    assert.equal(prekey.key.length, KEM_KEY_LEN);
    assert.equal(prekey.key[0], 0x01, 'EncodeKEM: the ML-KEM-1024 type byte');
    assert.equal(prekey.signature.length, 64);
  }
  const lastResort = await bob.generateLastResortKemPrekey(7);
  assert.equal(lastResort.id, 7);
  assert.equal(store.kemPrekeyCount(), 4);

  const alice = inMemoryDevice(ALICE);
  const signed = await bob.generateSignedPrekey(1);
  const viaLastResort = new PreKeyBundle(bob.identityKey(), signed, lastResort).toBytes();
  await alice.processBundle(BOB, viaLastResort);
  const first = await alice.encrypt(BOB, text('hi'));
  await receive(bob, ALICE, first, 'hi');
  assert.equal(store.kemPrekeyCount(), 4, 'the last-resort prekey stays');
  throwsCode(() => bob.decrypt(MALLORY, first), 'DUPLICATE_MESSAGE');
  store.removeKemPrekey(7);
  store.removeKemPrekey(7);
  assert.equal(store.kemPrekeyCount(), 3);
  throwsCode(() => bob.decrypt(MALLORY, first), 'UNKNOWN_PREKEY');

  const carol = inMemoryDevice(CAROL);
  await carol.processBundle(BOB, new PreKeyBundle(bob.identityKey(), signed, oneTime[1], null).toBytes());
  await receive(bob, CAROL, await carol.encrypt(BOB, text('hey')), 'hey');
  assert.equal(store.kemPrekeyCount(), 2, 'the one-time prekey was consumed');
});

test('a batch commits the KEM prekeys its first messages consumed and the uses they made', async () => {
  const [bob, store] = jsDevice(BOB, newStore(RecordingStore));
  // Two bundles out at once: each with its own signed prekey.
  const oneTime = await bundle(bob, { signedId: 60, oneTime: false, kemId: 60 });
  const lastResort = await bundle(bob, { signedId: 61, oneTime: false, kemId: 61, lastResort: true });
  const alice = inMemoryDevice(ALICE);
  const carol = inMemoryDevice(CAROL);
  await alice.processBundle(BOB, oneTime);
  await carol.processBundle(BOB, lastResort);
  const fromAlice = await alice.encrypt(BOB, text('alice'));
  const fromCarol = await carol.encrypt(BOB, text('carol'));

  const batch = bob.batch();
  assert.equal(string(batch.decrypt(ALICE, fromAlice)), 'alice');
  assert.equal(string(batch.decrypt(CAROL, fromCarol)), 'carol');
  // The same first messages as if from other addresses, in the same batch:
  // the one-time KEM prekey is taken, the last-resort use is made.
  throwsCode(() => batch.decrypt(MALLORY, fromAlice), 'UNKNOWN_PREKEY');
  throwsCode(() => batch.decrypt(MALLORY, fromCarol), 'DUPLICATE_MESSAGE');
  assert.ok(store.kemPrekey(60), 'nothing is consumed before the commit');
  await batch.commit();

  assert.equal(store.commits.length, 1, 'one store transaction');
  const writes = store.commits[0];
  const of = (address) => writes.find((write) => write.address.account === address.account);
  assert.deepEqual(of(ALICE).consumedKemPrekeys, [60]);
  assert.deepEqual(of(ALICE).lastResortUses, []);
  assert.deepEqual(of(CAROL).consumedKemPrekeys, []);
  assert.deepEqual(of(CAROL).lastResortUses.map((use) => use.kemPrekey), [61]);
  assert.equal(store.kemPrekey(60), undefined);
  assert.ok(store.kemPrekey(61));
  assert.ok(store.lastResortUses.has(useKey(of(CAROL).lastResortUses[0])));
  assert.equal(bob.sessionHandshake(ALICE), 'PQXDH');
  assert.equal(bob.sessionHandshake(CAROL), 'PQXDH');

  // Replayed in a new batch: both refused.
  const again = bob.batch();
  throwsCode(() => again.decrypt(MALLORY, fromAlice), 'UNKNOWN_PREKEY');
  throwsCode(() => again.decrypt(MALLORY, fromCarol), 'DUPLICATE_MESSAGE');
  assert.equal(again.length, 0);
});

test('a bundle whose KEM prekey its identity did not sign is refused with BAD_KEM_SIGNATURE', async () => {
  const alice = inMemoryDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  const signed = await bob.generateSignedPrekey(1);
  const [kem] = await bob.generateKemPrekeys(9, 1);
  const identity = bob.identityKey();
  const refused = async (kemPrekey, what) => {
    const bytes = new PreKeyBundle(identity, signed, kemPrekey).toBytes();
    const error = await rejectsCode(() => alice.processBundle(BOB, bytes), 'BAD_KEM_SIGNATURE');
    assert.match(error.message, /KEM prekey's signature/, what);
    assert.equal(alice.hasSession(BOB), false, `${what}: nothing was stored`);
    assert.equal(alice.safetyNumber(BOB), undefined, `${what}: no identity was recorded`);
  };

  const flipped = Uint8Array.from(kem.signature);
  flipped[17] ^= 0x01;
  await refused({ ...kem, signature: flipped }, 'a flipped signature bit');
  await refused({ ...kem, id: 10 }, 'another id than the one signed');
  const mallory = inMemoryDevice(MALLORY);
  await refused(await mallory.generateLastResortKemPrekey(9), "another identity's KEM prekey");
  const [other] = await bob.generateKemPrekeys(11, 1);
  await refused({ ...kem, key: other.key }, 'a key swapped under the signature');

  // The signed prekey's bad signature is the other refusal.
  const badSigned = { ...signed, signature: Uint8Array.from(signed.signature) };
  badSigned.signature[0] ^= 0x01;
  await rejectsCode(
    () => alice.processBundle(BOB, new PreKeyBundle(identity, badSigned, kem).toBytes()),
    'INVALID_BUNDLE',
  );

  // Keys that are no ML-KEM-1024 keys are refused before any signature.
  const otherType = Uint8Array.from(kem.key);
  otherType[0] = 0x02;
  throwsCode(() => new PreKeyBundle(identity, signed, { ...kem, key: otherType }), 'INVALID_ARGUMENT');
  const [x25519] = await bob.generateOneTimePrekeys(1, 1);
  const oldCall = throwsCode(() => new PreKeyBundle(identity, signed, x25519), 'INVALID_ARGUMENT');
  assert.match(oldCall.message, /kemPrekey/);
  const missing = throwsCode(() => new PreKeyBundle(identity, signed, null), 'INVALID_ARGUMENT');
  assert.match(missing.message, /PreKeyBundle\.classical/);
  throwsCode(() => new PreKeyBundle(identity, signed, { ...kem, signature: new Uint8Array(63) }), 'INVALID_ARGUMENT');
  const good = new PreKeyBundle(identity, signed, kem).toBytes();
  const at = good.findIndex((_, i) => good.subarray(i, i + kem.key.length).every((byte, j) => byte === kem.key[j]));
  assert.ok(at > 0, 'the encoded key is in the bundle');
  const tampered = Uint8Array.from(good);
  tampered[at] = 0x02;
  throwsCode(() => PreKeyBundle.fromBytes(tampered), 'INVALID_BUNDLE');
  await rejectsCode(() => alice.processBundle(BOB, tampered), 'INVALID_BUNDLE');

  // The untampered bundle works.
  await alice.processBundle(BOB, good);
  assert.equal(alice.sessionHandshake(BOB), 'PQXDH');
});
