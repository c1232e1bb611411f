// Every method that writes the store resolves only once the store's
// writes are durable (their Promises resolved): an envelope is never handed
// out before the session state that used its message key is on disk.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionManager } from 'sotto';
import { addressKey } from '../map-store.js';
import {
  ALICE, BOB, CAROL, GatedStore, SlowStore, bundle, inMemoryDevice, jsDevice, newStore, receive, rejectsCode,
  shuffled, sleep, string, text,
} from '../helpers.js';

/** Whether `promise` settled within a few turns of the event loop. */
async function settled(promise) {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await sleep(20);
  return done;
}

test('a pending encrypt does not resolve before its store write resolved', async () => {
  const [alice, store] = jsDevice(ALICE, newStore(GatedStore));
  const bob = inMemoryDevice(BOB);
  const opening = alice.processBundle(BOB, await bundle(bob));
  assert.equal(await settled(opening), false, 'processBundle waits for its commit');
  store.openAll();
  await opening;

  const pending = alice.encrypt(BOB, text('wait for it'));
  assert.equal(store.gates.length, 1, 'the write was made at once');
  assert.equal(store.generation(BOB), 2n, 'and is visible to reads at once');
  assert.equal(await settled(pending), false, 'no envelope before the write is durable');
  store.gates.shift().resolve();
  await receive(bob, ALICE, await pending, 'wait for it');

  // Overlapping encryptions: each resolves once its own write is durable,
  // whatever the order the writes complete in.
  const three = [0, 1, 2].map((i) => alice.encrypt(BOB, text(`m${i}`)));
  const gates = store.gates.splice(0);
  assert.equal(gates.length, 3);
  gates[2].resolve();
  assert.equal(await settled(three[2]), true);
  assert.equal(await settled(three[0]), false);
  assert.equal(await settled(three[1]), false);
  gates[0].resolve();
  gates[1].resolve();
  const messages = await Promise.all(three);
  for (const i of [1, 2, 0]) await receive(bob, ALICE, messages[i], `m${i}`);
});

test('every method that writes waits for its writes', async () => {
  const [bob, store] = jsDevice(BOB, newStore(GatedStore));
  const alice = inMemoryDevice(ALICE);
  const waits = async (promise, what) => {
    assert.equal(await settled(promise), false, `${what} waits for its writes`);
    store.openAll();
    return promise;
  };
  const signed = await waits(bob.generateSignedPrekey(1), 'generateSignedPrekey');
  const oneTime = await waits(bob.generateOneTimePrekeys(10, 3), 'generateOneTimePrekeys');
  assert.equal(oneTime.length, 3);
  const kem = await waits(bob.generateKemPrekeys(20, 2), 'generateKemPrekeys');
  assert.equal(kem.length, 2);
  await waits(bob.generateLastResortKemPrekey(30), 'generateLastResortKemPrekey');
  const { PreKeyBundle } = await import('sotto');
  await alice.processBundle(BOB, new PreKeyBundle(bob.identityKey(), signed, kem[0], oneTime[0]).toBytes());

  const first = bob.decrypt(ALICE, await alice.encrypt(BOB, text('one')));
  await waits(first.commit(), 'DecryptedMessage.commit');
  const second = await alice.encrypt(BOB, text('two'));
  assert.equal(string(await waits(bob.decryptAndCommit(ALICE, second), 'decryptAndCommit')), 'two');
  await waits(bob.trustIdentity(ALICE, alice.identityKey(), true), 'trustIdentity');
  const batch = bob.batch();
  batch.decrypt(ALICE, await alice.encrypt(BOB, text('three')));
  await waits(batch.commit(), 'DecryptBatch.commit');
  // Reads and the calls' signalling write nothing: they stay synchronous.
  assert.equal(bob.hasSession(ALICE), true);
});

test('a write that fails to persist rejects with STORE and its cause', async () => {
  const [alice, store] = jsDevice(ALICE, newStore(GatedStore));
  const bob = inMemoryDevice(BOB);
  const opening = alice.processBundle(BOB, await bundle(bob));
  store.openAll();
  await opening;

  const pending = alice.encrypt(BOB, text('never handed out'));
  const failure = new Error('the disk is gone');
  store.gates.shift().reject(failure);
  const error = await rejectsCode(() => pending, 'STORE');
  assert.equal(error.cause, failure);
  assert.match(error.message, /reload the store/);

  // Errors of the call itself are reported as they are, after its writes
  // settled.
  await rejectsCode(() => alice.encrypt(CAROL, text('x')), 'NO_SESSION');
});

test('500 overlapping encrypts over a store whose writes persist after a random delay', async () => {
  const [alice, store] = jsDevice(ALICE, newStore(SlowStore));
  const bob = inMemoryDevice(BOB);
  await alice.processBundle(BOB, await bundle(bob));
  const before = store.persisted;

  const count = 500;
  const pending = Array.from({ length: count }, (_, i) => alice.encrypt(BOB, text(`message ${i}`)));
  const envelopes = await Promise.all(pending);
  assert.equal(store.persisted - before, count, 'every envelope waited for its own write');
  assert.equal(store.generation(BOB), BigInt(1 + count), 'one compare-and-swap per encryption');
  assert.equal(new Set(envelopes.map((envelope) => envelope.join())).size, count);

  // Delivered in a random order, each decrypts exactly once: no message key
  // was handed out twice.
  for (const i of shuffled(count)) {
    assert.equal(string(await bob.decryptAndCommit(ALICE, envelopes[i])), `message ${i}`);
  }
  for (const i of shuffled(count).slice(0, 50)) {
    await rejectsCode(() => bob.decryptAndCommit(ALICE, envelopes[i]), 'DUPLICATE_MESSAGE');
  }
});

test('overlapping encrypts to two peers, and replies, over a slow store', async () => {
  const [alice, store] = jsDevice(ALICE, newStore(SlowStore));
  const bob = inMemoryDevice(BOB);
  const carol = inMemoryDevice(CAROL);
  await Promise.all([
    bundle(bob).then((bytes) => alice.processBundle(BOB, bytes)),
    bundle(carol).then((bytes) => alice.processBundle(CAROL, bytes)),
  ]);
  const sent = await Promise.all(
    Array.from({ length: 100 }, (_, i) => {
      const to = i % 2 ? BOB : CAROL;
      return alice.encrypt(to, text(`${addressKey(to)} ${i}`)).then((wire) => [to, i, wire]);
    }),
  );
  for (const index of shuffled(sent.length)) {
    const [to, i, wire] = sent[index];
    const peer = to === BOB ? bob : carol;
    assert.equal(string(await peer.decryptAndCommit(ALICE, wire)), `${addressKey(to)} ${i}`);
  }
  // Replies turn the ratchets while more encryptions overlap.
  const replies = await Promise.all([bob.encrypt(ALICE, text('from bob')), carol.encrypt(ALICE, text('from carol'))]);
  const [, more] = await Promise.all([
    Promise.all([alice.decryptAndCommit(BOB, replies[0]), alice.decryptAndCommit(CAROL, replies[1])]),
    Promise.all([alice.encrypt(BOB, text('after')), alice.encrypt(BOB, text('after 2'))]),
  ]);
  assert.equal(string(await bob.decryptAndCommit(ALICE, more[1])), 'after 2');
  assert.equal(string(await bob.decryptAndCommit(ALICE, more[0])), 'after');

  // What is on "disk" (the store's state) continues the conversation.
  alice.free();
  const restarted = SessionManager.withStore(ALICE, store.copy());
  await receive(bob, ALICE, await restarted.encrypt(BOB, text('restarted')), 'restarted');
});
