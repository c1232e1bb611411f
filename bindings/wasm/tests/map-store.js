// A ProtocolStore implemented in JavaScript over Maps: the shape of an app's
// own store. Records are opaque bytes, copied in and out; each session is
// kept with its generation, which `commit` compares (the compare-and-swap of
// the commit contract), and each recorded use of a last-resort KEM prekey
// with that prekey's id, so that removing the prekey forgets its uses. The node tests use it as is, or with a `persist`
// that returns a Promise (a write that reaches the disk later); the browser
// test persists it to IndexedDB (browser/idb-store.js).

/** The key of an address in a Map or an IndexedDB object store. */
export const addressKey = ({ account, device }) => `${device}:${account}`;

/** What `commit` throws when a check fails: Sotto reads the `code`. */
export function conflict(address) {
  return Object.assign(new Error(`the state of ${addressKey(address)} changed`), {
    code: 'CONFLICT',
    address,
  });
}

/** The key of a last-resort use `{ kemPrekey, baseKey }` in a Map. */
export const useKey = ({ kemPrekey, baseKey }) =>
  `${kemPrekey}:${Array.from(baseKey, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;

const sameBytes = (a, b) => a.length === b.length && a.every((byte, i) => byte === b[i]);

/** A copy of a stored value: bytes, a session `{ generation, record }`, or
 *  a plain value (a last-resort use's prekey id). */
const copy = (value) => {
  if (value instanceof Uint8Array) return Uint8Array.from(value);
  if (typeof value === 'object') return { ...value, record: Uint8Array.from(value.record) };
  return value;
};

/** Whether `ids` (an array of numbers or strings) has a repeated one. */
const repeats = (ids) => new Set(ids).size !== ids.length;

export class MapStore {
  /** `identityRecord`: `IdentityKeyPair.toRecordBytes()` of this device. */
  constructor(identityRecord) {
    this.identity = identityRecord ?? null;
    this.peers = new Map();
    this.signedPrekeys = new Map();
    this.oneTimePrekeys = new Map();
    this.kemPrekeys = new Map();
    /** useKey(use) -> the id of its last-resort KEM prekey */
    this.lastResortUses = new Map();
    /** address key -> { generation: bigint, record: Uint8Array } */
    this.sessions = new Map();
    /** Every write, as [method, [[map, key], ...]], for tests that check
     *  what happened. */
    this.log = [];
  }

  localIdentity() { return this.identity; }
  peerIdentity(address) { return this.peers.get(addressKey(address)); }
  signedPrekey(id) { return this.signedPrekeys.get(id); }
  saveSignedPrekey(id, record) { return this.write('saveSignedPrekey', [['signedPrekeys', id, record]]); }
  removeSignedPrekey(id) { return this.write('removeSignedPrekey', [['signedPrekeys', id, null]]); }
  oneTimePrekey(id) { return this.oneTimePrekeys.get(id); }
  saveOneTimePrekey(id, record) { return this.write('saveOneTimePrekey', [['oneTimePrekeys', id, record]]); }
  removeOneTimePrekey(id) { return this.write('removeOneTimePrekey', [['oneTimePrekeys', id, null]]); }
  kemPrekey(id) { return this.kemPrekeys.get(id); }
  saveKemPrekey(id, record) { return this.write('saveKemPrekey', [['kemPrekeys', id, record]]); }
  /** Removes the KEM prekey and forgets its recorded uses, in one write. */
  removeKemPrekey(id) {
    const uses = [...this.lastResortUses].filter(([, prekey]) => prekey === id);
    return this.write('removeKemPrekey', [['kemPrekeys', id, null], ...uses.map(([key]) => ['lastResortUses', key, null])]);
  }
  lastResortUseRecorded(id, baseKey) { return this.lastResortUses.has(useKey({ kemPrekey: id, baseKey })); }
  loadSession(address) { return this.sessions.get(addressKey(address))?.record; }

  /** The generation stored for `address`, or null. */
  generation(address) { return this.sessions.get(addressKey(address))?.generation ?? null; }

  /** The commit contract: check every write, then apply all of them. */
  commit(writes) {
    for (const write of writes) {
      const identity = this.peers.get(addressKey(write.address));
      if (
        this.generation(write.address) !== write.expectedGeneration ||
        (write.peerIdentityFirstUse && identity && !sameBytes(identity, write.peerIdentity)) ||
        write.consumedOneTimePrekeys.some((id) => !this.oneTimePrekeys.has(id)) ||
        write.consumedKemPrekeys.some((id) => !this.kemPrekeys.has(id)) ||
        write.lastResortUses.some((use) => !this.kemPrekeys.has(use.kemPrekey) || this.lastResortUses.has(useKey(use)))
      ) {
        throw conflict(write.address);
      }
    }
    // Two writes of one batch may not consume one prekey, or record one use.
    if (
      repeats(writes.flatMap((write) => write.consumedOneTimePrekeys)) ||
      repeats(writes.flatMap((write) => write.consumedKemPrekeys)) ||
      repeats(writes.flatMap((write) => write.lastResortUses.map(useKey)))
    ) {
      throw conflict(writes[0].address);
    }
    const changes = [];
    for (const write of writes) {
      const key = addressKey(write.address);
      if (write.peerIdentity && !(write.peerIdentityFirstUse && this.peers.has(key))) {
        changes.push(['peers', key, write.peerIdentity]);
      }
      changes.push(['sessions', key, { generation: write.generation, record: write.session }]);
      for (const id of write.consumedOneTimePrekeys) changes.push(['oneTimePrekeys', id, null]);
      for (const id of write.consumedKemPrekeys) changes.push(['kemPrekeys', id, null]);
      for (const use of write.lastResortUses) changes.push(['lastResortUses', useKey(use), use.kemPrekey]);
    }
    return this.write('commit', changes);
  }

  /** Every write goes through here: `changes` are [map, key, value], a null
   *  value being a removal. Applies them to the Maps at once, then returns
   *  what `persist` returns. */
  write(method, changes) {
    for (const [name, key, value] of changes) {
      if (value === null) this[name].delete(key);
      else this[name].set(key, copy(value));
    }
    this.log.push([method, changes.map(([name, key]) => [name, key])]);
    return this.persist(changes);
  }

  /** Makes `changes` durable; a store over a disk returns a Promise that
   *  resolves once they are. This one keeps them in memory only. */
  persist(changes) {
    return undefined;
  }

  /** A new store with a copy of everything this one holds (a restart from
   *  what was on disk). */
  copy() {
    const copied = new this.constructor(this.identity);
    for (const name of ['peers', 'signedPrekeys', 'oneTimePrekeys', 'kemPrekeys', 'lastResortUses', 'sessions']) {
      for (const [key, value] of this[name]) copied[name].set(key, copy(value));
    }
    return copied;
  }
}
