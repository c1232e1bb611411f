// A batch: many queued messages, from several addresses, decrypted one by
// one and committed in one store transaction.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MapStore } from '../map-store.js';
import {
  ALICE, BOB, CAROL, bundle, inMemoryDevice, jsDevice, newStore, receive, rejectsCode, shuffled, string, text,
  throwsCode,
} from '../helpers.js';

class CountingStore extends MapStore {
  commits = [];
  commit(writes) {
    this.commits.push(writes);
    return super.commit(writes);
  }
}

test('a batch decrypts queued messages from several addresses and commits them at once', async () => {
  const [bob, store] = jsDevice(BOB, newStore(CountingStore));
  const alice = inMemoryDevice(ALICE);
  const carol = inMemoryDevice(CAROL);
  await alice.processBundle(BOB, await bundle(bob, { oneTimeId: 1 }));
  await receive(bob, ALICE, await alice.encrypt(BOB, text('hi')), 'hi');
  await carol.processBundle(BOB, await bundle(bob, { oneTimeId: 2 }));
  const committed = store.commits.length;

  // Queued while Bob was offline: Alice's in a session Bob has, Carol's
  // starting a new one (her first messages all carry X3DH).
  const queued = [];
  for (let i = 0; i < 30; i++) queued.push([ALICE, i, await alice.encrypt(BOB, text(`alice ${i}`))]);
  for (let i = 0; i < 10; i++) queued.push([CAROL, i, await carol.encrypt(BOB, text(`carol ${i}`))]);
  const order = [...queued.keys()];
  // Carol's first message decrypts first among hers only by chance: any
  // order of one address's messages works.
  const batch = bob.batch();
  for (const index of shuffled(order.length)) {
    const [from, i, wire] = queued[index];
    assert.equal(string(batch.decrypt(from, wire)), `${from.account} ${i}`);
  }
  assert.equal(batch.length, 40);
  assert.equal(bob.hasSession(CAROL), false, 'nothing is stored before commit');
  assert.ok(store.oneTimePrekey(2), "Carol's one-time prekey is still there");

  // A message that fails changes nothing in the batch.
  throwsCode(() => batch.decrypt(ALICE, queued[0][2]), 'DUPLICATE_MESSAGE');
  throwsCode(() => batch.decrypt(ALICE, text('garbage')), 'MALFORMED_MESSAGE');
  assert.equal(batch.length, 40);

  await batch.commit();
  assert.equal(store.commits.length, committed + 1, 'one store transaction');
  assert.equal(store.commits.at(-1).length, 2, 'one write per address');
  assert.equal(bob.hasSession(CAROL), true);
  assert.equal(store.oneTimePrekey(2), undefined, 'consumed by the commit');
  for (const [from, , wire] of queued) throwsCode(() => bob.decrypt(from, wire), 'DUPLICATE_MESSAGE');

  await rejectsCode(() => batch.commit(), 'ALREADY_COMMITTED');
  throwsCode(() => batch.decrypt(ALICE, queued[0][2]), 'ALREADY_COMMITTED');
  await receive(alice, BOB, await bob.encrypt(ALICE, text('caught up')), 'caught up');
  await receive(carol, BOB, await bob.encrypt(CAROL, text('hello carol')), 'hello carol');
});

test('a batch whose address was written meanwhile is stale: nothing is stored', async () => {
  const [bob, store] = jsDevice(BOB);
  const alice = inMemoryDevice(ALICE);
  await alice.processBundle(BOB, await bundle(bob));
  await receive(bob, ALICE, await alice.encrypt(BOB, text('hi')), 'hi');
  const queued = await Promise.all([0, 1, 2].map((i) => alice.encrypt(BOB, text(`m${i}`))));

  const batch = bob.batch();
  for (const wire of queued) batch.decrypt(ALICE, wire);
  await receive(alice, BOB, await bob.encrypt(ALICE, text('written meanwhile')), 'written meanwhile');
  const generation = store.generation(ALICE);
  await rejectsCode(() => batch.commit(), 'STALE_DECRYPTION');
  assert.equal(store.generation(ALICE), generation, 'nothing was stored');
  const spent = throwsCode(() => batch.decrypt(ALICE, queued[0]), 'ALREADY_COMMITTED');
  assert.match(spent.message, /commit failed/);

  const again = bob.batch();
  assert.deepEqual(queued.map((wire) => string(again.decrypt(ALICE, wire))), ['m0', 'm1', 'm2']);
  await again.commit();
});

test('an empty batch commits nothing', async () => {
  const [bob, store] = jsDevice(BOB);
  const batch = bob.batch();
  assert.equal(batch.length, 0);
  await batch.commit();
  assert.equal(store.log.length, 0);
});
