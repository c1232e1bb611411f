// The ProtocolStore interface implemented in JS: records round-trip, the
// writes `commit` is given, state that survives a restart, and failures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdentityKeyPair, SessionManager, sessionRecordGeneration } from 'sotto';
import { MapStore, addressKey } from '../map-store.js';
import {
  ALICE, BOB, bundle, inMemoryDevice, jsDevice, newStore, receive, rejectsCode, text, throwsCode,
} from '../helpers.js';

test('a JS store keeps opaque records and the session survives a restart', async () => {
  const identity = IdentityKeyPair.generate();
  const [bob, store] = jsDevice(BOB, new MapStore(identity.toRecordBytes()));
  assert.deepEqual(bob.identityKey(), identity.publicKey());
  const alice = inMemoryDevice(ALICE);
  await alice.processBundle(BOB, await bundle(bob));
  await receive(bob, ALICE, await alice.encrypt(BOB, text('before')), 'before');

  const stored = store.sessions.get(addressKey(ALICE));
  assert.ok(stored.record instanceof Uint8Array);
  assert.equal(stored.generation, 1n);
  assert.equal(sessionRecordGeneration(stored.record), 1n, 'the generation is also in the record');
  throwsCode(() => sessionRecordGeneration(text('no record')), 'CORRUPT_RECORD');
  assert.ok(store.peers.get(addressKey(ALICE)) instanceof Uint8Array);
  assert.deepEqual(
    store.log.map(([method]) => method),
    ['saveSignedPrekey', 'saveOneTimePrekey', 'saveKemPrekey', 'commit'],
    'the session, the identity and the consumed prekeys are written by one commit',
  );

  // A restart: a new manager over a copy of what was stored.
  bob.free();
  const restarted = SessionManager.withStore(BOB, store.copy());
  await receive(restarted, ALICE, await alice.encrypt(BOB, text('after')), 'after');
  await receive(alice, BOB, await restarted.encrypt(ALICE, text('reply')), 'reply');
});

test('commit() gets every write of a change: generations, identity, consumed prekeys', async () => {
  class RecordingStore extends MapStore {
    commits = [];
    commit(writes) {
      this.commits.push(writes);
      return super.commit(writes);
    }
  }
  const [bob, store] = jsDevice(BOB, newStore(RecordingStore));
  const alice = inMemoryDevice(ALICE);
  await alice.processBundle(BOB, await bundle(bob, { oneTimeId: 9 }));
  await receive(bob, ALICE, await alice.encrypt(BOB, text('first')), 'first');
  await receive(bob, ALICE, await alice.encrypt(BOB, text('second')), 'second');
  await bob.trustIdentity(ALICE, alice.identityKey(), true);
  await alice.encrypt(BOB, text('x')).then((message) => bob.decryptAndCommit(ALICE, message));

  assert.equal(store.commits.length, 4);
  assert.ok(store.commits.every((writes) => writes.length === 1), 'one address per commit');
  const [[first], [second], [trust], [fourth]] = store.commits;
  assert.deepEqual(first.address, ALICE);
  assert.equal(first.expectedGeneration, null, 'no session was stored');
  assert.equal(first.generation, 1n);
  assert.ok(first.session instanceof Uint8Array);
  assert.ok(first.peerIdentity instanceof Uint8Array);
  assert.equal(first.peerIdentityFirstUse, true, 'trusted on first use');
  assert.deepEqual(first.consumedOneTimePrekeys, [9]);
  assert.deepEqual(first.consumedKemPrekeys, [9], 'the one-time KEM prekey, by the same commit');
  assert.deepEqual(first.lastResortUses, []);

  assert.equal(second.expectedGeneration, 1n);
  assert.equal(second.generation, 2n);
  assert.equal(second.peerIdentity, null);
  assert.deepEqual(second.consumedOneTimePrekeys, []);
  assert.deepEqual(second.consumedKemPrekeys, []);
  assert.deepEqual(second.lastResortUses, []);

  assert.equal(trust.expectedGeneration, 2n);
  assert.equal(trust.generation, 3n);
  assert.ok(trust.peerIdentity instanceof Uint8Array);
  assert.equal(trust.peerIdentityFirstUse, false, "the user's decision replaces");
  assert.notDeepEqual(trust.peerIdentity, first.peerIdentity, 'now verified');
  assert.equal(fourth.expectedGeneration, 3n);
  assert.equal(store.generation(ALICE), 4n);
});

test('a store that throws: STORE with what it threw as cause, and the commit can be retried', async () => {
  const [bob, store] = jsDevice(BOB);
  const alice = inMemoryDevice(ALICE);
  await alice.processBundle(BOB, await bundle(bob));
  const message = await alice.encrypt(BOB, text('hello'));

  const failure = new Error('QuotaExceededError');
  store.commit = () => {
    throw failure;
  };
  const decrypted = bob.decrypt(ALICE, message);
  const error = await rejectsCode(() => decrypted.commit(), 'STORE');
  assert.equal(error.cause, failure);
  assert.match(error.message, /commit threw: QuotaExceededError/);
  assert.equal(bob.hasSession(ALICE), false, 'nothing was stored');

  // The commit may be tried again once the store works.
  delete store.commit;
  await decrypted.commit();
  assert.equal(bob.hasSession(ALICE), true);

  store.loadSession = () => {
    throw 'not even an Error';
  };
  const thrown = await rejectsCode(() => bob.encrypt(ALICE, text('x')), 'STORE');
  assert.equal(thrown.cause, 'not even an Error');
  // A thrown object with another code is a failure, not a conflict.
  delete store.loadSession;
  store.commit = () => {
    throw Object.assign(new Error('disk full'), { code: 'EDISKFULL' });
  };
  assert.equal((await rejectsCode(() => bob.encrypt(ALICE, text('x')), 'STORE')).cause.code, 'EDISKFULL');
});

test('store reads must answer synchronously with Uint8Array or null', () => {
  const [bob, store] = jsDevice(BOB);
  store.localIdentity = async () => store.identity;
  assert.match(throwsCode(() => bob.identityKey(), 'STORE').message, /Promise: store reads must be synchronous/);
  store.localIdentity = () => [1, 2, 3];
  assert.match(throwsCode(() => bob.identityKey(), 'STORE').message, /neither a Uint8Array nor null/);
  store.localIdentity = () => null;
  throwsCode(() => bob.identityKey(), 'NO_LOCAL_IDENTITY');
  store.localIdentity = () => new Uint8Array([0xff, 0xff, 0xff]);
  throwsCode(() => bob.identityKey(), 'CORRUPT_RECORD');
});

test('a store object that lacks methods is refused up front', () => {
  const error = throwsCode(() => SessionManager.withStore(BOB, { localIdentity() {} }), 'INVALID_ARGUMENT');
  assert.match(error.message, /peerIdentity, signedPrekey/);
  throwsCode(() => SessionManager.withStore(BOB, null), 'INVALID_ARGUMENT');

  // A store written for the earlier interface: it has storeSession and
  // savePeerIdentity, and no commit.
  const earlier = new MapStore(IdentityKeyPair.generate().toRecordBytes());
  earlier.commit = undefined;
  earlier.storeSession = () => {};
  earlier.savePeerIdentity = () => {};
  const old = throwsCode(() => SessionManager.withStore(BOB, earlier), 'INVALID_ARGUMENT');
  assert.match(old.message, /no method commit \(storeSession and savePeerIdentity are gone/);
});

test('a store may call back into Sotto while it is called', async () => {
  const [bob, store] = jsDevice(BOB);
  const alice = inMemoryDevice(ALICE);
  await alice.processBundle(BOB, await bundle(bob));
  let reentered = 0;
  const commit = store.commit.bind(store);
  store.commit = (writes) => {
    const returned = commit(writes);
    reentered += Number(bob.hasSession(writes[0].address));
    return returned;
  };
  await receive(bob, ALICE, await alice.encrypt(BOB, text('hi')), 'hi');
  await receive(alice, BOB, await bob.encrypt(ALICE, text('back')), 'back');
  assert.equal(reentered, 2);
});

test('a store written before KEM prekeys is refused up front, naming what it lacks', () => {
  const earlier = newStore();
  for (const name of ['kemPrekey', 'saveKemPrekey', 'removeKemPrekey', 'lastResortUseRecorded']) earlier[name] = undefined;
  const error = throwsCode(() => SessionManager.withStore(BOB, earlier), 'INVALID_ARGUMENT');
  assert.match(
    error.message,
    /no method kemPrekey, saveKemPrekey, removeKemPrekey, lastResortUseRecorded \(the store predates post-quantum sessions/,
  );
});

test('KEM prekey records round-trip through a JS store, and corrupt ones are refused', async () => {
  const [bob, store] = jsDevice(BOB);
  const [kem] = await bob.generateKemPrekeys(3, 1);
  const record = store.kemPrekey(3);
  assert.ok(record instanceof Uint8Array);
  assert.ok(record.length > 3168, 'the record holds the 3168-byte decapsulation key');
  assert.deepEqual(store.log.at(-1), ['saveKemPrekey', [['kemPrekeys', 3]]]);
  const alice = inMemoryDevice(ALICE);
  const signed = await bob.generateSignedPrekey(1);
  const { PreKeyBundle } = await import('sotto');
  await alice.processBundle(BOB, new PreKeyBundle(bob.identityKey(), signed, kem, null).toBytes());
  const first = await alice.encrypt(BOB, text('hi'));
  store.kemPrekeys.set(3, Uint8Array.of(1, 2, 3));
  throwsCode(() => bob.decrypt(ALICE, first), 'CORRUPT_RECORD');
  store.kemPrekeys.set(3, record);
  await receive(bob, ALICE, first, 'hi');
});

test('lastResortUseRecorded must answer synchronously with true or false', async () => {
  const [bob, store] = jsDevice(BOB);
  const alice = inMemoryDevice(ALICE);
  await alice.processBundle(BOB, await bundle(bob, { oneTime: false, kemId: 5, lastResort: true }));
  const first = await alice.encrypt(BOB, text('hi'));
  const answer = store.lastResortUseRecorded;
  store.lastResortUseRecorded = async () => false;
  assert.match(throwsCode(() => bob.decrypt(ALICE, first), 'STORE').message, /lastResortUseRecorded returned a Promise/);
  store.lastResortUseRecorded = () => 0;
  assert.match(throwsCode(() => bob.decrypt(ALICE, first), 'STORE').message, /neither true nor false/);
  const failure = new Error('disk on fire');
  store.lastResortUseRecorded = () => {
    throw failure;
  };
  assert.equal(throwsCode(() => bob.decrypt(ALICE, first), 'STORE').cause, failure);
  store.lastResortUseRecorded = answer;
  await receive(bob, ALICE, first, 'hi');
});
