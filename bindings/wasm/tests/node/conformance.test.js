// checkStoreConformance: the core's check of the commit contract, run
// against JS stores. The test stores pass; stores that break a rule fail it
// with CONFORMANCE_FAILED naming the rule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkStoreConformance } from 'sotto';
import { MapStore, addressKey, conflict } from '../map-store.js';
import { GatedStore, SlowStore, newStore, rejectsCode } from '../helpers.js';

test('the test stores keep the commit contract', async () => {
  await checkStoreConformance(newStore(MapStore));
  const slow = newStore(SlowStore);
  await checkStoreConformance(slow);
  assert.ok(slow.persisted > 0, 'the check waited for its writes');
});

test('the check waits for the store to persist its writes', async () => {
  const store = newStore(GatedStore);
  let done = false;
  const check = checkStoreConformance(store).then(() => (done = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(done, false);
  store.openAll();
  await check;
});

/** Stores that break one rule each, and the rule the check names. */
const BROKEN = {
  'compare-and-swap on the generation': class LastWriteWins extends MapStore {
    commit(writes) {
      return super.commit(writes.map((write) => ({ ...write, expectedGeneration: this.generation(write.address) })));
    }
  },
  'first-use identities': class IdentityAlwaysReplaced extends MapStore {
    commit(writes) {
      return super.commit(writes.map((write) => ({ ...write, peerIdentityFirstUse: false })));
    }
  },
  'consumed one-time prekeys': class PrekeysNotChecked extends MapStore {
    commit(writes) {
      for (const write of writes) {
        for (const id of write.consumedOneTimePrekeys) if (!this.oneTimePrekeys.has(id)) this.oneTimePrekeys.set(id, new Uint8Array());
      }
      return super.commit(writes);
    }
  },
  'all-or-nothing batches': class OneByOne extends MapStore {
    commit(writes) {
      for (const write of writes) super.commit([write]);
    }
  },
};

for (const [rule, Store] of Object.entries(BROKEN)) {
  test(`a store that breaks "${rule}" fails the check`, async () => {
    const error = await rejectsCode(() => checkStoreConformance(newStore(Store)), 'CONFORMANCE_FAILED');
    assert.equal(error.check, rule);
    assert.equal(typeof error.detail, 'string');
    assert.match(error.message, new RegExp(rule));
  });
}

test('a conflict must be signalled with code CONFLICT', async () => {
  class PlainErrors extends MapStore {
    commit(writes) {
      try {
        return super.commit(writes);
      } catch (error) {
        throw new Error(`conflict at ${addressKey(error.address)}`);
      }
    }
  }
  const error = await rejectsCode(() => checkStoreConformance(newStore(PlainErrors)), 'CONFORMANCE_FAILED');
  assert.match(error.detail, /expected StoreError::Conflict, got the store failed/);
  // The helper the test stores use makes the right object.
  assert.equal(conflict({ account: 'a', device: 1 }).code, 'CONFLICT');
});

test('a store that is not empty, or lacks a method, is refused', async () => {
  const store = newStore(MapStore);
  await checkStoreConformance(store);
  assert.equal((await rejectsCode(() => checkStoreConformance(store), 'CONFORMANCE_FAILED')).check, 'an empty store');
  await rejectsCode(() => checkStoreConformance({ localIdentity() {} }), 'INVALID_ARGUMENT');
});
