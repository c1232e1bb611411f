// 1:1 calls: an offer and an answer, each with a fresh ephemeral key,
// travel inside the DM session and agree on the call's SFrame keys. A side
// that restarts offers again and gets new keys; replayed offers and wrong
// answers are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CipherSuite, SessionManager } from 'sotto';
import {
  ALICE, BOB, CAROL, bundle, deliver, inMemoryDevice, jsDevice, receive, session, string, text, throwsCode,
} from '../helpers.js';

const SUITES = Object.values(CipherSuite).filter((value) => typeof value === 'number');

/** Alice calls Bob: the offer and the answer go through their session.
 *  Returns both sides' OneToOneCall. */
async function agree(alice, bob, callId = text('call-0001'), suite = CipherSuite.Aes128GcmSha256_128) {
  const { call: calling, offer } = alice.offerCall(BOB, callId, suite);
  assert.deepEqual(calling.callId, callId);
  const ringing = bob.parseCallOffer(ALICE, await deliver([alice, ALICE], [bob, BOB], offer));
  assert.deepEqual(ringing.callId, callId);
  assert.equal(ringing.suite, suite);
  const { call: onBob, answer } = bob.acceptCall(ALICE, ringing);
  const onAlice = calling.receiveAnswer(await deliver([bob, BOB], [alice, ALICE], answer));
  return { onAlice, onBob };
}

test('a 1:1 call agrees on keys, and frames go both ways in every suite', async () => {
  const { alice, bob } = await session();
  assert.equal(SUITES.length, 9);
  for (const suite of SUITES) {
    const { onAlice, onBob } = await agree(alice, bob, text(`call-${suite}`), suite);
    assert.equal(onAlice.suite, suite);
    assert.equal(onBob.suite, suite);
    assert.equal(onAlice.sendKid, 0n, 'the caller sends under KID 0');
    assert.equal(onBob.sendKid, 1n, 'the callee sends under KID 1');
    assert.equal(onAlice.receiveKid, onBob.sendKid);
    assert.equal(onBob.receiveKid, onAlice.sendKid);
    for (let i = 0; i < 5; i++) {
      const frame = onAlice.encrypt(text('rtp'), text(`opus frame ${i}`));
      assert.equal(string(onBob.decrypt(text('rtp'), frame)), `opus frame ${i}`);
      const back = onBob.encrypt(new Uint8Array(0), text(`video frame ${i}`));
      assert.equal(string(onAlice.decrypt(new Uint8Array(0), back)), `video frame ${i}`);
    }
  }
});

test('frames out of order decrypt; replays and tampering are refused', async () => {
  const { alice, bob } = await session();
  const { onAlice, onBob } = await agree(alice, bob);
  const frames = [0, 1, 2, 3].map((i) => onAlice.encrypt(text('m'), text(`f${i}`)));
  for (const i of [2, 0, 3, 1]) assert.equal(string(onBob.decrypt(text('m'), frames[i])), `f${i}`);
  throwsCode(() => onBob.decrypt(text('m'), frames[1]), 'FRAME_REPLAYED');
  const next = onAlice.encrypt(text('m'), text('f4'));
  throwsCode(() => onBob.decrypt(text('other metadata'), next), 'AUTHENTICATION_FAILED');
  assert.equal(string(onBob.decrypt(text('m'), next)), 'f4', 'a refused frame changed nothing');
  throwsCode(() => onBob.decrypt(text('m'), new Uint8Array([0x08])), 'FRAME_REJECTED');
});

test('a restarted caller offers again: new keys, and frames under the old keys are refused', async () => {
  const [alice, aliceStore] = jsDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  await alice.processBundle(BOB, await bundle(bob));
  await receive(bob, ALICE, await alice.encrypt(BOB, text('hi')), 'hi');

  const callId = text('call-restart');
  const before = await agree(alice, bob, callId);
  const oldFrame = before.onAlice.encrypt(text('rtp'), text('frame 0'));
  const lateOldFrame = before.onAlice.encrypt(text('rtp'), text('sent just before the crash'));
  assert.equal(string(before.onBob.decrypt(text('rtp'), oldFrame)), 'frame 0');

  // Alice's app restarts: a new manager over what her store holds. Nothing
  // of the call was stored; she offers again for the same call.
  alice.free();
  const restarted = SessionManager.withStore(ALICE, aliceStore.copy());
  const after = await agree(restarted, bob, callId);
  const newFrame = after.onAlice.encrypt(text('rtp'), text('frame 0'));
  assert.equal(string(after.onBob.decrypt(text('rtp'), newFrame)), 'frame 0');
  // The same KID, counter and plaintext as the first frame before the
  // restart, under another key: no key and nonce are used twice.
  assert.equal(newFrame[0], oldFrame[0], 'one header byte: KID 0, counter 0');
  assert.notDeepEqual(newFrame.slice(1), oldFrame.slice(1));
  assert.notDeepEqual(after.onAlice.intoKeys().sendBaseKey, before.onAlice.intoKeys().sendBaseKey);
  throwsCode(() => after.onBob.decrypt(text('rtp'), lateOldFrame), 'AUTHENTICATION_FAILED');
  // (The old frame with counter 0 is refused before its key is tried: the
  // new agreement's counter 0 was received.)
  throwsCode(() => after.onBob.decrypt(text('rtp'), oldFrame), 'FRAME_REPLAYED');
});

test('a replayed offer is refused', async () => {
  const { alice, bob } = await session();
  const { offer } = alice.offerCall(BOB, text('call-replay'), CipherSuite.Aes128GcmSha256_128);
  const plaintext = await deliver([alice, ALICE], [bob, BOB], offer);
  const ringing = bob.parseCallOffer(ALICE, plaintext);
  bob.acceptCall(ALICE, ringing);
  const again = throwsCode(() => bob.acceptCall(ALICE, ringing), 'CALL_SIGNAL_REJECTED');
  assert.match(again.message, /already accepted/);
  // The same offer again (a replay by the service, as its plaintext).
  throwsCode(() => bob.acceptCall(ALICE, bob.parseCallOffer(ALICE, plaintext)), 'CALL_SIGNAL_REJECTED');
  // A new offer for the same call is accepted.
  const fresh = alice.offerCall(BOB, text('call-replay'), CipherSuite.Aes128GcmSha256_128).offer;
  bob.acceptCall(ALICE, bob.parseCallOffer(ALICE, await deliver([alice, ALICE], [bob, BOB], fresh)));
});

test('a wrong answer is refused and the call still waits for its own', async () => {
  const { alice, bob } = await session();
  const suite = CipherSuite.ChaCha20Poly1305Sha256_128;
  const first = alice.offerCall(BOB, text('call-1'), suite);
  const second = alice.offerCall(BOB, text('call-1'), suite);
  const answerTo = async ({ offer }) =>
    bob.acceptCall(ALICE, bob.parseCallOffer(ALICE, await deliver([alice, ALICE], [bob, BOB], offer)));
  const toFirst = await answerTo(first);
  const toSecond = await answerTo(second);

  // The answer to the other offer (same call id), garbage, an offer.
  const mismatch = throwsCode(() => second.call.receiveAnswer(toFirst.answer), 'CALL_SIGNAL_REJECTED');
  assert.match(mismatch.message, /does not answer this offer/);
  throwsCode(() => second.call.receiveAnswer(text('garbage')), 'MALFORMED_MESSAGE');
  throwsCode(() => second.call.receiveAnswer(second.offer), 'MALFORMED_MESSAGE');
  const onAlice = second.call.receiveAnswer(toSecond.answer);
  throwsCode(() => second.call.receiveAnswer(toSecond.answer), 'ALREADY_USED');
  const frame = onAlice.encrypt(new Uint8Array(0), text('hello'));
  assert.equal(string(toSecond.call.decrypt(new Uint8Array(0), frame)), 'hello');
  throwsCode(() => toFirst.call.decrypt(new Uint8Array(0), frame), 'AUTHENTICATION_FAILED');
});

test('an offer made for another device is refused', async () => {
  const { alice, bob } = await session();
  const carol = inMemoryDevice(CAROL);
  await carol.processBundle(ALICE, await bundle(alice, { oneTimeId: 300 }));
  await receive(alice, CAROL, await carol.encrypt(ALICE, text('hi alice')), 'hi alice');
  await receive(carol, ALICE, await alice.encrypt(CAROL, text('hi carol')), 'hi carol');
  const { offer } = alice.offerCall(BOB, text('call-bob'), CipherSuite.Aes128GcmSha256_128);
  // Carol gets (or is forwarded) the offer Alice made for Bob.
  const error = throwsCode(() => carol.parseCallOffer(ALICE, offer), 'CALL_SIGNAL_REJECTED');
  assert.match(error.message, /other identity keys/);
  throwsCode(() => bob.parseCallOffer(ALICE, text('garbage')), 'MALFORMED_MESSAGE');
  throwsCode(() => bob.parseCallOffer(ALICE, new Uint8Array(600)), 'MALFORMED_MESSAGE');
});

test('intoKeys hands the keys out once, for a media stack with its own SFrame', async () => {
  const { alice, bob } = await session();
  const { onAlice, onBob } = await agree(alice, bob);
  const mine = onAlice.intoKeys();
  const theirs = onBob.intoKeys();
  assert.equal(mine.sendKid, theirs.receiveKid);
  assert.deepEqual(mine.sendBaseKey, theirs.receiveBaseKey);
  assert.deepEqual(mine.receiveBaseKey, theirs.sendBaseKey);
  assert.notDeepEqual(mine.sendBaseKey, mine.receiveBaseKey);
  assert.equal(mine.sendBaseKey.length, 32);
  throwsCode(() => onAlice.intoKeys(), 'ALREADY_USED');
  throwsCode(() => onAlice.encrypt(new Uint8Array(0), text('x')), 'ALREADY_USED');
  assert.equal(onAlice.sendKid, 0n, 'the public fields stay readable');
});
