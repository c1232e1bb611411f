// Shared by the node tests: two devices that talk, and error assertions.
import assert from 'node:assert/strict';
import { IdentityKeyPair, InMemoryStore, PreKeyBundle, SessionManager, isSottoError } from 'sotto';
import { MapStore } from './map-store.js';

export const ALICE = Object.freeze({ account: 'alice', device: 1 });
export const BOB = Object.freeze({ account: 'bob', device: 7 });
export const CAROL = Object.freeze({ account: 'carol', device: 2 });

export const text = (string) => new TextEncoder().encode(string);
export const string = (bytes) => new TextDecoder().decode(bytes);

/** A device over the SDK's in-memory store. */
export function inMemoryDevice(address) {
  return SessionManager.withInMemoryStore(address, new InMemoryStore(IdentityKeyPair.generate()));
}

/** A device over a store implemented in JS; returns [manager, store]. */
export function jsDevice(address, store = new MapStore(IdentityKeyPair.generate().toRecordBytes())) {
  return [SessionManager.withStore(address, store), store];
}

/** `owner`'s bundle with signed prekey 1 and one-time prekey `oneTimeId`. */
export function bundle(owner, { oneTimeId = 100, oneTime = true } = {}) {
  const signed = owner.generateSignedPrekey(1);
  const [prekey] = owner.generateOneTimePrekeys(oneTimeId, 1);
  return new PreKeyBundle(owner.identityKey(), signed, oneTime ? prekey : null).toBytes();
}

/** Decrypts, checks the plaintext, commits. */
export function receive(manager, from, message, expected) {
  const decrypted = manager.decrypt(from, message);
  assert.equal(string(decrypted.plaintext), expected);
  decrypted.commit();
  return decrypted;
}

/** Asserts that `fn` throws a SottoError with `code`; returns the error. */
export function throwsCode(fn, code) {
  let thrown;
  assert.throws(fn, (error) => {
    thrown = error;
    return true;
  });
  assert.ok(thrown instanceof Error, 'a SottoError is an Error');
  assert.ok(isSottoError(thrown), `not a SottoError: ${thrown}`);
  assert.equal(thrown.name, 'SottoError');
  assert.equal(thrown.code, code, thrown.message);
  return thrown;
}
