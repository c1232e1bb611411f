// Call keys from a DM session, and SFrame frames.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CipherSuite, SframeReceiver, SframeSender } from 'sotto';
import { ALICE, BOB, bundle, inMemoryDevice, receive, string, text, throwsCode } from '../helpers.js';

function call(callId = text('call-0001')) {
  const alice = inMemoryDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  alice.processBundle(BOB, bundle(bob));
  receive(bob, ALICE, alice.encrypt(BOB, text('offer')), 'offer');
  receive(alice, BOB, bob.encrypt(ALICE, text('answer')), 'answer');
  return {
    alice,
    bob,
    onAlice: alice.callKeys(BOB, callId),
    onBob: bob.callKeys(ALICE, callId),
  };
}

test('1:1 call keys agree, and frames go both ways in every suite', () => {
  const { alice, bob, onAlice, onBob } = call();
  assert.equal(onAlice.sendKid, onBob.receiveKid);
  assert.equal(onAlice.receiveKid, onBob.sendKid);
  assert.equal(typeof onAlice.sendKid, 'bigint');
  assert.deepEqual(onAlice.sendBaseKey(), onBob.receiveBaseKey());
  assert.notDeepEqual(onAlice.sendBaseKey(), onAlice.receiveBaseKey());

  const suites = Object.values(CipherSuite).filter((value) => typeof value === 'number');
  assert.equal(suites.length, 9);
  // One sender per derivation: a second from the same keys is refused.
  onAlice.sender(suites[0]);
  throwsCode(() => onAlice.sender(suites[0]), 'INVALID_ARGUMENT');
  for (const suite of suites) {
    // Derived afresh per suite (the suite is bound into SFrame's keys).
    const keysOfAlice = alice.callKeys(BOB, text('call-0001'));
    const keysOfBob = bob.callKeys(ALICE, text('call-0001'));
    const aliceSends = keysOfAlice.sender(suite);
    const bobReceives = keysOfBob.receiver(suite);
    const bobSends = keysOfBob.sender(suite);
    const aliceReceives = keysOfAlice.receiver(suite);
    for (let i = 0; i < 5; i++) {
      const frame = aliceSends.encrypt(text('rtp'), text(`opus frame ${i}`));
      assert.equal(string(bobReceives.decrypt(text('rtp'), frame)), `opus frame ${i}`);
      const back = bobSends.encrypt(new Uint8Array(0), text(`video frame ${i}`));
      assert.equal(string(aliceReceives.decrypt(new Uint8Array(0), back)), `video frame ${i}`);
    }
  }
});

test('a different call id gives different keys', () => {
  const alice = inMemoryDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  alice.processBundle(BOB, bundle(bob));
  receive(bob, ALICE, alice.encrypt(BOB, text('offer')), 'offer');
  const one = alice.callKeys(BOB, text('call-1'));
  const two = alice.callKeys(BOB, text('call-2'));
  assert.notDeepEqual(one.sendBaseKey(), two.sendBaseKey());
});

test('frames out of order decrypt; replays, tampering and unknown keys are refused', () => {
  const { onAlice, onBob } = call();
  const sender = onAlice.sender(CipherSuite.Aes128GcmSha256_128);
  const receiver = onBob.receiver(CipherSuite.Aes128GcmSha256_128);
  const frames = [0, 1, 2, 3].map((i) => sender.encrypt(text('m'), text(`f${i}`)));
  for (const i of [2, 0, 3, 1]) assert.equal(string(receiver.decrypt(text('m'), frames[i])), `f${i}`);

  throwsCode(() => receiver.decrypt(text('m'), frames[1]), 'FRAME_REPLAYED');
  const next = sender.encrypt(text('m'), text('f4'));
  throwsCode(() => receiver.decrypt(text('other metadata'), next), 'AUTHENTICATION_FAILED');
  const altered = Uint8Array.from(next);
  altered[altered.length - 1] ^= 1;
  throwsCode(() => receiver.decrypt(text('m'), altered), 'AUTHENTICATION_FAILED');
  assert.equal(string(receiver.decrypt(text('m'), next)), 'f4', 'a refused frame changed nothing');
  throwsCode(() => receiver.decrypt(text('m'), new Uint8Array([0x08])), 'FRAME_REJECTED');
  throwsCode(() => onBob.receiver(0x1234), 'INVALID_ARGUMENT');
});

test('SFrame with keys from elsewhere: kids as bigint or number', () => {
  const key = new Uint8Array(16).fill(0x2a);
  const suite = CipherSuite.ChaCha20Poly1305Sha256_128;
  assert.equal(suite, 0xf001);
  const sender = new SframeSender(suite, 17n, key);
  assert.equal(sender.kid, 17n);
  const receiver = new SframeReceiver();
  assert.equal(receiver.hasKey(17), false);
  throwsCode(() => receiver.decrypt(new Uint8Array(0), sender.encrypt(new Uint8Array(0), text('x'))), 'FRAME_REJECTED');
  receiver.addKey(suite, 17, key);
  assert.equal(receiver.hasKey(17n), true);
  assert.equal(string(receiver.decrypt(new Uint8Array(0), sender.encrypt(new Uint8Array(0), text('y')))), 'y');

  const big = 2n ** 63n + 5n;
  const wide = new SframeSender(suite, big, key);
  receiver.addKey(suite, big, key);
  assert.equal(string(receiver.decrypt(text('a'), wide.encrypt(text('a'), text('z')))), 'z');
  assert.equal(receiver.removeKey(big), true);
  assert.equal(receiver.removeKey(big), false);

  throwsCode(() => new SframeSender(suite, -1, key), 'INVALID_ARGUMENT');
  throwsCode(() => new SframeSender(suite, 2n ** 64n, key), 'INVALID_ARGUMENT');
  throwsCode(() => new SframeSender(suite, 1.5, key), 'INVALID_ARGUMENT');
  throwsCode(() => new SframeSender(suite, 1, new Uint8Array(0)), 'INVALID_ARGUMENT');
  throwsCode(() => new SframeSender(0x9999, 1, key), 'INVALID_ARGUMENT');
});
