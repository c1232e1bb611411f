// checkStoreConformance: the core's check of the commit contract, run
// against JS stores. The test stores pass; stores that break a rule fail it
// with CONFORMANCE_FAILED naming the rule.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkStoreConformance } from 'sotto';
import { MapStore, addressKey, conflict, useKey } from '../map-store.js';
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
  // Consumed one-time KEM prekeys are neither checked nor removed.
  'KEM prekeys': class KemPrekeysIgnored extends MapStore {
    commit(writes) {
      return super.commit(writes.map((write) => ({ ...write, consumedKemPrekeys: [] })));
    }
  },
  'all-or-nothing batches': class OneByOne extends MapStore {
    commit(writes) {
      for (const write of writes) super.commit([write]);
    }
  },
};

/** More ways to break the KEM prekey rules, each caught by the same check. */
const BROKEN_KEM = {
  'last-resort uses not checked': class UsesNotChecked extends MapStore {
    commit(writes) {
      for (const write of writes) for (const use of write.lastResortUses) this.lastResortUses.delete(useKey(use));
      return super.commit(writes);
    }
  },
  'last-resort uses not recorded': class UsesNotRecorded extends MapStore {
    commit(writes) {
      return super.commit(writes.map((write) => ({ ...write, lastResortUses: [] })));
    }
  },
  'uses kept after their prekey is removed': class UsesKept extends MapStore {
    removeKemPrekey(id) {
      return this.write('removeKemPrekey', [['kemPrekeys', id, null]]);
    }
  },
  'one use recorded twice in one batch': class BatchRepeats extends MapStore {
    commit(writes) {
      // Checks each write against the stored state only, not against the
      // batch's other writes.
      for (const write of writes) {
        if (write.lastResortUses.some((use) => this.lastResortUses.has(useKey(use)))) throw conflict(write.address);
      }
      return super.commit(writes.map((write, i) => (i === 0 ? write : { ...write, lastResortUses: [] })));
    }
  },
};
for (const [flaw, Store] of Object.entries(BROKEN_KEM)) {
  test(`a store whose ${flaw} fails the check`, async () => {
    const error = await rejectsCode(() => checkStoreConformance(newStore(Store)), 'CONFORMANCE_FAILED');
    assert.equal(error.check, 'KEM prekeys', error.detail);
  });
}

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
