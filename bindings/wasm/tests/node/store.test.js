// The ProtocolStore interface implemented in JS: records round-trip,
// a store with its own commit, state that survives a restart, and failures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdentityKeyPair, SessionManager } from 'sotto';
import { MapStore, addressKey } from '../map-store.js';
import { ALICE, BOB, bundle, inMemoryDevice, jsDevice, receive, text, throwsCode } from '../helpers.js';

test('a JS store keeps opaque records and the session survives a restart', () => {
  const identity = IdentityKeyPair.generate();
  const [bob, store] = jsDevice(BOB, new MapStore(identity.toRecordBytes()));
  assert.deepEqual(bob.identityKey(), identity.publicKey());
  const alice = inMemoryDevice(ALICE);
  alice.processBundle(BOB, bundle(bob));
  receive(bob, ALICE, alice.encrypt(BOB, text('before')), 'before');

  assert.ok(store.sessions.get(addressKey(ALICE)) instanceof Uint8Array);
  assert.ok(store.peers.get(addressKey(ALICE)) instanceof Uint8Array);
  assert.deepEqual(
    store.log.map(([method]) => method),
    ['saveSignedPrekey', 'saveOneTimePrekey', 'savePeerIdentity', 'storeSession', 'removeOneTimePrekey'],
    'without commit(), the writes come one by one in the documented order',
  );

  // A restart: a new manager over a copy of what was stored.
  const copy = new MapStore(store.identity);
  for (const name of ['peers', 'signedPrekeys', 'oneTimePrekeys', 'sessions']) {
    for (const [key, record] of store[name]) copy[name].set(key, Uint8Array.from(record));
  }
  bob.free();
  const restarted = SessionManager.withStore(BOB, copy);
  receive(restarted, ALICE, alice.encrypt(BOB, text('after')), 'after');
  receive(alice, BOB, restarted.encrypt(ALICE, text('reply')), 'reply');
});

test('a store with commit() gets the writes of a message together', () => {
  class TransactionalStore extends MapStore {
    commits = [];
    commit(writes) {
      this.commits.push(writes);
      if (writes.newPeerIdentity) this.savePeerIdentity(writes.address, writes.newPeerIdentity);
      this.storeSession(writes.address, writes.session);
      if (writes.consumedOneTimePrekey !== null) this.removeOneTimePrekey(writes.consumedOneTimePrekey);
    }
  }
  const [bob, store] = jsDevice(BOB, new TransactionalStore(IdentityKeyPair.generate().toRecordBytes()));
  const alice = inMemoryDevice(ALICE);
  alice.processBundle(BOB, bundle(bob, { oneTimeId: 9 }));
  receive(bob, ALICE, alice.encrypt(BOB, text('first')), 'first');
  receive(bob, ALICE, alice.encrypt(BOB, text('second')), 'second');

  assert.equal(store.commits.length, 2);
  const [first, second] = store.commits;
  assert.deepEqual(first.address, ALICE);
  assert.ok(first.session instanceof Uint8Array);
  assert.ok(first.newPeerIdentity instanceof Uint8Array);
  assert.equal(first.consumedOneTimePrekey, 9);
  assert.equal(second.newPeerIdentity, null);
  assert.equal(second.consumedOneTimePrekey, null);
});

test('a store that throws: STORE with what it threw as cause, and the commit can be retried', () => {
  const [bob, store] = jsDevice(BOB);
  const alice = inMemoryDevice(ALICE);
  alice.processBundle(BOB, bundle(bob));
  const message = alice.encrypt(BOB, text('hello'));

  const failure = new Error('QuotaExceededError');
  store.storeSession = () => {
    throw failure;
  };
  const decrypted = bob.decrypt(ALICE, message);
  const error = throwsCode(() => decrypted.commit(), 'STORE');
  assert.equal(error.cause, failure);
  assert.match(error.message, /storeSession threw: QuotaExceededError/);

  // The commit may be tried again once the store works.
  delete store.storeSession;
  decrypted.commit();
  assert.equal(bob.hasSession(ALICE), true);

  store.loadSession = () => {
    throw 'not even an Error';
  };
  const thrown = throwsCode(() => bob.encrypt(ALICE, text('x')), 'STORE');
  assert.equal(thrown.cause, 'not even an Error');
});

test('a store must answer synchronously with Uint8Array or null', () => {
  const [bob, store] = jsDevice(BOB);
  store.localIdentity = async () => store.identity;
  assert.match(throwsCode(() => bob.identityKey(), 'STORE').message, /Promise: store methods must be synchronous/);
  store.localIdentity = () => [1, 2, 3];
  assert.match(throwsCode(() => bob.identityKey(), 'STORE').message, /neither a Uint8Array nor null/);
  store.localIdentity = () => null;
  throwsCode(() => bob.identityKey(), 'NO_LOCAL_IDENTITY');
  store.localIdentity = () => new Uint8Array([0xff, 0xff, 0xff]);
  throwsCode(() => bob.identityKey(), 'CORRUPT_RECORD');
});

test('a store object that lacks methods is refused up front', () => {
  const error = throwsCode(() => SessionManager.withStore(BOB, { localIdentity() {} }), 'INVALID_ARGUMENT');
  assert.match(error.message, /peerIdentity, savePeerIdentity/);
  throwsCode(() => SessionManager.withStore(BOB, null), 'INVALID_ARGUMENT');
});

test('a store may call back into Sotto while it is called', () => {
  const [bob, store] = jsDevice(BOB);
  const alice = inMemoryDevice(ALICE);
  alice.processBundle(BOB, bundle(bob));
  let reentered = 0;
  const storeSession = store.storeSession.bind(store);
  store.storeSession = (address, record) => {
    storeSession(address, record);
    reentered += Number(bob.hasSession(address));
  };
  receive(bob, ALICE, alice.encrypt(BOB, text('hi')), 'hi');
  receive(alice, BOB, bob.encrypt(ALICE, text('back')), 'back');
  assert.equal(reentered, 2);
});
