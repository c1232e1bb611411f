// A ProtocolStore implemented in JavaScript over Maps: the shape of an app's
// own store. Records are opaque bytes, copied in and out. The node tests use
// it as is; the browser test persists it to IndexedDB (idb-store.js).

/** The key of an address in a Map or an IndexedDB object store. */
export const addressKey = ({ account, device }) => `${device}:${account}`;

export class MapStore {
  /** `identityRecord`: `IdentityKeyPair.toRecordBytes()` of this device. */
  constructor(identityRecord) {
    this.identity = identityRecord ?? null;
    this.peers = new Map();
    this.signedPrekeys = new Map();
    this.oneTimePrekeys = new Map();
    this.sessions = new Map();
    /** Every write, as [method, key], for tests that check what happened. */
    this.log = [];
  }

  localIdentity() { return this.identity; }
  peerIdentity(address) { return this.peers.get(addressKey(address)); }
  savePeerIdentity(address, record) { this.write('savePeerIdentity', 'peers', addressKey(address), record); }
  signedPrekey(id) { return this.signedPrekeys.get(id); }
  saveSignedPrekey(id, record) { this.write('saveSignedPrekey', 'signedPrekeys', id, record); }
  removeSignedPrekey(id) { this.write('removeSignedPrekey', 'signedPrekeys', id, null); }
  oneTimePrekey(id) { return this.oneTimePrekeys.get(id); }
  saveOneTimePrekey(id, record) { this.write('saveOneTimePrekey', 'oneTimePrekeys', id, record); }
  removeOneTimePrekey(id) { this.write('removeOneTimePrekey', 'oneTimePrekeys', id, null); }
  loadSession(address) { return this.sessions.get(addressKey(address)); }
  storeSession(address, record) { this.write('storeSession', 'sessions', addressKey(address), record); }

  /** Every write goes through here (`record` null: a removal); a subclass
   *  also persists it. */
  write(method, name, key, record) {
    if (record === null) this[name].delete(key);
    else this[name].set(key, Uint8Array.from(record));
    this.log.push([method, key]);
  }
}
