// Runs in Chromium, loaded from page.html over http://127.0.0.1: the web
// entry of the package (fetch + instantiateStreaming), a conversation
// between two devices whose stores persist to IndexedDB, a reload that
// continues it from disk, SFrame frames and error codes. Each check's
// outcome lands in `window.sottoResults` for chromium.test.js.
import init, {
  CipherSuite,
  IdentityKeyPair,
  InMemoryStore,
  PreKeyBundle,
  SessionManager,
  isSottoError,
} from '../../pkg/index.js';
import { IndexedDbStore } from './idb-store.js';

const ALICE = { account: 'alice', device: 1 };
const BOB = { account: 'bob', device: 2 };
const text = (string) => new TextEncoder().encode(string);
const string = (bytes) => new TextDecoder().decode(bytes);
const hex = (bytes) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
const unhex = (string) => Uint8Array.from(string.match(/../g), (pair) => parseInt(pair, 16));

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
function equal(actual, expected, message = '') {
  if (actual !== expected) throw new Error(`${message}: expected ${expected}, got ${actual}`);
}
function throwsCode(fn, code) {
  try {
    fn();
  } catch (error) {
    assert(isSottoError(error), `not a SottoError: ${error}`);
    equal(error.code, code, error.message);
    return error;
  }
  throw new Error(`no error, expected ${code}`);
}
function receive(manager, from, message, expected) {
  const decrypted = manager.decrypt(from, message);
  equal(string(decrypted.plaintext), expected, 'plaintext');
  decrypted.commit();
}

async function device(address) {
  const store = await IndexedDbStore.open(`sotto-${address.account}`);
  if (!store.localIdentity()) store.setIdentity(IdentityKeyPair.generate().toRecordBytes());
  return [SessionManager.withStore(address, store), store];
}

const checks = {
  1: {
    async 'init() fetches and instantiates the module'() {
      await init();
      const entry = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/sotto_wasm_bg.wasm'));
      assert(entry, 'the .wasm was fetched');
    },

    'randomness comes from crypto.getRandomValues'() {
      const original = crypto.getRandomValues.bind(crypto);
      let calls = 0;
      crypto.getRandomValues = (array) => {
        calls += 1;
        return original(array);
      };
      try {
        const one = IdentityKeyPair.generate().publicKey();
        const two = IdentityKeyPair.generate().publicKey();
        assert(hex(one) !== hex(two), 'two identities differ');
      } finally {
        crypto.getRandomValues = original;
      }
      assert(calls >= 2, `crypto.getRandomValues was called (${calls} times)`);
    },

    async 'a conversation with out-of-order delivery over IndexedDB stores'() {
      const [alice, aliceStore] = await device(ALICE);
      const [bob, bobStore] = await device(BOB);
      const signed = bob.generateSignedPrekey(1);
      const prekeys = bob.generateOneTimePrekeys(1, 20);
      alice.processBundle(BOB, new PreKeyBundle(bob.identityKey(), signed, prekeys[0]).toBytes());

      const first = [0, 1, 2, 3].map((i) => alice.encrypt(BOB, text(`a${i}`)));
      for (const i of [3, 0, 2, 1]) receive(bob, ALICE, first[i], `a${i}`);
      const reply = bob.encrypt(ALICE, text('b0'));
      const late = alice.encrypt(BOB, text('late'));
      receive(alice, BOB, reply, 'b0');
      const next = alice.encrypt(BOB, text('a-next'));
      receive(bob, ALICE, next, 'a-next');
      receive(bob, ALICE, late, 'late');
      for (let round = 0; round < 5; round++) {
        receive(bob, ALICE, alice.encrypt(BOB, text(`ping ${round}`)), `ping ${round}`);
        receive(alice, BOB, bob.encrypt(ALICE, text(`pong ${round}`)), `pong ${round}`);
      }
      equal(alice.safetyNumber(BOB).displayable(), bob.safetyNumber(ALICE).displayable(), 'safety numbers');

      // For after the reload: a message in flight, and one already handled.
      localStorage.setItem('inFlight', hex(alice.encrypt(BOB, text('across the reload'))));
      localStorage.setItem('handled', hex(next));
      await Promise.all([aliceStore.flush(), bobStore.flush()]);
      aliceStore.close();
      bobStore.close();
    },

    'SFrame frames with 1:1 call keys'() {
      const alice = SessionManager.withInMemoryStore(ALICE, new InMemoryStore(IdentityKeyPair.generate()));
      const bob = SessionManager.withInMemoryStore(BOB, new InMemoryStore(IdentityKeyPair.generate()));
      alice.processBundle(BOB, new PreKeyBundle(bob.identityKey(), bob.generateSignedPrekey(1), null).toBytes());
      receive(bob, ALICE, alice.encrypt(BOB, text('offer')), 'offer');
      receive(alice, BOB, bob.encrypt(ALICE, text('answer')), 'answer');
      const callId = text('browser-call');
      const sender = alice.callKeys(BOB, callId).sender(CipherSuite.Aes128GcmSha256_128);
      const receiver = bob.callKeys(ALICE, callId).receiver(CipherSuite.Aes128GcmSha256_128);
      const frames = [0, 1, 2].map((i) => sender.encrypt(text('rtp'), new Uint8Array(1200).fill(i)));
      for (const i of [1, 0, 2]) equal(receiver.decrypt(text('rtp'), frames[i])[0], i, 'frame');
      throwsCode(() => receiver.decrypt(text('rtp'), frames[0]), 'FRAME_REPLAYED');
    },

    'errors carry stable codes'() {
      const alice = SessionManager.withInMemoryStore(ALICE, new InMemoryStore(IdentityKeyPair.generate()));
      throwsCode(() => alice.encrypt(BOB, text('x')), 'NO_SESSION');
      throwsCode(() => alice.decrypt(BOB, text('not a message')), 'MALFORMED_MESSAGE');
      throwsCode(() => alice.processBundle(BOB, text('not a bundle')), 'INVALID_BUNDLE');
      const failure = new DOMException('quota', 'QuotaExceededError');
      const throwing = {
        ...Object.fromEntries(
          ['peerIdentity', 'savePeerIdentity', 'signedPrekey', 'saveSignedPrekey', 'removeSignedPrekey',
            'oneTimePrekey', 'saveOneTimePrekey', 'removeOneTimePrekey', 'loadSession', 'storeSession']
            .map((name) => [name, () => null]),
        ),
        localIdentity() {
          throw failure;
        },
      };
      const error = throwsCode(() => SessionManager.withStore(ALICE, throwing).identityKey(), 'STORE');
      assert(error.cause === failure, 'the cause is what the store threw');
    },
  },

  2: {
    async 'init() again after a reload'() {
      await init();
    },

    async 'the sessions persisted in IndexedDB survive the reload'() {
      const [alice, aliceStore] = await device(ALICE);
      const [bob, bobStore] = await device(BOB);
      assert(bob.hasSession(ALICE) && alice.hasSession(BOB), 'both sessions were loaded');
      receive(bob, ALICE, unhex(localStorage.getItem('inFlight')), 'across the reload');
      throwsCode(() => bob.decrypt(ALICE, unhex(localStorage.getItem('handled'))), 'DUPLICATE_MESSAGE');
      receive(alice, BOB, bob.encrypt(ALICE, text('still here')), 'still here');
      await Promise.all([aliceStore.flush(), bobStore.flush()]);
    },
  },
};

const phase = new URLSearchParams(location.search).get('phase') ?? '1';
const results = [];
for (const [name, check] of Object.entries(checks[phase])) {
  try {
    await check();
    results.push({ name, ok: true });
  } catch (error) {
    results.push({ name, ok: false, error: String(error?.stack ?? error) });
  }
}
document.getElementById('status').textContent = results.every((r) => r.ok) ? 'ok' : 'failed';
window.sottoResults = results;
