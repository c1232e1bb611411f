// The store pattern for the web. Sotto reads its store synchronously, so the
// store answers from memory (MapStore's Maps, loaded from IndexedDB once by
// `open()`), and checks `commit`'s compare-and-swap there. Every write is
// applied to memory at once and persisted in one IndexedDB transaction; the
// write returns a Promise of that transaction's completion, which Sotto
// waits for before it resolves the call that made the write (an `encrypt`
// resolves only once its session state is on disk).
import { MapStore } from '../map-store.js';

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
    for (const { name: map, key, value } of rows) {
      if (map === 'identity') store.identity = value;
      else store[map].set(key, value);
    }
    return store;
  }

  /** Sets this device's identity record (first run); resolves once it is
   *  on disk. */
  setIdentity(record) {
    this.identity = Uint8Array.from(record);
    return this.persist([['identity', 'identity', this.identity]]);
  }

  /** One readwrite transaction with every change of one write (all of a
   *  `commit`'s batch). IndexedDB runs the readwrite transactions of one
   *  object store in the order they were made, so the disk sees the writes
   *  in the order memory did. `strict` durability: complete means flushed
   *  to disk, not only handed to the operating system. */
  persist(changes) {
    const transaction = this.db.transaction(OBJECT_STORE, 'readwrite', { durability: 'strict' });
    const objects = transaction.objectStore(OBJECT_STORE);
    for (const [name, key, value] of changes) {
      const id = `${name}/${key}`;
      if (value === null) objects.delete(id);
      else objects.put({ name, key, value }, id);
    }
    return new Promise((resolve, reject) => {
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error ?? new DOMException('aborted', 'AbortError'));
    });
  }

  close() {
    this.db.close();
  }
}
