// Shared by the node tests: two devices that talk, stores whose writes
// reach the disk later, and error assertions.
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

/** A fresh MapStore with a new identity, or of `Class`. */
export function newStore(Class = MapStore) {
  return new Class(IdentityKeyPair.generate().toRecordBytes());
}

/** A device over a store implemented in JS; returns [manager, store]. */
export function jsDevice(address, store = newStore()) {
  return [SessionManager.withStore(address, store), store];
}

/** A MapStore whose writes are on "disk" only after a random delay of up
 *  to `maxDelay` ms: each returns a Promise of that. */
export class SlowStore extends MapStore {
  maxDelay = 4;
  persisted = 0;
  persist() {
    return new Promise((resolve) =>
      setTimeout(() => {
        this.persisted += 1;
        resolve();
      }, Math.random() * this.maxDelay),
    );
  }
}

/** A MapStore whose writes are durable only when the test says so:
 *  `gates` holds one { resolve, reject } per write, in order. */
export class GatedStore extends MapStore {
  gates = [];
  persist() {
    return new Promise((resolve, reject) => this.gates.push({ resolve, reject }));
  }
  /** Makes every write so far durable. */
  openAll() {
    for (const gate of this.gates.splice(0)) gate.resolve();
  }
}

/** `owner`'s post-quantum bundle: a new signed prekey `signedId`, the
 *  one-time KEM prekey `kemId` (with `lastResort`, the last-resort KEM
 *  prekey `kemId`), and the one-time prekey `oneTimeId` unless `oneTime` is
 *  false. */
export async function bundle(
  owner,
  { signedId = 1, oneTimeId = 100, oneTime = true, kemId = oneTimeId, lastResort = false } = {},
) {
  const signed = await owner.generateSignedPrekey(signedId);
  const prekey = oneTime ? (await owner.generateOneTimePrekeys(oneTimeId, 1))[0] : null;
  const kem = lastResort
    ? await owner.generateLastResortKemPrekey(kemId)
    : (await owner.generateKemPrekeys(kemId, 1))[0];
  return new PreKeyBundle(owner.identityKey(), signed, kem, prekey).toBytes();
}

/** `owner`'s classical bundle (no KEM prekey): signed prekey 1 and, unless
 *  `oneTime` is false, one-time prekey `oneTimeId`. */
export async function classicalBundle(owner, { oneTimeId = 100, oneTime = true } = {}) {
  const signed = await owner.generateSignedPrekey(1);
  const prekey = oneTime ? (await owner.generateOneTimePrekeys(oneTimeId, 1))[0] : null;
  return PreKeyBundle.classical(owner.identityKey(), signed, prekey).toBytes();
}

/** Decrypts, checks the plaintext, commits. */
export async function receive(manager, from, message, expected) {
  const decrypted = manager.decrypt(from, message);
  assert.equal(string(decrypted.plaintext), expected);
  await decrypted.commit();
  return decrypted;
}

/** `from` (at `fromAddress`) sends `plaintext` to `to` (at `toAddress`),
 *  which decrypts and commits it; returns the plaintext received. */
export async function deliver([from, fromAddress], [to, toAddress], plaintext) {
  const wire = await from.encrypt(toAddress, plaintext);
  const decrypted = to.decrypt(fromAddress, wire);
  await decrypted.commit();
  return decrypted.plaintext;
}

/** A session between two in-memory devices, a message each way. */
export async function session() {
  const alice = inMemoryDevice(ALICE);
  const bob = inMemoryDevice(BOB);
  await alice.processBundle(BOB, await bundle(bob));
  await receive(bob, ALICE, await alice.encrypt(BOB, text('hi')), 'hi');
  await receive(alice, BOB, await bob.encrypt(ALICE, text('hi back')), 'hi back');
  return { alice, bob };
}

function checkSottoError(thrown, code) {
  assert.ok(thrown instanceof Error, `a SottoError is an Error: ${thrown}`);
  assert.ok(isSottoError(thrown), `not a SottoError: ${thrown}`);
  assert.equal(thrown.name, 'SottoError');
  assert.equal(thrown.code, code, thrown.message);
  return thrown;
}

/** Asserts that `fn` throws a SottoError with `code`; returns the error. */
export function throwsCode(fn, code) {
  let thrown;
  assert.throws(fn, (error) => {
    thrown = error;
    return true;
  });
  return checkSottoError(thrown, code);
}

/** Asserts that `fn` returns a Promise (it does not throw) that rejects
 *  with a SottoError with `code`; returns the error. */
export async function rejectsCode(fn, code) {
  const promise = fn();
  assert.ok(promise instanceof Promise, 'the method returns a Promise');
  let thrown;
  await assert.rejects(promise, (error) => {
    thrown = error;
    return true;
  });
  return checkSottoError(thrown, code);
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The indices 0..n-1 in a random order. */
export function shuffled(n) {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}
