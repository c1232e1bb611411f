// Every failure is a JS Error with a stable `code`: thrown by the
// synchronous methods, the rejection of the Promise of those that write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdentityKeyPair, InMemoryStore, PreKeyBundle, SessionManager, isSottoError } from 'sotto';
import { conflict } from '../map-store.js';
import {
  ALICE, BOB, CAROL, bundle, inMemoryDevice, jsDevice, receive, rejectsCode, session, text, throwsCode,
} from '../helpers.js';

test('MALFORMED_MESSAGE for bytes that are no message', async () => {
  const { bob } = await session();
  throwsCode(() => bob.decrypt(ALICE, new Uint8Array([1, 2, 3, 4, 5])), 'MALFORMED_MESSAGE');
  throwsCode(() => bob.decrypt(ALICE, new Uint8Array(0)), 'MALFORMED_MESSAGE');
  throwsCode(() => bob.decrypt(ALICE, new Uint8Array(200 * 1024)), 'MALFORMED_MESSAGE');
  await rejectsCode(() => bob.decryptAndCommit(ALICE, new Uint8Array([1, 2, 3])), 'MALFORMED_MESSAGE');
});

test('AUTHENTICATION_FAILED for an altered message, and the session goes on', async () => {
  const { alice, bob } = await session();
  const message = await alice.encrypt(BOB, text('the real one'));
  const altered = Uint8Array.from(message);
  altered[altered.length - 1] ^= 0x01;
  throwsCode(() => bob.decrypt(ALICE, altered), 'AUTHENTICATION_FAILED');
  await receive(bob, ALICE, message, 'the real one');
});

test('DUPLICATE_MESSAGE carries the counter', async () => {
  const { alice, bob } = await session();
  const messages = await Promise.all([0, 1, 2].map((i) => alice.encrypt(BOB, text(`m${i}`))));
  for (const [i, message] of messages.entries()) await receive(bob, ALICE, message, `m${i}`);
  assert.equal(throwsCode(() => bob.decrypt(ALICE, messages[2]), 'DUPLICATE_MESSAGE').counter, 2);
});

test('STALE_DECRYPTION for a commit after another write; the message decrypts again', async () => {
  const { alice, bob } = await session();
  const [one, two, three] = await Promise.all(['one', 'two', 'three'].map((word) => alice.encrypt(BOB, text(word))));

  const decrypted = bob.decrypt(ALICE, one);
  await receive(alice, BOB, await bob.encrypt(ALICE, text('in between')), 'in between');
  await rejectsCode(() => decrypted.commit(), 'STALE_DECRYPTION');
  await rejectsCode(() => decrypted.commit(), 'STALE_DECRYPTION');
  await receive(bob, ALICE, one, 'one');

  // Two decryptions from one state: the second commit would undo the first.
  const first = bob.decrypt(ALICE, two);
  const second = bob.decrypt(ALICE, three);
  await first.commit();
  await rejectsCode(() => second.commit(), 'STALE_DECRYPTION');
  await receive(bob, ALICE, three, 'three');
  throwsCode(() => bob.decrypt(ALICE, two), 'DUPLICATE_MESSAGE');
});

test('NO_SESSION without a session', async () => {
  const { alice } = await session();
  const stranger = inMemoryDevice(CAROL);
  await rejectsCode(() => stranger.encrypt(ALICE, text('hi')), 'NO_SESSION');
  const notForYou = await alice.encrypt(BOB, text('not for you'));
  throwsCode(() => stranger.decrypt(ALICE, notForYou), 'NO_SESSION');
  throwsCode(() => stranger.offerCall(ALICE, text('call'), 4), 'NO_SESSION');
});

test('UNTRUSTED_IDENTITY names the address and the new key; trustIdentity accepts it', async () => {
  const { alice } = await session();
  const reinstalled = inMemoryDevice(BOB);
  const newBundle = await bundle(reinstalled);
  const error = await rejectsCode(() => alice.processBundle(BOB, newBundle), 'UNTRUSTED_IDENTITY');
  assert.deepEqual(error.address, BOB);
  assert.deepEqual(error.identityKey, reinstalled.identityKey());
  assert.equal(alice.hasSession(BOB), true, 'the old session is untouched');

  await alice.trustIdentity(error.address, error.identityKey, false);
  await alice.processBundle(BOB, newBundle);
  await receive(reinstalled, ALICE, await alice.encrypt(BOB, text('welcome back')), 'welcome back');
});

test('PEER_IDENTITY_MISSING when the store lost the identity of an address with sessions', async () => {
  const [alice, store] = jsDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  const bobBundle = await bundle(bob);
  await alice.processBundle(BOB, bobBundle);
  store.peers.clear();
  const error = await rejectsCode(() => alice.encrypt(BOB, text('x')), 'PEER_IDENTITY_MISSING');
  assert.deepEqual(error.address, BOB);
  // Not trusted on first use again: a bundle is refused too, until the user
  // confirms the identity.
  await rejectsCode(() => alice.processBundle(BOB, bobBundle), 'PEER_IDENTITY_MISSING');
  await alice.trustIdentity(BOB, bob.identityKey(), true);
  await receive(bob, ALICE, await alice.encrypt(BOB, text('confirmed')), 'confirmed');
});

test('CONTENDED when the store keeps refusing the compare-and-swap', async () => {
  const [alice, store] = jsDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  await alice.processBundle(BOB, await bundle(bob));
  let attempts = 0;
  store.commit = (writes) => {
    attempts += 1;
    throw conflict(writes[0].address);
  };
  const error = await rejectsCode(() => alice.encrypt(BOB, text('x')), 'CONTENDED');
  assert.deepEqual(error.address, BOB);
  assert.equal(error.attempts, 32);
  assert.equal(attempts, 32);
});

test('REENTRANT_CALL when a store calls back into the manager for the address it writes', async () => {
  const [alice, store] = jsDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  await alice.processBundle(BOB, await bundle(bob));
  const commit = store.commit.bind(store);
  let inner;
  store.commit = (writes) => {
    inner ??= alice.encrypt(BOB, text('from inside the store'));
    return commit(writes);
  };
  const outer = await alice.encrypt(BOB, text('outer'));
  await rejectsCode(() => inner, 'REENTRANT_CALL');
  await receive(bob, ALICE, outer, 'outer');
});

test('INVALID_BUNDLE for a bad signature or bytes that are no bundle', async () => {
  const bob = inMemoryDevice(BOB);
  const alice = inMemoryDevice(ALICE);
  const signed = await bob.generateSignedPrekey(1);
  signed.signature[0] ^= 0x80;
  const kem = await bob.generateLastResortKemPrekey(1);
  const forged = new PreKeyBundle(bob.identityKey(), signed, kem, null).toBytes();
  await rejectsCode(() => alice.processBundle(BOB, forged), 'INVALID_BUNDLE');
  await rejectsCode(() => alice.processBundle(BOB, text('garbage')), 'INVALID_BUNDLE');
  throwsCode(() => PreKeyBundle.fromBytes(text('garbage')), 'INVALID_BUNDLE');
  assert.equal(alice.hasSession(BOB), false);
});

test('UNKNOWN_PREKEY for a one-time prekey already used', async () => {
  const bob = inMemoryDevice(BOB);
  const shared = await bundle(bob);
  const alice = inMemoryDevice(ALICE);
  const carol = inMemoryDevice(CAROL);
  await alice.processBundle(BOB, shared);
  await carol.processBundle(BOB, shared);
  await receive(bob, ALICE, await alice.encrypt(BOB, text('first')), 'first');
  const late = await carol.encrypt(BOB, text('too late'));
  throwsCode(() => bob.decrypt(CAROL, late), 'UNKNOWN_PREKEY');
});

test('LIMIT_EXCEEDED for a plaintext over 128 KiB', async () => {
  const { alice } = await session();
  await rejectsCode(() => alice.encrypt(BOB, new Uint8Array(128 * 1024 + 1)), 'LIMIT_EXCEEDED');
});

test('INVALID_ARGUMENT for bad addresses, keys and records', async () => {
  const { alice } = await session();
  for (const address of [
    { account: '', device: 1 },
    { account: 'x'.repeat(257), device: 1 },
    { account: 'bob', device: -1 },
    { account: 'bob', device: 1.5 },
    { account: 42, device: 1 },
    'bob',
  ]) {
    await rejectsCode(() => alice.encrypt(address, text('x')), 'INVALID_ARGUMENT');
    throwsCode(() => alice.hasSession(address), 'INVALID_ARGUMENT');
  }
  await rejectsCode(() => alice.trustIdentity(BOB, new Uint8Array(31), true), 'INVALID_ARGUMENT');
  throwsCode(() => alice.offerCall(BOB, new Uint8Array(0), 4), 'INVALID_ARGUMENT');
  throwsCode(() => alice.offerCall(BOB, new Uint8Array(256), 4), 'INVALID_ARGUMENT');
  throwsCode(() => alice.offerCall(BOB, text('call'), 0x1234), 'INVALID_ARGUMENT');
  throwsCode(() => SessionManager.withInMemoryStore({ device: 1 }, new InMemoryStore(IdentityKeyPair.generate())), 'INVALID_ARGUMENT');
  const signed = await inMemoryDevice(BOB).generateSignedPrekey(1);
  throwsCode(() => new PreKeyBundle(new Uint8Array(32).fill(1), { ...signed, signature: new Uint8Array(63) }), 'INVALID_ARGUMENT');
  throwsCode(() => new PreKeyBundle(new Uint8Array(32).fill(1), { id: 1 }), 'INVALID_ARGUMENT');
  throwsCode(() => PreKeyBundle.classical(new Uint8Array(32).fill(1), { id: 1 }), 'INVALID_ARGUMENT');
  throwsCode(() => IdentityKeyPair.fromRecordBytes(text('nope')), 'CORRUPT_RECORD');
});

test('isSottoError tells Sotto errors from others', async () => {
  assert.equal(isSottoError(new Error('x')), false);
  assert.equal(isSottoError({ name: 'SottoError', code: 'STORE' }), false);
  try {
    await inMemoryDevice(ALICE).encrypt(BOB, text('x'));
    assert.fail('no error');
  } catch (error) {
    assert.equal(isSottoError(error), true);
    assert.ok(error.stack.length > 0);
  }
});
