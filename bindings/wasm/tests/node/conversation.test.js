// A full two-party conversation: session setup from a bundle, replies that
// turn the ratchet, out-of-order delivery within and across chains,
// redelivery before and after commit, safety numbers, trust decisions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SafetyNumber } from 'sotto';
import {
  ALICE, BOB, SlowStore, bundle, inMemoryDevice, jsDevice, newStore, receive, rejectsCode, string, text,
  throwsCode,
} from '../helpers.js';

for (const [kind, device] of [
  ['the in-memory store', (address) => inMemoryDevice(address)],
  ['a JS store', (address) => jsDevice(address)[0]],
  ['a JS store whose writes persist later', (address) => jsDevice(address, newStore(SlowStore))[0]],
]) {
  test(`a conversation with out-of-order delivery over ${kind}`, async () => {
    const alice = device(ALICE);
    const bob = device(BOB);
    assert.deepEqual(alice.address, ALICE);
    assert.equal(alice.hasSession(BOB), false);

    await alice.processBundle(BOB, await bundle(bob));
    assert.equal(alice.hasSession(BOB), true);

    // Alice's first five messages, all X3DH-carrying, arrive shuffled.
    const first = await Promise.all([0, 1, 2, 3, 4].map((i) => alice.encrypt(BOB, text(`a${i}`))));
    const opening = bob.decrypt(ALICE, first[2]);
    assert.equal(opening.startedSession, true);
    assert.equal(string(opening.plaintext), 'a2');
    await opening.commit();
    for (const i of [0, 4, 1, 3]) {
      assert.equal((await receive(bob, ALICE, first[i], `a${i}`)).startedSession, false);
    }

    // Bob answers (a DH ratchet turn); Alice sends a new chain, and one
    // message of her previous chain arrives after the new one.
    const reply = await bob.encrypt(ALICE, text('b0'));
    const late = await alice.encrypt(BOB, text('a-late-but-old-chain'));
    await receive(alice, BOB, reply, 'b0');
    const fresh = await Promise.all([0, 1, 2].map((i) => alice.encrypt(BOB, text(`c${i}`))));
    await receive(bob, ALICE, fresh[1], 'c1');
    await receive(bob, ALICE, late, 'a-late-but-old-chain');
    await receive(bob, ALICE, fresh[2], 'c2');
    await receive(bob, ALICE, fresh[0], 'c0');

    // Many turns back and forth.
    for (let round = 0; round < 10; round++) {
      await receive(bob, ALICE, await alice.encrypt(BOB, text(`ping ${round}`)), `ping ${round}`);
      await receive(alice, BOB, await bob.encrypt(ALICE, text(`pong ${round}`)), `pong ${round}`);
    }

    // Redelivered after commit: a duplicate, which the app acknowledges.
    const duplicate = throwsCode(() => bob.decrypt(ALICE, fresh[1]), 'DUPLICATE_MESSAGE');
    assert.equal(duplicate.counter, 1);
  });
}

test('without commit nothing is stored: the message decrypts again', async () => {
  const alice = inMemoryDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  await alice.processBundle(BOB, await bundle(bob));
  const message = await alice.encrypt(BOB, text('once'));

  const uncommitted = bob.decrypt(ALICE, message);
  assert.equal(string(uncommitted.plaintext), 'once');
  assert.equal(bob.hasSession(ALICE), false, 'a first message stores no session before commit');
  uncommitted.free();

  const again = bob.decrypt(ALICE, message);
  await again.commit();
  assert.equal(bob.hasSession(ALICE), true);
  await rejectsCode(() => again.commit(), 'ALREADY_COMMITTED');
  throwsCode(() => bob.decrypt(ALICE, message), 'DUPLICATE_MESSAGE');
});

test('decryptAndCommit decrypts and stores at once', async () => {
  const alice = inMemoryDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  await alice.processBundle(BOB, await bundle(bob, { oneTime: false }));
  const message = await alice.encrypt(BOB, text('no one-time prekey'));
  assert.equal(string(await bob.decryptAndCommit(ALICE, message)), 'no one-time prekey');
  await rejectsCode(() => bob.decryptAndCommit(ALICE, message), 'DUPLICATE_MESSAGE');
});

test('one-time prekeys are consumed by the commit of the first message', async () => {
  const [alice] = jsDevice(ALICE);
  const [bob, bobStore] = jsDevice(BOB);
  await alice.processBundle(BOB, await bundle(bob, { oneTimeId: 42 }));
  assert.ok(bobStore.oneTimePrekey(42));
  const decrypted = bob.decrypt(ALICE, await alice.encrypt(BOB, text('hi')));
  assert.ok(bobStore.oneTimePrekey(42), 'still there before commit');
  await decrypted.commit();
  assert.equal(bobStore.oneTimePrekey(42), undefined);
});

test('both sides compute the same safety number', async () => {
  const alice = inMemoryDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  assert.equal(alice.safetyNumber(BOB), undefined, 'no identity recorded yet');
  await alice.processBundle(BOB, await bundle(bob));
  await receive(bob, ALICE, await alice.encrypt(BOB, text('hi')), 'hi');

  const onAlice = alice.safetyNumber(BOB);
  const onBob = bob.safetyNumber(ALICE);
  assert.match(onAlice.displayable(), /^\d{60}$/);
  assert.equal(onAlice.displayable(), onBob.displayable());
  assert.match(onAlice.grouped(), /^(\d{5} ){11}\d{5}$/);
  assert.equal(onAlice.scannable().length, 65);
  assert.equal(onAlice.matchesScanned(onBob.scannable()), true);

  const computed = new SafetyNumber(ALICE, alice.identityKey(), BOB, bob.identityKey());
  assert.equal(computed.displayable(), onAlice.displayable());
  const other = new SafetyNumber(ALICE, alice.identityKey(), BOB, inMemoryDevice(BOB).identityKey());
  assert.equal(onAlice.matchesScanned(other.scannable()), false);
  throwsCode(() => onAlice.matchesScanned(new Uint8Array(3)), 'INVALID_ARGUMENT');

  await alice.trustIdentity(BOB, bob.identityKey(), true);
  assert.equal(alice.safetyNumber(BOB).displayable(), onAlice.displayable());
  assert.equal(alice.hasSession(BOB), true, 'trusting the same key keeps its session');
});

test('trustIdentity drops the sessions with other keys and makes pending decryptions stale', async () => {
  const alice = inMemoryDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  await alice.processBundle(BOB, await bundle(bob));
  await receive(bob, ALICE, await alice.encrypt(BOB, text('hi')), 'hi');
  const pending = alice.decrypt(BOB, await bob.encrypt(ALICE, text('not yet committed')));

  // Bob reinstalls: a new identity key.
  const reinstalled = inMemoryDevice(BOB);
  await alice.trustIdentity(BOB, reinstalled.identityKey(), false);
  assert.equal(alice.hasSession(BOB), false, 'the session with the old key is gone');
  await rejectsCode(() => pending.commit(), 'STALE_DECRYPTION');
  await rejectsCode(() => alice.encrypt(BOB, text('to the old device')), 'NO_SESSION');

  await alice.processBundle(BOB, await bundle(reinstalled));
  await receive(reinstalled, ALICE, await alice.encrypt(BOB, text('welcome back')), 'welcome back');
});
