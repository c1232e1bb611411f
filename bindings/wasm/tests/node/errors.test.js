// Every failure is a JS Error with a stable `code`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdentityKeyPair, InMemoryStore, PreKeyBundle, SessionManager, isSottoError } from 'sotto';
import { ALICE, BOB, CAROL, bundle, inMemoryDevice, receive, text, throwsCode } from '../helpers.js';

function session() {
  const alice = inMemoryDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  alice.processBundle(BOB, bundle(bob));
  receive(bob, ALICE, alice.encrypt(BOB, text('hi')), 'hi');
  receive(alice, BOB, bob.encrypt(ALICE, text('hi back')), 'hi back');
  return { alice, bob };
}

test('MALFORMED_MESSAGE for bytes that are no message', () => {
  const { bob } = session();
  throwsCode(() => bob.decrypt(ALICE, new Uint8Array([1, 2, 3, 4, 5])), 'MALFORMED_MESSAGE');
  throwsCode(() => bob.decrypt(ALICE, new Uint8Array(0)), 'MALFORMED_MESSAGE');
  throwsCode(() => bob.decrypt(ALICE, new Uint8Array(200 * 1024)), 'MALFORMED_MESSAGE');
});

test('AUTHENTICATION_FAILED for an altered message, and the session goes on', () => {
  const { alice, bob } = session();
  const message = alice.encrypt(BOB, text('the real one'));
  const altered = Uint8Array.from(message);
  altered[altered.length - 1] ^= 0x01;
  throwsCode(() => bob.decrypt(ALICE, altered), 'AUTHENTICATION_FAILED');
  receive(bob, ALICE, message, 'the real one');
});

test('DUPLICATE_MESSAGE carries the counter', () => {
  const { alice, bob } = session();
  const messages = [0, 1, 2].map((i) => alice.encrypt(BOB, text(`m${i}`)));
  messages.forEach((message, i) => receive(bob, ALICE, message, `m${i}`));
  assert.equal(throwsCode(() => bob.decrypt(ALICE, messages[2]), 'DUPLICATE_MESSAGE').counter, 2);
});

test('STALE_DECRYPTION for a commit after another write; the message decrypts again', () => {
  const { alice, bob } = session();
  const [one, two, three] = ['one', 'two', 'three'].map((word) => alice.encrypt(BOB, text(word)));

  const decrypted = bob.decrypt(ALICE, one);
  receive(alice, BOB, bob.encrypt(ALICE, text('in between')), 'in between');
  throwsCode(() => decrypted.commit(), 'STALE_DECRYPTION');
  throwsCode(() => decrypted.commit(), 'STALE_DECRYPTION');
  receive(bob, ALICE, one, 'one');

  // Two decryptions from one state: the second commit would undo the first.
  const first = bob.decrypt(ALICE, two);
  const second = bob.decrypt(ALICE, three);
  first.commit();
  throwsCode(() => second.commit(), 'STALE_DECRYPTION');
  receive(bob, ALICE, three, 'three');
  throwsCode(() => bob.decrypt(ALICE, two), 'DUPLICATE_MESSAGE');
});

test('NO_SESSION without a session', () => {
  const { alice } = session();
  const stranger = inMemoryDevice(CAROL);
  throwsCode(() => stranger.encrypt(ALICE, text('hi')), 'NO_SESSION');
  throwsCode(() => stranger.decrypt(ALICE, alice.encrypt(BOB, text('not for you'))), 'NO_SESSION');
  throwsCode(() => stranger.callKeys(ALICE, text('call')), 'NO_SESSION');
});

test('UNTRUSTED_IDENTITY names the address and the new key; trustIdentity accepts it', () => {
  const { alice } = session();
  const reinstalled = inMemoryDevice(BOB);
  const newBundle = bundle(reinstalled);
  const error = throwsCode(() => alice.processBundle(BOB, newBundle), 'UNTRUSTED_IDENTITY');
  assert.deepEqual(error.address, BOB);
  assert.deepEqual(error.identityKey, reinstalled.identityKey());
  assert.equal(alice.hasSession(BOB), true, 'the old session is untouched');

  alice.trustIdentity(error.address, error.identityKey, false);
  alice.processBundle(BOB, newBundle);
  receive(reinstalled, ALICE, alice.encrypt(BOB, text('welcome back')), 'welcome back');
});

test('INVALID_BUNDLE for a bad signature or bytes that are no bundle', () => {
  const bob = inMemoryDevice(BOB);
  const alice = inMemoryDevice(ALICE);
  const signed = bob.generateSignedPrekey(1);
  signed.signature[0] ^= 0x80;
  const forged = new PreKeyBundle(bob.identityKey(), signed, null).toBytes();
  throwsCode(() => alice.processBundle(BOB, forged), 'INVALID_BUNDLE');
  throwsCode(() => alice.processBundle(BOB, text('garbage')), 'INVALID_BUNDLE');
  throwsCode(() => PreKeyBundle.fromBytes(text('garbage')), 'INVALID_BUNDLE');
  assert.equal(alice.hasSession(BOB), false);
});

test('UNKNOWN_PREKEY for a one-time prekey already used', () => {
  const bob = inMemoryDevice(BOB);
  const shared = bundle(bob);
  const alice = inMemoryDevice(ALICE);
  const carol = inMemoryDevice(CAROL);
  alice.processBundle(BOB, shared);
  carol.processBundle(BOB, shared);
  receive(bob, ALICE, alice.encrypt(BOB, text('first')), 'first');
  throwsCode(() => bob.decrypt(CAROL, carol.encrypt(BOB, text('too late'))), 'UNKNOWN_PREKEY');
});

test('LIMIT_EXCEEDED for a plaintext over 128 KiB', () => {
  const { alice } = session();
  throwsCode(() => alice.encrypt(BOB, new Uint8Array(128 * 1024 + 1)), 'LIMIT_EXCEEDED');
});

test('INVALID_ARGUMENT for bad addresses, keys and records', () => {
  const { alice } = session();
  throwsCode(() => alice.encrypt({ account: '', device: 1 }, text('x')), 'INVALID_ARGUMENT');
  throwsCode(() => alice.encrypt({ account: 'x'.repeat(257), device: 1 }, text('x')), 'INVALID_ARGUMENT');
  throwsCode(() => alice.encrypt({ account: 'bob', device: -1 }, text('x')), 'INVALID_ARGUMENT');
  throwsCode(() => alice.encrypt({ account: 'bob', device: 1.5 }, text('x')), 'INVALID_ARGUMENT');
  throwsCode(() => alice.encrypt({ account: 42, device: 1 }, text('x')), 'INVALID_ARGUMENT');
  throwsCode(() => alice.encrypt('bob', text('x')), 'INVALID_ARGUMENT');
  throwsCode(() => alice.trustIdentity(BOB, new Uint8Array(31), true), 'INVALID_ARGUMENT');
  throwsCode(() => alice.callKeys(BOB, new Uint8Array(0)), 'INVALID_ARGUMENT');
  throwsCode(() => SessionManager.withInMemoryStore({ device: 1 }, new InMemoryStore(IdentityKeyPair.generate())), 'INVALID_ARGUMENT');
  const signed = inMemoryDevice(BOB).generateSignedPrekey(1);
  throwsCode(() => new PreKeyBundle(new Uint8Array(32).fill(1), { ...signed, signature: new Uint8Array(63) }), 'INVALID_ARGUMENT');
  throwsCode(() => new PreKeyBundle(new Uint8Array(32).fill(1), { id: 1 }), 'INVALID_ARGUMENT');
  throwsCode(() => IdentityKeyPair.fromRecordBytes(text('nope')), 'CORRUPT_RECORD');
});

test('isSottoError tells Sotto errors from others', () => {
  assert.equal(isSottoError(new Error('x')), false);
  assert.equal(isSottoError({ name: 'SottoError', code: 'STORE' }), false);
  try {
    inMemoryDevice(ALICE).encrypt(BOB, text('x'));
    assert.fail('no error');
  } catch (error) {
    assert.equal(isSottoError(error), true);
    assert.ok(error.stack.length > 0);
  }
});
