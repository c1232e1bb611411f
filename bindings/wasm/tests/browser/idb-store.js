// The store pattern for the web: Sotto calls its store synchronously, so
// the store answers from memory (MapStore's Maps) and writes each change
// through to IndexedDB in the background. `open()` loads everything once;
// `flush()` waits until IndexedDB has every write so far (call it before
// acknowledging a message to the server, so that an acknowledged message
// is on disk).
import { MapStore, addressKey } from '../map-store.js';

const OBJECT_STORE = 'records';

const done = (request) =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

export class IndexedDbStore extends MapStore {
  /** Opens (or creates) database `name` and loads its records. */
  static async open(name) {
    const request = indexedDB.open(name, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(OBJECT_STORE);
    const db = await done(request);
    const store = new IndexedDbStore(null);
    store.db = db;
    const rows = await done(db.transaction(OBJECT_STORE).objectStore(OBJECT_STORE).getAll());
    for (const { name: map, key, record } of rows) {
      if (map === 'identity') store.identity = record;
      else store[map].set(key, record);
    }
    return store;
  }

  /** Sets this device's identity record (first run). */
  setIdentity(record) {
    this.identity = Uint8Array.from(record);
    this.persist([['identity', 'identity', this.identity]]);
  }

  write(method, name, key, record) {
    super.write(method, name, key, record);
    this.persist([[name, key, record]]);
  }

  /** The writes of one message in one IndexedDB transaction. */
  commit({ address, session, newPeerIdentity, consumedOneTimePrekey }) {
    const batch = [];
    const keep = (method, name, key, record) => {
      MapStore.prototype.write.call(this, method, name, key, record);
      batch.push([name, key, record]);
    };
    if (newPeerIdentity) keep('savePeerIdentity', 'peers', addressKey(address), newPeerIdentity);
    keep('storeSession', 'sessions', addressKey(address), session);
    if (consumedOneTimePrekey !== null) keep('removeOneTimePrekey', 'oneTimePrekeys', consumedOneTimePrekey, null);
    this.persist(batch);
  }

  /** Queues one IndexedDB transaction; IndexedDB runs them in order. */
  persist(batch) {
    const transaction = this.db.transaction(OBJECT_STORE, 'readwrite');
    const objects = transaction.objectStore(OBJECT_STORE);
    for (const [name, key, record] of batch) {
      const id = `${name}/${key}`;
      if (record === null) objects.delete(id);
      else objects.put({ name, key, record: Uint8Array.from(record) }, id);
    }
    this.pending = (this.pending ?? []).concat(
      new Promise((resolve, reject) => {
        transaction.oncomplete = resolve;
        transaction.onerror = () => reject(transaction.error);
        transaction.onabort = () => reject(transaction.error);
      }),
    );
  }

  /** Resolves once every write so far is in IndexedDB; rejects if one
   *  failed (the app then stops using Sotto and reloads from disk). */
  async flush() {
    const pending = this.pending ?? [];
    this.pending = [];
    await Promise.all(pending);
  }

  close() {
    this.db.close();
  }
}
