// Runs in Chromium, loaded from page.html over http://127.0.0.1: the web
// entry of the package (fetch + instantiateStreaming), a post-quantum
// conversation between two devices whose stores persist to IndexedDB, a
// session on the last-resort KEM prekey whose recorded use must survive the
// reload, many overlapping encryptions cut short by a reload, a reload that
// continues it all from disk, a 1:1 call, the conformance check, and error
// codes. Each check's
// outcome lands in `window.sottoResults` for chromium.test.js.
import init, {
  CipherSuite,
  IdentityKeyPair,
  InMemoryStore,
  PreKeyBundle,
  SessionManager,
  checkStoreConformance,
  isSottoError,
} from '../../pkg/index.js';
import { IndexedDbStore } from './idb-store.js';

const ALICE = { account: 'alice', device: 1 };
const BOB = { account: 'bob', device: 2 };
const CAROL = { account: 'carol', device: 3 };
const MALLORY = { account: 'mallory', device: 4 };
const text = (string) => new TextEncoder().encode(string);
const string = (bytes) => new TextDecoder().decode(bytes);
const hex = (bytes) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
const unhex = (string) => Uint8Array.from(string.match(/../g), (pair) => parseInt(pair, 16));

/** How many encryptions phase 1 starts at once before the reload, and how
 *  many must be handed out before it lets the reload happen. */
const OVERLAPPING = 300;
const HANDED_OUT_BEFORE_RELOAD = 40;

function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
function equal(actual, expected, message = '') {
  if (actual !== expected) throw new Error(`${message}: expected ${expected}, got ${actual}`);
}
function checkCode(error, code) {
  assert(isSottoError(error), `not a SottoError: ${error}`);
  equal(error.code, code, error.message);
  return error;
}
function throwsCode(fn, code) {
  try {
    fn();
  } catch (error) {
    return checkCode(error, code);
  }
  throw new Error(`no error, expected ${code}`);
}
async function rejectsCode(promise, code) {
  try {
    await promise;
  } catch (error) {
    return checkCode(error, code);
  }
  throw new Error(`no error, expected ${code}`);
}
async function receive(manager, from, message, expected) {
  const decrypted = manager.decrypt(from, message);
  equal(string(decrypted.plaintext), expected, 'plaintext');
  await decrypted.commit();
}
function shuffled(items) {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

async function device(address) {
  const store = await IndexedDbStore.open(`sotto-${address.account}`);
  if (!store.localIdentity()) await store.setIdentity(IdentityKeyPair.generate().toRecordBytes());
  return [SessionManager.withStore(address, store), store];
}

function inMemory(address) {
  return SessionManager.withInMemoryStore(address, new InMemoryStore(IdentityKeyPair.generate()));
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

    async 'the IndexedDB store keeps the commit contract'() {
      const store = await IndexedDbStore.open(`sotto-conformance-${Date.now()}`);
      await checkStoreConformance(store);
      store.close();
    },

    async 'a conversation with out-of-order delivery over IndexedDB stores'() {
      const [alice, aliceStore] = await device(ALICE);
      const [bob, bobStore] = await device(BOB);
      const signed = await bob.generateSignedPrekey(1);
      const prekeys = await bob.generateOneTimePrekeys(1, 20);
      const kemPrekeys = await bob.generateKemPrekeys(1, 2);
      await alice.processBundle(BOB, new PreKeyBundle(bob.identityKey(), signed, kemPrekeys[0], prekeys[0]).toBytes());
      equal(alice.sessionHandshake(BOB), 'PQXDH', "Alice's handshake");

      const first = await Promise.all([0, 1, 2, 3].map((i) => alice.encrypt(BOB, text(`a${i}`))));
      for (const i of [3, 0, 2, 1]) await receive(bob, ALICE, first[i], `a${i}`);
      equal(bob.sessionHandshake(ALICE), 'PQXDH', "Bob's handshake");
      equal(bobStore.kemPrekey(1), undefined, 'the one-time KEM prekey was consumed');
      assert(bobStore.kemPrekey(2), 'the other one-time KEM prekey is kept');
      const reply = await bob.encrypt(ALICE, text('b0'));
      const late = await alice.encrypt(BOB, text('late'));
      await receive(alice, BOB, reply, 'b0');
      const next = await alice.encrypt(BOB, text('a-next'));
      await receive(bob, ALICE, next, 'a-next');
      await receive(bob, ALICE, late, 'late');
      for (let round = 0; round < 5; round++) {
        await receive(bob, ALICE, await alice.encrypt(BOB, text(`ping ${round}`)), `ping ${round}`);
        await receive(alice, BOB, await bob.encrypt(ALICE, text(`pong ${round}`)), `pong ${round}`);
      }
      equal(alice.safetyNumber(BOB).displayable(), bob.safetyNumber(ALICE).displayable(), 'safety numbers');

      // For after the reload: a message in flight, and one already handled.
      // Every call above resolved, so all of it is on disk.
      localStorage.setItem('inFlight', hex(await alice.encrypt(BOB, text('across the reload'))));
      localStorage.setItem('handled', hex(next));
      aliceStore.close();
      bobStore.close();
    },

    async 'a session on the last-resort KEM prekey over IndexedDB, each first message once'() {
      const [bob, bobStore] = await device(BOB);
      const carol = inMemory(CAROL);
      const signed = await bob.generateSignedPrekey(2);
      const lastResort = await bob.generateLastResortKemPrekey(100);
      await carol.processBundle(BOB, new PreKeyBundle(bob.identityKey(), signed, lastResort).toBytes());
      const first = await carol.encrypt(BOB, text('via the last resort'));
      await receive(bob, CAROL, first, 'via the last resort');
      equal(bob.sessionHandshake(CAROL), 'PQXDH', 'handshake');
      assert(bobStore.kemPrekey(100), 'a last-resort KEM prekey stays');
      throwsCode(() => bob.decrypt(MALLORY, first), 'DUPLICATE_MESSAGE');
      // Phase 2 replays it from what was on disk.
      localStorage.setItem('lastResortFirst', hex(first));
      bobStore.close();
    },

    async 'a 1:1 call: offer and answer through the DM session, SFrame frames'() {
      const alice = inMemory(ALICE);
      const bob = inMemory(BOB);
      const kem = await bob.generateLastResortKemPrekey(1);
      await alice.processBundle(BOB, new PreKeyBundle(bob.identityKey(), await bob.generateSignedPrekey(1), kem).toBytes());
      await receive(bob, ALICE, await alice.encrypt(BOB, text('hi')), 'hi');
      const { call, offer } = alice.offerCall(BOB, text('browser-call'), CipherSuite.Aes128GcmSha256_128);
      const received = await bob.decryptAndCommit(ALICE, await alice.encrypt(BOB, offer));
      const accepted = bob.acceptCall(ALICE, bob.parseCallOffer(ALICE, received));
      const answer = await alice.decryptAndCommit(BOB, await bob.encrypt(ALICE, accepted.answer));
      const onAlice = call.receiveAnswer(answer);
      const frames = [0, 1, 2].map((i) => onAlice.encrypt(text('rtp'), new Uint8Array(1200).fill(i)));
      for (const i of [1, 0, 2]) equal(accepted.call.decrypt(text('rtp'), frames[i])[0], i, 'frame');
      throwsCode(() => accepted.call.decrypt(text('rtp'), frames[0]), 'FRAME_REPLAYED');
      throwsCode(() => bob.acceptCall(ALICE, bob.parseCallOffer(ALICE, received)), 'CALL_SIGNAL_REJECTED');
    },

    async 'errors carry stable codes'() {
      const alice = inMemory(ALICE);
      await rejectsCode(alice.encrypt(BOB, text('x')), 'NO_SESSION');
      throwsCode(() => alice.decrypt(BOB, text('not a message')), 'MALFORMED_MESSAGE');
      await rejectsCode(alice.processBundle(BOB, text('not a bundle')), 'INVALID_BUNDLE');
      const bob = inMemory(BOB);
      const classical = PreKeyBundle.classical(bob.identityKey(), await bob.generateSignedPrekey(1)).toBytes();
      const refused = await rejectsCode(alice.processBundle(BOB, classical), 'CLASSICAL_SESSION_REFUSED');
      equal(refused.address.account, BOB.account, 'the refused address');
      await alice.withClassicalSessions('ALLOW').processBundle(BOB, classical);
      equal(alice.sessionHandshake(BOB), 'X3DH', 'the opted-in session');
      const failure = new DOMException('quota', 'QuotaExceededError');
      const throwing = {
        ...Object.fromEntries(
          ['peerIdentity', 'signedPrekey', 'saveSignedPrekey', 'removeSignedPrekey', 'oneTimePrekey',
            'saveOneTimePrekey', 'removeOneTimePrekey', 'kemPrekey', 'saveKemPrekey', 'removeKemPrekey',
            'lastResortUseRecorded', 'loadSession', 'commit']
            .map((name) => [name, () => null]),
        ),
        localIdentity() {
          throw failure;
        },
      };
      const error = throwsCode(() => SessionManager.withStore(ALICE, throwing).identityKey(), 'STORE');
      assert(error.cause === failure, 'the cause is what the store threw');
    },

    // Last: the page reloads right after it.
    async 'overlapping encryptions over IndexedDB, cut short by the reload'() {
      // Each envelope is written down the moment its Promise resolves (as
      // an app sends it then); the reload comes while many are pending.
      // Phase 2 checks that whatever was handed out is on disk.
      const [alice] = await device(ALICE);
      localStorage.setItem('handedOut', '[]');
      const handedOut = [];
      let enough;
      const reached = new Promise((resolve) => (enough = resolve));
      for (let i = 0; i < OVERLAPPING; i++) {
        alice.encrypt(BOB, text(`overlapping ${i}`)).then(
          (envelope) => {
            handedOut.push([i, hex(envelope)]);
            localStorage.setItem('handedOut', JSON.stringify(handedOut));
            if (handedOut.length === HANDED_OUT_BEFORE_RELOAD) enough();
          },
          // A write the unloading page aborted: its envelope was never
          // handed out, which is all that matters.
          () => {},
        );
      }
      await reached;
      // Not awaiting the rest, nor closing the store: the page goes away
      // with writes still in flight.
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
      await receive(bob, ALICE, unhex(localStorage.getItem('inFlight')), 'across the reload');
      throwsCode(() => bob.decrypt(ALICE, unhex(localStorage.getItem('handled'))), 'DUPLICATE_MESSAGE');
      await receive(alice, BOB, await bob.encrypt(ALICE, text('still here')), 'still here');
      equal(alice.sessionHandshake(BOB), 'PQXDH', "Alice's handshake, from disk");
      equal(bob.sessionHandshake(ALICE), 'PQXDH', "Bob's handshake, from disk");
      aliceStore.close();
      bobStore.close();
    },

    async 'KEM prekeys and last-resort uses persisted in IndexedDB survive the reload'() {
      const [bob, bobStore] = await device(BOB);
      equal(bobStore.kemPrekey(1), undefined, 'the consumed one-time KEM prekey is gone from disk');
      assert(bobStore.kemPrekey(2) && bobStore.kemPrekey(100), 'the other KEM prekeys were loaded');
      equal(bob.sessionHandshake(CAROL), 'PQXDH', 'handshake');
      // Had the use not been persisted, this replay would start a session.
      const first = unhex(localStorage.getItem('lastResortFirst'));
      throwsCode(() => bob.decrypt(MALLORY, first), 'DUPLICATE_MESSAGE');
      throwsCode(() => bob.decrypt(CAROL, first), 'DUPLICATE_MESSAGE');
      assert(!bob.hasSession(MALLORY), 'no session with the replayer');
      bobStore.close();
    },

    async 'every envelope handed out before the reload decrypts exactly once, and no key is used again'() {
      const [alice, aliceStore] = await device(ALICE);
      const [bob, bobStore] = await device(BOB);
      const handedOut = JSON.parse(localStorage.getItem('handedOut'));
      assert(handedOut.length >= HANDED_OUT_BEFORE_RELOAD, `${handedOut.length} envelopes were handed out`);
      for (const [i, envelope] of shuffled(handedOut)) {
        equal(string(await bob.decryptAndCommit(ALICE, unhex(envelope))), `overlapping ${i}`, 'plaintext');
      }
      for (const [, envelope] of handedOut) await rejectsCode(bob.decryptAndCommit(ALICE, unhex(envelope)), 'DUPLICATE_MESSAGE');

      // Alice goes on from what was on disk: had a handed-out envelope's
      // state been lost, these would reuse its message key, and Bob would
      // refuse them as duplicates (or read another plaintext).
      const after = await Promise.all(
        Array.from({ length: 50 }, (_, i) => alice.encrypt(BOB, text(`after the reload ${i}`))),
      );
      for (const [i, envelope] of shuffled([...after.entries()])) {
        equal(string(await bob.decryptAndCommit(ALICE, envelope)), `after the reload ${i}`, 'plaintext');
      }
      await receive(alice, BOB, await bob.encrypt(ALICE, text('all caught up')), 'all caught up');
      aliceStore.close();
      bobStore.close();
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
