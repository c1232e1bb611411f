// SFrame frames with keys from elsewhere (a group call, a media stack's own
// signalling); 1:1 calls make their own keys (call.test.js).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CipherSuite, SframeReceiver, SframeSender } from 'sotto';
import { string, text, throwsCode } from '../helpers.js';

test('frames out of order decrypt; replays, tampering and unknown keys are refused', () => {
  const key = new Uint8Array(32).fill(7);
  const sender = new SframeSender(CipherSuite.Aes128GcmSha256_128, 3n, key);
  const receiver = new SframeReceiver();
  receiver.addKey(CipherSuite.Aes128GcmSha256_128, 3n, key);
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
  throwsCode(() => receiver.addKey(0x1234, 1n, key), 'INVALID_ARGUMENT');
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
